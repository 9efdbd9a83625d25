"""Browser fixtures: one headless Chromium (Debian's chromium + chromedriver, via Selenium) per module.

Skipped, with the reason, when Chromium or chromedriver is missing — unless
``ORDERLAB_REQUIRE_BROWSER`` is set (``make test`` and CI set it): then a missing browser is a failure.
Screenshots go to ``test-artifacts/browser/`` for a reviewer to look at.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.learn.browser import missing_browser_message

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"


def browser_required() -> bool:
    return os.environ.get("ORDERLAB_REQUIRE_BROWSER", "").strip().lower() not in ("", "0", "false", "no")


def need_browser() -> None:
    """Skip (or fail, when the browser is required) if Chromium/chromedriver/selenium are missing."""
    problem = missing_browser_message()
    if problem is None:
        try:
            import selenium  # noqa: F401
        except ImportError:
            problem = "The Python package selenium is not installed (it is a main dependency: pip install -e .)"
    if problem is None:
        return
    if browser_required():
        pytest.fail(f"ORDERLAB_REQUIRE_BROWSER is set but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    need_browser()
    from helpers.learn.browser import chromium_driver

    with chromium_driver(width=1100, height=900) as web:
        yield web


# ------------------------------------------------------------------------------------- JupyterLab


class JupyterLabServer:
    """A JupyterLab started headless for one test module: its own port, token, root folder and
    settings (nothing is read from or written to the user's ~/.jupyter), in its own process group."""

    def __init__(self, root: Path, home: Path, env: dict[str, str]) -> None:
        import secrets

        from cloudtest import free_port

        self.root = root
        self.home = home
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = home / "jupyterlab.log"
        self.process: Any = None

    def settings(self) -> None:
        """User settings for a test browser: every cell rendered (no windowing, so off-screen
        outputs are in the DOM), no autosave, no news or update pop-ups over the page."""
        import json

        settings = {
            "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
            "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
                "fetchNews": "false",
                "checkForUpdates": False,
            },
        }
        for relative, values in settings.items():
            path = self.home / "settings" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")

    def start(self, timeout: float = 60) -> None:
        import subprocess
        import sys

        import requests

        from helpers.core.waiters import wait_until

        self.settings()
        env = {
            **os.environ,
            **self.env,
            "JUPYTER_CONFIG_DIR": str(self.home / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.home / "workspaces"),
        }
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.terminals_enabled=False",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")  # CI containers often run as root; JupyterLab refuses without it
        log = self.log_path.open("wb")
        # Its own session: the teardown can signal the server and every kernel it started as one group.
        self.process = subprocess.Popen(
            command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                return requests.get(f"{self.url}/api/status", params={"token": self.token}, timeout=2).ok
            except requests.RequestException:
                return False

        wait_until(ready, timeout=timeout, interval=0.25, what=f"JupyterLab on {self.url}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def api(self, method: str, path: str) -> Any:
        import requests

        return requests.request(
            method, f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}, timeout=10
        )

    def lab_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}&reset"

    def stop(self) -> list[str]:
        """Shut every kernel and the server down (politely, then by signal); return what had to be killed."""
        import signal
        import subprocess

        import psutil

        if self.process is None:
            return []
        forced: list[str] = []
        try:
            for kernel in self.api("GET", "/api/kernels").json():
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
            self.api("POST", "/api/shutdown")
        except Exception:  # the signals below still stop everything
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            forced.append(f"jupyterlab {self.process.pid}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Anything left in the server's session (a kernel, a browser a kernel started): stop it.
        for proc in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error):
                if os.getsid(proc.pid) == self.process.pid:
                    forced.append(" ".join(proc.cmdline()[:3]))
                    proc.kill()
        return forced


def jupyter_processes(marker: str) -> list[str]:
    """JupyterLab servers and kernels of this test session still running (by the session marker),
    leaving out those of the session's background runs."""
    import psutil
    from cloudtest import BACKGROUND_RUN_MARKER, SESSION_MARKER

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, OSError):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if (
                ("jupyterlab" in cmdline or "ipykernel_launcher" in cmdline or "jupyter-lab" in cmdline)
                and proc.environ().get(SESSION_MARKER) == marker
                and BACKGROUND_RUN_MARKER not in proc.environ()
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(f"{proc.pid}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def jupyterlab(cloud: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLabServer]:
    """JupyterLab, headless on a free 127.0.0.1 port with a token, serving a copy of the notebooks.

    Kernels talk to the session's local cloud (``ORDERLAB_PORT``) with a prefix of their own
    (``ORDERLAB_PREFIX``); the copy keeps the repository's notebooks untouched. At the end every
    kernel and the server are shut down, the prefix's order page stopped and its resources deleted,
    and no JupyterLab or kernel process of this session may remain.
    """
    import shutil
    import uuid

    from cloudtest import SESSION_MARKER

    need_browser()
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "notebooks"
    root.mkdir()
    for notebook in (REPO_ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy2(notebook, root / notebook.name)
    prefix = f"jl{uuid.uuid4().hex[:6]}"
    server = JupyterLabServer(root, home, {"ORDERLAB_PREFIX": prefix})
    server.prefix = prefix  # type: ignore[attr-defined]
    try:
        server.start()
        yield server
    finally:
        forced = server.stop()
        left = jupyter_processes(os.environ[SESSION_MARKER])
        from helpers import Lab
        from helpers.learn.page import stop_page
        from helpers.ops.cleanup import destroy_lab

        stop_page(prefix)  # notebook 01 started the prefix's order page, in a process of its own
        report = destroy_lab(Lab.connect(prefix=prefix))
        assert not left, f"JupyterLab or kernel processes left running: {left}"
        assert not forced, f"had to kill processes JupyterLab left behind: {forced}\n{server.log_tail()}"
        assert report.ok, report.summary()
