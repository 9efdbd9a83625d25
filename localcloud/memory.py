"""The local cloud server's heap: fewer glibc arenas, and freed memory given back to the system.

A long-running server that allocates per request and keeps some of it (log events, stream
records, items) leaves freed chunks scattered in glibc's heaps; RSS then stays at the high
water mark. Two standard glibc controls (``mallopt(3)``, ``malloc_trim(3)``):

* ``M_ARENA_MAX`` 2 (what ``MALLOC_ARENA_MAX=2`` sets): the server's threads (HTTP, Lambda
  pollers, invocations) share two arenas instead of up to 8 per core, each holding its own
  free memory;
* ``malloc_trim(0)`` every :data:`TRIM_EVERY_SECONDS` from a daemon thread: free pages at the
  top and inside the heaps go back to the system.

Memory only; no behaviour changes. No-ops where glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

logger = logging.getLogger("localcloud.memory")

M_ARENA_MAX = -8  # <malloc.h>
ARENA_MAX = 2
TRIM_EVERY_SECONDS = 15.0

_started = False


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None
    return libc


def tune(trim_every: float = TRIM_EVERY_SECONDS) -> bool:
    """Cap the arenas now (call before threads start) and trim periodically; False without glibc."""
    global _started
    libc = _libc()
    if libc is None:
        return False
    libc.mallopt(M_ARENA_MAX, ARENA_MAX)
    if _started or trim_every <= 0:
        return True
    stop = threading.Event()

    def trim_forever() -> None:
        while not stop.wait(trim_every):
            try:
                libc.malloc_trim(0)
            except Exception:  # never let housekeeping take the server down
                logger.exception("malloc_trim failed")
                return

    threading.Thread(target=trim_forever, name="orderlab-malloc-trim", daemon=True).start()
    _started = True
    return True
