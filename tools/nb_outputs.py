"""Execute notebooks and save their outputs, cleaned the way `nbdev-clean` cleans them, with a hash of their code.

    .venv/bin/python tools/nb_outputs.py                     # every notebook in nbs/
    .venv/bin/python tools/nb_outputs.py nbs/10_views.ipynb  # one (or a few)
    make outputs [NB=nbs/10_views.ipynb]                     # the same through make

Each notebook runs in its own process with nbdev's runner (`execnb`, what `nbdev-test` uses), skipping the cells
`nbdev-test` skips (`#| slow`, `#| gpu`, `#| notest`, `#| eval: false`), on `--threads` CPU threads (2). Before the
first cell the process sets the environment a reader's output should not depend on:

- plotly's renderer is `"plotly_mimetype+png"`: each figure is stored as plotly JSON (interactive in JupyterLab, with
  no plotly.js bundle in the notebook) *and* as a PNG made by kaleido with the machine's Chromium (GitHub's viewer and
  static pages show that one). Chromium is `$BROWSER_PATH`, else `chromium` on PATH; kaleido runs as one persistent
  server per notebook, MathJax off (no network).
- progress bars off at their source (`TQDM_DISABLE=1`), Lightning's tips and banners off (its loggers at WARNING),
  and `DeprecationWarning`/`FutureWarning` raised *inside dependencies* ignored (brainssl's own warnings still show).

Then the notebook is cleaned with nbdev's own `clean_nb` (execution counts, cell and notebook metadata) and its
metadata gets `brainssl.code_hash` (sha256 of its code cells) and `brainssl.cell_hashes` (`[id, short hash]` per code cell, in order),
which `tools/check_outputs.py` compares with the current code. A notebook whose run fails is left unchanged.
"""
from __future__ import annotations
import argparse, hashlib, json, os, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HASH_KEY = "brainssl"  # notebook metadata key; listed in [tool.nbdev] allowed_metadata_keys so nbdev-clean keeps it
MAX_BYTES = 3_000_000

def cell_hash(source) -> str:
    "Short sha256 of one code cell's source (a string or a list of lines); trailing whitespace does not count."
    src = "".join(source) if isinstance(source, list) else source
    return hashlib.sha256(src.rstrip().encode()).hexdigest()[:16]

