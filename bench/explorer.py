"""Explorer scale benchmark: 7,000 real slices to an HTML page, and a 50,000-point map in Python and in Chromium.

Two measurements, as the explorer issue asks:

1. **Real data, end to end.** The 7,023 slices of ../shared/data/brain-tumor-mri (Training + Testing, 64 px) are embedded
   once (not timed: that is the encoder's cost, not the explorer's). Then, timed in this fresh process, so umap-learn's
   numba compilation is included: `explorer_table` (UMAP, exact cosine neighbours, label-error scores, k-means) and
   `save_explorer_html` (WebP thumbnails + page). Targets: <= 60 s on 2 CPU cores, page <= 20 MB. The duplicate audit
   is timed separately (it reads image bytes, not embeddings).
2. **50,000 points.** Synthetic clustered embeddings `(50000, 64)` with a PCA layout (UMAP is not what is measured here).
   In Python: building the `Explorer`, a colour switch, a 5,000-point selection (gallery + map highlight) and a hover
   (side panel). In headless Chromium (Debian's package, software WebGL via SwiftShader, no GPU): time until the
   `Scattergl` page has drawn, time from a mouse move to the hover panel update, and a colour switch through the menu.

Run from the repository root on a quiet machine:

    .venv/bin/python bench/explorer.py --data ../shared/data/brain-tumor-mri

Results: bench/results/explorer.{md,json}; `--render-only` rewrites the .md from the .json.
"""
import json, os, shutil, time, warnings
from pathlib import Path

import numpy as np

from _common import WORK, command, parser, peak_rss_mib, provenance, write_text
from brainssl.core import save_json

warnings.filterwarnings("ignore")


def _load_encoder(weights):
    from brainssl.cli import load_or_random_encoder
    return load_or_random_encoder(str(weights) if weights and Path(weights).exists() else "random", 1, seed=0)


def real_data(a, out):
    from brainssl.data.audit import audit
    from brainssl.cli import load_splits
    from brainssl.core import concat_datasets
    from brainssl.encoder import embed
    from brainssl.eval.probes import linear_probe
    from brainssl.viz.explorer import explorer_table, save_explorer_html
    t = time.time()
    sp = load_splits(a.data, image_size=64, cache_dir=a.cache, progress=False)
    ds = concat_datasets(sp)
    t_read = time.time() - t
    enc = _load_encoder(a.weights)
    t = time.time(); X = embed(enc, ds, progress=False); t_embed = time.time() - t
    nt = len(sp["Training"])
    t = time.time(); pred = linear_probe(X[:nt], ds.labels[:nt], X, seed=0)[0].argmax(1); t_probe = time.time() - t
    t = time.time(); rep = audit(sp, progress=False); t_audit = time.time() - t
    t0 = time.time()
    table = explorer_table(X, ds, predictions=pred, audit=rep, seed=0)
    t_table = time.time() - t0
    t = time.time()
    page = save_explorer_html(table, ds, out / "explorer_7k.html", progress=False)
    t_html = time.time() - t
    return {"n": len(ds), "weights": str(a.weights) if a.weights and Path(a.weights).exists() else "random init",
            "read_s": t_read, "embed_s": t_embed, "probe_s": t_probe, "audit_s": t_audit,
            "table_s": t_table, "html_s": t_html, "embeddings_to_html_s": t_table + t_html,
            "html_mb": page.stat().st_size / 1e6, "label_error_candidates": int(table.label_errors.candidate.sum()),
            "in_duplicate_groups": int((table.duplicates >= 0).sum())}, page


