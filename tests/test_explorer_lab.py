"""The explorer in a real JupyterLab, driven with real mouse events in headless Chromium (issue 19).

The test writes a small notebook on the embedded synthetic data into a temporary root, starts JupyterLab there on
127.0.0.1 (free port, random token, its own config/data/runtime folders and kernel spec), opens the notebook in
Debian's `chromium` through Playwright, runs it and drives the explorer as a user does: hover, box select, 20 lassos
that start on points with hovering in between, a search after a selection, a double-click, the export button and a
page reload. After every action the map's highlighted points, the gallery's count and the exported CSV must agree.
Everything it started (browser, JupyterLab, the kernel) is shut down in `finally` blocks, even on failure.

As `tests/test_explorer_browser.py`: `.ci/run` sets BRAINSSL_REQUIRE_BROWSER=1, so in CI a missing browser, playwright
or JupyterLab fails instead of skipping.
"""
import os, re, time
from pathlib import Path

import pytest

from lab_server import CHROMIUM, ARGS, JS_GALLERY, JS_MAPS, JS_POINT, jupyterlab, open_and_run, wait_for as _wait

REQUIRED = os.environ.get("BRAINSSL_REQUIRE_BROWSER") == "1"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None
try:
    import jupyterlab as _jl, ipykernel  # noqa: F401  (the server and the kernel run in this interpreter's environment)
    HAVE_LAB = True
except ImportError:  # pragma: no cover
    HAVE_LAB = False
MISSING = CHROMIUM is None or sync_playwright is None or not HAVE_LAB
if MISSING and not REQUIRED:
    pytest.skip("needs Debian's chromium, playwright and jupyterlab (`.ci/run` and the [dev] extra bring them)",
                allow_module_level=True)

N = 160          # samples in the notebook's explorer
N_LASSOS = 20

# The notebook under test: a small table on the embedded synthetic data (PCA layout: no UMAP compilation), shown twice
# (two views of one explorer) and as a linked comparison (two more maps).
SETUP = f"""
import warnings; warnings.simplefilter("ignore")
import numpy as np
from brainssl.core import concat_datasets
from brainssl.data.synthetic import synthetic_splits
from brainssl.viz.explorer import Explorer, ExplorerTable, compare_runs, label_error_candidates, nearest_neighbours
sp = synthetic_splits(n_train={N * 3 // 4}, n_test={N // 4}, image_size=32, seed=0)
ds = concat_datasets(sp)
X = ds.stack(progress=False).flatten(1).float().numpy() / 255
def table_of(X):
    Xc = X - X.mean(0)
    coords = (Xc @ np.linalg.svd(Xc, full_matrices=False)[2][:2].T).astype(np.float32)
    nb, dist = nearest_neighbours(X, k=10)
    return ExplorerTable(coords, np.asarray(ds.labels), list(ds.classes), list(ds.names), None, None, list(ds.sample_splits),
                         nb, dist, label_error_candidates(nb, ds.labels), np.full(len(ds), -1), {{}})
ex = Explorer(table_of(X), ds, n_gallery=1000, title="lab test")
ex
"""
CELLS = [SETUP, "ex  # a second view of the same explorer",
         "a, b = Explorer(table_of(X), ds, title='A'), Explorer(table_of(X[:, ::-1].copy() ** 2), ds, title='B')\n"
         "compare_runs(a, b)"]
N_MAPS = 4


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "A JupyterLab server on 127.0.0.1 in a temporary root: yields (base URL, token, root). Stopped, with its kernels, at the end."
    if MISSING: pytest.fail("BRAINSSL_REQUIRE_BROWSER=1 but chromium, playwright or jupyterlab is missing")
    with jupyterlab(tmp_path_factory.mktemp("lab"), CELLS) as served:
        yield served


def _maps(page): return page.evaluate(JS_MAPS)


def _export(page, root: Path, out: int = 0):
    "Click the explorer's export button; the CSV's set of indices, or None when the explorer refused (nothing selected)."
    csv_path = root / "selection.csv"
    csv_path.unlink(missing_ok=True)
    status = page.locator(".jp-OutputArea-output").nth(out).locator(".widget-html-content").filter(has_text=re.compile("wrote|nothing is selected"))
    page.locator(".jp-OutputArea-output").nth(out).get_by_role("button", name="export selection").click()
    if not _wait(lambda: csv_path.exists() or status.count() > 0 and "nothing" in status.first.text_content(), 10): return "no answer"
    if not csv_path.exists(): return None
    return sorted(int(line.split(",")[0]) for line in csv_path.read_text().splitlines()[1:])


