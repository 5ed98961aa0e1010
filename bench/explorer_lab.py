"""Explorer front-end scale in a real JupyterLab: 50,000 points, hover, colour switch and a large selection (issue 19, item 6).

The script starts a private JupyterLab on 127.0.0.1 (the server code of `tests/test_explorer_lab.py`, shared through
`tests/lab_server.py`), writes a notebook that builds an `Explorer` of 50,000 points and shows it, opens the notebook in
Debian's headless `chromium` through Playwright (software WebGL via SwiftShader, no GPU), runs it and measures, in the
page with `performance.now()`:

(a) **hover → side panel**: from the `mousemove` that puts the cursor on a point to the change of the panel's HTML
    (file, label, 8 neighbour thumbnails), over 20 points spread over the map: median and p90. This includes the map's
    40 ms hover debounce, the message to the kernel, `Explorer.show_sample` and the widget update coming back;
(b) **colour switch**: from the colour-by menu's `change` event to plotly's `plotly_afterplot` of the new figure (the
    kernel rebuilds the figure, sends all 50,000 points again, plotly.js redraws);
(c) **large selection**: box and lasso selections of large groups, from the `mouseup` that ends the drag to the
    gallery's "N selected" heading (and, separately, to the map's highlight of the same N points).

Data: synthetic, not MRI: 50,000 random 2-D coordinates in 4 Gaussian blobs (one per class), neighbours on those
coordinates (scipy `cKDTree`), random-noise 32 px images as the slices, random predictions, clusters and sites. A
front-end timing needs the number of points, not meaningful embeddings. The load average of the machine is recorded
with the timings.

Run from the repository root:

    .venv/bin/python bench/explorer_lab.py

Results: bench/results/explorer_lab.json, and the "50,000 points in JupyterLab" section of bench/results/explorer.md
(replaced between its markers; the rest of that page is bench/explorer.py's). `--render-only` rewrites the section
from the .json.
"""
import json, os, re, sys, tempfile, time
from pathlib import Path

import numpy as np

from _common import command, parser, provenance, write_text
from brainssl.core import save_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lab_server import ARGS, CHROMIUM, jupyterlab, open_and_run  # noqa: E402

N_HOVERS = 20
COLOURINGS = ["prediction", "correct", "cluster", "site", "label", "prediction"]
BOXES = [(0.03, 0.03, 0.5, 0.5), (0.04, 0.04, 0.96, 0.96), (0.3, 0.2, 0.9, 0.8)]  # corners as fractions of the plot area
LASSOS = [(0.5, 0.5, 0.3), (0.35, 0.45, 0.25)]  # centre x, y and radius as fractions of the plot area
BEGIN, END = "<!-- explorer_lab.py: begin -->", "<!-- explorer_lab.py: end -->"


def setup_cell(n: int, seed: int = 0) -> str:
    "The notebook cell that builds and shows the explorer of `n` synthetic points."
    return f"""
import warnings; warnings.simplefilter("ignore")
import time, numpy as np, torch
from scipy.spatial import cKDTree
from brainssl.core import CLASSES, TensorMRIDataset
from brainssl.viz.explorer import Explorer, ExplorerTable, label_error_candidates
n, g = {n}, np.random.default_rng({seed})
y = g.integers(0, 4, n)
coords = (g.normal(0, 3, (4, 2))[y] + g.normal(0, 1, (n, 2))).astype(np.float32)  # 4 blobs, one per class
dist, nb = cKDTree(coords).query(coords, k=11)
nb, dist = nb[:, 1:].astype(np.int64), dist[:, 1:].astype(np.float32)
names = [f"{{CLASSES[k]}}/slice_{{i:05d}}.jpg" for i, k in enumerate(y)]
pred = np.where(g.random(n) < 0.85, y, g.integers(0, 4, n))
table = ExplorerTable(coords, y, list(CLASSES), names, None, pred, ["Training"] * n, nb, dist, label_error_candidates(nb, y),
                      np.full(n, -1), {{"cluster": [f"cluster {{k}}" for k in g.integers(0, 8, n)],
                                        "site": [f"site {{k}}" for k in g.integers(0, 4, n)]}})
ds = TensorMRIDataset(torch.from_numpy(g.integers(0, 256, (n, 1, 32, 32), dtype=np.uint8)), y, names)
t = time.time(); ex = Explorer(table, ds, title="{n:,} synthetic points"); build_s = time.time() - t
ex
"""


