"""Committed notebook outputs: the code-hash check (`tools/check_outputs.py`), the runner that records them
(`tools/nb_outputs.py`), the import-cell splitter (`tools/split_import_cells.py`) and the slow-cell guard.

All fast (JSON only) except `test_nb_outputs_runs_a_notebook`, which executes a two-cell notebook and renders one plotly
figure with kaleido + Chromium (about 10-30 s); it skips where kaleido or Chromium is missing.
"""
import ast, contextlib, copy, io, json, os, shutil, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from check_outputs import check_notebook, main as check_main  # noqa: E402
from nb_outputs import HASH_KEY, cell_hash, code_hashes  # noqa: E402
from split_import_cells import split_cell, split_notebook  # noqa: E402

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _cell(src, kind="code", cid=None, outputs=None):
    c = {"cell_type": kind, "id": cid or f"{abs(hash(src)) % 16**8:08x}", "metadata": {}, "source": src.splitlines(True)}
    if kind == "code": c.update(execution_count=None, outputs=outputs or [])
    return c


def _recorded(tmp_path, name="nb.ipynb"):
    "A notebook with a figure output (plotly JSON + PNG) and its code hash recorded, as `make outputs` leaves it."
    fig = {"output_type": "display_data", "metadata": {},
           "data": {"application/vnd.plotly.v1+json": {"data": [{"y": [1, 2]}], "layout": {}}, "image/png": PNG}}
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}},
          "cells": [_cell("# Title", "markdown", "aaaa0001"), _cell("x = 1\nprint(x)", cid="aaaa0002",
                    outputs=[{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]),
                    _cell("import plotly.graph_objects as go\ngo.Figure(go.Scatter(y=[1, 2]))", cid="aaaa0003", outputs=[fig])]}
    nb["metadata"][HASH_KEY] = code_hashes(nb)
    p = tmp_path / name
    p.write_text(json.dumps(nb, indent=1) + "\n")
    return p, nb


def _write(p, nb): p.write_text(json.dumps(nb, indent=1) + "\n")


def test_check_passes_on_recorded_notebook(tmp_path):
    p, nb = _recorded(tmp_path)
    assert check_notebook(p) == []
    nb["cells"][0]["source"] = ["# Another title, prose only"]  # markdown is not code: no re-run needed
    _write(p, nb)
    assert check_notebook(p) == []
    nb["cells"][1]["source"] = ["x = 1\n", "print(x)   \n"]       # trailing whitespace does not count
    _write(p, nb)
    assert check_notebook(p) == []


def test_edited_cell_fails_naming_notebook_and_cell(tmp_path, capsys):
    p, nb = _recorded(tmp_path)
    nb["cells"][1]["source"] = ["x = 2\n", "print(x)"]           # edited without re-running
    _write(p, nb)
    probs = check_notebook(p)
    assert len(probs) == 1 and "nb.ipynb" in probs[0] and "cell 1" in probs[0] and "aaaa0002" in probs[0], probs
    assert "changed since its outputs were made" in probs[0] and "make outputs NB=" in probs[0] and "`x = 2`" in probs[0]
    assert check_main([str(p)]) == 1
    assert "aaaa0002" in capsys.readouterr().err


def test_added_removed_and_reordered_cells_fail(tmp_path):
    p, nb = _recorded(tmp_path)
    new = copy.deepcopy(nb); new["cells"].append(_cell("y = 3", cid="bbbb0001")); _write(p, new)
    assert any("bbbb0001" in q and "is new" in q for q in check_notebook(p))
    new = copy.deepcopy(nb); del new["cells"][1]; _write(p, new)
    assert any("aaaa0002" in q and "removed" in q for q in check_notebook(p))
    new = copy.deepcopy(nb); new["cells"][1], new["cells"][2] = new["cells"][2], new["cells"][1]; _write(p, new)
    assert any("reordered" in q for q in check_notebook(p))


