"""The explorer's standalone HTML page, driven in a real headless Chromium (Debian's `chromium`) through Playwright.

`.ci/run` installs both and sets BRAINSSL_REQUIRE_BROWSER=1, so in CI a missing browser fails instead of skipping.
"""
import json, os, warnings

import numpy as np
import pytest
import torch

from brainssl.core import CLASSES, TensorMRIDataset, concat_datasets
from brainssl.viz.explorer import explorer_table, save_explorer_html

from lab_server import ARGS, CHROMIUM  # one Chromium and one set of launch flags for every browser test
REQUIRED = os.environ.get("BRAINSSL_REQUIRE_BROWSER") == "1"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None
if (CHROMIUM is None or sync_playwright is None) and not REQUIRED:
    pytest.skip("needs Debian's chromium and the playwright package (`.ci/run` installs both)", allow_module_level=True)

EVIL = ['<script>window.__pwned = 1</script>.png', '"><img src=x onerror="window.__pwned = 2">.png',
        "it's \"quoted\" & <b>bold</b>.png"]


def _page(path, names, seed=0):
    "A map page of 24 random slices named `names` (padded), in two splits, written to `path`."
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (24, 1, 16, 16), dtype=torch.uint8, generator=g)
    names = list(names) + [f"slice_{i:02d}.png" for i in range(len(names), 24)]
    tr = TensorMRIDataset(imgs[:16], np.arange(16) % 4, names[:16], split="Training")
    te = TensorMRIDataset(imgs[16:], np.arange(8) % 4, names[16:], split="Testing")
    ds = concat_datasets({"Training": tr, "Testing": te})
    X = np.random.default_rng(seed).normal(size=(24, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = explorer_table(X, ds, predictions=np.arange(24) % 3, seed=seed, k=5)
    return save_explorer_html(table, ds, path, progress=False)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or sync_playwright is None:
        pytest.fail("BRAINSSL_REQUIRE_BROWSER=1 but chromium or playwright is missing")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, path):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_function("() => { const gd = document.getElementById('brainssl-map'); return gd && gd._fullLayout && gd._fullData.length > 0; }")
    return page, dialogs


def _point_xy(page, trace: int, k: int):
    "Screen position of point `k` of trace `trace`, and its sample index (customdata)."
    return page.evaluate("""([t, k]) => {
        const gd = document.getElementById('brainssl-map'), tr = gd._fullData[t];
        const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return [r.left + gd._fullLayout.xaxis.l2p(tr.x[k]), r.top + gd._fullLayout.yaxis.l2p(tr.y[k]), tr.customdata[k]];
    }""", [trace, k])


def test_hover_shows_thumbnail(browser, tmp_path):
    path = _page(tmp_path / "map.html", [])
    page, _ = _open(browser, path)
    data = json.loads(page.text_content("#brainssl-map-data"))
    assert page.eval_on_selector("#brainssl-thumb", "e => getComputedStyle(e).visibility") == "hidden"
    for t in (0, 1):                                   # a point of two different traces
        x, y, _ = _point_xy(page, t, 0)
        page.evaluate("document.getElementById('brainssl-caption').textContent = ''")
        page.mouse.move(x, y)
        page.wait_for_function("() => document.getElementById('brainssl-caption').textContent !== ''", timeout=5000)
        i = data["names"].index(page.text_content("#brainssl-caption"))  # the point under the cursor (points may overlap)
        assert page.eval_on_selector("#brainssl-thumb", "e => getComputedStyle(e).visibility") == "visible"
        assert page.get_attribute("#brainssl-thumb", "src") == data["thumbs"][i]
        assert page.evaluate("document.getElementById('brainssl-thumb').naturalWidth") == 64  # the embedded image decoded
        lines = page.eval_on_selector_all("#brainssl-info div", "ds => ds.map(d => d.textContent)")
        assert lines == data["info"][i] and lines[0].startswith("label: ")
    page.close()


def test_colour_switch_and_legend_toggle(browser, tmp_path):
    page, _ = _open(browser, _page(tmp_path / "map.html", []))
    visible = "() => document.getElementById('brainssl-map')._fullData.filter(t => t.visible === true).map(t => t.name)"
    assert page.evaluate(visible) == list(CLASSES)
    page.click(".updatemenu-header-group")
    page.click(".updatemenu-item-text >> text=split", force=True)
    page.wait_for_function(f"() => ({visible})().join() === 'Testing,Training'", timeout=5000)
    page.click(".legend .traces .legendtoggle", force=True)  # first legend entry: hide that group
    page.wait_for_function("() => document.getElementById('brainssl-map')._fullData.some(t => t.visible === 'legendonly')", timeout=5000)
    page.close()


def test_malicious_file_names_do_not_run(browser, tmp_path):
    page, dialogs = _open(browser, _page(tmp_path / "evil.html", EVIL))
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("body img[src='x']").count() == 0
    data = json.loads(page.text_content("#brainssl-map-data"))
    assert data["names"][:3] == EVIL                                  # the names survive intact, as data
    for j, name in enumerate(EVIL):                                    # hover each evil point
        x, y = page.evaluate("""(j) => { const gd = document.getElementById('brainssl-map');
            const t = gd._fullData.findIndex(tr => tr.visible === true && Array.from(tr.customdata).includes(j));
            const tr = gd._fullData[t], k = Array.from(tr.customdata).indexOf(j);
            const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
            return [r.left + gd._fullLayout.xaxis.l2p(tr.x[k]), r.top + gd._fullLayout.yaxis.l2p(tr.y[k])]; }""", j)
        page.mouse.move(1, 1)
        page.mouse.move(x, y)
        page.wait_for_function("(n) => document.getElementById('brainssl-caption').textContent === n", arg=name, timeout=5000)
        assert page.evaluate("typeof window.__pwned") == "undefined"    # shown as text, never parsed as HTML
    assert page.locator("#brainssl-panel script, #brainssl-panel img[src='x']").count() == 0
    assert page.title() == "brainssl embedding explorer" and not dialogs
    page.close()
