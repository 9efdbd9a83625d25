"""Load generator for the order API: plan orders (with seeded faults), send them concurrently
or at a steady rate with a progress bar, and watch the pipeline while they flow.

>>> plan = plan_orders(200, faults=FaultPlan(transient_rate=0.1, poison_rate=0.01), seed=7)
>>> sum(o.fault == "poison" for o in plan), sum(o.fault == "transient" for o in plan)
(2, 20)
>>> result = send_orders(OrdersApi.for_lab(lab), plan, concurrency=4)      # doctest: +SKIP
>>> result.accepted_count, round(result.rate)                               # doctest: +SKIP
(200, 180)
>>> with PipelineWatch(lab, stack.queues, interval=0.25) as watch:         # doctest: +SKIP
...     result = send_orders(api, plan, concurrency=4)
>>> load_dashboard(result, watch)                                           # doctest: +SKIP

Faults are assigned per order by the client (the order's ``fault`` field, which the API
accepts and the worker obeys), from a seeded generator and in *exact* counts: with
``poison_rate=0.01`` and 200 orders exactly 2 are poison, so the dead-letter queue must end
with exactly 2 of this run's orders. Every POST carries its own ``Idempotency-Key``; a POST
that fails on the wire (connection refused while the local cloud restarts, a 5xx) is retried
with the *same* key, so a retry can never create a second order.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import requests

from helpers.core.progress import progress_bar
from helpers.load.chaos import lambda_workers, local_cloud_port
from helpers.pipeline.orders import random_order
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.palette import colour_of

if TYPE_CHECKING:
    from helpers.core.lab import Lab
    from helpers.pipeline.step2 import OrderQueues

__all__ = [
    "FaultPlan",
    "LoadResult",
    "PipelineWatch",
    "PlannedOrder",
    "SentOrder",
    "load_dashboard",
    "plan_orders",
    "send_orders",
]

# Statuses worth retrying with the same Idempotency-Key: the cloud was (re)starting or overloaded.
RETRY_STATUSES = frozenset({0, 500, 502, 503, 504})


@dataclass(frozen=True)
class FaultPlan:
    """How many orders carry each fault: ``round(count * rate)`` of each, picked with ``seed``.

    >>> FaultPlan(transient_rate=0.1, poison_rate=0.01).counts(1000)
    {'poison': 10, 'transient': 100}
    """

    transient_rate: float = 0.0
    poison_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("transient_rate", "poison_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.transient_rate + self.poison_rate > 1:
            raise ValueError("transient_rate + poison_rate must not exceed 1")

    def counts(self, count: int) -> dict[str, int]:
        """Exact number of orders per fault for a run of ``count`` orders."""
        return {"poison": round(count * self.poison_rate), "transient": round(count * self.transient_rate)}


@dataclass(frozen=True)
class PlannedOrder:
    """One order to send: its position, Idempotency-Key, fault (None, transient, poison) and body."""

    index: int
    key: str
    fault: str | None
    body: dict[str, Any] = field(repr=False)


def plan_orders(
    count: int, *, faults: FaultPlan | None = None, seed: int = 7, run_id: str | None = None
) -> list[PlannedOrder]:
    """``count`` plausible orders; faults in exact counts at seeded positions.

    Keys are ``<run_id>-<index>`` (``run_id`` random unless given), so two runs never share a
    key while one run's retries always do.

    >>> [o.key for o in plan_orders(2, run_id="r1")]
    ['r1-000000', 'r1-000001']
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    faults = faults or FaultPlan()
    wanted = faults.counts(count)
    rng = random.Random(seed)
    run_id = run_id or uuid.uuid4().hex[:10]
    chosen = rng.sample(range(count), wanted["poison"] + wanted["transient"])
    fault_of = {index: "poison" for index in chosen[: wanted["poison"]]}
    fault_of.update({index: "transient" for index in chosen[wanted["poison"] :]})
    planned = []
    for index in range(count):
        body = random_order(rng)
        fault = fault_of.get(index)
        if fault:
            body["fault"] = fault
        planned.append(PlannedOrder(index, f"{run_id}-{index:06d}", fault, body))
    return planned


@dataclass(frozen=True)
class SentOrder:
    """What happened to one planned order at the API.

    ``status`` is the last HTTP status (0: no answer at all); ``sent_at`` the wall-clock time
    (epoch seconds) the first attempt started; ``latency_ms`` the last attempt's round trip;
    ``attempts`` how many POSTs it took (same key each time).
    """

    index: int
    key: str
    fault: str | None
    status: int
    order_id: str | None
    sent_at: float
    offset_s: float
    latency_ms: float
    attempts: int
    error: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == 201 and bool(self.order_id)


