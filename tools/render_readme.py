"""Render nbs/index.ipynb to README.md without Quarto.

`nbdev-readme` renders the README with Quarto. Where Quarto cannot be installed (the `quarto-cli` sdist downloads its
binary at build time, which fails offline), this script gives the same content: markdown cells as they are, visible
code cells as ```python blocks, hidden cells (`#| hide`) left out. Run from the repository root:

    .venv/bin/python tools/render_readme.py
"""
import json, sys
from pathlib import Path

def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    out = ["<!-- generated from nbs/index.ipynb by tools/render_readme.py (or nbdev-readme); do not edit -->", ""]
    for c in nb["cells"]:
        src = "".join(c["source"]).rstrip()
        if c["cell_type"] == "markdown": out += [src, ""]
        elif c["cell_type"] == "code":
            lines = src.splitlines()
            if any(l.strip().startswith("#|") and "hide" in l for l in lines): continue
            code = "\n".join(l for l in lines if not l.strip().startswith("#|"))
            if code.strip(): out += ["```python", code, "```", ""]
    return "\n".join(out).rstrip() + "\n"

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    text = render(root / "nbs" / "index.ipynb")
    target = root / "README.md"
    if "--check" in sys.argv:
        sys.exit(0 if target.exists() and target.read_text() == text else "README.md is out of date: run tools/render_readme.py")
    target.write_text(text)
    print(f"wrote {target}")
