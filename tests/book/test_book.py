"""Issue 34: the course as a book, readable offline in a browser.

Builds ``book/`` with Jupyter Book 1 (every notebook executed, outputs cached by
jupyter-cache in ``book/_build/.jupyter_cache``, so a second run re-executes nothing), then
checks the built site:

* statically, every HTML page: no ``<script>``, stylesheet or image comes from the network,
  and every internal link resolves (the target file exists, and so does its ``#anchor``);
* in headless Chromium (the system's, as in ``tests/e2e``) over a local server, with every
  request that is not to that server refused and recorded: each lesson page loads without
  console errors, its images have loaded, it shows at least the figures its executed notebook
  made, its plotly 3D views are drawn, its equations are typeset by MathJax, and its widgets
  show their first view;
* the API reference has a page, with documented functions, for each of the paper's math
  modules and for the packages around them;
* the lesson pages (and the ``.ipynb`` the site offers for download) are the student
  versions: no line of a reference solution, hidden test or answer key of the instructor's
  notebooks, and each graded exercise's stub (``# YOUR CODE HERE``,
  ``raise NotImplementedError()``, "YOUR ANSWER HERE") in its place.

Set ``BOOK_ARTIFACT_DIR`` (or ``E2E_ARTIFACT_DIR``, as CI does) to keep screenshots of lesson
03 and of the ``encoding`` API page. Run it alone with ``python -m pytest tests/book -s``.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOK = REPO_ROOT / "book"
BUILD = BOOK / "_build"
HTML = BUILD / "html"
CACHE = BUILD / ".jupyter_cache"  # jupyter-cache: the executed notebooks' outputs

LESSONS = [
    "00_data_and_cameras",
    "01_rays_and_cones",
    "02_frustums_as_gaussians",
    "03_integrated_positional_encoding",
    "04_the_mlp",
    "05_volume_rendering_and_resampling",
    "06_training_on_many_devices",
    "07_anti_aliasing_results",
    "08_aliasing_in_2d",
    "09_your_own_scene",
]
MATH_MODULES = ["camera", "gaussians", "encoding", "sampling", "rendering", "metrics",
                "schedule", "poses"]
PACKAGES = ["model", "config", "training", "datasets", "evaluation"]

BUILD_TIMEOUT_S = 1800  # every notebook executed on 2 slow cores; seconds when cached
PAGE_TIMEOUT_MS = 60_000

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    # WebGL (plotly's 3D scenes) on the CPU: no GPU on CI.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]

IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


# ------------------------------------------------------------------------------ the build
@pytest.fixture(scope="module")
def site() -> Path:
    """The built site (``book/_build/html``), built once for the module."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.setdefault("MPLBACKEND", "Agg")
    pytest.importorskip("jupyter_book")
    # `jupyter-book build book/`: a cell error fails it (nb_execution_raise_on_error in
    # _config.yml); any other Sphinx warning fails this test below, except those about the
    # library's docstrings (printed only: a docstring's markup must not fail the course).
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(BOOK), "--keep-going"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)
    took = time.monotonic() - start
    log = proc.stdout + proc.stderr
    artifact_dir = _artifact_dir()
    if artifact_dir:
        (artifact_dir / "book-build.log").write_text(log)
    assert proc.returncode == 0, f"jupyter-book build failed ({took:.0f} s):\n{log[-6000:]}"
    print(f"\nbook built in {took:.0f} s")
    warnings = [line for line in log.splitlines() if "WARNING:" in line]
    docstring_warnings = [w for w in warnings if "docstring of" in w]
    for w in docstring_warnings:
        print("docstring warning (not a failure):", w)
    other = [w for w in warnings if w not in docstring_warnings]
    assert not other, "Sphinx warnings while building the book:\n" + "\n".join(other)
    assert (HTML / "index.html").is_file()
    return HTML


def _artifact_dir() -> Path | None:
    base = os.environ.get("BOOK_ARTIFACT_DIR") or os.environ.get("E2E_ARTIFACT_DIR")
    if not base:
        return None
    path = Path(base) / "book" if os.environ.get("E2E_ARTIFACT_DIR") == base else Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------ static checks of the HTML
