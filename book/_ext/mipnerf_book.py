"""Sphinx extension of the course's book: offline figures, widgets and the checkout's library.

Jupyter Book 1 loads it through ``sphinx.local_extensions`` in ``book/_config.yml``. It

* puts the repository root first on ``PYTHONPATH`` (and ``sys.path``), so that the kernels
  that execute the notebooks and autodoc both import *this checkout's* ``mipnerf_lib``;
* starts those kernels with an IPython startup file (a private ``IPYTHONDIR``) that makes the
  course's ``plotly_mimetype`` renderer also emit HTML (a ``<div>`` and a
  ``Plotly.newPlot`` call, without plotly.js): myst-nb renders that HTML, while the
  ``application/vnd.plotly.v1+json`` output the course asks for is dropped by static sites;
* copies the plotly.js that ships inside the ``plotly`` Python package into ``_static`` and
  loads it on the pages that have a plotly figure (no CDN), and copies MathJax from
  ``book/_vendor/mathjax`` to ``_static/mathjax`` (``mathjax_path`` in ``_config.yml``);
* on the API pages, leaves out of a package's page the names it re-exports from another
  documented module (``mipnerf_lib.training`` re-exports ``Config``): each object is
  documented once, on its home page, so autodoc reports no duplicate;
* removes sphinx-thebe's scripts (live cells through Binder, which needs the internet);
* replaces every ipywidgets view with a static snapshot of its first view (its controls'
  values and the images its output area or ``Image`` widgets hold, from the widget state
  that the execution stored in the notebook) and a line saying the controls work in
  JupyterLab. The ipywidgets embed manager would load require.js and its bundle from CDNs;
* shows the *student* version of the notebooks (nbgrader's, the one that
  ``python -m mipnerf_lib.course release`` writes) although the build executes the
  instructor's: see "Student view" below.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import sys
from pathlib import Path

PLOTLY_JS = "plotly.min.js"

# Run in every kernel the build starts, before the notebook's first cell.
_STARTUP = '''\
"""mipnerf book build: plotly figures also as HTML for the static site (book/_ext)."""
try:
    import plotly.io as _pio
    from plotly.io._base_renderers import MimetypeRenderer as _MimetypeRenderer
except ImportError:  # plotly is optional for the course's core
    pass
else:
    class _BookPlotlyRenderer(_MimetypeRenderer):
        """The course's plotly_mimetype output plus a text/html rendering of the figure."""

        def to_mimebundle(self, fig_dict):
            html = _pio.to_html(fig_dict, include_plotlyjs=False, full_html=False,
                                validate=False, config={"responsive": True})
            return {"application/vnd.plotly.v1+json": fig_dict, "text/html": html}

    _pio.renderers["plotly_mimetype"] = _BookPlotlyRenderer()
