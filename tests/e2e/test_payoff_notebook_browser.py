"""Issue 12: the payoff notebook 07 runs in JupyterLab + headless Chromium; its 3D view is
drawn offline and moving the camera explorer's azimuth re-renders the trained scenes.

Opens a temporary copy of ``07_anti_aliasing_results.ipynb``, runs all cells (Run menu),
fails on any error output, checks that the plotly figure rendered (the ``jupyterlab-plotly``
extension of the plotly wheel, no network), moves the explorer's ``azimuth`` slider with the
keyboard and waits for the explorer's images to change. Screenshot as in the notebook-03 test.

Run it alone with ``python -m pytest -m e2e -s tests/e2e/test_payoff_notebook_browser.py``.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.test_jupyterlab_browser import (
    NOTEBOOK_PANEL,
    RUN_ALL_ITEM,
    RUN_MENU,
    _KERNEL_READY_JS,
    _PROMPT_DONE,
    _STATE_JS,
    _clear_outputs,
    _Deadline,
    _fail,
    _save_screenshot,
)

NOTEBOOK = "07_anti_aliasing_results.ipynb"
OVERALL_TIMEOUT_S = 420
LOAD_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_S = 300  # two models trained and evaluated on 2 slow CI cores
REDRAW_TIMEOUT_S = 60

AZIMUTH = ".widget-slider.mipnerf-azimuth"
EXPLORER_IMAGES = ".mipnerf-explorer img.mipnerf-explorer-image"
PLOTLY_FIGURE = ".js-plotly-plot .main-svg"

_SRCS_JS = """(sel) => Array.from(document.querySelectorAll(sel), (e) => e.getAttribute('src') || '')"""


@pytest.mark.e2e
@pytest.mark.slow
def test_notebook_07_runs_3d_view_renders_and_camera_moves(browser_page, jupyter_server, tmp_path):
    server, page = jupyter_server, browser_page
    deadline = _Deadline(OVERALL_TIMEOUT_S)
    nb_path = server.root_dir / NOTEBOOK
    assert nb_path.is_file(), f"{NOTEBOOK} missing from notebooks/"
    expected_runs = _clear_outputs(nb_path)
    page.set_default_timeout(30_000)
    try:
        _drive(page, server, expected_runs, deadline, tmp_path)
    except BaseException as exc:
        try:
            _save_screenshot(page, tmp_path, "e2e_07_failure.png")
        except Exception:
            pass
        if isinstance(exc, (AssertionError, pytest.fail.Exception, KeyboardInterrupt)):
            raise
        _fail(f"{type(exc).__name__}: {exc}", page, server)


def _run_all(page, server, expected_runs, deadline):
    page.locator(RUN_MENU, has_text=re.compile(r"^Run$")).click()
    page.locator(RUN_ALL_ITEM).click()
    t_run = time.monotonic()
    run_end = t_run + deadline.ms(RUN_ALL_TIMEOUT_S) / 1000.0
    while True:
        state = page.evaluate(_STATE_JS)
        if state is None:
            _fail("the notebook panel disappeared", page, server)
        if state["errors"]:
            _fail(f"error output while running {NOTEBOOK}:\n\n" + "\n-----\n".join(state["errors"]), page)
        n_done = sum(bool(_PROMPT_DONE.match(p)) for p in state["prompts"])
        if state["status"] == "idle" and n_done >= expected_runs:
            break
        if state["status"] in ("dead", "unknown") and n_done:
            _fail(f"kernel status is {state['status']!r}", page, server)
        if time.monotonic() > run_end:
            _fail(f"cells still running after {RUN_ALL_TIMEOUT_S} s: {n_done}/{expected_runs} done", page, server)
        time.sleep(0.5)
    print(f"\nRun All of {NOTEBOOK} took {time.monotonic() - t_run:.1f} s in the browser")


def _drive(page, server, expected_runs, deadline, tmp_path):
    page.goto(f"{server.url}/lab/tree/{NOTEBOOK}?token={server.token}")
    page.locator(f"{NOTEBOOK_PANEL} .jp-Notebook .jp-Cell").first.wait_for(timeout=deadline.ms(LOAD_TIMEOUT_S))
    page.wait_for_function(_KERNEL_READY_JS, timeout=deadline.ms(LOAD_TIMEOUT_S), polling=250)
    open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if open_tab.count():
        open_tab.first.click()
    _run_all(page, server, expected_runs, deadline)

    # The 3D view: plotly drew its SVG layers (the extension works without network).
    figure = page.locator(PLOTLY_FIGURE)
    try:
        figure.first.wait_for(timeout=deadline.ms(REDRAW_TIMEOUT_S))
    except Exception:
        _fail("the plotly 3D figure was not rendered (is the jupyterlab-plotly extension installed?)", page, server)

    # The camera explorer: one image per model; move the azimuth and wait for new images.
    slider = page.locator(AZIMUTH)
    if slider.count() != 1:
        _fail(f"expected one azimuth slider, found {slider.count()}", page)
    page.wait_for_function(
        "(sel) => { const im = document.querySelectorAll(sel); return im.length >= 2 && "
        "Array.from(im).every((e) => e.complete && e.naturalWidth > 0); }",
        arg=EXPLORER_IMAGES, timeout=deadline.ms(REDRAW_TIMEOUT_S), polling=250)
    before = page.evaluate(_SRCS_JS, EXPLORER_IMAGES)
    handle = slider.locator(".noUi-handle")
    slider.scroll_into_view_if_needed()
    value_before = handle.get_attribute("aria-valuenow")
    handle.focus()
    handle.press("PageUp")  # a big step of the azimuth: a new camera
    if handle.get_attribute("aria-valuenow") == value_before:
        handle.press("PageDown")
    value_after = handle.get_attribute("aria-valuenow")
    assert value_after != value_before, f"azimuth did not move ({value_before})"
    try:
        page.wait_for_function(
            "([sel, before]) => { const s = Array.from(document.querySelectorAll(sel), (e) => e.getAttribute('src') || '');"
            " return s.length === before.length && s.every((x, i) => x !== before[i]); }",
            arg=[EXPLORER_IMAGES, before], timeout=deadline.ms(REDRAW_TIMEOUT_S), polling=250)
    except Exception:
        _fail(f"the explorer's images did not change after azimuth {value_before} -> {value_after}", page, server)
    state = page.evaluate(_STATE_JS)
    if state["errors"]:
        _fail("error output after moving the camera:\n" + "\n-----\n".join(state["errors"]), page)
    print(f"azimuth {value_before} -> {value_after}: explorer images re-rendered")
    page.locator(".mipnerf-explorer").evaluate("e => e.scrollIntoView({block: 'center'})")
    page.mouse.move(0, 0)
    time.sleep(0.5)
    _save_screenshot(page, tmp_path, "e2e_07_explorer.png")