def test_figure_without_image_and_unrecorded_notebook_fail(tmp_path):
    p, nb = _recorded(tmp_path)
    del nb["cells"][2]["outputs"][0]["data"]["image/png"]      # interactive only: GitHub's viewer shows nothing
    _write(p, nb)
    probs = check_notebook(p)
    assert len(probs) == 1 and "cell 2" in probs[0] and "no image beside it" in probs[0], probs
    del nb["metadata"][HASH_KEY]
    _write(p, nb)
    assert "no outputs recorded" in check_notebook(p)[0]
    assert check_main(["--recorded-only", str(p)]) == 0           # the interim mode leaves it out


def test_plotly_bundle_and_size_fail(tmp_path):
    p, nb = _recorded(tmp_path)
    nb["cells"][1]["outputs"].append({"output_type": "display_data", "metadata": {},
                                      "data": {"text/html": "<script>/* plotly.js */" + "x" * 3_100_000 + "</script>"}})
    _write(p, nb)
    probs = check_notebook(p)
    assert any("over the 3 MB limit" in q for q in probs) and any("embeds the plotly.js bundle" in q for q in probs), probs


def test_committed_outputs_are_current():
    "Every notebook that has recorded outputs passes the check (what `make check-outputs` will enforce for all)."
    recorded = [p for p in sorted((ROOT / "nbs").glob("*.ipynb")) if HASH_KEY in json.loads(p.read_text())["metadata"]]
    assert len(recorded) >= 3, [p.name for p in recorded]
    problems = [q for p in recorded for q in check_notebook(p)]
    assert problems == [], problems


def test_cell_hash():
    assert cell_hash("a = 1\n") == cell_hash(["a = 1"]) != cell_hash("a = 2")


# ---- tools/split_import_cells.py ---------------------------------------------------------------------------------
def _nbdev_would_warn(src):
    "nbdev's test for 'Found cells containing imports and other code' (nbdev.processors._do_eval)."
    body = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith("#|"))
    t = ast.parse(body).body
    return any(isinstance(x, (ast.Import, ast.ImportFrom)) for x in t) and any(isinstance(x, (ast.Expr, ast.Assign)) for x in t)


def test_split_cell():
    src = "#| hide\nimport os\nfrom pathlib import (\n    Path)\nx = Path(os.sep)\nprint(x)"
    imp, rest = split_cell(src)
    assert imp == "#| hide\nimport os\nfrom pathlib import (\n    Path)" and rest == "#| hide\nx = Path(os.sep)\nprint(x)"
    assert _nbdev_would_warn(src) and not _nbdev_would_warn(imp) and not _nbdev_would_warn(rest)
    assert split_cell("import os\nimport sys") is None                        # only imports: fine as it is
    assert split_cell("#| export\nimport os\nX = os.sep") is None              # export cells are the package's code
    assert split_cell("import nbdev; nbdev.nbdev_export()") is None           # nbdev never runs it while processing
    assert split_cell("#| eval: false\nimport os\nos.getcwd()") is None        # never executed


def test_split_notebook(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [_cell("#| slow\nimport json\nprint(json.dumps(bad))", cid="cccc0001"), _cell("a = 1", cid="cccc0002")]}
    p = tmp_path / "n.ipynb"; _write(p, nb)
    assert split_notebook(p, write=False)[0] == 1 and json.loads(p.read_text()) == nb   # --check changes nothing
    assert split_notebook(p)[0] == 1
    cells = json.loads(p.read_text())["cells"]
    assert ["".join(c["source"]) for c in cells] == ["#| slow\nimport json", "#| slow\nprint(json.dumps(bad))", "a = 1"]
    assert cells[1]["id"] == "cccc0001" and len(cells[0]["id"]) == 8 and cells[0]["outputs"] == []
    assert split_notebook(p)[0] == 0                                            # idempotent


GUARDED = ["00_core", "01_folder", "02_audit", "04_lgg", "05_brats", "06_dicom", "07_splits", "09_testing", "10_views",
           "40_metrics", "49_plots", "52_fusion", "index"]  # notebooks converted so far; the rest after tools/split_import_cells.py


