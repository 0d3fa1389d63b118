"""Issue 8: notebook 03 runs in a real JupyterLab + headless Chromium, and its slider works.

Opens ``03_integrated_positional_encoding.ipynb`` (a temporary copy) in JupyterLab,
runs all cells through the Run menu, fails on any error output, moves the
ipywidgets slider with the keyboard and checks that the matplotlib PNG in the
widget's Output area is re-drawn. A screenshot is written to the test's temporary
directory and, if ``E2E_ARTIFACT_DIR`` is set, copied there.

Run it alone with ``python -m pytest -m e2e -s tests/e2e``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = "03_integrated_positional_encoding.ipynb"
# The ipywidgets description of the slider that re-draws the figure.
SLIDER_DESCRIPTION = "footprint"

# Time limits (seconds). The whole test is also bounded by OVERALL_TIMEOUT_S.
OVERALL_TIMEOUT_S = 300
LOAD_TIMEOUT_S = 90  # JupyterLab front end loaded and kernel idle
RUN_ALL_TIMEOUT_S = 180  # all cells executed (2 slow CI cores, JAX compiles)
REDRAW_TIMEOUT_S = 60  # figure re-drawn after the slider moved

# Selectors (JupyterLab 4.x, ipywidgets 8.x DOM).
NOTEBOOK_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
RUN_MENU = "#jp-MainMenu .lm-MenuBar-item"  # top-level menu titles
RUN_ALL_ITEM = '.lm-Menu-item[data-command="runmenu:run-all"]'
SAVE_ITEM = '.lm-Menu-item[data-command="docmanager:save"]'
# mipnerf_lib.course.widgets gives every control the class mipnerf-<description slug>, the
# Output area mipnerf-output and the box around both mipnerf-interactive.
SLIDER = ".widget-slider.mipnerf-" + re.sub(r"[^a-z0-9]+", "-", SLIDER_DESCRIPTION.lower()).strip("-")
INTERACTIVE_BOX = ".mipnerf-interactive"
FIGURE_IMG = ".mipnerf-output img"

# JupyterLab 4 renders an error output exactly like a stderr stream (both are
# .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]; the
# application/vnd.jupyter.error part has no renderer), so stderr text is searched for
# what IPython prints for exceptions: "Traceback (most recent call last)", the
# "Cell In[n], line m" header of a SyntaxError, or an "XxxError: ..." line.
# Plain warnings on stderr (e.g. JAX's "falling back to CPU") do not match.
_STATE_JS = r"""
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const prompts = Array.from(
    panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'),
    (e) => e.textContent.trim());
  const errorRe = /Traceback \(most recent call last\)|^\s*Cell In\[\d+\], line \d+|^\s*[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*:/m;
  const errors = Array.from(
    panel.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'),
    (e) => e.textContent).filter((t) => errorRe.test(t));
  const ind = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {prompts, errors, status: ind ? ind.getAttribute('data-status') : null};
}
"""

_KERNEL_READY_JS = r"""
() => {
  const ind = document.querySelector(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
  const item = document.querySelector(
    '#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]');
  const text = item ? item.textContent.trim() : '';
  return !!ind && ind.getAttribute('data-status') === 'idle'
         && /\|\s*Idle$/.test(text) && !text.startsWith('No Kernel');
}
"""

_PROMPT_DONE = re.compile(r"^\[\d+\]:$")


class _Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def ms(self, step_s: float) -> float:
        """Playwright timeout (ms) for a step: its own limit, capped by the deadline."""
        left = self.end - time.monotonic()
        if left <= 0:
            pytest.fail(f"e2e test exceeded its overall limit of {OVERALL_TIMEOUT_S} s")
        return 1000.0 * min(step_s, left)


def _clear_outputs(path: Path) -> int:
    """Strip outputs, execution counts and widget state from the (temporary) copy.

    The committed notebooks should already be clean; this makes sure that no stale
    "[n]:" prompt can look like a finished run. Returns the number of code cells with
    some source, i.e. those Run All executes and numbers (it skips empty ones).
    """
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    n = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            n += bool(cell.source.strip())
    nbformat.write(nb, path)
    return n


def _fail(msg: str, page=None, server=None) -> None:
    parts = [msg]
    if page is not None and getattr(page, "console_errors", None):
        parts.append("Browser console errors:\n  " + "\n  ".join(page.console_errors[-15:]))
    if server is not None:
        parts.append("JupyterLab server log tail:\n" + server.log_tail(3000))
    pytest.fail("\n\n".join(parts), pytrace=False)


def save_via_menu(page, server, nb_path: Path) -> None:
    """File > Save in JupyterLab, then wait (up to 30 s) until ``nb_path`` is rewritten."""
    mtime = nb_path.stat().st_mtime_ns
    page.locator(RUN_MENU, has_text=re.compile(r"^File$")).click()
    page.locator(SAVE_ITEM).click()
    end = time.monotonic() + 30
    while nb_path.stat().st_mtime_ns == mtime:
        if time.monotonic() > end:
            _fail("File > Save did not write the notebook within 30 s", page, server)
        time.sleep(0.2)
    time.sleep(0.5)  # let the write finish


def _save_screenshot(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    artifact_dir = os.environ.get("E2E_ARTIFACT_DIR")
    if artifact_dir:
        Path(artifact_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifact_dir) / name)
    print(f"\ne2e screenshot: {shot}" + (f" (copied to {artifact_dir})" if artifact_dir else ""))
    return shot


@pytest.mark.e2e
def test_notebook_03_runs_and_slider_redraws_figure(browser_page, jupyter_server, tmp_path):
    # browser_page first: it skips (no Chromium) before a server is started.
    server, page = jupyter_server, browser_page
    deadline = _Deadline(OVERALL_TIMEOUT_S)
    nb_path = server.root_dir / NOTEBOOK
    assert nb_path.is_file(), f"{NOTEBOOK} missing from notebooks/"
    expected_runs = _clear_outputs(nb_path)
    page.set_default_timeout(30_000)

    try:
        _drive(page, server, nb_path, expected_runs, deadline, tmp_path)
    except BaseException as exc:
        try:  # keep a picture of what the browser showed
            _save_screenshot(page, tmp_path, "e2e_03_failure.png")
        except Exception:
            pass
        if isinstance(exc, (AssertionError, pytest.fail.Exception, KeyboardInterrupt)):
            raise
        # e.g. a Playwright TimeoutError: add the console errors and server log.
        _fail(f"{type(exc).__name__}: {exc}", page, server)


def _drive(page, server, nb_path, expected_runs, deadline, tmp_path):
    # 1. Open the notebook and wait for its kernel.
    page.goto(f"{server.url}/lab/tree/{NOTEBOOK}?token={server.token}")
    page.locator(f"{NOTEBOOK_PANEL} .jp-Notebook .jp-Cell").first.wait_for(
        timeout=deadline.ms(LOAD_TIMEOUT_S)
    )
    # The toolbar indicator says "idle" before any kernel exists ("No Kernel |
    # Initializing" in the status bar), so wait for the status bar's kernel item too.
    page.wait_for_function(
        _KERNEL_READY_JS, timeout=deadline.ms(LOAD_TIMEOUT_S), polling=250
    )

    # Collapse the left sidebar (file browser) so the notebook gets the full width
    # (clicking the current side-bar tab toggles it); cosmetic, for the screenshot.
    open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if open_tab.count():
        open_tab.first.click()

    # 2. Run > Run All Cells, then wait until every non-empty code cell has an
    #    execution count and the kernel is idle; fail as soon as an error shows up.
    page.locator(RUN_MENU, has_text=re.compile(r"^Run$")).click()
    page.locator(RUN_ALL_ITEM).click()
    t_run = time.monotonic()
    run_end = time.monotonic() + deadline.ms(RUN_ALL_TIMEOUT_S) / 1000.0
    settled_polls = 0
    while True:
        state = page.evaluate(_STATE_JS)
        if state is None:
            _fail("the notebook panel disappeared", page, server)
        if state["errors"]:
            _fail(
                "error output while running all cells of "
                f"{NOTEBOOK}:\n\n" + "\n-----\n".join(state["errors"]),
                page,
            )
        prompts, status = state["prompts"], state["status"]
        n_done = sum(bool(_PROMPT_DONE.match(p)) for p in prompts)
        if status == "idle" and n_done >= expected_runs:
            break
        # Idle, nothing queued, some cells ran but not all: the run stopped early.
        if status == "idle" and n_done and "[*]:" not in prompts:
            settled_polls += 1
            if settled_polls >= 10:
                _fail(
                    f"Run All stopped after {n_done} of {expected_runs} code cells "
                    f"(prompts: {prompts})",
                    page,
                    server,
                )
        else:
            settled_polls = 0
        if (status == "idle" and not n_done and "[*]:" not in prompts
                and time.monotonic() - t_run > 20):
            _fail(f"Run All Cells started nothing within 20 s (prompts: {prompts})",
                  page, server)
        if status in ("dead", "unknown") and n_done:
            _fail(f"kernel status is {status!r} (prompts: {prompts})", page, server)
        if time.monotonic() > run_end:
            _fail(
                f"cells still running after {RUN_ALL_TIMEOUT_S} s: kernel status "
                f"{status!r}, {n_done}/{expected_runs} cells done, prompts {prompts}",
                page,
                server,
            )
        time.sleep(0.5)
    print(f"\nRun All took {time.monotonic() - t_run:.1f} s in the browser")

    # 3. Save (File > Save) and check the saved copy exactly: no error outputs,
    #    every non-empty code cell executed.
    save_via_menu(page, server, nb_path)
    saved = nbformat.read(nb_path, as_version=4)
    for i, cell in enumerate(saved.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                _fail(
                    f"cell {i} raised {out.get('ename')}: {out.get('evalue')}\n"
                    + "\n".join(out.get("traceback", [])),
                    page,
                )
        if cell.source.strip() and cell.get("execution_count") is None:
            _fail(f"cell {i} was not executed:\n{cell.source}", page)

    # 4. Find the slider by its description, move it with the keyboard and wait for
    #    the PNG in the Output area of the same interactive_plot box to change.
    slider = page.locator(SLIDER)
    if slider.count() != 1:
        labels = page.locator(".widget-slider .widget-label").all_inner_texts()
        _fail(
            f"expected one slider matching {SLIDER!r}, found {slider.count()}; "
            f"slider labels present: {labels}",
            page,
        )
    label = slider.locator(".widget-label").inner_text().strip()
    assert label == SLIDER_DESCRIPTION, f"slider {SLIDER!r} is labelled {label!r}"
    # The interactive_plot box holding the slider, and the PNG in its Output area.
    box = page.locator(INTERACTIVE_BOX).filter(has=slider)
    figure = box.locator(FIGURE_IMG)
    figure.first.wait_for(timeout=deadline.ms(REDRAW_TIMEOUT_S))
    before = figure.first.get_attribute("src")
    handle = slider.locator(".noUi-handle")
    readout = slider.locator(".widget-readout")

    def value() -> str:  # the readout as shown, plus the handle's ARIA value
        return f"{readout.inner_text().strip()} (aria {handle.get_attribute('aria-valuenow')})"

    value_before = value()
    slider.scroll_into_view_if_needed()
    handle.focus()
    # A keyboard move fires noUiSlider's "change" event, which is what a slider with
    # continuous_update=False (the mipnerf_lib.course.widgets default) sends to the kernel.
    # End jumps to the maximum in one move (one re-draw): for "footprint" that is the
    # instructive end, where PE aliases and IPE greys out. Home if already there.
    handle.press("End")
    value_after = value()
    if value_after == value_before:
        handle.press("Home")
        value_after = value()
    assert value_after != value_before, f"slider did not move (value {value_before})"

    try:
        page.wait_for_function(
            """([boxEl, sel, before]) => {
                const img = boxEl.querySelector(sel);
                return img && img.complete && img.naturalWidth > 0
                       && img.getAttribute('src') !== before;
            }""",
            arg=[box.element_handle(), FIGURE_IMG, before],
            timeout=deadline.ms(REDRAW_TIMEOUT_S),
            polling=250,
        )
    except Exception:
        _fail(
            f"the figure was not re-drawn within {REDRAW_TIMEOUT_S} s after moving "
            f"{SLIDER_DESCRIPTION!r} from {value_before} to {value_after}",
            page,
            server,
        )
    # Let the re-draw finish (kernel idle, image stable) before checking and the
    # screenshot.
    after, stable_polls = None, 0
    while stable_polls < 3:
        if time.monotonic() > deadline.end:
            _fail("kernel busy / figure changing for too long after the slider moved", page, server)
        time.sleep(0.4)
        src = figure.first.get_attribute("src")
        idle = page.evaluate(_KERNEL_READY_JS)
        stable_polls = stable_polls + 1 if (idle and src == after) else 0
        after = src
    assert after != before
    # An exception in the widget callback shows up inside the Output widget.
    state = page.evaluate(_STATE_JS)
    if state["errors"]:
        _fail("error output after moving the slider:\n" + "\n-----\n".join(state["errors"]), page)
    print(
        f"slider {SLIDER_DESCRIPTION!r}: {value_before} -> {value_after}; figure "
        f"{hashlib.sha1(before.encode()).hexdigest()[:10]} -> "
        f"{hashlib.sha1(after.encode()).hexdigest()[:10]}"
    )

    # 5. Screenshot with the slider and its figure in view.
    box.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.mouse.move(0, 0)  # no hover highlight / tooltip
    time.sleep(0.3)
    _save_screenshot(page, tmp_path, "e2e_03_notebook.png")
