"""Shared by the benchmark scripts (run as ``python bench/<name>.py``: bench/ is on sys.path)."""

from __future__ import annotations

import socket
import statistics


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def latency_stats(samples_ms: list[float]) -> dict:
    """p50/p95/p99 (ms) and the sample count."""
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)

    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "n": len(ordered),
    }
