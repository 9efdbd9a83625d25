"""Small helpers shared by test modules (importable as ``cloudtest``; tests/ is on sys.path)."""
from __future__ import annotations

import os
import socket

SESSION_MARKER = "ORDERLAB_TEST_SESSION"


def free_port() -> int:
    """A TCP port nobody listens on right now (for a local cloud of a test's own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def external_target() -> str | None:
    """``aws`` or ``endpoint`` when the tests were pointed at another cloud, else None."""
    target = os.environ.get("ORDERLAB_TARGET", "local")
    return None if target == "local" else target