def test_owned_notebooks_have_no_mixed_import_cells():
    owned = GUARDED
    mixed = {n: split_notebook(ROOT / "nbs" / f"{n}.ipynb", write=False)[0] for n in owned}
    assert not any(mixed.values()), mixed


# ---- the slow-cell guard -----------------------------------------------------------------------------------------
def _slow_notebooks():
    "Notebooks whose code sets `SLOW = run_slow()` (the guard of their `#| slow` cells)."
    return [p for p in sorted((ROOT / "nbs").glob("*.ipynb"))
            if any("SLOW = run_slow()" in "".join(c["source"]) for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code")]


@pytest.mark.parametrize("nb_path", _slow_notebooks(), ids=lambda p: p.stem)
def test_slow_cells_do_nothing_on_run_all(nb_path, monkeypatch):
    "As JupyterLab's Run All runs them (no IN_TEST, no BRAINSSL_SLOW): each `#| slow` cell only prints how to turn it on."
    monkeypatch.delenv("IN_TEST", raising=False); monkeypatch.delenv("BRAINSSL_SLOW", raising=False)
    cells = ["".join(c["source"]) for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code"]
    slow = [s for s in cells if s.startswith("#| slow")]
    assert slow
    ns = {}
    exec("from pathlib import Path\nfrom brainssl.core import run_slow\n" + next(s for s in cells if "SLOW = run_slow()" in s), ns)
    assert ns["SLOW"] is False
    for s in slow:
        out = io.StringIO()
        with contextlib.redirect_stdout(out): exec(s, ns)   # would read ../shared/data or train if the guard failed
        assert "slow cell not run" in out.getvalue(), (nb_path.name, out.getvalue())


def test_slow_notebooks_set_the_switch():
    "Each converted notebook with `#| slow` cells sets `SLOW = run_slow()`, so the test above covers its slow cells."
    has_slow = [n for n in GUARDED if any("".join(c["source"]).startswith("#| slow")
                for c in json.loads((ROOT / "nbs" / f"{n}.ipynb").read_text())["cells"] if c["cell_type"] == "code")]
    guarded = {p.stem for p in _slow_notebooks()}
    assert len(has_slow) >= 5 and [n for n in has_slow if n not in guarded] == [], (has_slow, guarded)


# ---- tools/nb_outputs.py end to end ------------------------------------------------------------------------------
def test_nb_outputs_runs_a_notebook(tmp_path):
    pytest.importorskip("kaleido")
    if not (os.environ.get("BROWSER_PATH") or shutil.which("chromium")): pytest.skip("kaleido needs Chromium")
    import subprocess
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "cells": [_cell("import plotly.graph_objects as go", cid="dddd0001"),
                    _cell("print(sum(range(4)))", cid="dddd0002"),
                    _cell("go.Figure(go.Bar(y=[3, 1, 2]), layout=dict(title='t', width=300, height=200))", cid="dddd0003"),
                    _cell("#| slow\nprint('slow')", cid="dddd0004")]}
    p = ROOT / "nbs" / f"_test_outputs_{os.getpid()}.ipynb"  # inside nbs/ for nbdev's config; '_' keeps it out of builds
    _write(p, nb)
    try:
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "nb_outputs.py"), "--threads", "1", str(p)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        got = json.loads(p.read_text())
        outs = [c.get("outputs") for c in got["cells"]]
        assert outs[1] == [{"name": "stdout", "output_type": "stream", "text": ["6\n"]}], outs[1]
        assert len(outs[2]) == 1 and {"application/vnd.plotly.v1+json", "image/png"} <= set(outs[2][0]["data"]), outs[2]
        assert outs[3] == [] and all(c.get("execution_count") is None for c in got["cells"])   # slow cell skipped
        assert got["metadata"][HASH_KEY] == code_hashes(got) and check_notebook(p) == []
    finally: p.unlink(missing_ok=True)