# Instruments the page once the map is drawn: timestamps of the last mouse move / mouse up / menu change, every change
# of the side panel and the gallery, and every plotly redraw (with the data it drew and how many points it highlights).
JS_INSTRUMENT = """() => {
  const out = document.querySelector('.jp-OutputArea-output'), gd = out.querySelector('.js-plotly-plot');
  const html = Array.from(out.querySelectorAll('.widget-html-content'));
  const info = html.find(e => /hover or click a point/.test(e.textContent));
  const gallery = html.find(e => /select points with the lasso/.test(e.textContent));
  const B = window.__b = {info: [], gallery: [], plots: [], move: 0, up: 0, change: 0};
  document.addEventListener('mousemove', () => { B.move = performance.now(); }, true);
  document.addEventListener('mouseup', () => { B.up = performance.now(); }, true);
  out.querySelector('.widget-dropdown select').addEventListener('change', () => { B.change = performance.now(); }, true);
  new MutationObserver(() => B.info.push([performance.now(), info.textContent])).observe(info, {childList: true, subtree: true, characterData: true});
  new MutationObserver(() => B.gallery.push([performance.now(), gallery.textContent])).observe(gallery, {childList: true, subtree: true, characterData: true});
  B.gd = gd;
  gd.on('plotly_afterplot', () => B.plots.push([performance.now(), gd.data,
      gd.data.filter(t => !String(t.meta || '').startsWith('highlight')).reduce((s, t) => s + (t.selectedpoints ? t.selectedpoints.length : 0), 0)]));
  return !!(info && gallery);
}"""
JS_TARGETS = """(m) => { const gd = window.__b.gd, L = gd._fullLayout, r = gd.querySelector('.nsewdrag').getBoundingClientRect();
  const tr = gd._fullData.filter(t => !String(t.meta || '').startsWith('highlight') && t.visible === true);
  const out = [];
  for (let j = 0; j < m; j++) { const t = tr[j % tr.length], k = (j * 7919) % t.x.length;
    out.push([r.left + L.xaxis.l2p(t.x[k]), r.top + L.yaxis.l2p(t.y[k])]); }
  return {pts: out, box: [r.left, r.top, r.width, r.height]}; }"""
JS_INSIDE = """([x0, y0, x1, y1]) => { const gd = window.__b.gd, L = gd._fullLayout, r = gd.querySelector('.nsewdrag').getBoundingClientRect();
  let n = 0; const [a, b, c, d] = [Math.min(x0, x1), Math.max(x0, x1), Math.min(y0, y1), Math.max(y0, y1)];
  for (const t of gd._fullData) { if (String(t.meta || '').startsWith('highlight')) continue;
    for (let k = 0; k < t.x.length; k++) { const px = r.left + L.xaxis.l2p(t.x[k]), py = r.top + L.yaxis.l2p(t.y[k]);
      if (px >= a && px <= b && py >= c && py <= d) n++; } }
  return n; }"""


def _wait_js(page, expr, arg=None, timeout_s=60):
    "Wait until the page function `expr(arg)` returns a truthy value; return it (None on timeout)."
    try: return page.wait_for_function(expr, arg=arg, timeout=timeout_s * 1000, polling=20).json_value()
    except Exception: return None


