"""Fixtures for the browser end-to-end tests: Chromium, a throwaway JupyterLab server.

The server runs on a free 127.0.0.1 port with a random token, in its own process group,
serving a *copy* of ``notebooks/`` in a temporary directory (the committed notebooks,
whose outputs are cleared, are never touched). Its settings, workspaces and runtime
directories are temporary too, and everything that would reach the internet (news feed,
update check) is switched off. Teardown always shuts the kernels down and then
terminates, and if needed kills, the server's process group.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

SERVER_START_TIMEOUT_S = 60.0

# Flags for Debian's chromium running as root on a machine without internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]

# JupyterLab user settings written into the server's temporary settings directory.
LAB_SETTINGS = {
    # No "Would you like to get notified about official Jupyter news?" toast (it would
    # cover part of the screenshot), no news feed and no update check.
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Keep every cell attached to the DOM, so that output checks see the whole notebook
    # whatever the viewport (the default, contentVisibility, also does, but 'full'
    # would not).
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def _find_chromium() -> str | None:
    explicit = os.environ.get("E2E_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the system Chromium (Debian's ``chromium``); skips the test if absent.

    Playwright's own browser download is never used. Set ``E2E_REQUIRE=1`` (CI does)
    to turn a missing Chromium or Playwright into a failure instead of a skip.
    """
    required = os.environ.get("E2E_REQUIRE", "") not in ("", "0")
    path = _find_chromium()
    if path is None:
        msg = (
            "Chromium not installed (apt-get install chromium, or set E2E_CHROMIUM to "
            "its path)"
        )
        if required:
            pytest.fail(msg + "; E2E_REQUIRE is set", pytrace=False)
        pytest.skip(msg)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        msg = "the playwright Python package is not installed (pip install -e '.[dev]')"
        if required:
            pytest.fail(msg + "; E2E_REQUIRE is set", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture
def browser_page(chromium_path):
    """A fresh headless Chromium page (1280x900) with console errors collected."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.console_errors = []  # type: ignore[attr-defined]
            page.on(
                "console",
                lambda m: m.type == "error" and page.console_errors.append(m.text),
            )
            page.on("pageerror", lambda e: page.console_errors.append(f"pageerror: {e}"))
            yield page
        finally:
            browser.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n_chars: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<could not read {path}: {e}>"
    return text[-n_chars:]


@dataclass
class JupyterServer:
    url: str  # http://127.0.0.1:PORT (no trailing slash)
    token: str
    root_dir: Path  # the temporary copy of notebooks/
    log_path: Path
    process: subprocess.Popen

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n_chars: int = 4000) -> str:
        return _tail(self.log_path, n_chars)


def _stop_server(server: JupyterServer) -> None:
    proc = server.process
    if proc.poll() is None:
        # Ask the server to shut its kernels down: they run in their own sessions
        # (jupyter_client uses start_new_session), so killing our group misses them.
        try:
            for kernel in server.api("/api/kernels", timeout=3):
                server.api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=10)
        except Exception:  # best effort; SIGTERM below also shuts kernels down
            pass
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    # Reap anything left in the group (e.g. a child that outlived the server).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture
def jupyter_server(tmp_path):
    """A JupyterLab server on a copy of notebooks/; always stopped afterwards."""
    root = tmp_path / "notebooks"
    shutil.copytree(
        NOTEBOOKS_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )

    settings_dir = tmp_path / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        f = settings_dir / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))

    env = dict(os.environ)
    # mipnerf_lib is pip-installed in CI; this makes a plain checkout work as well.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings_dir)
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "lab-workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "jupyter-runtime")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("JUPYTER_TOKEN", None)

    port = _free_port()
    token = secrets.token_hex(24)
    log_path = tmp_path / "jupyterlab.log"
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.port_retries=0",  # fail rather than silently move to another port
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class="
        "jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, killed as a whole below
        )
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root, log_path, proc)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with code {proc.returncode} before answering "
                    f"/api/status. Server log tail:\n{server.log_tail()}",
                    pytrace=False,
                )
            try:
                server.api("/api/status", timeout=2)
                break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"JupyterLab did not answer {server.url}/api/status within "
                    f"{SERVER_START_TIMEOUT_S:.0f} s. Server log tail:\n"
                    f"{server.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.25)
        yield server
    finally:
        _stop_server(server)
        artifact_dir = os.environ.get("E2E_ARTIFACT_DIR")
        if artifact_dir:
            Path(artifact_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy(log_path, Path(artifact_dir) / "jupyterlab-server.log")