def code_hashes(nb: dict) -> dict:
    "`{'code_hash': sha256 of every code cell in order, 'cell_hashes': [[cell id, cell_hash], ...]}` of a notebook dict."
    cells = [[c.get("id", str(i)), cell_hash(c["source"])] for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    total = hashlib.sha256(json.dumps(cells).encode()).hexdigest()
    return {"code_hash": total, "cell_hashes": cells}  # a list (writers sort dict keys), not named "cells" (fastcore.nbio takes any "cells" for notebook cells)

# ---- what runs inside the per-notebook process ------------------------------------------------------------------
_PRELUDE = r'''
import logging as _lg, warnings as _w, os as _os
for _n in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_utilities"):
    _lg.getLogger(_n).setLevel(_lg.WARNING)
_w.filterwarnings("ignore", category=DeprecationWarning)
_w.filterwarnings("ignore", category=FutureWarning)
_w.filterwarnings("default", category=DeprecationWarning, module="brainssl")
_w.filterwarnings("default", category=FutureWarning, module="brainssl")
try:
    import plotly.io as _pio
    _pio.renderers.default = "plotly_mimetype+png"
    import kaleido as _kaleido
    _kaleido.start_sync_server(mathjax=False, silence_warnings=True)
    _w.filterwarnings("ignore", message="The kopts argument is ignored")
except ImportError as _e:
    raise ImportError(f"make outputs needs plotly and kaleido (pip install -e '.[notebooks]'): {_e}") from None
'''

def _run_one(path: Path, skip_flags: list[str], timeout: int) -> int:
    "Execute `path` in this process (see module docstring) and write it back; 0 on success."
    from execnb.shell import CaptureShell
    from fastcore.nbio import read_nb, write_nb
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    from fastcore.xtras import working_directory
    raw = json.loads(path.read_text())
    proc = NBProcessor(path, rm_directives=False, process=True).nb
    skip = _skip_cell(proc, skip_flags)
    skipped = {c.get("id") for c in proc.cells if skip(c)}
    nb = read_nb(path)
    shell = CaptureShell(path)
    shell.run(_PRELUDE)
    if shell.exc: raise shell.exc
    t0 = time.time()
    with working_directory(path.parent):
        shell.run_all(nb, exc_stop=True, preproc=lambda c: c.get("id") in skipped or c.cell_type != "code",
                      cell_timeout=timeout)
    try:
        import kaleido; kaleido.stop_sync_server(silence_warnings=True)
    except Exception: pass
    if shell.exc:
        sys.stderr.write(shell.prettytb(fname=path) + "\n")
        return 1
    outs = {c.get("id"): c.get("outputs", []) for c in nb.cells if c.cell_type == "code"}
    for c in raw["cells"]:
        if c["cell_type"] != "code": continue
        kept = [] if c.get("id") in skipped else outs.get(c.get("id"), [])
        # an execute_result with no data is what a figure leaves after displaying itself: noise in a reader
        c["outputs"] = [dict(o) for o in kept if not (o.get("output_type") == "execute_result" and not o.get("data"))]
    cfg = get_config(path=path.parent)
    clean_nb(raw, False, list(cfg.get("allowed_metadata_keys") or []) + [HASH_KEY],
             cfg.get("allowed_cell_metadata_keys") or [], cfg.clean_ids, cfg.get("allowed_out_metadata_keys") or [])
    raw["metadata"][HASH_KEY] = code_hashes(raw)
    write_nb(raw, path)
    size = path.stat().st_size
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {time.time() - t0:.0f} s, {size / 1e6:.2f} MB"
          + ("  (over 3 MB!)" if size > MAX_BYTES else ""), flush=True)
    return 0 if size <= MAX_BYTES else 2

def child_env(threads: int, flags: str = "") -> dict:
    "The environment every notebook runs under: threads, no progress bars, Chromium for kaleido."
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TQDM_DISABLE="1",
               PYTHONHASHSEED="0", MPLBACKEND="Agg", BRAINSSL_SLOW=os.environ.get("BRAINSSL_SLOW", "0"))
    if "slow" in flags.split(): env["BRAINSSL_SLOW"] = "1"  # the slow cells run when asked for, guard included
    if "BROWSER_PATH" not in env:
        chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if chrome: env["BROWSER_PATH"] = chrome
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return env

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: every nbs/*.ipynb)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per notebook (torch, OpenMP, MKL)")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks run at once (each in its own process; e.g. 2 with --threads 1)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--flags", default="", help="space-separated flags to run too, as nbdev-test --flags (e.g. slow)")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    from nbdev.config import get_config
    skip_flags = [f for f in (get_config(path=ROOT / "nbs").tst_flags or []) if f not in a.flags.split()]
    if a._child:
        import torch; torch.set_num_threads(a.threads)
        return _run_one(Path(a.notebooks[0]).resolve(), skip_flags, a.timeout)
    nbs = [Path(p) for p in a.notebooks] or sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
    t0 = time.time()
    def run(nb):
        args = [sys.executable, __file__, "--_child", "--threads", str(a.threads), "--timeout", str(a.timeout),
                "--flags", a.flags, str(nb.resolve())]
        return subprocess.run(args, env=child_env(a.threads, a.flags)).returncode
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max(1, a.jobs)) as ex: rcs = list(ex.map(run, nbs))
    failed = [str(nb) for nb, rc in zip(nbs, rcs) if rc]
    print(f"{len(nbs) - len(failed)}/{len(nbs)} notebooks saved with outputs in {time.time() - t0:.0f} s")
    if failed: print("failed (left unchanged or over 3 MB):\n  " + "\n  ".join(failed), file=sys.stderr)
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
