"""Build the docs site into `_docs/` offline: nbdev's own processing, then static HTML with one template.

    .venv/bin/python tools/build_docs.py                  # every notebook -> _docs/
    .venv/bin/python tools/build_docs.py --only index.ipynb 49_plots.ipynb --out /tmp/site
    make docs                                             # Quarto (nbdev-docs) if `quarto` is on PATH, else this

Step 1 is what `nbdev-proc-nbs` does, minus its attempt to download Quarto: `nbs/nbdev.yml` refreshed from
`pyproject.toml`, the doc-link index (`brainssl/_modidx.py`), `nbs/sidebar.yml`, then nbdev's processors over the
notebooks into `_proc/` (they run the export, import and `show_doc` cells, so the API docs are nbdev's own, and apply
the directives: `#| hide` cells go, `#| echo: false` sources go). Every other cell keeps the outputs committed with it
(`make outputs`).

Step 2 turns each processed notebook into `<output-file>.html` (nbdev's name: `core.html` for `00_core.ipynb`): markdown
with markdown-it, code with Pygments, outputs by their richest static form. A plotly figure is written as its PNG (what
shows without JavaScript) with the figure's JSON beside it; `assets/site.js` swaps in the live plot where the site's
single copy of plotly.js (`assets/plotly.min.js`) loads. Links to `*.ipynb` and to the site's own URL become relative
links between pages. Every page shares `tools/docs_template.html`: the sidebar (the groups below), a title, and the page.
"""
from __future__ import annotations
import argparse, base64, html, json, os, re, shutil, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).resolve().parent / "docs_template.html"
GROUPS = [("Start", r"index"), ("Data", r"0\d"), ("Views, encoder, training", r"1\d"), ("SSL methods", r"[23]\d"),
          ("Evaluation", r"4[0-8]"), ("Figures, fusion, segmentation", r"49|5\d"), ("Command line", r"6\d"),
          ("Explaining", r"7\d"), ("Federated", r"8\d"), ("More", r".*")]
FIG_MIME, IMG_MIMES = "application/vnd.plotly.v1+json", ("image/png", "image/jpeg", "image/svg+xml", "image/webp")

def process(root: Path = ROOT, only: list[str] | None = None, n_workers: int = 1, modidx: bool = True) -> Path:
    "nbdev's docs processing of `root/nbs` (or only the notebooks named in `only`) into `root/_proc`; returns it."
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    cwd = os.getcwd()
    os.chdir(root)
    try:
        cfg = get_config()
        refresh_quarto_yml()
        if modidx: nbdev.doclinks._build_modidx()
        nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
        kw = {"file_re": "^(" + "|".join(re.escape(n) for n in only) + ")$"} if only else {}
        return proc_nbs(str(cfg.nbs_path), n_workers=n_workers, **kw)
    finally: os.chdir(cwd)

# ---- rendering ---------------------------------------------------------------------------------------------------
def _md():
    from markdown_it import MarkdownIt
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

def _slug(text: str) -> str: return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-")

def _frontmatter(nb: dict) -> dict:
    import yaml
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "raw" and src.lstrip().startswith("---"):
            return yaml.safe_load(src.strip().strip("-")) or {}
    return {}

def _directives(src: str) -> tuple[dict, str]:
    "Quarto-style `#| key: value` lines left by nbdev's processing, and the code without them."
    d, rest = {}, []
    for line in src.splitlines():
        m = re.match(r"\s*#\|\s*([\w-]+)\s*:?\s*(.*)", line)
        if m and not rest: d[m[1]] = m[2].strip().lower() or "true"
        else: rest.append(line)
    return d, "\n".join(rest).strip("\n")

