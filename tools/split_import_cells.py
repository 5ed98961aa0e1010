"""Move the imports out of notebook cells that mix them with other code, so `nbdev-proc-nbs` can process the notebook.

nbdev's docs processing (`nbdev-proc-nbs`, before Quarto or `make docs`) executes only export cells, `show_doc` cells
and *every cell that contains an import*. A test cell such as

    from fastcore.test import test_fail
    test_fail(lambda: read(bad), contains="bad.png")    # `bad` is defined by an earlier test cell

is therefore run on its own during processing and stops with a `NameError` (nbdev warns "Found cells containing
imports and other code"). This script rewrites such a cell into two: the cell's top-level imports first, in a cell
of their own with the same directives (`#| hide`, `#| slow`, ...), then the rest, unchanged. Imports inside a
function, `if` or `with` (which nbdev also counts) are left where they are and listed, since moving them would change
when they run.

    .venv/bin/python tools/split_import_cells.py nbs/04_lgg.ipynb     # rewrite one notebook
    .venv/bin/python tools/split_import_cells.py --check              # list what would change in nbs/, change nothing

Export cells (`#| export`, `#| exports`, `#| exporti`, `#| exec_doc`) are left alone: nbdev runs them anyway and
`nbdev-export` writes them to the package as they are. Cell ids are kept; the new cell gets a fresh 8-hex id.
"""
from __future__ import annotations
import argparse, ast, json, secrets, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOW_DIRS = {"export", "exports", "exporti", "exec_doc"}

def _directives(lines: list[str]) -> tuple[list[str], list[str]]:
    "Split a cell's lines into its leading `#|` directive lines and the rest."
    n = 0
    while n < len(lines) and (lines[n].lstrip().startswith("#|") or not lines[n].strip()): n += 1
    return lines[:n], lines[n:]

def _dir_names(dirs: list[str]) -> set[str]:
    return {l.strip()[2:].strip().split(":")[0].split()[0] for l in dirs if l.strip()[2:].strip()}

def split_cell(source: str) -> tuple[str, str] | None:
    """`(imports, rest)` for a cell that mixes top-level imports with other code, else None.

    `imports` keeps the cell's directive lines and holds its top-level `import`/`from` statements in order; `rest` is
    the cell without them (directives kept). Cells that are only imports, export cells and cells that do not parse
    return None."""
    if "nbdev_export" + "()" in source: return None  # nbdev never runs the closing export cell while processing
    lines = source.splitlines(keepends=True)
    dirs, body = _directives(lines)
    names = _dir_names(dirs)
    if names & SHOW_DIRS or any(l.strip() in ("#| eval: false", "#| eval:false") for l in dirs): return None
    try: tree = ast.parse("".join(body))
    except SyntaxError: return None
    imps = [t for t in tree.body if isinstance(t, (ast.Import, ast.ImportFrom))]
    others = [t for t in tree.body if not isinstance(t, (ast.Import, ast.ImportFrom))]
    if not imps or not others: return None
    drop = set()
    for t in imps: drop.update(range(t.lineno - 1, t.end_lineno))
    imp_src = "".join(body[i] for i in sorted(drop))
    rest = [l for i, l in enumerate(body) if i not in drop]
    while rest and not rest[0].strip(): rest.pop(0)
    d = "".join(dirs).rstrip("\n") + "\n" if dirs else ""
    return (d + imp_src).rstrip("\n"), (d + "".join(rest)).rstrip("\n")

def nested_imports(source: str) -> bool:
    "True if a non-export cell has imports only below top level (inside a def, if, with...): nbdev runs it too."
    lines = source.splitlines(keepends=True)
    dirs, body = _directives(lines)
    if _dir_names(dirs) & SHOW_DIRS: return False
    try: tree = ast.parse("".join(body))
    except SyntaxError: return False
    top = any(isinstance(t, (ast.Import, ast.ImportFrom)) for t in tree.body)
    deep = any(isinstance(n, (ast.Import, ast.ImportFrom)) for t in tree.body for n in ast.walk(t)
               if not isinstance(t, (ast.Import, ast.ImportFrom)))
    return deep and not top

def _lines(s: str) -> list[str]:
    ls = s.splitlines(keepends=True)
    if ls: ls[-1] = ls[-1].rstrip("\n")
    return ls

def split_notebook(path: Path, write: bool = True) -> tuple[int, list[int]]:
    "Split the mixed cells of `path` (written back if `write`); returns (cells split, indices of nested-import cells)."
    nb = json.loads(path.read_text())
    cells, n, nested = [], 0, []
    for i, c in enumerate(nb["cells"]):
        src = "".join(c["source"])
        if c["cell_type"] == "code" and (parts := split_cell(src)):
            imp, rest = parts
            cells.append({"cell_type": "code", "execution_count": None, "id": secrets.token_hex(4), "metadata": {},
                          "outputs": [], "source": _lines(imp)})
            c = {**c, "source": _lines(rest)}
            n += 1
            if nested_imports(rest): nested.append(i)
        elif c["cell_type"] == "code" and nested_imports(src): nested.append(i)
        cells.append(c)
    if n and write:
        nb["cells"] = cells
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return n, nested

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks (default: every nbs/*.ipynb)")
    ap.add_argument("--check", action="store_true", help="only list the notebooks that would change; exit 1 if any")
    a = ap.parse_args(argv)
    nbs = [Path(p) for p in a.notebooks] or sorted((ROOT / "nbs").glob("*.ipynb"))
    changed = 0
    for p in nbs:
        n, nested = split_notebook(p, write=not a.check)
        if n: changed += 1; print(f"{p}: {n} cell(s) {'to split' if a.check else 'split'}")
        if nested: print(f"{p}: cells {nested} import inside a block; nbdev-proc-nbs runs them: check they need no test names")
    return 1 if (a.check and changed) else 0

if __name__ == "__main__":
    sys.exit(main())