def _agree(page, root, what, failures, out=0):
    "Map highlight, gallery count and export of explorer output `out` after action `what`: wait for them to agree, record a failure if not."
    state = {}
    def check():
        m = _maps(page)[out]["selected"] or []
        g = page.evaluate(JS_GALLERY, out)
        state.update(map=m, gallery=g)
        return g == len(m)
    _wait(check, 8)
    exported = _export(page, root, out)
    state["export"] = exported
    ok = state["gallery"] == len(state["map"]) and (exported == state["map"] if state["map"] else exported is None)
    if not ok: failures.append(f"{what}: events {page.evaluate('window.__events && window.__events.splice(0)')}")
    else: page.evaluate('window.__events && window.__events.splice(0)')
    if not ok: failures.append(f"{what}: map highlights {len(state['map'])}, gallery {state['gallery']}, "
                               f"export {exported if not isinstance(exported, list) else len(exported)}")
    return ok, state


def _lasso(page, x, y, r, k=8):
    "A real mouse lasso: press on the point at (x, y), draw a circle of radius `r` around it, come back and release."
    import math
    page.mouse.move(x, y)
    page.mouse.down()
    for s in range(k + 1):
        a = 2 * math.pi * s / k
        page.mouse.move(x + r * math.cos(a), y + r * math.sin(a))
    page.mouse.move(x, y)
    page.mouse.up()