def hovers(page) -> dict:
    "(a) hover → panel latency over N_HOVERS points, seconds."
    pts = page.evaluate(JS_TARGETS, N_HOVERS)["pts"]
    lat, missed = [], 0
    for x, y in pts:
        page.mouse.move(5, 5)                                   # off the map: the next hover is a fresh one
        time.sleep(0.1)
        n0 = page.evaluate("window.__b.info.length")
        page.mouse.move(x, y)
        t_move = page.evaluate("window.__b.move")
        got = _wait_js(page, "(n0) => window.__b.info.length > n0 && /nearest in embedding space/.test(window.__b.info[window.__b.info.length - 1][1])", n0, 30)
        if got is None: missed += 1; continue
        time.sleep(0.05)
        t_info = page.evaluate(f"window.__b.info.slice({n0}).find(e => /nearest in embedding space/.test(e[1]))[0]")
        lat.append((t_info - t_move) / 1000)
    return {"n": len(lat), "missed": missed, "latency_s": lat, "median_s": float(np.median(lat)) if lat else None,
            "p90_s": float(np.percentile(lat, 90)) if lat else None, "max_s": float(max(lat)) if lat else None}


def colour_switches(page) -> dict:
    "(b) colour-by menu change → plotly redraw of the new figure, seconds per switch."
    sel = page.locator(".jp-OutputArea-output").first.locator(".widget-dropdown select")
    out = []
    for name in COLOURINGS:
        page.evaluate("window.__b.old = window.__b.gd.data")
        n0 = page.evaluate("window.__b.plots.length")
        sel.select_option(label=name)
        ok = _wait_js(page, "(n0) => window.__b.plots.slice(n0).some(p => p[1] !== window.__b.old)", n0, 120)
        if ok is None: out.append({"to": name, "s": None}); continue
        s = page.evaluate(f"(window.__b.plots.slice({n0}).find(p => p[1] !== window.__b.old)[0] - window.__b.change) / 1000")
        names = page.evaluate("window.__b.gd._fullData.filter(t => t.visible === true).map(t => t.name)")
        out.append({"to": name, "s": s, "traces": names})
        time.sleep(0.5)                                         # let the selection repaint settle
    ss = [o["s"] for o in out if o["s"] is not None]
    return {"switches": out, "median_s": float(np.median(ss)) if ss else None, "max_s": float(max(ss)) if ss else None}


def _selection_timing(page, what: str, g0: int, p0: int, prev: str) -> dict:
    "Time from the last mouseup to the gallery's new 'N selected' and to the map's highlight of N points."
    got = _wait_js(page, """([g0, prev]) => window.__b.gallery.slice(g0).some(e => /^\\s*\\d+ selected/.test(e[1]) && e[1] !== prev)""",
                   [g0, prev], 60)
    if got is None: return {"what": what, "n": None}
    t_up = page.evaluate("window.__b.up")
    t_g, text = page.evaluate(f"""window.__b.gallery.slice({g0}).find(e => /^\\s*\\d+ selected/.test(e[1]) && e[1] !== {json.dumps(prev)})""")
    n = int(re.match(r"\s*(\d+) selected", text).group(1))
    painted = _wait_js(page, "([p0, n]) => window.__b.plots.slice(p0).some(p => p[2] === n)", [p0, n], 60)
    t_map = page.evaluate(f"(window.__b.plots.slice({p0}).find(p => p[2] === {n}) || [null])[0]") if painted else None
    return {"what": what, "n": n, "gallery_s": (t_g - t_up) / 1000, "map_s": None if t_map is None else (t_map - t_up) / 1000,
            "text": text[:60]}


