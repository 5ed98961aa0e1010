"""Check that committed notebook outputs came from the current code and that every figure shows without JavaScript.

    .venv/bin/python tools/check_outputs.py                   # every nbs/*.ipynb
    .venv/bin/python tools/check_outputs.py nbs/10_views.ipynb
    .venv/bin/python tools/check_outputs.py --recorded-only   # only notebooks `make outputs` has run (until all are)
    make check-outputs

Fast (reads JSON, runs nothing). For each notebook it fails, naming the notebook and the cell, when

- the notebook has no `brainssl.code_hash` in its metadata (its outputs were never made with `make outputs`);
- a code cell was edited, added or removed since (its hash differs from the one `tools/nb_outputs.py` stored);
- a figure output (plotly JSON or a widget view) has no image beside it (`image/png` or `image/svg+xml`), so GitHub's
  viewer and static pages would show nothing;
- an output embeds the plotly.js bundle, or the file is over 3 MB.

The fix is always the same: `make outputs NB=<notebook>`. Exit status 1 on any problem, 0 otherwise.
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nb_outputs import HASH_KEY, MAX_BYTES, ROOT, cell_hash  # noqa: E402

FIGURE_MIMES = ("application/vnd.plotly.v1+json", "application/vnd.jupyter.widget-view+json")
IMAGE_MIMES = ("image/png", "image/svg+xml", "image/jpeg", "image/webp")

def _first_line(src) -> str:
    s = "".join(src) if isinstance(src, list) else src
    lines = [l for l in s.splitlines() if l.strip() and not l.lstrip().startswith("#|")]
    return (lines[0][:60] + ("..." if len(lines[0]) > 60 else "")) if lines else "(empty)"

def check_notebook(path: Path) -> list[str]:
    "Problems of one notebook, each a line naming the notebook and cell (index in the file and id); [] if none."
    name = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
    fix = f"run `make outputs NB={name}`"
    problems = []
    size = path.stat().st_size
    if size > MAX_BYTES: problems.append(f"{name}: {size / 1e6:.1f} MB, over the 3 MB limit (a figure too big, or a plotly.js bundle?)")
    try: nb = json.loads(path.read_text())
    except json.JSONDecodeError as e: return [f"{name}: not valid JSON ({e}); fix the merge, then {fix}"]
    rec = nb.get("metadata", {}).get(HASH_KEY)
    code = [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    if not rec or "cell_hashes" not in rec:
        return problems + [f"{name}: no outputs recorded (no metadata.{HASH_KEY}); {fix}"]
    order = [cid for cid, _ in rec["cell_hashes"]]
    stored = dict(rec["cell_hashes"])
    for i, c in code:
        cid = c.get("id", str(i))
        if cid not in stored:
            problems.append(f"{name}: cell {i} (id {cid}, `{_first_line(c['source'])}`) is new since the outputs were made; {fix}")
        elif stored.pop(cid) != cell_hash(c["source"]):
            problems.append(f"{name}: cell {i} (id {cid}, `{_first_line(c['source'])}`) changed since its outputs were made; {fix}")
    for cid in stored:
        problems.append(f"{name}: code cell id {cid} was removed since the outputs were made; {fix}")
    ids = [c.get("id", str(i)) for i, c in code]
    if not problems and ids != order:
        problems.append(f"{name}: code cells were reordered since the outputs were made; {fix}")
    for i, c in code:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            if any(m in data for m in FIGURE_MIMES) and not any(m in data for m in IMAGE_MIMES):
                problems.append(f"{name}: cell {i} (id {c.get('id')}, `{_first_line(c['source'])}`) has a figure with no "
                                f"image beside it (GitHub's viewer shows nothing): is kaleido installed? {fix}")
            html = data.get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            if len(html) > 500_000 and "plotly" in html.lower():
                problems.append(f"{name}: cell {i} (id {c.get('id')}) embeds the plotly.js bundle ({len(html) / 1e6:.1f} MB); "
                                f"show figures through plotly's 'plotly_mimetype+png' renderer, then {fix}")
    return problems

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to check (default: every nbs/*.ipynb)")
    ap.add_argument("--recorded-only", action="store_true", help="skip notebooks that have no recorded outputs yet")
    a = ap.parse_args(argv)
    nbs = [Path(p) for p in a.notebooks] or sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
    problems, n = [], 0
    for p in nbs:
        if a.recorded_only and HASH_KEY not in json.loads(p.read_text()).get("metadata", {}): continue
        n += 1
        problems += check_notebook(p)
    for line in problems: print(line, file=sys.stderr)
    print(f"check-outputs: {n} notebook(s), {len(problems)} problem(s)")
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main())