class Renderer:
    "Renders processed notebooks to pages; `links` maps notebook names and site URLs to page file names."
    def __init__(self, pages: dict[str, str], site_url: str = ""):
        from pygments.formatters import HtmlFormatter
        self.md, self.pages, self.site_url = _md(), pages, site_url.rstrip("/")
        self.fmt = HtmlFormatter(nowrap=False, cssclass="highlight")
        self.n_fig = 0

    def link(self, href: str) -> str:
        "A page-relative href for `href`: notebook names and the site's own absolute URLs become `<page>.html`."
        if self.site_url and href.startswith(self.site_url + "/"): href = href[len(self.site_url) + 1:]
        path, _, frag = href.partition("#")
        base = path.rsplit("/", 1)[-1]
        if path.endswith(".ipynb") and base in self.pages: path = self.pages[base]
        elif path.endswith(".html.md"): path = path[:-3]
        return path + ("#" + frag if frag else "")

    def markdown(self, text: str) -> str:
        out = self.md.render(text)
        out = re.sub(r'href="([^"]+)"', lambda m: f'href="{html.escape(self.link(html.unescape(m[1])))}"', out)
        return re.sub(r"<(h[1-4])>(.*?)</\1>", lambda m: f'<{m[1]} id="{_slug(re.sub("<[^>]+>", "", m[2]))}">{m[2]}</{m[1]}>', out)

    def code(self, src: str) -> str:
        from pygments import highlight
        from pygments.lexers import PythonLexer
        return highlight(src, PythonLexer(), self.fmt)

    def output(self, o: dict, asis: bool) -> str:
        t = o.get("output_type")
        if t == "stream":
            return f'<pre class="stream {o.get("name", "")}">{html.escape("".join(o.get("text", "")))}</pre>'
        if t == "error":
            return f'<pre class="error">{html.escape(o.get("ename", "") + ": " + o.get("evalue", ""))}</pre>'
        d = {k: "".join(v) if isinstance(v, list) else v for k, v in o.get("data", {}).items()}
        img = next((m for m in IMG_MIMES if m in d), None)
        if FIG_MIME in d:
            self.n_fig += 1
            fid = f"fig{self.n_fig}"
            still = self._img(img, d[img]) if img else '<p class="no-image">(figure: no static image stored)</p>'
            spec = json.dumps(d[FIG_MIME]).replace("</", "<\\/")
            return (f'<div class="figure plotly-figure" id="{fid}">{still}</div>'
                    f'<script type="application/json" class="plotly-spec" data-target="{fid}">{spec}</script>')
        if "text/markdown" in d and (asis or "text/html" not in d): return f'<div class="md-output">{self.markdown(d["text/markdown"])}</div>'
        if "text/html" in d: return f'<div class="html-output">{d["text/html"]}</div>'
        if img: return f'<div class="figure">{self._img(img, d[img])}</div>'
        if "text/plain" in d: return f'<pre class="text-output">{html.escape(d["text/plain"])}</pre>'
        return ""

    def _img(self, mime: str, data: str) -> str:
        if mime == "image/svg+xml": return f'<div class="svg">{data}</div>'
        return f'<img alt="figure" src="data:{mime};base64,{data.strip()}">'

    def page(self, nb: dict) -> tuple[dict, str]:
        "(frontmatter, body HTML) of a processed notebook."
        fm, parts = _frontmatter(nb), []
        for c in nb["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] == "markdown": parts.append(f'<div class="cell markdown">{self.markdown(src)}</div>')
            elif c["cell_type"] == "code":
                d, code = _directives(src)
                if d.get("include") == "false" or (not code.strip() and not c.get("outputs")): continue
                api = "show_doc(" in code
                cls = "cell code api-doc" if api else "cell code"
                inner = "" if d.get("echo") == "false" or not code.strip() else self.code(code)
                if d.get("output") != "false":
                    inner += "".join(self.output(o, d.get("output") == "asis" or api) for o in c.get("outputs", []))
                if inner: parts.append(f'<div class="{cls}">{inner}</div>')
        return fm, "\n".join(parts)

def _nav(entries: list[tuple[str, str, str]], current: str) -> str:
    "Sidebar HTML: `entries` are (notebook name, page file, title), grouped by `GROUPS`."
    groups: dict[str, list] = {}
    for nbname, page, title in entries:
        stem = nbname.removesuffix(".ipynb")
        g = next(g for g, pat in GROUPS if re.match(f"(?:{pat})(?:[a-z]?_|$)", stem))
        groups.setdefault(g, []).append((page, title))
    out = []
    for g, _ in GROUPS:
        if g not in groups: continue
        cur = ' class="current"'
        items = "".join(f'<li{cur if p == current else ""}><a href="{p}">{html.escape(t)}</a></li>' for p, t in groups[g])
        out.append(f'<div class="nav-group"><h4>{g}</h4><ul>{items}</ul></div>')
    return "\n".join(out)

def page_name(nb_name: str, fm: dict | None = None) -> str:
    "The page a notebook becomes: `index.html`, its `output-file`, or its name without the number (`00_core` -> `core.html`)."
    if nb_name == "index.ipynb": return "index.html"
    return (fm or {}).get("output-file") or re.sub(r"^\d+[a-z]?_", "", nb_name.removesuffix(".ipynb")) + ".html"

def render_site(proc: Path, out: Path, only: list[str] | None = None, site_title: str = "brainssl",
                site_url: str = "", all_notebooks: list[str] | None = None) -> list[Path]:
    """Write one page per processed notebook in `proc` (or those in `only`) into `out`, with the assets; returns pages.

    Links to the notebooks in `all_notebooks` that are not built here (a partial site) still point at their pages."""
    nbs = sorted(p for p in proc.glob("*.ipynb") if not only or p.name in only)
    nbs.sort(key=lambda p: (p.name != "index.ipynb", p.name))
    loaded = {p.name: json.loads(p.read_text()) for p in nbs}
    fms = {n: _frontmatter(nb) for n, nb in loaded.items()}
    pages = {n: page_name(n, fms[n]) for n in loaded}
    r = Renderer({**{n: page_name(n) for n in all_notebooks or []}, **pages}, site_url)
    entries = [(n, pages[n], fms[n].get("title") or n[:-6]) for n in loaded]
    tpl = TEMPLATE.read_text()
    out.mkdir(parents=True, exist_ok=True)
    assets = out / "assets"; assets.mkdir(exist_ok=True)
    import plotly
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", assets / "plotly.min.js")
    from pygments.formatters import HtmlFormatter
    css = [(ROOT / "tools" / "docs_site.css").read_text(), HtmlFormatter().get_style_defs(".highlight")]
    if (ROOT / "nbs" / "styles.css").exists(): css.append((ROOT / "nbs" / "styles.css").read_text())
    (assets / "site.css").write_text("\n".join(css))
    shutil.copyfile(ROOT / "tools" / "docs_site.js", assets / "site.js")
    written = []
    for n, nb in loaded.items():
        r.n_fig = 0
        fm, body = r.page(nb)
        title = fm.get("title") or n[:-6]
        desc = fm.get("description") or ""
        page = (tpl.replace("{{site_title}}", html.escape(site_title)).replace("{{title}}", html.escape(title))
                   .replace("{{description}}", r.markdown(desc) if desc else "").replace("{{nav}}", _nav(entries, pages[n]))
                   .replace("{{source}}", html.escape(n)).replace("{{body}}", body))
        (out / pages[n]).write_text(page)
        written.append(out / pages[n])
    return written

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="notebook file names (default: all of nbs/)")
    ap.add_argument("--out", default=None, help="output folder (default: the doc_path of pyproject.toml, _docs)")
    ap.add_argument("--root", default=str(ROOT), help="project root (pyproject.toml, nbs/)")
    ap.add_argument("--n-workers", type=int, default=1, help="notebooks processed in parallel")
    ap.add_argument("--no-modidx", action="store_true", help="do not rebuild brainssl/_modidx.py (read-only checkouts)")
    a = ap.parse_args(argv)
    t0, root = time.time(), Path(a.root).resolve()
    from nbdev.config import get_config
    cfg = get_config(path=root)
    proc = process(root, a.only, a.n_workers, modidx=not a.no_modidx)
    out = Path(a.out) if a.out else cfg.doc_path
    pages = render_site(proc, out, a.only, cfg.get("title") or "brainssl", f"{cfg.doc_host}{cfg.doc_baseurl}",
                        [p.name for p in cfg.nbs_path.glob("*.ipynb")])
    print(f"docs: {len(pages)} pages in {out} ({time.time() - t0:.0f} s, offline path: nbdev processing + tools/build_docs.py)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
