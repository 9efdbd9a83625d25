"""The order page as a process of its own: it outlives the notebook's kernel, one per prefix.

>>> page = start_page(lab, stack.api.endpoint_url)       # doctest: +SKIP
>>> page.url, page.pid                                   # doctest: +SKIP
('http://127.0.0.1:8000/', 41234)
>>> stop_page(lab.prefix)                                # doctest: +SKIP
True

:func:`start_page` runs ``python -m helpers.learn.page --api-url URL --prefix P`` in a new session
(so stopping a kernel or pressing Ctrl+C in a terminal does not stop it). That process serves the
page with :func:`helpers.learn.frontend.serve_frontend` (the prefix's own port) and writes
``$ORDERLAB_HOME/page-<prefix>.json`` (pid, port, url, API URL). Starting again is idempotent:
a running page of the prefix is kept and only its ``config.js``/``openapi.json`` are rewritten.
:func:`stop_page` ends it (SIGTERM, then SIGKILL after a bounded wait) and removes its state file,
served copy and log. The process also ends by itself when its API's host has been unreachable for
:data:`ORPHAN_AFTER` seconds (the local cloud was stopped), so a stopped lab leaves no page behind.
``orderlab page start|stop|status`` and ``orderlab clean`` use these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import localcloud
from helpers.core.lab import Lab
from helpers.core.paths import REPO_ROOT
from helpers.core.target import Target
from helpers.learn.frontend import deploy_frontend_s3, origin_of, serve_frontend
from helpers.pipeline.step1 import set_api_cors_origin

__all__ = ["ORPHAN_AFTER", "PageProcess", "page_status", "publish_frontend", "start_page", "stop_page"]

START_TIMEOUT = 30.0  # seconds for the page process to answer on its port
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
ORPHAN_AFTER = 60.0  # seconds without the API's host before the page process ends itself
WATCH_EVERY = 5.0


@dataclass(frozen=True)
class PageProcess:
    """A running page process: where it serves and for which API."""

    prefix: str
    pid: int
    port: int
    url: str
    api_url: str
    root: str

    def describe(self) -> str:
        return f"order page of prefix {self.prefix!r} on {self.url} (pid {self.pid}, API {self.api_url})"


def _state_file(prefix: str) -> Path:
    return localcloud.paths.home() / f"page-{prefix}.json"


def _log_file(prefix: str) -> Path:
    return localcloud.paths.home() / f"page-{prefix}.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie (our own child not yet reaped) counts as gone
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


def _read_state(prefix: str) -> PageProcess | None:
    try:
        return PageProcess(**json.loads(_state_file(prefix).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _marker_pid(port: int) -> int | None:
    """The pid the lab's page server on ``port`` reports, if one answers there."""
    import requests

    try:
        info = requests.get(f"http://127.0.0.1:{port}/__orderlab_frontend__", timeout=2).json()
    except (requests.RequestException, ValueError):
        return None
    return int(info["pid"]) if isinstance(info, dict) and info.get("pid") else None


def page_status(prefix: str) -> PageProcess | None:
    """The prefix's page process if it runs and answers on its port; None otherwise (a stale
    state file is removed)."""
    state = _read_state(prefix)
    if state is None:
        return None
    if _alive(state.pid) and _marker_pid(state.port) == state.pid:
        return state
    if not _alive(state.pid):
        _state_file(prefix).unlink(missing_ok=True)
    return None


def start_page(lab: Lab, api_url: str, *, port: int | None = None, timeout: float = START_TIMEOUT) -> PageProcess:
    """Serve the order page for ``api_url`` from a process of its own (idempotent); see the module doc.

    Does not touch the API's CORS settings: :func:`publish_frontend` does.
    """
    running = page_status(lab.prefix)
    if running is not None and (port is None or port == running.port):
        serve_frontend(lab, api_url, port=running.port)  # rewrites config.js and openapi.json there
        state = PageProcess(**{**asdict(running), "api_url": api_url})
        _state_file(lab.prefix).write_text(json.dumps(asdict(state)), encoding="utf-8")
        return state
    if running is not None:
        stop_page(lab.prefix)
    log = _log_file(lab.prefix)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "helpers.learn.page", "--api-url", api_url, "--prefix", lab.prefix]
    command += ["--target-kind", lab.target.kind, "--region", lab.target.region]
    if port is not None:
        command += ["--port", str(port)]
    with log.open("ab") as out:
        child = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the kernel's process group: it outlives the kernel
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _read_state(lab.prefix)
        if found is not None and found.pid == child.pid and _marker_pid(found.port) == child.pid:
            return found
        if child.poll() is not None:
            break
        time.sleep(0.1)
    if child.poll() is None:
        child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(STOP_TIMEOUT)
    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-8:]
    raise RuntimeError(
        f"The order page of prefix {lab.prefix!r} did not start within {timeout:.0f} s "
        f"(exit code {child.poll()}). Last lines of {log}:\n" + "\n".join(tail)
    )


def stop_page(prefix: str, *, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the prefix's page process (SIGTERM, then SIGKILL); True if one was running."""
    state = _read_state(prefix)
    if state is None:
        return False
    was_running = _alive(state.pid) and _marker_pid(state.port) == state.pid
    if was_running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(state.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
            while _alive(state.pid) and time.monotonic() < deadline + timeout:
                time.sleep(0.05)
    _state_file(prefix).unlink(missing_ok=True)
    _log_file(prefix).unlink(missing_ok=True)
    shutil.rmtree(state.root, ignore_errors=True)
    return was_running


def publish_frontend(lab: Lab, api_url: str, *, port: int | None = None) -> str:
    """Publish the order page for ``api_url`` and make the API accept calls from it; return the page URL.

    ``aws``: an S3 static website (:func:`helpers.learn.frontend.deploy_frontend_s3`).
    ``local``/``endpoint``: the page process (:func:`start_page`; ``port=None``: the prefix's own port).
    Then the API's CORS allowed origins become exactly the page's origin.

    >>> publish_frontend(lab, stack.api.endpoint_url)       # doctest: +SKIP
    'http://127.0.0.1:8000/'
    """
    url = deploy_frontend_s3(lab, api_url) if lab.target.is_aws else start_page(lab, api_url, port=port).url
    set_api_cors_origin(lab, origin_of(url))
    return url


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    """The page process: serve, write the state file, end on SIGTERM or when the API's host is gone."""
    import argparse

    parser = argparse.ArgumentParser(description="The order page's own process (started by start_page).")
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--target-kind", default="local", choices=["local", "endpoint"])
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Only the prefix and the target's kind reach the page (config.js): no client is made here.
    lab = Lab(Target(args.target_kind, args.region, args.api_url), args.prefix)
    server = serve_frontend(lab, args.api_url, port=args.port)
    if not server.owned:
        print(f"the page of prefix {args.prefix!r} is already served on {server.url} by another process", flush=True)
        return 3
    state = PageProcess(args.prefix, os.getpid(), server.port, server.url, args.api_url, str(server.root))
    path = _state_file(args.prefix)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(tmp, path)
    print(f"serving {state.describe()}", flush=True)
    unreachable_since: float | None = None
    try:
        while not stop.wait(WATCH_EVERY):
            if _reachable(args.api_url):
                unreachable_since = None
                continue
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since >= ORPHAN_AFTER:
                print(f"the API's host has been unreachable for {ORPHAN_AFTER:.0f} s: stopping", flush=True)
                break
    finally:
        server.stop()
        current = _read_state(args.prefix)
        if current is not None and current.pid == os.getpid():
            path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