def selections(page) -> list:
    "(c) box and lasso selections of large groups → gallery count, seconds."
    import math
    gd = page.locator(".jp-OutputArea-output .js-plotly-plot").first
    res, prev = [], ""
    box = page.evaluate(JS_TARGETS, 1)["box"]
    L, T, W, H = box
    gd.hover(); gd.locator(".modebar-btn[data-val='select']").first.click()
    for (x0, y0, x1, y1) in BOXES:
        g0, p0 = page.evaluate("[window.__b.gallery.length, window.__b.plots.length]")
        inside = page.evaluate(JS_INSIDE, [L + W * x0, T + H * y0, L + W * x1, T + H * y1])  # points drawn inside the box
        page.mouse.move(L + W * x0, T + H * y0); page.mouse.down()
        page.mouse.move(L + W * x1, T + H * y1, steps=10); page.mouse.up()
        r = _selection_timing(page, f"box {min(x0, x1):.2f}-{max(x0, x1):.2f} x {min(y0, y1):.2f}-{max(y0, y1):.2f} of the plot", g0, p0, prev)
        r["points_inside_box"] = inside
        res.append(r); prev = r.get("text", prev) if r.get("n") else prev
        time.sleep(0.5)
    gd.hover(); gd.locator(".modebar-btn[data-val='lasso']").first.click()
    for (cx, cy, rad) in LASSOS:
        g0, p0 = page.evaluate("[window.__b.gallery.length, window.__b.plots.length]")
        x, y, r_px = L + W * cx, T + H * cy, rad * min(W, H)
        page.mouse.move(x + r_px, y); page.mouse.down()
        for s in range(1, 25):
            a = 2 * math.pi * s / 24
            page.mouse.move(x + r_px * math.cos(a), y + r_px * math.sin(a))
        page.mouse.up()
        r = _selection_timing(page, f"lasso, radius {rad:.2f} of the plot", g0, p0, prev)
        res.append(r); prev = r.get("text", prev) if r.get("n") else prev
        time.sleep(0.5)
    for r in res: r.pop("text", None)
    return res


def run(n: int) -> dict:
    from playwright.sync_api import sync_playwright
    res = {"n": n, "load_avg_before": list(os.getloadavg()), "data": "synthetic: random 2-D coordinates in 4 Gaussian blobs, "
           "neighbours on them (cKDTree), random-noise 32 px images", "browser": "Debian chromium, headless, SwiftShader WebGL"}
    received = []
    with tempfile.TemporaryDirectory() as d, jupyterlab(Path(d), [setup_cell(n)]) as (url, token, root):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
                t = time.time()
                open_and_run(page, url, token, 1, timeout_s=300)
                res["open_run_draw_s"] = time.time() - t
                res["websocket_mb_to_draw"] = sum(received) / 1e6
                page.wait_for_function(f"""() => document.querySelector('.jp-OutputArea-output .js-plotly-plot')._fullData
                    .reduce((s, t) => s + (String(t.meta || '').startsWith('highlight') ? 0 : t.x.length), 0) === {n}""", timeout=60_000)
                assert page.evaluate(JS_INSTRUMENT), "side panel or gallery not found in the output"
                time.sleep(1)
                print(f"notebook ran, map of {n} points drawn in {res['open_run_draw_s']:.1f} s", flush=True)
                res["load_avg_hover"] = list(os.getloadavg())
                res["hover"] = hovers(page)
                print("hover", json.dumps({k: v for k, v in res["hover"].items() if k != "latency_s"}), flush=True)
                res["load_avg_colour"] = list(os.getloadavg())
                res["colour_switch"] = colour_switches(page)
                print("colour", res["colour_switch"]["median_s"], flush=True)
                res["load_avg_selection"] = list(os.getloadavg())
                res["selection"] = selections(page)
                print("selection", json.dumps(res["selection"]), flush=True)
                res["javascript_errors"] = errors
            finally:
                browser.close()
    res["load_avg_after"] = list(os.getloadavg())
    return res


