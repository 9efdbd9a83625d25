"""Sample queues (and any other figure) in the background while orders flow.

Start it *before* the burst, so the plot shows the queue before, during and after:

>>> with Sampler(lab, {"order-queue": queues.queue.url}) as sampler:        # doctest: +SKIP
...     sampler.mark("burst sent")
...     send_burst(api, 20)
...     sampler.wait_until(lambda s: s.queue("order-queue").visible >= 20, timeout=30, what="the burst queued")
>>> sampler.queue_frame()                                                     # doctest: +SKIP

``probes`` are extra figures sampled on the same clock, e.g. an order's receive count:
``Sampler(lab, queues, probes={"attempts": lambda: attempts_of(order_id)})``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from helpers.aws.sqs import QueueCounts, queue_counts
from helpers.core.waiters import WaitTimeout

if TYPE_CHECKING:
    from helpers.core.lab import Lab

QUEUE_COLUMNS = ["t", "label", "visible", "in_flight", "delayed"]
PROBE_COLUMNS = ["t", "probe", "value"]
MARK_COLUMNS = ["t", "text"]


@dataclass
class Snapshot:
    """One sample: seconds since the start, each queue's counts, each probe's value."""

    t: float
    queues: dict[str, QueueCounts]
    probes: dict[str, Any] = field(default_factory=dict)

    def queue(self, label: str) -> QueueCounts:
        return self.queues[label]


class Sampler:
    """A background thread that samples ``queues`` (label -> URL) and ``probes`` every ``interval`` s.

    ``start()`` / ``stop()`` (or ``with``), ``mark(text)`` notes an event on the same clock,
    ``wait_until(condition)`` waits (bounded) for a sample that satisfies ``condition``.
    """

    def __init__(
        self,
        lab: Lab,
        queues: Mapping[str, str],
        *,
        interval: float = 0.25,
        probes: Mapping[str, Callable[[], Any]] | None = None,
        max_seconds: float = 600,
    ) -> None:
        self.lab = lab
        self.queues = dict(queues)
        self.probes = dict(probes or {})
        self.interval = interval
        self.max_seconds = max_seconds
        self.snapshots: list[Snapshot] = []
        self.marks: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self._started = 0.0
        self._stop = threading.Event()
        self._new_sample = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Sampler:
        """Take a first sample now (the state before anything happens), then keep sampling in the background."""
        self._started = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="orderlab-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Sampler:
        """Take a last sample and stop the thread."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=max(5.0, 4 * self.interval))
            self._thread = None
            self._sample()
        return self

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def elapsed(self) -> float:
        return round(time.monotonic() - self._started, 3)

    def mark(self, text: str) -> float:
        """Note that ``text`` happened now; returns its time (seconds since the start)."""
        moment = self.elapsed()
        self.marks.append((moment, text))
        return moment

    def wait_until(
        self, condition: Callable[[Snapshot], bool], *, timeout: float, what: str, hint: str = ""
    ) -> Snapshot:
        """Wait for a sample (taken from now on) for which ``condition`` holds (``WaitTimeout`` after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        seen = len(self.snapshots)
        with self._new_sample:
            while True:
                for snapshot in self.snapshots[seen:]:
                    if condition(snapshot):
                        return snapshot
                seen = len(self.snapshots)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    last = self.snapshots[-1] if self.snapshots else None
                    raise WaitTimeout(what, timeout, None if last is None else _describe(last), detail=hint)
                self._new_sample.wait(timeout=min(remaining, 1.0))

    # -- what was seen -----------------------------------------------------------------------------

    def queue_frame(self) -> pd.DataFrame:
        """One row per sample and queue: ``t``, ``label``, ``visible``, ``in_flight``, ``delayed``."""
        rows = [
            {"t": s.t, "label": label, "visible": c.visible, "in_flight": c.in_flight, "delayed": c.delayed}
            for s in self.snapshots
            for label, c in s.queues.items()
        ]
        return pd.DataFrame(rows, columns=QUEUE_COLUMNS)

    def probe_frame(self) -> pd.DataFrame:
        """One row per sample and probe: ``t``, ``probe``, ``value``."""
        rows = [{"t": s.t, "probe": name, "value": value} for s in self.snapshots for name, value in s.probes.items()]
        return pd.DataFrame(rows, columns=PROBE_COLUMNS)

    def mark_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"t": t, "text": text} for t, text in self.marks], columns=MARK_COLUMNS)

    # -- the thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if time.monotonic() - self._started > self.max_seconds:
                self.errors.append(f"stopped after {self.max_seconds:g} s (call stop() when done)")
                return
            self._sample()

    def _sample(self) -> None:
        t = self.elapsed()
        try:
            counts = {label: queue_counts(self.lab, url) for label, url in self.queues.items()}
            probes = {name: probe() for name, probe in self.probes.items()}
        except Exception as error:  # one failed sample is a gap in the plot, not a failed cell
            self.errors.append(f"{type(error).__name__}: {error}")
            return
        with self._new_sample:
            self.snapshots.append(Snapshot(t, counts, probes))
            self._new_sample.notify_all()


def _describe(snapshot: Snapshot) -> str:
    parts = [f"{label}: {c.visible} visible, {c.in_flight} in flight" for label, c in snapshot.queues.items()]
    parts += [f"{name}: {value}" for name, value in snapshot.probes.items()]
    return "; ".join(parts)


class OrderProgress:
    """Probes that follow one order once it is placed: its ``status`` and the worker's ``receives`` of it
    (``failedAttempts`` while it fails, ``attempts`` once decided).

    >>> progress = OrderProgress(lab, table.name)                                  # doctest: +SKIP
    >>> with Sampler(lab, queues, probes=progress.probes()) as sampler:            # doctest: +SKIP
    ...     progress.follow(form.submit().json["orderId"])
    """

    def __init__(self, lab: Lab, table_name: str) -> None:
        self.lab = lab
        self.table_name = table_name
        self.order_id: str | None = None

    def follow(self, order_id: str) -> str:
        self.order_id = order_id
        return order_id

    def _item(self) -> dict[str, Any]:
        from helpers.pipeline.orders import get_order

        return (get_order(self.lab, self.table_name, self.order_id) or {}) if self.order_id else {}

    def status(self) -> str:
        return str(self._item().get("status") or "not placed")

    def receives(self) -> int:
        item = self._item()
        return int(item.get("attempts") or item.get("failedAttempts") or 0)

    def probes(self) -> dict[str, Callable[[], Any]]:
        return {"receives": self.receives, "status": self.status}