'''

_VIEW_RE = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S
)

NOTE = ("Interactive widget, shown here as its first view: its controls work when you run "
        "the notebook in JupyterLab.")


def _repo_root(app) -> Path:
    return Path(app.srcdir).resolve().parent


def _setup_environment(app, config) -> None:
    root = str(_repo_root(app))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
    if root not in sys.path:
        sys.path.insert(0, root)
    ipython_dir = Path(app.outdir).resolve().parent / ".ipython"
    startup = ipython_dir / "profile_default" / "startup" / "00-mipnerf-book.py"
    startup.parent.mkdir(parents=True, exist_ok=True)
    startup.write_text(_STARTUP)
    os.environ["IPYTHONDIR"] = str(ipython_dir)
    os.environ["MIPNERF_BOOK_BUILD"] = "1"


def _copy_assets(app, exception) -> None:
    """plotly.js (from the plotly package) and MathJax (book/_vendor) into the site."""
    if exception is not None or app.builder.format != "html":
        return
    import plotly

    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / PLOTLY_JS,
                    static / PLOTLY_JS)
    shutil.copytree(Path(app.srcdir) / "_vendor" / "mathjax", static / "mathjax",
                    dirs_exist_ok=True)


# ---------------------------------------------------------------- widget snapshots
def _model_id(ref) -> str | None:
    if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
        return ref[len("IPY_MODEL_"):]
    return None


def _png_of_image_model(entry: dict) -> str | None:
    state = entry.get("state", {})
    if state.get("format", "png") not in ("png", "jpeg", "jpg", "gif", "svg+xml"):
        return None
    mime = "image/" + state.get("format", "png").replace("jpg", "jpeg")
    for buf in entry.get("buffers", []):
        if buf.get("path") == ["value"] and buf.get("encoding", "base64") == "base64":
            return f"data:{mime};base64,{buf['data']}"
    value = state.get("value")
    if isinstance(value, str) and value:
        return f"data:{mime};base64,{value}"
    if isinstance(value, dict) and "base64" in value:  # ipywidgets' own JSON form
        return f"data:{mime};base64,{value['base64']}"
    return None


def _control_text(state: dict, model_name: str) -> str | None:
    desc = state.get("description") or ""
    if model_name in ("DropdownModel", "RadioButtonsModel", "ToggleButtonsModel",
                      "SelectModel"):
        labels, index = state.get("_options_labels", []), state.get("index")
        value = labels[index] if isinstance(index, int) and index < len(labels) else index
    elif model_name in ("IntRangeSliderModel", "FloatRangeSliderModel"):
        value = "–".join(str(v) for v in state.get("value", []))
    elif "value" in state and not isinstance(state.get("value"), (dict, list)):
        value = state["value"]
        if model_name == "FloatLogSliderModel" and isinstance(value, float):
            value = f"{value:.4g}"
    else:
        return None
    if model_name in ("HTMLModel", "LabelModel", "HTMLMathModel"):
        return None
    return f"{desc} = {value}" if desc else str(value)


def _walk(models: dict, model_id: str, controls: list, images: list, seen: set,
          status: list | None = None) -> None:
    if model_id in seen or model_id not in models:
        return
    seen.add(model_id)
    entry = models[model_id]
    name = entry.get("model_name", "")
    state = entry.get("state", {})
    if name == "OutputModel":
        for out in state.get("outputs", []):
            data = out.get("data", {})
            for mime in ("image/png", "image/jpeg"):
                if mime in data:
                    images.append(f"data:{mime};base64,{''.join(data[mime]).strip()}")
                    break
            else:  # a nested widget displayed in the output area
                view = data.get("application/vnd.jupyter.widget-view+json")
                if view and view.get("model_id"):
                    _walk(models, view["model_id"], controls, images, seen, status)
        return
    if name == "ImageModel":
        src = _png_of_image_model(entry)
        if src:
            images.append(src)
        return
    if status is not None and name in ("HTMLModel", "LabelModel", "HTMLMathModel"):
        text = re.sub(r"<[^>]*>", "", html.unescape(str(state.get("value", "")))).strip()
        if text:
            status.append(("text", text))
        return
    if status is not None and name in ("FloatProgressModel", "IntProgressModel"):
        status.append(("progress", state.get("value", 0), state.get("max", 100)))
        return
    if name.endswith(("SliderModel", "CheckboxModel", "DropdownModel", "TextModel",
                      "ToggleButtonModel", "RadioButtonsModel", "ToggleButtonsModel",
                      "SelectModel", "BoundedFloatTextModel", "BoundedIntTextModel",
                      "FloatTextModel", "IntTextModel")):
        text = _control_text(state, name)
        if text:
            controls.append(text)
    for child in state.get("children", []):
        cid = _model_id(child)
        if cid:
            _walk(models, cid, controls, images, seen, status)


def widget_snapshot(models: dict, model_id: str) -> str:
    """Static HTML of a widget's first view: its controls' values and its images.

    A widget with neither (a tqdm progress bar: texts and a progress model) is shown as its
    final state, a line of text around a ``<progress>`` bar.
    """
    controls: list[str] = []
    images: list[str] = []
    status: list[tuple] = []
    _walk(models, model_id, controls, images, set(), status)
    if not controls and not images:
        parts = ['<div class="mipnerf-widget-progress">']
        for item in status:
            if item[0] == "text":
                parts.append(f"<code>{html.escape(item[1])}</code>")
            else:
                parts.append(f'<progress value="{float(item[1]):g}" max="{float(item[2]):g}">'
                             "</progress>")
        parts.append("</div>")
        return " ".join(parts)
    parts = ['<div class="mipnerf-widget-snapshot">']
    if controls:
        parts.append('<p class="mipnerf-widget-controls">'
                     + " &middot; ".join(f"<code>{html.escape(c)}</code>" for c in controls)
                     + "</p>")
    for src in images:
        parts.append(f'<img class="mipnerf-widget-image" src="{src}" '
                     'alt="the widget\'s first view" />')
    parts.append(f'<p class="mipnerf-widget-note"><em>{NOTE}</em></p></div>')
    return "\n".join(parts)


def _page_widget_models(app, pagename: str) -> dict:
    try:
        from myst_nb.sphinx_ import NbMetadataCollector

        js_files = NbMetadataCollector.get_js_files(app.env, pagename)
    except Exception:  # not a notebook page, or myst-nb's internals moved
        return {}
    entry = js_files.get("ipywidgets_state")
    if not entry:
        return {}
    try:
        return json.loads(entry[1]["body"]).get("state", {})
    except (KeyError, ValueError, TypeError):
        return {}


def _is_thebe(js) -> bool:
    filename = getattr(js, "filename", None) or str(js)
    body = (getattr(js, "attributes", None) or {}).get("body", "")
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body


def _page_context(app, pagename, templatename, context, doctree) -> None:
    # Jupyter Book always loads sphinx-thebe (live code cells through Binder: online only,
    # and disabled here); its inline script is added twice, a "THEBE_JS_URL has already been
    # declared" error on every page. Drop it.
    if "script_files" in context:  # in place: app.add_js_file below appends to this list
        context["script_files"][:] = [js for js in context["script_files"] if not _is_thebe(js)]
    body = context.get("body")
    if not body:
        return
    if "plotly-graph-div" in body:
        app.add_js_file(PLOTLY_JS, priority=100)
    if "application/vnd.jupyter.widget-view+json" in body:
        models = _page_widget_models(app, pagename)

        def replace(match: re.Match) -> str:
            try:
                view = json.loads(match.group(1))
            except ValueError:
                view = {}
            return widget_snapshot(models, view.get("model_id", ""))

        context["body"] = _VIEW_RE.sub(replace, body)


# ---------------------------------------------------------------- API pages
_AUTOMODULE_RE = re.compile(r"^\.\. automodule:: (\S+)\n((?:   :[\w-]+:.*\n)*)", re.M)


def _documented_modules(app) -> list[str]:
    found = []
    for page in sorted((Path(app.srcdir) / "api").glob("*.md")):
        found += _AUTOMODULE_RE.findall(page.read_text(encoding="utf-8"))
    return [name for name, _ in found]


def _reexported_elsewhere(module_name: str, documented: list[str]) -> list[str]:
    """Names of ``module_name.__all__`` whose home is another documented module."""
    import importlib

    module = importlib.import_module(module_name)
    names = []
    for name in getattr(module, "__all__", []):
        home = getattr(getattr(module, name, None), "__module__", None)
        if not isinstance(home, str) or home == module_name or home.startswith(module_name + "."):
            continue
        if any(home == d or home.startswith(d + ".") for d in documented if d != module_name):
            names.append(name)
    return names


def _exclude_reexports(app, docname, source) -> None:
    if not docname.startswith("api/") or ":imported-members:" not in source[0]:
        return
    documented = _documented_modules(app)

    def add_excludes(match: re.Match) -> str:
        options = match.group(2)
        if ":imported-members:" not in options or ":exclude-members:" in options:
            return match.group(0)
        names = _reexported_elsewhere(match.group(1), documented)
        extra = f"   :exclude-members: {', '.join(names)}\n" if names else ""
        return match.group(0) + extra

    source[0] = _AUTOMODULE_RE.sub(add_excludes, source[0])


# ---------------------------------------------------------------- student view
# The committed notebooks are nbgrader's instructor versions: reference solutions between
# ``### BEGIN SOLUTION`` / ``### END SOLUTION``, hidden tests, answer keys in markdown
# solution cells. The build must execute them as they are (every graded cell runs, every
# figure exists), so the notebook that myst-nb executes and caches is never changed; what a
# page shows comes from the student version that ``mipnerf_lib.course.classroom.
# student_version`` makes with nbgrader's own preprocessors (the release's):
#
# * markdown solution cells (the answer keys): their student source ("YOUR ANSWER HERE")
#   replaces theirs in ``source-read``. A markdown cell is not part of jupyter-cache's key
#   (it hashes the code cells), so the cached execution stays valid;
# * code cells with nbgrader metadata: in ``doctree-read``, on myst-nb's cell containers
#   (``nb_element="cell_code"``, which carry ``cell_index`` and ``cell_metadata``), the source
#   shown becomes the student's (solution regions -> ``# YOUR CODE HERE`` /
#   ``raise NotImplementedError()``, hidden tests removed); a solution cell shows no output,
#   a test cell keeps its output only if it is nothing but the graders' verdict lines
#   ("<mark> Exercise n: all checks passed"; one more per hidden test that ran: the cell's
#   comment says that the instructor's copy may check more inputs), never a value;
# * the ``.ipynb`` the site offers for download (``_sources/``, a copy of the source
#   notebook) is replaced by the student version in ``build-finished``.
#
# The doctree is pickled after ``doctree-read``, so the search index and every later pass see
# the student version too.
STUDENT_ENV_VERSION = 1  # bump when what a page shows changes: Sphinx re-reads every page


def _is_notebook(app, docname: str) -> bool:
    return str(app.env.doc2path(docname)).endswith(".ipynb")


def _has_nbgrader_cells(nb) -> bool:
    return any("nbgrader" in cell.get("metadata", {}) for cell in nb.cells)


def _student_version(nb):
    from mipnerf_lib.course.classroom import student_version

    return student_version(nb)


def _student_markdown(app, docname, source) -> None:
    if not _is_notebook(app, docname):
        return
    import nbformat

    nb = nbformat.reads(source[0], as_version=4)
    if not _has_nbgrader_cells(nb):
        return
    student = _student_version(nb)
    changed = False
    for cell, shown in zip(nb.cells, student.cells):
        if (cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")
                and cell.source != shown.source):
            cell.source = shown.source
            changed = True
    if changed:
        source[0] = nbformat.writes(nb)


def _only_verdicts(text: str) -> bool:
    from mipnerf_lib.course.graders.harness import OK_MARK

    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith(OK_MARK) for line in lines)


def _student_code_cells(app, doctree) -> None:
    docname = app.env.docname
    if not _is_notebook(app, docname):
        return
    import nbformat
    from docutils import nodes

    nb = nbformat.read(app.env.doc2path(docname), as_version=4)
    if not _has_nbgrader_cells(nb):
        return
    student = _student_version(nb)
    for cell in list(doctree.findall(nodes.container)):
        if cell.get("nb_element") != "cell_code":
            continue
        meta = (cell.get("cell_metadata") or {}).get("nbgrader", {})
        if not (meta.get("solution") or meta.get("grade")):
            continue
        shown = student.cells[cell["cell_index"]].source
        for part in list(cell.children):
            if part.get("nb_element") == "cell_code_source":
                for block in part.findall(nodes.literal_block):
                    block.children = []
                    block += nodes.Text(shown)
                    block.rawsource = shown
            elif part.get("nb_element") == "cell_code_output":
                if meta.get("solution") or not _only_verdicts(part.astext()):
                    cell.remove(part)


def _student_downloads(app, exception) -> None:
    """The site's ``_sources/**.ipynb`` (its download button) as the student versions."""
    if exception is not None or app.builder.format != "html":
        return
    import nbformat

    sources = Path(app.outdir) / "_sources"
    for path in sorted(sources.rglob("*.ipynb")):
        # From the source notebook, not the copy: an incremental build leaves the student
        # version of an unchanged page there, and ClearSolutions is not idempotent.
        original = Path(app.srcdir) / path.relative_to(sources)
        if not original.is_file():
            continue
        nb = nbformat.read(original, as_version=4)
        if _has_nbgrader_cells(nb):
            nbformat.write(_student_version(nb), path)


def setup(app):
    app.connect("config-inited", _setup_environment)
    app.connect("source-read", _exclude_reexports)
    app.connect("source-read", _student_markdown)
    app.connect("doctree-read", _student_code_cells)
    app.connect("build-finished", _student_downloads)
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _copy_assets)
    app.add_css_file("mipnerf_book.css")
    return {"version": "1.1", "env_version": STUDENT_ENV_VERSION,
            "parallel_read_safe": True, "parallel_write_safe": True}
