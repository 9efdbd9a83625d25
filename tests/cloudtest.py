"""Small helpers shared by test modules (importable as ``cloudtest``; tests/ is on sys.path)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
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
    from helpers.ops.cleanup import destroy_lab

    own = Lab(lab.target, prefix=f"{lab.prefix}{suffix}")
    yield own
    report = destroy_lab(own)
    assert not report.remaining, report.remaining


def start_in_background(script: Path, args: Sequence[str], *, env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """``python SCRIPT ARGS...`` from the repository root, in a process group of its own, output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(script), *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
        )


def end_process_group(process: subprocess.Popen | None) -> None:
    """End a background run still going, and every process of its group: SIGTERM, 20 s, then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
