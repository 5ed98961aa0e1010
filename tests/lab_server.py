"""A private JupyterLab on 127.0.0.1 and the page helpers that drive the explorer in it with Playwright.

Shared by `tests/test_explorer_lab.py` (does the explorer work in a real JupyterLab?) and `bench/explorer_lab.py` (how
fast is it with 50,000 points?). `jupyterlab(base, cells)` writes a notebook of `cells` into `base/root`, starts
JupyterLab there (free port, random token, its own config/data/runtime folders and kernel spec) and stops it, with its
kernels, when the `with` block ends, even on failure. `open_and_run(page, ...)` opens that notebook, runs it and waits
until the maps are drawn.
"""
import contextlib, json, os, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("BRAINSSL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
NOTEBOOK = "explorer.ipynb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str]):
    "A notebook of code `cells` (no outputs) for the kernel spec `brainssl-test`."
    cells = [{"cell_type": "code", "id": f"c{i:07x}", "metadata": {}, "execution_count": None, "outputs": [],
              "source": src.strip()} for i, src in enumerate(cells)]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "brainssl-test", "display_name": "brainssl test", "language": "python"}}}
    path.write_text(json.dumps(nb, indent=1))


@contextlib.contextmanager
def jupyterlab(base: Path, cells: list[str], startup_s: float = 60):
    """JupyterLab serving a notebook of `cells` from `base/root`: yields (base URL, token, root). Raises `RuntimeError`
    with the end of the server log if it exits or does not answer within `startup_s` seconds."""
    root, cfg = base / "root", base / "jupyter"
    root.mkdir(parents=True)
    kdir = cfg / "data" / "kernels" / "brainssl-test"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                                  "display_name": "brainssl test", "language": "python"}))
    settings = cfg / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    write_notebook(root / NOTEBOOK, cells)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg / "config"), JUPYTER_DATA_DIR=str(cfg / "data"),
               JUPYTER_RUNTIME_DIR=str(cfg / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(cfg / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(cfg / "workspaces"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    log_path = base / "lab.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly", "--allow-root",
                             "--ServerApp.shutdown_no_activity_timeout=600", "--MappingKernelManager.cull_idle_timeout=0"],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + startup_s
        while True:                                    # wait for the server to answer, not a fixed time
            if proc.poll() is not None: raise RuntimeError(f"JupyterLab exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read(); break
            except OSError:
                if time.time() > deadline: raise RuntimeError(f"JupyterLab did not answer in {startup_s:.0f} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        yield url, token, root
    finally:
        try:                                           # shut the kernels down through the API, then the server
            req = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(req, timeout=10).read()
            proc.wait(timeout=20)
        except Exception:
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try: proc.wait(timeout=10)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        log.close()


def open_and_run(page, url: str, token: str, n_maps: int, timeout_s: float = 120):
    "Open the notebook, wait for its kernel, run all cells and wait until `n_maps` maps have drawn their traces."
    page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=60_000)
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
            && w.sessionContext.session.kernel.connectionStatus === 'connected'; }""", timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(f"""() => {{ const gds = document.querySelectorAll('.jp-OutputArea-output .js-plotly-plot');
        return gds.length >= {n_maps} && Array.from(gds).every(gd => gd._fullData && gd._fullData.length > 0); }}""",
                           timeout=timeout_s * 1000)


# JavaScript run in the page. The maps are plotly graph divs (`.js-plotly-plot`) inside the notebook's outputs; each
# explorer's gallery is the HTML widget that reads "N selected" / "nothing selected".
JS_MAPS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output .js-plotly-plot')).map(gd => {
    const tr = (gd._fullData || []).filter(t => !String(t.meta || '').startsWith('highlight'));
    const sel = new Set(); let any = false;
    for (const t of tr) if (t.selectedpoints && t.selectedpoints.length !== undefined) { any = true;
        for (const k of t.selectedpoints) sel.add(t.customdata[k]); }
    return {n: tr.reduce((s, t) => s + (t.x ? t.x.length : 0), 0), selected: any ? Array.from(sel).sort((a, b) => a - b) : null};
})"""
JS_GALLERY = """(o) => { const out = document.querySelectorAll('.jp-OutputArea-output')[o];
    const g = out && Array.from(out.querySelectorAll('.widget-html-content')).find(e =>
        /^\\s*(\\d+ selected|nothing selected|select points)/.test(e.textContent));
    if (!g) return null; const m = g.textContent.match(/^\\s*(\\d+) selected/); return m ? +m[1] : 0; }"""
JS_POINT = """([o, j]) => { const gd = document.querySelectorAll('.jp-OutputArea-output .js-plotly-plot')[o];
    const drag = gd.querySelector('.nsewdrag').getBoundingClientRect(), L = gd._fullLayout;
    const pts = [];
    gd._fullData.forEach((t, ti) => { if (String(t.meta || '').startsWith('highlight') || t.visible !== true) return;
        for (let k = 0; k < t.x.length; k++) pts.push([drag.left + L.xaxis.l2p(t.x[k]), drag.top + L.yaxis.l2p(t.y[k]), t.customdata[k]]); });
    pts.sort((a, b) => a[2] - b[2]);
    return {pt: pts[j % pts.length], box: [drag.left, drag.top, drag.width, drag.height]}; }"""


def wait_for(cond, timeout=10.0, step=0.05):
    "Poll `cond()` until it is truthy (returned) or `timeout` seconds pass (returns the last falsy value)."
    end = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > end: return v
        time.sleep(step)