def big_table(n=50_000, d=64, seed=0):
    "An ExplorerTable of n clustered synthetic points with a PCA layout (no UMAP), plus a matching in-memory dataset."
    import torch
    from brainssl.core import CLASSES, TensorMRIDataset
    from brainssl.viz.explorer import ExplorerTable, label_error_candidates, nearest_neighbours
    g = np.random.default_rng(seed)
    y = g.integers(0, 4, n)
    X = (g.normal(0, 1, (4, d))[y] + g.normal(0, 0.8, (n, d))).astype(np.float32)
    Xc = X - X.mean(0)
    coords = (Xc @ np.linalg.svd(Xc[:5000], full_matrices=False)[2][:2].T).astype(np.float32)
    t = time.time(); nb, dist = nearest_neighbours(X, k=10); t_nn = time.time() - t
    le = label_error_candidates(nb, y)
    names = [f"{CLASSES[k]}/slice_{i:05d}.jpg" for i, k in enumerate(y)]
    pred = np.where(g.random(n) < 0.85, y, g.integers(0, 4, n))
    table = ExplorerTable(coords, y, list(CLASSES), names, None, pred, ["Training"] * n, nb, dist, le,
                          np.full(n, -1), {"cluster": [f"cluster {k}" for k in g.integers(0, 8, n)],
                                           "site": [f"site {k}" for k in g.integers(0, 4, n)]})
    imgs = torch.from_numpy(g.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8))  # tiny stand-in images
    return table, TensorMRIDataset(imgs, y, names), t_nn


def python_side(table, ds):
    from brainssl.viz.explorer import Explorer
    r = {}
    t = time.time(); ex = Explorer(table, ds); r["build_s"] = time.time() - t
    t = time.time(); ex.color_by("correct"); r["color_switch_s"] = time.time() - t
    sel = np.random.default_rng(1).choice(len(table), 5000, replace=False)
    t = time.time(); ex.select(sel); r["select_5000_s"] = time.time() - t
    t = time.time(); ex.show_sample(123); r["hover_panel_s"] = time.time() - t
    t = time.time(); ex.search("slice_0001"); r["search_s"] = time.time() - t
    return r


def browser_side(table, path):
    from brainssl.viz.embedmap import embedding_map, save_map_html
    from playwright.sync_api import sync_playwright
    fig = embedding_map(table.coords, table.labels, table.classes, table.names, color_by=table.colorings,
                        predictions=table.predictions, splits=table.splits, extra=table.columns)
    save_map_html(fig, path, names=table.names)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
    exe = os.environ.get("BRAINSSL_CHROMIUM") or shutil.which("chromium")
    r = {"html_mb": path.stat().st_size / 1e6}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=args)
        page = b.new_page(viewport={"width": 1200, "height": 800})
        t = time.time()
        page.goto(path.as_uri())
        page.wait_for_function("() => { const gd = document.getElementById('brainssl-map'); return gd && gd._fullLayout && gd.querySelector('canvas'); }",
                               timeout=120_000)
        r["first_render_s"] = time.time() - t
        lat = []
        for k in range(5):
            x, y, i = page.evaluate("""(k) => { const gd = document.getElementById('brainssl-map'), tr = gd._fullData[k % 4];
                const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
                return [r.left + gd._fullLayout.xaxis.l2p(tr.x[k]), r.top + gd._fullLayout.yaxis.l2p(tr.y[k]), tr.customdata[k]]; }""", k * 7)
            page.mouse.move(1, 1)
            page.evaluate("document.getElementById('brainssl-caption').textContent = ''")
            t = time.time()
            page.mouse.move(x, y)  # the panel then shows this point, or one drawn over it
            page.wait_for_function("() => document.getElementById('brainssl-caption').textContent !== ''", timeout=30_000)
            lat.append(time.time() - t)
        r["hover_latency_s"] = {"median": float(np.median(lat)), "max": float(np.max(lat)), "n": len(lat)}
        t = time.time()
        page.click(".updatemenu-header-group")
        page.click(".updatemenu-item-text >> text=correct", force=True)
        page.wait_for_function("() => document.getElementById('brainssl-map')._fullData.filter(t => t.visible === true).map(t => t.name).join() === 'correct,wrong'",
                               timeout=60_000)
        r["color_switch_s"] = time.time() - t
        b.close()
    return r