@dataclass
class LoadResult:
    """Every order's outcome at the API, plus the run's timing."""

    sent: list[SentOrder]
    seconds: float
    concurrency: int
    target_rate: float | None = None
    started_at: float = 0.0
    """Wall-clock time (epoch seconds) the run started; ``SentOrder.offset_s`` counts from here."""

    @property
    def accepted(self) -> list[SentOrder]:
        return [s for s in self.sent if s.accepted]

    @property
    def accepted_count(self) -> int:
        return sum(1 for s in self.sent if s.accepted)

    @property
    def rate(self) -> float:
        """Accepted orders per second over the whole run."""
        return self.accepted_count / self.seconds if self.seconds > 0 else 0.0

    @property
    def retried(self) -> int:
        return sum(1 for s in self.sent if s.attempts > 1)

    def latency_stats(self) -> dict[str, float]:
        """p50/p95/p99/max (ms) of the accepted POSTs' last attempt, and their count."""
        samples = sorted(s.latency_ms for s in self.accepted)
        return latency_summary(samples)

    def frame(self) -> pd.DataFrame:
        """One row per order."""
        return pd.DataFrame([s.__dict__ for s in self.sent])

    def ingest_timeline(self, bucket: float = 0.5) -> pd.DataFrame:
        """Accepted orders per second in ``bucket``-second bins: columns ``t``, ``rate``."""
        if not self.sent:
            return pd.DataFrame(columns=["t", "rate"])
        bins = math.ceil(max(self.seconds, bucket) / bucket) + 1
        counts = [0] * bins
        for s in self.accepted:
            finished = s.offset_s + s.latency_ms / 1000
            counts[min(int(finished / bucket), bins - 1)] += 1
        return pd.DataFrame({"t": [i * bucket for i in range(bins)], "rate": [c / bucket for c in counts]})


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of sorted-or-not millisecond samples (nearest-rank), and ``n``.

    >>> latency_summary([float(i) for i in range(1, 101)])
    {'p50_ms': 50.0, 'p95_ms': 95.0, 'p99_ms': 99.0, 'max_ms': 100.0, 'n': 100}
    """
    ordered = sorted(samples_ms)
    if not ordered:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan"), "n": 0}

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)

    return {
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


def _post_with_retries(api: OrdersApi, order: PlannedOrder, *, retry_for: float, started: float) -> SentOrder:
    first = time.time()
    deadline = time.monotonic() + retry_for
    attempts, delay = 0, 0.05
    while True:
        attempts += 1
        status, order_id, error, latency = 0, None, "", 0.0
        try:
            reply = api.create(order.body, idempotency_key=order.key)
            status, latency = reply.status, reply.elapsed_ms
            if reply.status == 201 and isinstance(reply.json, dict):
                order_id = reply.json.get("orderId")
            elif reply.status != 201:
                error = str(reply.json)[:200]
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        if status not in RETRY_STATUSES or time.monotonic() >= deadline:
            return SentOrder(
                order.index,
                order.key,
                order.fault,
                status,
                order_id,
                first,
                round(first - started, 4),
                latency,
                attempts,
                error,
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def send_orders(
    api: OrdersApi | str,
    orders: Sequence[PlannedOrder],
    *,
    concurrency: int = 1,
    rate: float | None = None,
    progress: bool = True,
    retry_for: float = 30.0,
    on_sent: Callable[[SentOrder], None] | None = None,
    description: str = "POST /orders",
) -> LoadResult:
    """POST every planned order with ``concurrency`` clients (one keep-alive session each).

    ``rate`` (orders/s) paces the sends: order ``i`` is not sent before ``start + i / rate``
    (an open schedule; with too few clients for the rate it simply runs late). ``retry_for``
    bounds how long one order is retried on no answer or a 5xx, with the same key.
    ``on_sent`` is called (from a client thread) after each order.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    base_url = api.base_url if isinstance(api, OrdersApi) else str(api)
    results: list[SentOrder | None] = [None] * len(orders)
    next_index = iter(range(len(orders)))
    lock = threading.Lock()
    bar = progress_bar(total=len(orders), desc=description, disable=not progress, unit="order")
    started_wall = time.time()
    started = time.monotonic()
    failures: list[BaseException] = []

    def client() -> None:
        own = OrdersApi(base_url)
        try:
            while True:
                with lock:
                    position = next(next_index, None)
                if position is None:
                    return
                if rate is not None:
                    wait = started + position / rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                sent = _post_with_retries(own, orders[position], retry_for=retry_for, started=started_wall)
                results[position] = sent
                if on_sent is not None:
                    on_sent(sent)
                with lock:
                    bar.update(1)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=client, name=f"load-client-{n}", daemon=True)
        for n in range(min(concurrency, max(len(orders), 1)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.close()
    if failures:
        raise failures[0]
    seconds = time.monotonic() - started
    return LoadResult([r for r in results if r is not None], seconds, concurrency, rate, started_wall)


class PipelineWatch:
    """Sample the pipeline in the background: queue depths and Lambda concurrency.

    Rows: ``t`` (s since start), ``order_queue`` (visible + in flight), ``in_flight``, ``dlq``
    (visible), and on the local cloud ``workers_<function>`` (live Lambda worker processes per
    function, i.e. concurrent execution environments). ``extra`` adds columns: ``{name: fn()}``.

    >>> with PipelineWatch(lab, stack.queues) as watch:                       # doctest: +SKIP
    ...     send_orders(api, plan_orders(100))
    >>> watch.frame().tail(1)                                                  # doctest: +SKIP
    """

    def __init__(
        self,
        lab: Lab,
        queues: OrderQueues,
        *,
        interval: float = 0.25,
        functions: Sequence[str] = (),
        extra: Mapping[str, Callable[[], float]] | None = None,
    ) -> None:
        self.lab = lab
        self.queues = queues
        self.interval = interval
        self.functions = list(functions)
        self.extra = dict(extra or {})
        self.rows: list[dict[str, Any]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self.started_at = 0.0  # wall clock (epoch seconds) of t = 0
        self._sqs = lab.client("sqs")  # created here: boto3 clients are thread-safe, their creation is not

        self._port = local_cloud_port(lab)

    def _counts(self, url: str) -> tuple[int, int]:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)), int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    def sample(self) -> dict[str, Any]:
        """Take one sample now (also called by the background thread)."""
        visible, in_flight = self._counts(self.queues.queue.url)
        dlq_visible, dlq_in_flight = self._counts(self.queues.dlq.url)
        row: dict[str, Any] = {
            "t": round(time.monotonic() - self._started, 3),
            "order_queue": visible + in_flight,
            "in_flight": in_flight,
            "dlq": dlq_visible + dlq_in_flight,
        }
        if self._port is not None and self.functions:
            workers = lambda_workers(self._port)
            for name in self.functions:
                row[f"workers_{name}"] = sum(1 for w in workers if w.function == name)
        for name, fn in self.extra.items():
            row[name] = fn()
        return row

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.rows.append(self.sample())
            except Exception:
                self.errors += 1
            self._stop.wait(self.interval)

    def start(self) -> PipelineWatch:
        self._started = time.monotonic()
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._run, name="pipeline-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> pd.DataFrame:
        """Stop sampling, after one last sample (so the frame ends with the state at the stop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            try:
                self.rows.append(self.sample())
            except Exception:
                self.errors += 1
        return self.frame()

    def __enter__(self) -> PipelineWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def load_dashboard(
    result: LoadResult,
    watch: PipelineWatch,
    *,
    title: str = "Burst: ingest, queue, concurrency, DLQ",
    events: Sequence[tuple[float, str]] = (),
    bucket: float = 0.5,
) -> Any:
    """Four panels sharing the time axis: ingest rate, order-queue depth, Lambda concurrency, DLQ depth.

    Time 0 is the watch's start. ``events`` are ``(t, label)`` marks on that clock (e.g.
    ``(kill.wall_time - watch.started_at, "kill")``), drawn on every panel.
    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    samples = watch.frame()
    fig, axes = plt.subplots(4, 1, figsize=(9, 8.5), sharex=True)
    ingest = result.ingest_timeline(bucket)
    shift = result.started_at - watch.started_at if watch.started_at else 0.0
    axes[0].step(ingest["t"] + shift, ingest["rate"], where="post", color=colour_of("create-order"))
    axes[0].set_ylabel("orders/s\naccepted")
    if not samples.empty:
        queue = colour_of("order-queue")
        axes[1].step(samples["t"], samples["order_queue"], where="post", color=queue, label="visible + in flight")
        axes[1].step(samples["t"], samples["in_flight"], where="post", color=queue, linestyle=":", label="in flight")
        worker_columns = [c for c in samples.columns if c.startswith("workers_")]
        for column in worker_columns:
            name = column.removeprefix("workers_")
            axes[2].step(samples["t"], samples[column], where="post", label=name, color=colour_of(name))
        if not worker_columns:
            axes[2].text(
                0.5,
                0.5,
                "(worker processes are counted on the local cloud only)",
                ha="center",
                va="center",
                transform=axes[2].transAxes,
                fontsize=9,
            )
        axes[3].step(samples["t"], samples["dlq"], where="post", color=colour_of("order-dlq"))
    axes[1].set_ylabel("order queue\nmessages")
    axes[2].set_ylabel("Lambda\nenvironments")
    axes[3].set_ylabel("DLQ\nmessages")
    axes[3].set_xlabel("seconds since the burst started")
    for ax in axes:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:  # outside the data
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    for t, label in events:
        for ax in axes:
            ax.axvline(t, color="black", linestyle="--", linewidth=0.8)
        axes[0].annotate(label, (t, axes[0].get_ylim()[1] * 0.9), fontsize=8, rotation=90, va="top", ha="right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