def test_explorer_in_jupyterlab(lab):
    url, token, root = lab
    t0 = time.time()
    lap = lambda what: print(f"{time.time() - t0:6.1f} s  {what}")
    failures, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            bundles = []                               # how often plotly.js (its header) crosses the kernel websocket
            def count_bundles(payload):
                text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
                if "* plotly.js v" in text: bundles.append(text.count("* plotly.js v"))
            page.on("websocket", lambda ws: ws.on("framereceived", count_bundles))
            open_and_run(page, url, token, N_MAPS)
            lap('notebook ran, maps drawn')
            page.evaluate("""() => { window.__events = []; const gd = document.querySelector('.jp-OutputArea-output .js-plotly-plot');
                for (const e of ['plotly_selected', 'plotly_deselect', 'plotly_relayout']) gd.on(e, (ev) => window.__events.push(
                    e + ':' + (ev && ev.points ? ev.points.length : JSON.stringify(ev && Object.keys(ev))))); }""")
            test_maps = _maps(page)
            assert [m["n"] for m in test_maps] == [N] * N_MAPS, test_maps
            # 3 MapWidgets (one explorer shown twice, two in the comparison view), all 4 maps drawn: plotly.js came once
            if sum(bundles) != 1: failures.append(f"plotly.js reached the browser {sum(bundles)} times for 3 maps, not once")
            broken = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-OutputArea-output img')).filter(
                i => i.offsetParent !== null && i.complete && i.naturalWidth === 0).length""")
            if broken: failures.append(f"{broken} broken images in the explorer before any hover")

            # hover: the panel shows the slice and its 8 nearest neighbours
            pt = page.evaluate(JS_POINT, [0, 5])["pt"]
            page.mouse.move(pt[0], pt[1])
            info = page.locator(".jp-OutputArea-output").first.locator(".widget-html-content").filter(has_text="nearest in embedding space")
            try:
                info.first.wait_for(timeout=10_000)
                n_nb = _wait(lambda: info.first.locator("img").count() == 8 and 8, 5)
                if n_nb != 8: failures.append(f"hover: panel shows {info.first.locator('img').count()} neighbours, not 8")
            except Exception as e:
                failures.append(f"hover: no panel ({type(e).__name__})")

            lap('hover')
            # box select through the mode bar
            gd0 = page.locator(".jp-OutputArea-output .js-plotly-plot").first
            gd0.hover()
            gd0.locator(".modebar-btn[data-val='select']").first.click()
            box = page.evaluate(JS_POINT, [0, 0])["box"]
            page.mouse.move(box[0] + box[2] * 0.2, box[1] + box[3] * 0.2)
            page.mouse.down(); page.mouse.move(box[0] + box[2] * 0.6, box[1] + box[3] * 0.7, steps=8); page.mouse.up()
            ok, st = _agree(page, root, "box select", failures)
            if not st["map"]: failures.append("box select highlighted nothing")

            # 20 lassos, each starting on a point, with hovering over other points in between
            gd0.hover()
            gd0.locator(".modebar-btn[data-val='lasso']").first.click()
            arrived, seen, previous = 0, [], st["map"]
            for j in range(N_LASSOS):
                for h in (3, 29):                                      # hover a few points first
                    q = page.evaluate(JS_POINT, [0, 7 * j + h])["pt"]; page.mouse.move(q[0], q[1], steps=2)
                start = page.evaluate(JS_POINT, [0, 13 * j + 1])["pt"]
                _lasso(page, start[0], start[1], 45 + 6 * (j % 6))
                ok, st = _agree(page, root, f"lasso {j + 1}", failures)
                if ok and st["map"] and seen and st["map"] == previous: failures.append(f"lasso {j + 1}: the map kept the previous selection")
                arrived += ok and bool(st["map"]) and st["map"] != previous
                previous = st["map"]
                seen.append(len(st["map"]))
            lap('lassos')
            print(f"lassos arrived: {arrived} of {N_LASSOS} (map highlighted {seen})")
            if arrived != N_LASSOS: failures.append(f"lassos: {arrived} of {N_LASSOS} arrived")

            # a search after a selection, then a double-click: map, gallery and export still agree
            search = page.locator(".jp-OutputArea-output").first.locator(".widget-text input").first
            search.fill("-0001"); search.press("Enter")
            _wait(lambda: page.evaluate(JS_GALLERY, 0) not in (None, 0, seen[-1]), 8)
            ok, st = _agree(page, root, "search after a lasso", failures)
            if not st["map"]: failures.append(f"search selected nothing on the map (status: {page.locator('.jp-OutputArea-output').first.locator('.widget-html-content').all_text_contents()})")
            box = page.evaluate(JS_POINT, [0, 0])["box"]
            page.mouse.dblclick(box[0] + 3, box[1] + 3)
            ok, st = _agree(page, root, "double-click", failures)
            if st["map"]: failures.append(f"double-click left {len(st['map'])} points highlighted")
            if st["gallery"] != 0: failures.append(f"double-click: gallery still shows {st['gallery']} selected")
            rings = lambda: page.evaluate("""() => document.querySelector('.jp-OutputArea-output .js-plotly-plot')._fullData
                .filter(t => t.meta === 'highlight:search').length""")
            if _wait(lambda: rings() == 0, 8) is not True: failures.append(f"double-click left the search rings on the map ({rings()} ring traces)")
            if search.input_value(): failures.append(f"double-click left {search.input_value()!r} in the search box")

            # a reload with the kernel running: every map comes back with all its points, and the panel with it
            _lasso(page, *page.evaluate(JS_POINT, [0, 40])["pt"][:2], 40)
            _agree(page, root, "lasso before reload", failures)
            lap('search, double-click')
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=20_000)
            bundles.clear()
            page.reload()
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=60_000)
            try:
                page.wait_for_function(f"""() => {{ const gds = document.querySelectorAll('.jp-OutputArea-output .js-plotly-plot');
                    return gds.length >= {N_MAPS} && Array.from(gds).every(gd => gd._fullData &&
                        gd._fullData.filter(t => !String(t.meta || '').startsWith('highlight')).reduce((s, t) => s + t.x.length, 0) === {N}); }}""",
                                       timeout=30_000)
            except Exception:
                pass
            after = _maps(page)
            lap('reload')
            full = sum(m["n"] == N for m in after)
            print(f"after reload: {full} of {N_MAPS} maps with all {N} points ({[m['n'] for m in after]})")
            print(f"plotly.js sent {sum(bundles)} time(s) on reload")
            if sum(bundles) > 1: failures.append(f"reload: plotly.js reached the browser {sum(bundles)} times, not once")
            if full != N_MAPS: failures.append(f"reload: {full} of {N_MAPS} maps re-rendered with all {N} points")
            else: _agree(page, root, "after reload", failures)
        finally:
            browser.close()
    js = [e for e in errors if not re.search(r"Failed to load resource.*(404|favicon)|/api/(lab|kernels)/.*404", e)]
    if js: failures.append(f"{len(js)} JavaScript errors: {js[:5]}")
    assert not failures, "\n".join(failures)
