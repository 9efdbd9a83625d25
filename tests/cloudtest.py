"""Small helpers shared by test modules (importable as ``cloudtest``; tests/ is on sys.path)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

SESSION_MARKER = "ORDERLAB_TEST_SESSION"
# Set (to the run's name) in the processes of a run the session keeps going in the background
# (tests/seriesrun.py, tests/classrun.py): their kernels are not a leftover of the test running meanwhile.
BACKGROUND_RUN_MARKER = "ORDERLAB_TEST_BACKGROUND_RUN"


def free_port() -> int:
    """A TCP port nobody listens on right now (for a local cloud of a test's own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def external_target() -> str | None:
    """``aws`` or ``endpoint`` when the tests were pointed at another cloud, else None."""
    target = os.environ.get("ORDERLAB_TARGET", "local")
    return None if target == "local" else target


@contextlib.contextmanager
def own_prefix(lab: Any, suffix: str) -> Iterator[Any]:
    """A Lab with a prefix of its own on ``lab``'s cloud, everything it made deleted (and verified) after.

    For a module whose orders or settings must not reach what other modules deploy for the session's prefix.
    """
    from helpers import Lab
    from helpers.learn.page import stop_page
    from helpers.ops.cleanup import destroy_lab

    own = Lab(lab.target, prefix=f"{lab.prefix}{suffix}")
    yield own
    stop_page(own.prefix)  # notebook 01 starts the prefix's order page; cleanup.ipynb stops it the same way
    report = destroy_lab(own)
    assert not report.remaining, report.remaining


def notebook_stream_text(path: Path) -> str:
    """What an executed notebook printed (its code cells' stream outputs), as one text."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def finish_in_time(process: BackgroundProcess, started: float, timeout: float, stop: Callable[[], None]) -> int | None:
    """Wait for a background run started at ``started`` (``time.monotonic()``) until ``timeout`` seconds after
    that; ``stop()`` it if it is still going then. Its exit status."""
    import time

    returncode = process.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
    if returncode is None:
        stop()
    return process.returncode if returncode is None else returncode


class BackgroundProcess:
    """A script running in a process group of its own; its exit status lands in ``exit_file``.

    Any process of the test session can wait for it or end it (pytest-xdist: the worker that
    started it may not be the one that reads it); only the one that started it holds the Popen.
    """

    def __init__(self, popen: subprocess.Popen, exit_file: Path) -> None:
        self.popen: subprocess.Popen | None = popen
        self.pid = popen.pid
        self.exit_file = exit_file

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "popen": None}

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while it runs (or when it was killed before it could write it)."""
        if self.popen is not None and self.popen.poll() is not None:
            return self.popen.returncode
        try:
            return int(self.exit_file.read_text())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return self.returncode is None

    def wait(self, timeout: float) -> int | None:
        """Its exit status, waiting at most ``timeout`` seconds (None if still running then)."""
        if self.popen is not None:
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        from helpers.core.waiters import WaitTimeout, wait_until

        try:
            wait_until(lambda: not self.running(), timeout=timeout, interval=0.5, what=f"process {self.pid}")
        except WaitTimeout:
            return None
        return self.returncode

    def end(self) -> None:
        """End it if still going, and every process of its group: SIGTERM, 20 s, then SIGKILL."""
        if not self.running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        if self.wait(timeout=20) is None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.wait(timeout=10)


def start_in_background(script: Path, args: Sequence[str], *, env: Mapping[str, str], log: Path) -> BackgroundProcess:
    """``python SCRIPT ARGS...`` from the repository root, in a process group of its own, output to ``log``;
    its exit status goes to ``LOG.exit`` (next to the log)."""
    exit_file = log.with_name(log.name + ".exit")
    env = dict(env)
    if SESSION_MARKER in env:  # the session's, not the xdist worker's: the run may outlive the worker
        env[SESSION_MARKER] = f"{env[SESSION_MARKER].split(':')[0]}:{env.get(BACKGROUND_RUN_MARKER, 'background')}"
    # sh waits for Python and writes its status: a reader in another process has no Popen to ask
    wrapper = 'status=0; "$@" || status=$?; echo "$status" > "$0.tmp" && mv "$0.tmp" "$0"; exit "$status"'
    with log.open("wb") as out:
        popen = subprocess.Popen(
            ["sh", "-c", wrapper, str(exit_file), sys.executable, str(script), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    return BackgroundProcess(popen, exit_file)
