"""The shape of the package, read from its source: what modules share is public, modules stay short, classes are built
with `@patch` and each exported notebook cell holds one function.

Every check parses the generated modules under brainssl/ with `ast` (nbdev's `_modidx.py` index excepted) and lists
each offence as `file:line`, so a failure says where to look.
"""
import ast
import re
import sys
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "brainssl"
MAX_LINES = 400
# Modules allowed past MAX_LINES: each is one coherent concern, and the notebook that generates it says so in a sentence
# that mentions "400 lines". Entry: path relative to brainssl/ -> the one-line reason.
LONG_MODULES: dict[str, str] = {
    "viz/explorer.py": "one concern, the interactive explorer: its table, widget state, callbacks and standalone page share one selection model",
}


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.name != "_modidx.py")


def rel(p: Path) -> str: return p.relative_to(ROOT).as_posix()


def module_name(p: Path) -> str:
    parts = list(p.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_private(name: str) -> bool: return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def resolve(node: ast.ImportFrom, p: Path) -> str:
    "The absolute module an `ImportFrom` reads from, for a relative import too."
    if not node.level: return node.module or ""
    package = module_name(p).split(".") if p.name == "__init__.py" else module_name(p).split(".")[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports(p: Path) -> list[str]:
    "Every private name this module takes from another brainssl module: `from m import _x`, a private module, `m._x`."
    tree, here, found = ast.parse(p.read_text(), str(p)), module_name(p), []
    modules_bound = {}  # local name -> brainssl module it stands for
    for node in ast.walk(tree):  # ast.walk reaches imports inside functions too
        if isinstance(node, ast.ImportFrom):
            src = resolve(node, p)
            if not (src == "brainssl" or src.startswith("brainssl.")) or src == here: continue
            if any(is_private(part) for part in src.split(".")):
                found.append(f"{rel(p)}:{node.lineno}: from {src} import ... (a private module)")
            for a in node.names:
                if is_private(a.name): found.append(f"{rel(p)}:{node.lineno}: from {src} import {a.name}")
                elif (PKG.joinpath(*src.split(".")[1:], a.name).is_dir()
                      or PKG.joinpath(*src.split(".")[1:], a.name + ".py").is_file()):
                    modules_bound[a.asname or a.name] = f"{src}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "brainssl" or a.name.startswith("brainssl."):
                    modules_bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else "brainssl"
    for node in ast.walk(tree):  # `import brainssl.core as c` ... `c._x`
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute): base = base.value
            if isinstance(base, ast.Name) and base.id in modules_bound and modules_bound[base.id] != here:
                found.append(f"{rel(p)}:{node.lineno}: {ast.unparse(node)} (private attribute of {modules_bound[base.id]})")
    return found


def test_resolve_relative_imports():
    "The checker itself: relative imports resolve to the module they name, from a package's __init__ too."
    stmt = lambda s: ast.parse(s).body[0]
    assert resolve(stmt("from ..core import x"), PKG / "data" / "lgg.py") == "brainssl.core"
    assert resolve(stmt("from .splits import x"), PKG / "data" / "lgg.py") == "brainssl.data.splits"
    assert resolve(stmt("from . import splits"), PKG / "data" / "__init__.py") == "brainssl.data"
    assert resolve(stmt("from .core import x"), PKG / "cli.py") == "brainssl.core"
    assert is_private("_x") and not is_private("__all__") and not is_private("x_")


def test_private_imports_are_found(tmp_path, monkeypatch):
    "The checker finds each form of a private import (so the package check below can fail)."
    pkg = tmp_path / "brainssl"; (pkg / "data").mkdir(parents=True)
    for f in ("__init__.py", "core.py", "data/__init__.py"): (pkg / f).write_text("")
    (pkg / "data" / "lgg.py").write_text("from ..core import _a, b\nimport brainssl.core as c\n\ndef f():\n"
                                         "    from brainssl.core import _d\n    return c._e\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    found = private_imports(pkg / "data" / "lgg.py")
    assert [f.split(": ", 1)[0] for f in found] == ["brainssl/data/lgg.py:1", "brainssl/data/lgg.py:5", "brainssl/data/lgg.py:6"], found
    assert "_a" in found[0] and "_d" in found[1] and "c._e" in found[2]


def test_no_private_name_is_imported_across_modules():
    "What two modules share lives in one place, public, with a docstring (issue 13)."
    found = [f for p in modules() for f in private_imports(p)]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def notebook_of(p: Path) -> Path | None:
    "The notebook nbdev generated `p` from (its 'File to edit' header)."
    m = re.search(r"File to edit: (\S+\.ipynb)", p.read_text())
    return (p.parent / m.group(1)).resolve() if m else None


def test_modules_are_short_or_say_why():
    f"Each module stays under {MAX_LINES} lines unless it is one coherent concern listed in LONG_MODULES, and its notebook says why."
    too_long, stale = [], []
    for p in modules():
        n, key = len(p.read_text().splitlines()), p.relative_to(PKG).as_posix()
        if n <= MAX_LINES:
            if key in LONG_MODULES: stale.append(f"{rel(p)}: {n} lines, no longer needs its LONG_MODULES entry")
            continue
        if key not in LONG_MODULES:
            too_long.append(f"{rel(p)}: {n} lines (> {MAX_LINES}); split it, or add it to LONG_MODULES with its reason")
            continue
        nb = notebook_of(p)
        if nb is None or f"{MAX_LINES} lines" not in nb.read_text():
            too_long.append(f"{rel(p)}: {n} lines; its notebook ({nb and nb.name}) must say why it is longer than {MAX_LINES} lines")
    missing = [k for k in LONG_MODULES if not (PKG / k).is_file()]
    bad_reasons = [k for k, why in LONG_MODULES.items() if not why.strip() or "\n" in why]
    assert not (too_long or stale or missing or bad_reasons), "\n".join(
        too_long + stale + [f"LONG_MODULES names a missing module: {k}" for k in missing]
        + [f"LONG_MODULES[{k!r}] needs a one-line reason" for k in bad_reasons])


def monkey_patches(p: Path) -> list[str]:
    "Module-level `Class.attr = function` lines (classes are built across cells with fastcore's `@patch` instead)."
    tree, found = ast.parse(p.read_text(), str(p)), []
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in tree.body:
        if not isinstance(node, ast.Assign): continue
        targets = [t for tg in node.targets for t in (tg.elts if isinstance(tg, ast.Tuple) else [tg])]
        values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
        if any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in classes for t in targets) \
                and any(isinstance(v, (ast.Name, ast.Lambda)) and (isinstance(v, ast.Lambda) or v.id in functions) for v in values):
            found.append(f"{rel(p)}:{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_classes_are_built_with_patch():
    found = [f for p in modules() for f in monkey_patches(p)]
    assert not found, "use fastcore's @patch instead of assigning functions to classes:\n" + "\n".join(found)


def cells_with_several_functions(p: Path) -> list[str]:
    "Exported notebook cells (nbdev's `# %% ../nbs/... #id` markers) that define more than one top-level function."
    text = p.read_text()
    tree = ast.parse(text, str(p))
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if re.match(r"# %% \S+\.ipynb", line)]
    found = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else 10**9
        fns = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and start < n.lineno < end]
        if len(fns) > 1: found.append(f"{rel(p)}:{start}: one cell defines {', '.join(f.name for f in fns)}")
    return found


def test_one_function_per_exported_cell():
    found = [f for p in modules() for f in cells_with_several_functions(p)]
    assert not found, "split these notebook cells, one function each:\n" + "\n".join(found)
