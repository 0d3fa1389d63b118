"""Issue 35: opening a committed notebook in JupyterLab and saving it changes no byte.

The counterpart of ``tests/course/test_notebook_format.py`` (which checks the committed
form without a browser): a real JupyterLab with a running kernel writes the file back,
and it must equal the committed one, so ``git status`` stays clean.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.test_jupyterlab_browser import (
    _KERNEL_READY_JS,
    NOTEBOOK_PANEL,
    save_via_menu,
)

NOTEBOOKS = ["00_data_and_cameras.ipynb", "06_training_on_many_devices.ipynb"]


@pytest.mark.e2e
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_saving_an_unchanged_notebook_in_jupyterlab_keeps_it_byte_identical(
        name, browser_page, jupyter_server):
    server, page = jupyter_server, browser_page
    nb_path = server.root_dir / name
    before = nb_path.read_bytes()
    page.set_default_timeout(30_000)
    page.goto(f"{server.url}/lab/tree/{name}?token={server.token}")
    page.locator(f"{NOTEBOOK_PANEL} .jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
    page.wait_for_function(_KERNEL_READY_JS, timeout=90_000, polling=250)
    time.sleep(1.0)  # the kernel's language_info reaches the notebook's metadata
    save_via_menu(page, server, nb_path)
    after = nb_path.read_bytes()
    if after != before:
        import difflib

        diff = "\n".join(difflib.unified_diff(before.decode().splitlines(),
                                              after.decode().splitlines(), lineterm="", n=1))
        pytest.fail(f"JupyterLab rewrote {name}:\n{diff[:3000]}", pytrace=False)
