"""The docs site, built the way `make docs` builds it offline, opened in a real headless Chromium through Playwright.

Building all notebooks takes minutes, so the fixture builds a small site from three notebooks with committed outputs
(index, 40_metrics, 49_plots) through the same functions as `make docs` (`tools/build_docs.py`: nbdev's processing,
then the renderer), in a copy of the project under `tmp_path` (so `_proc/`, `nbs/sidebar.yml` and `_modidx.py` of the
checkout are not touched). `.ci/run` sets BRAINSSL_REQUIRE_BROWSER=1, so in CI a missing browser fails instead of
skipping. Three screenshots are written to `$BRAINSSL_ARTIFACTS` (default: the test's temporary folder).
"""
import importlib, json, os, re, shutil, sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_docs  # noqa: E402

from lab_server import ARGS, CHROMIUM  # one Chromium and one set of launch flags for every browser test
REQUIRED = os.environ.get("BRAINSSL_REQUIRE_BROWSER") == "1"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None
if (CHROMIUM is None or sync_playwright is None) and not REQUIRED:
    pytest.skip("needs Debian's chromium and the playwright package (`.ci/run` installs both)", allow_module_level=True)

NOTEBOOKS = ["index.ipynb", "40_metrics.ipynb", "49_plots.ipynb"]
MODULES = {"metrics.html": "brainssl.eval.metrics", "plots.html": "brainssl.viz.plots"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "A site built from NOTEBOOKS in a copy of the project: (site folder, list of pages)."
    proj = tmp_path_factory.mktemp("proj")
    shutil.copy(ROOT / "pyproject.toml", proj)
    (proj / "nbs").mkdir()
    for n in NOTEBOOKS + ["_quarto.yml", "nbdev.yml", "styles.css"]: shutil.copy(ROOT / "nbs" / n, proj / "nbs")
    (proj / "brainssl").symlink_to(ROOT / "brainssl")  # read only: modidx=False below
    proc = build_docs.process(proj, NOTEBOOKS, n_workers=1, modidx=False)
    out = proj / "_docs"
    pages = build_docs.render_site(proc, out, NOTEBOOKS, site_url="https://brainssl.github.io/brainssl",
                                   all_notebooks=[p.name for p in (ROOT / "nbs").glob("*.ipynb")])
    return out, pages


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or sync_playwright is None:
        pytest.fail("BRAINSSL_REQUIRE_BROWSER=1 but chromium or playwright is missing")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, path, js=True):
    "Open `path`; returns (page, list of JavaScript errors and failed requests)."
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, java_script_enabled=js)
    page, errors = ctx.new_page(), []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors


def test_site_pages(site):
    out, pages = site
    test_names = sorted(p.name for p in pages)
    assert test_names == ["index.html", "metrics.html", "plots.html"], test_names
    assert (out / "assets" / "plotly.min.js").stat().st_size > 1_000_000  # one copy of plotly.js for the whole site
    for p in pages: assert p.stat().st_size < 3_000_000 and "plotly.js v" not in p.read_text()[:2_000_000], p


def test_pages_load_without_errors_and_figures_render(site, browser):
    out, pages = site
    n_figs = 0
    for p in pages:
        page, errors = _open(browser, p)
        figs = page.locator(".plotly-figure").count()
        if figs:
            page.wait_for_function("n => document.querySelectorAll('.plotly-figure .plotly-live .main-svg').length >= n", arg=figs)
            drawn = page.evaluate("() => [...document.querySelectorAll('.plotly-live')].map(d => d._fullData ? d._fullData.length : 0)")
            assert len(drawn) == figs and all(d > 0 for d in drawn), (p.name, drawn)
        n_figs += figs
        imgs = page.evaluate("() => [...document.images].map(i => [i.complete, i.naturalWidth])")
        assert all(c and w > 0 for c, w in imgs), (p.name, imgs)
        assert errors == [], (p.name, errors)
        page.context.close()
    assert n_figs >= 4, n_figs  # 49_plots has 3 figures, 40_metrics 1


def test_figures_show_without_javascript(site, browser):
    "Where no JavaScript runs (GitHub's viewer, a reader with JS off), each figure is its PNG."
    out, _ = site
    page, errors = _open(browser, out / "plots.html", js=False)
    sizes = page.evaluate("() => [...document.querySelectorAll('.plotly-figure img')].map(i => [i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == 3 and all(w > 100 and h > 100 for w, h in sizes), sizes
    page.context.close()


def test_links_between_pages_resolve(site, browser):
    out, pages = site
    built = {p.name for p in pages}
    nb_pages = {re.sub(r"^\d+[a-z]?_", "", p.stem) + ".html" for p in (ROOT / "nbs").glob("*.ipynb")}
    checked = 0
    for p in pages:
        page, _ = _open(browser, p)
        for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"):
            u = urlparse(href)
            if u.scheme in ("http", "https", "mailto", "data"): continue
            assert not u.path.endswith(".ipynb"), (p.name, href)  # a notebook link the renderer did not rewrite
            target = unquote(u.path) or p.name
            if target in built:
                if u.fragment:
                    assert f'id="{u.fragment}"' in (out / target).read_text(), (p.name, href)
                checked += 1
            else:  # a page of the full site: it must be a notebook of nbs/
                assert target in nb_pages, (p.name, href)
        page.context.close()
    assert checked >= 6, checked  # the sidebar alone links every built page from every page


def test_api_docs_for_public_names(site, browser):
    out, _ = site
    for name, mod in MODULES.items():
        page, _ = _open(browser, out / name)
        heads = set(page.evaluate("() => [...document.querySelectorAll('.api-doc h2, .api-doc h3, .api-doc h4')].map(h => h.textContent.trim())"))
        public = [n for n in importlib.import_module(mod).__all__ if callable(getattr(importlib.import_module(mod), n))]
        missing = [n for n in public if n not in heads]
        assert public and not missing, (name, missing, sorted(heads)[:10])
        page.context.close()


def test_screenshots(site, browser, tmp_path):
    out, pages = site
    dest = Path(os.environ.get("BRAINSSL_ARTIFACTS") or tmp_path)
    dest.mkdir(parents=True, exist_ok=True)
    shots = []
    for p in pages:
        page, _ = _open(browser, p)
        if page.locator(".plotly-figure").count():
            page.wait_for_function("() => document.querySelectorAll('.plotly-live .main-svg').length > 0")
            page.locator(".plotly-figure").first.scroll_into_view_if_needed()  # a figure in the picture
        shot = dest / f"docs_{p.stem}.png"
        page.screenshot(path=str(shot), full_page=False)
        shots.append(shot)
        page.context.close()
    assert len(shots) == 3 and all(s.stat().st_size > 10_000 for s in shots), shots