def render(res: dict) -> str:
    "The markdown section, from the saved results alone."
    h, c = res["hover"], res["colour_switch"]
    la = lambda k: "/".join(f"{v:.1f}" for v in res[k])
    def row(s):
        inside = f" (drawn inside the box: {s['points_inside_box']:,})" if "points_inside_box" in s else ""
        m = "-" if s.get("map_s") is None else f"{s['map_s']:.2f}"
        return f"| {s['what']} | {s['n']:,}{inside} | {s['gallery_s']:.2f} | {m} |"
    rows = "\n".join(row(s) for s in res["selection"] if s.get("n"))
    agreed = ("After every selection the map went on to highlight exactly the gallery's N points."
              if all(s.get("map_s") is not None for s in res["selection"]) else
              "The map did not always go on to highlight the gallery's N points (map highlight: -).")
    sw = " · ".join(f"{s['to']} {s['s']:.2f}" for s in c["switches"] if s["s"] is not None)
    return f"""{BEGIN}
## 50,000 points in JupyterLab (issue 19, item 6)

Command (repository root): `{res['command']}` · JupyterLab {res['versions'].get('jupyterlab', '?')}, headless Debian
Chromium with software WebGL (SwiftShader, no GPU) · **taken on a loaded 2-core machine** shared with two running
benchmarks and two other people: load average (1/5/15 min) before {la('load_avg_before')}, during the hovers
{la('load_avg_hover')}, after {la('load_avg_after')}. A quiet machine or a real GPU is faster.

{res['n']:,} synthetic points (random 2-D coordinates in 4 blobs, neighbours on those coordinates, random-noise 32 px
images: a front-end timing needs the number of points, not meaningful embeddings) in one `Explorer`, opened in a fresh
JupyterLab, run and measured in the page with `performance.now()`. Opening the notebook, running it (kernel start and
imports included) and drawing the map took {res['open_run_draw_s']:.1f} s; {res['websocket_mb_to_draw']:.1f} MB came over
the kernel websocket until then (plotly.js once, the figure with all points).

| action (in the browser) | seconds |
|---|---|
| hover → side panel updated (`mousemove` on a point → panel HTML changed), median / p90 / max of {h['n']} | **{h['median_s']:.2f}** / {h['p90_s']:.2f} / {h['max_s']:.2f} |
| colour switch (menu `change` → `plotly_afterplot` of the new figure), median / max of {len([s for s in c['switches'] if s['s'] is not None])} | **{c['median_s']:.2f}** / {c['max_s']:.2f} |

Hover latency includes the map's 40 ms rest before it sends a hover{'' if not h['missed'] else f"; {h['missed']} of {N_HOVERS} hovers got no panel update within 30 s"}.
Colour switches: {sw} s (the kernel rebuilds the figure and sends all {res['n']:,} points again; plotly.js redraws).

Large selections (`mouseup` ending the drag → the gallery's "N selected" heading; → the map's highlight of the same N points):

| selection | points | gallery (s) | map highlight (s) |
|---|---|---|---|
{rows}

{agreed} "Drawn inside the box" is this script's own count of the points whose marker centre lies inside the dragged
rectangle on screen; it differs from what plotly.js selected by at most a few hundred of tens of thousands, the points
within a pixel of the box's edge.

JavaScript errors during the run: {len(res['javascript_errors'])}.
{END}
"""


def write_section(md_path: Path, section: str):
    "Replace this script's section of `md_path` (between its markers), or append it; drop the 'not measured yet' line it answers."
    text = md_path.read_text() if md_path.exists() else ""
    text = re.sub(r"\n*The 50,000-point figures in real JupyterLab \(hover → panel, colour switch\) are not measured yet\.\n?", "\n", text)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section.strip() + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + section
    write_text(md_path, text.rstrip() + "\n")


def main():
    ap = parser(__doc__.split("\n\n")[0], None)
    ap.add_argument("--n", type=int, default=50_000, help="points on the map (default 50,000)")
    ap.add_argument("--render-only", action="store_true", help="only rewrite the explorer.md section from explorer_lab.json")
    a = ap.parse_args()
    out = Path(a.results)
    if a.render_only:
        res = json.loads((out / "explorer_lab.json").read_text())
    else:
        res = {"command": command(), **provenance(("jupyterlab", "ipywidgets", "anywidget", "plotly", "playwright"))}
        res.update(run(a.n))
        save_json(res, out / "explorer_lab.json")
    section = render(res)
    write_section(out / "explorer.md", section)
    print(section)


if __name__ == "__main__":
    main()