class _PageParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.remote: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        src = None
        if tag in ("script", "img", "iframe", "source", "video", "audio"):
            src = a.get("src")
        elif tag == "link" and a.get("href"):
            rels = (a.get("rel") or "").split()
            if {"stylesheet", "preload", "modulepreload", "icon", "prefetch"} & set(rels):
                src = a["href"]
        if src and urllib.parse.urlparse(src).scheme in ("http", "https") or (
            src and src.startswith("//")
        ):
            self.remote.append(f"<{tag}> {src}")


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _html_pages(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.html") if "_sources" not in p.parts)


def test_nothing_is_loaded_from_the_network(site):
    remote = {str(p.relative_to(site)): _parse(p).remote for p in _html_pages(site)}
    remote = {k: v for k, v in remote.items() if v}
    assert not remote, f"pages that load from the network: {json.dumps(remote, indent=1)}"


def test_every_internal_link_resolves(site):
    broken = []
    for page in _html_pages(site):
        for href in _parse(page).links:
            parts = urllib.parse.urlparse(href)
            if parts.scheme or href.startswith("//"):
                continue  # external (http, https, mailto): not followed offline
            target = page if not parts.path else (page.parent / urllib.parse.unquote(parts.path))
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {href} (no file)")
                continue
            if parts.fragment and target.suffix == ".html":
                if urllib.parse.unquote(parts.fragment) not in _parse(target).ids:
                    broken.append(f"{page.relative_to(site)}: {href} (no anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:50])


def test_api_reference_has_a_page_per_module(site):
    api_pages = {p: p.read_text(encoding="utf-8") for p in (site / "api").glob("*.html")}
    for name in MATH_MODULES + PACKAGES:
        module = f"mipnerf_lib.{name}"
        pages = [p for p, text in api_pages.items()
                 if f'id="module-{module}"' in text]
        assert pages, f"no API page documents {module}"
        text = api_pages[pages[0]]
        n_defs = text.count('<dl class="py function">') + text.count('<dl class="py class">')
        assert n_defs > 0, f"{pages[0].name} documents no function or class of {module}"
    # The shapes the docstrings give reach the page (napoleon renders 'Args:').
    encoding = next(t for t in api_pages.values() if 'id="module-mipnerf_lib.encoding"' in t)
    assert "integrated_pos_enc" in encoding and "Parameters" in encoding


# ------------------------------------------------- the student version, not the instructor's
_REGIONS = [("### BEGIN SOLUTION", "### END SOLUTION"),
            ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
            ("<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->")]
_TRIVIAL = {"return", "pass", "else:", "try:", "break", "continue", ")", "]", "}", "])", "))"}


def _split_regions(source: str) -> tuple[list[str], list[str]]:
    """(lines inside a solution or hidden-test region, lines outside), stripped."""
    inside, outside, depth = [], [], 0
    for line in source.splitlines():
        stripped = line.strip()
        if any(stripped.startswith(begin) for begin, _ in _REGIONS):
            depth += 1
        elif any(stripped.startswith(end) for _, end in _REGIONS):
            depth -= 1
        else:
            (inside if depth else outside).append(stripped)
    return inside, outside


def _secret_lines(nb) -> tuple[list[str], list[str]]:
    """(code lines, markdown text fragments) of an executed source notebook that students must
    not see.

    The lines of its solution and hidden-test regions (a markdown solution cell without
    markers: all of it), minus trivial ones (blank, comments, ``return``, short) and minus any
    that the notebook also shows outside those regions (a line, or part of one: the lesson's
    ``mu, hw = (t0 + t1) / 2, (t1 - t0) / 2``, a hint ``# return mean, cov`` above the
    solution, or in the text output of a cell that is not a solution: a grader's hint
    "the midpoint mu = (t0 + t1) / 2"). Markdown lines become the plain-text
    fragments between their math (``$...$``) and markup, of 25 characters or more, as a page
    renders them.
    """
    import re

    secret_code, secret_md, public = [], [], set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        inside, outside = _split_regions(cell.source)
        if cell.cell_type == "markdown" and meta.get("solution") and not inside:
            inside, outside = outside, []
        public.update(" ".join(line.split()) for line in outside)
        if cell.cell_type == "code" and not meta.get("solution"):
            for out in cell.get("outputs", []):
                text = out.get("text", "") or out.get("data", {}).get("text/plain", "")
                public.add(" ".join("".join(text).split()))
        (secret_code if cell.cell_type == "code" else secret_md).extend(inside)
    public_text = "\n".join(public)
    code = sorted({line for line in (" ".join(raw.split()) for raw in secret_code)
                   if len(line) >= 10 and not line.startswith("#") and line not in _TRIVIAL
                   and line not in public_text})
    fragments = set()
    for line in secret_md:
        line = re.sub(r"^(\d+\.|[-*])\s+", "", line)
        for piece in re.split(r"\$[^$]*\$|[*_`]|\\\(|\\\)", line):
            piece = " ".join(piece.split()).strip(" ,.;:()")
            if len(piece) >= 25:
                fragments.add(piece)
    return code, sorted(fragments)


def _page_text(path: Path) -> str:
    """All the text of an HTML page (scripts' included), whitespace collapsed."""

    class Text(html.parser.HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join("".join(parser.parts).split())


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_page_is_the_student_version(site, lesson):
    import nbformat

    from jupyter_cache import get_cache

    source = nbformat.read(REPO_ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
    _, executed = get_cache(CACHE).merge_match_into_notebook(source)
    secret_code, secret_md = _secret_lines(executed)
    assert secret_code or secret_md, f"{lesson}: no solution region found in the source"
    text = _page_text(site / "notebooks" / f"{lesson}.html")
    shown = [line for line in secret_code + secret_md if line in text]
    assert not shown, f"{lesson}: the page shows the instructor's solutions:\n" + "\n".join(shown)
    # The .ipynb of the download button is the student version too.
    download = nbformat.read(site / "_sources" / "notebooks" / f"{lesson}.ipynb", as_version=4)
    download_text = " ".join(" ".join(c.source.split()) for c in download.cells)
    shown = [line for line in secret_code + secret_md if line in download_text]
    assert not shown, f"{lesson}: the downloadable notebook has solutions:\n" + "\n".join(shown)
    # Each graded exercise in its student form: the stub of every solution cell, and every
    # test cell's visible assertion.
    cells = [c for c in source.cells if c.metadata.get("nbgrader")]
    n_code = sum(1 for c in cells if c.metadata.nbgrader.get("solution") and c.cell_type == "code")
    n_md = sum(1 for c in cells if c.metadata.nbgrader.get("solution")
               and c.cell_type == "markdown")
    for page, name in ((text, "page"), (download_text, "downloadable notebook")):
        assert page.count("YOUR CODE HERE") >= n_code, (lesson, name)
        assert page.count("raise NotImplementedError()") >= n_code, (lesson, name)
        assert page.count("YOUR ANSWER HERE") >= n_md, (lesson, name)
    for cell in cells:
        if cell.metadata.nbgrader.get("grade") and cell.cell_type == "code":
            visible = [ln for ln in _split_regions(cell.source)[1] if ln.startswith("assert")]
            assert visible and all(ln in text for ln in visible), (lesson, visible)


# ---------------------------------------------------------------------- the browser checks
def _find_chromium() -> str | None:
    explicit = os.environ.get("E2E_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser(site):
    required = os.environ.get("E2E_REQUIRE", "") not in ("", "0")
    path = _find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if path is None or sync_playwright is None:
        msg = "Chromium or the playwright package is missing (apt-get install chromium)"
        if required:
            pytest.fail(msg + "; E2E_REQUIRE is set", pytrace=False)
        pytest.skip(msg)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def server(site):
    """The site on a local HTTP server (127.0.0.1, a free port), stopped afterwards."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class OfflinePage:
    """A page whose requests outside the local server are aborted and recorded."""

    def __init__(self, browser, base_url):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.base_url = base_url
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base_url + "/") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, rel: str):
        self.errors.clear()
        self.page.goto(f"{self.base_url}/{rel}", wait_until="load", timeout=PAGE_TIMEOUT_MS)
        # MathJax typesets after load; wait for it (pages without math have no MathJax).
        self.page.wait_for_function(
            "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise"
            " && (window.__mj_done || (window.MathJax.startup.promise.then("
            "() => { window.__mj_done = true; }), false)))",
            timeout=PAGE_TIMEOUT_MS,
        )
        return self.page

    def close(self):
        self.context.close()


def _expected_outputs(lesson: str) -> dict:
    """What the notebook displayed when the build executed it (from jupyter-cache): images,
    plotly figures and widgets."""
    import nbformat
    from jupyter_cache import get_cache

    source = nbformat.read(REPO_ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
    _, nb = get_cache(CACHE).merge_match_into_notebook(source)
    counts = {"images": 0, "plotly": 0, "widgets": 0}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            continue  # the book shows the student version: a solution cell, no outputs
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if WIDGET_MIME in data:
                counts["widgets"] += 1
            elif PLOTLY_MIME in data:
                counts["plotly"] += 1
            elif any(m in data for m in IMAGE_MIMES):
                counts["images"] += 1
    return counts


_PAGE_STATE_JS = r"""
() => {
  const main = document.querySelector('main') || document.body;
  const imgs = Array.from(main.querySelectorAll('img'));
  const cellImgs = Array.from(main.querySelectorAll('.cell_output img'))
      .filter((i) => !i.closest('.mipnerf-widget-snapshot'));
  const plots = Array.from(main.querySelectorAll('.plotly-graph-div'));
  const widgets = Array.from(main.querySelectorAll('.mipnerf-widget-snapshot'));
  const progress = Array.from(main.querySelectorAll('.mipnerf-widget-progress'));
  const maths = Array.from(main.querySelectorAll('.math'));
  return {
    broken: imgs.filter((i) => !i.complete || i.naturalWidth === 0)
                .map((i) => i.getAttribute('src').slice(0, 80)),
    cellImages: cellImgs.length,
    plots: plots.length,
    plotsDrawn: plots.filter((p) => p.querySelector('canvas, svg.main-svg')
                             && p.getBoundingClientRect().height > 100).length,
    glScenes: plots.filter((p) => p.querySelector('.gl-container canvas')).length,
    widgets: widgets.length + progress.length,
    progressOk: progress.filter((p) => p.querySelector('progress')
                                && p.textContent.trim().length > 0).length,
    progress: progress.length,
    widgetsOk: widgets.filter((w) => w.querySelector('img')
        && /work when you run the notebook in JupyterLab/.test(w.textContent)).length,
    maths: maths.length,
    mathsTypeset: maths.filter((m) => m.querySelector('mjx-container')).length,
    mathErrors: main.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    widgetScripts: document.querySelectorAll(
        'script[type="application/vnd.jupyter.widget-view+json"]').length,
  };
}
"""


@pytest.fixture(scope="module")
def offline_page(browser, server):
    page = OfflinePage(browser, server)
    try:
        yield page
    finally:
        page.close()


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_page_renders_offline(offline_page, site, lesson):
    page = offline_page.open(f"notebooks/{lesson}.html")
    # Let plotly finish its first draw (it is asynchronous for WebGL scenes).
    page.wait_for_timeout(500)
    state = page.evaluate(_PAGE_STATE_JS)
    expected = _expected_outputs(lesson)
    assert not offline_page.blocked, f"{lesson}: requests outside the site: {offline_page.blocked}"
    assert not offline_page.errors, f"{lesson}: console errors: {offline_page.errors}"
    assert not state["broken"], f"{lesson}: images not loaded: {state['broken']}"
    assert expected["images"] + expected["plotly"] + expected["widgets"] > 0, (
        f"{lesson}: the executed notebook displayed no figure")
    assert state["cellImages"] >= expected["images"], (lesson, state, expected)
    assert state["plots"] == expected["plotly"], (lesson, state, expected)
    assert state["plotsDrawn"] == state["plots"], f"{lesson}: plotly figures not drawn: {state}"
    assert state["widgets"] == expected["widgets"], (lesson, state, expected)
    # Interactive widgets: an image of the first view and the JupyterLab line; progress bars
    # (tqdm's widgets): their final text and bar.
    assert state["widgetsOk"] + state["progressOk"] == state["widgets"], (
        f"{lesson}: widget snapshots: {state}")
    assert state["widgetScripts"] == 0, f"{lesson}: a widget view was left unrendered"
    assert state["maths"] > 0, f"{lesson}: no equation on the page"
    assert state["mathsTypeset"] == state["maths"], f"{lesson}: equations not typeset: {state}"
    assert state["mathErrors"] == 0, f"{lesson}: MathJax errors: {state}"
    artifact_dir = _artifact_dir()
    if artifact_dir and lesson in ("03_integrated_positional_encoding", "07_anti_aliasing_results"):
        page.screenshot(path=str(artifact_dir / f"book-{lesson}.png"))
        if state["plots"]:
            page.locator(".plotly-graph-div").first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(artifact_dir / f"book-{lesson}-plotly.png"))


def test_index_leads_to_the_landing_page(offline_page):
    page = offline_page.open("index.html")
    page.wait_for_url("**/intro.html", timeout=PAGE_TIMEOUT_MS)
    assert page.locator("h1").first.inner_text().startswith("mip-NeRF")


@pytest.mark.parametrize("rel", ["intro.html", "syllabus.html", "results.html",
                                 "api/index.html", "api/math_2_encoding.html",
                                 "api/training.html"])
def test_other_pages_render_offline(offline_page, rel):
    page = offline_page.open(rel)
    state = page.evaluate(_PAGE_STATE_JS)
    assert not offline_page.blocked, f"{rel}: requests outside the site: {offline_page.blocked}"
    assert not offline_page.errors, f"{rel}: console errors: {offline_page.errors}"
    assert not state["broken"], f"{rel}: images not loaded: {state['broken']}"
    assert state["mathsTypeset"] == state["maths"] and state["mathErrors"] == 0, state
    if rel == "intro.html":
        assert page.locator("main img").count() >= 1  # docs/pe_vs_ipe.png
        assert state["maths"] > 0
    artifact_dir = _artifact_dir()
    if artifact_dir and rel in ("intro.html", "api/math_2_encoding.html"):
        page.screenshot(path=str(artifact_dir / f"book-{rel.replace('/', '-')}.png"))