def render(res: dict) -> str:
    "The markdown page, from the saved results alone."
    r, b = res["real"], res["big"]
    m = res["machine"]
    machine = m if isinstance(m, str) else f"{m['cpu_cores']} CPU cores, {m['cpu']}"  # older results kept a string
    ok = lambda c: "met" if c else "NOT met"
    return f"""# Explorer scale benchmark

Command (repository root): `{res['command']}` · {machine} · load average before/after: {res['load_avg_before'][0]:.1f} / {res['load_avg_after'][0]:.1f} · peak RSS {res['peak_rss_mib']:.0f} MiB

## 7,000 real slices, embeddings → UMAP → HTML

{r['n']} slices of `../shared/data/brain-tumor-mri` (Training + Testing) at 64 px, encoder: {r['weights']}. Timed in a fresh
process, so umap-learn's numba compilation is included.

| step | seconds |
|---|---|
| `explorer_table`: UMAP (seeded, single-threaded), cosine neighbours, label-error scores, k-means | {r['table_s']:.1f} |
| `save_explorer_html`: {r['n']} WebP thumbnails + page | {r['html_s']:.1f} |
| **embeddings → HTML** (target ≤ 60 s: {ok(r['embeddings_to_html_s'] <= 60)}) | **{r['embeddings_to_html_s']:.1f}** |
| not counted: reading the images (cache) / embedding them / linear probe for predictions / duplicate audit | {r['read_s']:.1f} / {r['embed_s']:.1f} / {r['probe_s']:.1f} / {r['audit_s']:.1f} |

Page size: **{r['html_mb']:.1f} MB** (target ≤ 20 MB: {ok(r['html_mb'] <= 20)}), plotly.js inlined, thumbnails embedded,
8 colourings. {r['label_error_candidates']} label-error candidates, {r['in_duplicate_groups']} slices in duplicate groups.

## 50,000 points

Synthetic clustered embeddings `({b['n']}, 64)` with a PCA layout; exact cosine neighbours took {b['neighbours_s']:.1f} s.

In Python (the `Explorer` widget, no browser attached):

| action | seconds |
|---|---|
| build the explorer | {b['python']['build_s']:.2f} |
| colour switch | {b['python']['color_switch_s']:.2f} |
| select 5,000 points (map highlight + gallery + counts) | {b['python']['select_5000_s']:.2f} |
| hover: side panel | {b['python']['hover_panel_s']:.3f} |
| search a file name | {b['python']['search_s']:.2f} |

In headless Chromium with software WebGL (SwiftShader; a real GPU is faster), page of {b['browser']['html_mb']:.1f} MB
without thumbnails:

| action | seconds |
|---|---|
| page load until the `Scattergl` map has drawn | {b['browser']['first_render_s']:.1f} |
| mouse move → hover panel updated (median / max of {b['browser']['hover_latency_s']['n']}) | {b['browser']['hover_latency_s']['median']:.3f} / {b['browser']['hover_latency_s']['max']:.3f} |
| colour switch through the menu | {b['browser']['color_switch_s']:.2f} |
"""


def main():
    ap = parser(__doc__.split("\n\n")[0], "../shared/data/brain-tumor-mri")
    ap.add_argument("--out", dest="results", type=Path, help="same as --results (its former name)")
    ap.add_argument("--cache", default="bench/work/label_efficiency/cache", help="decoded-image cache")
    ap.add_argument("--weights", default="bench/work/methods/simclr/encoder.safetensors", help="encoder to map (random init if absent)")
    ap.add_argument("--n-big", type=int, default=50_000)
    ap.add_argument("--render-only", action="store_true", help="only rewrite explorer.md from the saved explorer.json")
    a = ap.parse_args()
    out = Path(a.results)
    if a.render_only:
        md = render(json.loads((out / "explorer.json").read_text()))
        write_text(out / "explorer.md", md); print(md); return
    work = WORK / "explorer"; work.mkdir(parents=True, exist_ok=True)
    res = {"command": command(), **provenance(), "load_avg_before": os.getloadavg()}
    print("real data ...", flush=True)
    res["real"], _ = real_data(a, work)
    print(json.dumps(res["real"], indent=1), flush=True)
    print(f"{a.n_big} points ...", flush=True)
    table, ds, t_nn = big_table(a.n_big)
    res["big"] = {"n": a.n_big, "neighbours_s": t_nn, "python": python_side(table, ds)}
    print(json.dumps(res["big"], indent=1), flush=True)
    res["big"]["browser"] = browser_side(table, work / "map_50k.html")
    print(json.dumps(res["big"]["browser"], indent=1), flush=True)
    res["peak_rss_mib"] = peak_rss_mib()
    res["load_avg_after"] = os.getloadavg()
    save_json(res, out / "explorer.json")
    md = render(res)
    write_text(out / "explorer.md", md)
    print(md)


if __name__ == "__main__":
    main()
