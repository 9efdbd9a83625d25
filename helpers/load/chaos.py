"""Chaos on the local cloud: find and kill Lambda execution environments (worker processes).

On the local cloud every warm Lambda execution environment is a worker process, a child of
the local cloud's server; the local cloud tells which function one runs (``localcloud.lambda_worker_function``).
Killing one mid-invocation is what a crashed execution environment looks like on AWS: the
invocation fails (``Runtime.ExitError``, locally too), so an SQS event source mapping leaves the
whole batch on the queue and it comes back after the queue's visibility timeout
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html); the next
invocation starts a fresh environment (a cold start).

>>> workers = lambda_workers(4599)                                         # doctest: +SKIP
>>> sorted({w.function for w in workers})                                  # doctest: +SKIP
['alice-create-order', 'alice-order-worker', 'alice-stream-processor']
>>> killed = kill_lambda_workers(4599, "alice-order-worker")                # doctest: +SKIP
>>> with WorkerKiller(4599, "alice-order-worker", every=2.0, times=3) as killer:   # doctest: +SKIP
...     send_orders(api, plan)
>>> killer.kills                                                           # doctest: +SKIP

There is no AWS API to kill an execution environment, so this works on the local cloud only
(:class:`ChaosUnavailable` elsewhere).
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

import localcloud
from helpers.core.lab import Lab

__all__ = [
    "ChaosUnavailable",
    "Kill",
    "LambdaWorker",
    "WorkerKiller",
    "cloud_memory",
    "kill_lambda_workers",
    "kill_when_quiet",
    "lambda_workers",
    "local_cloud_port",
    "server_process",
]


class ChaosUnavailable(RuntimeError):
    """Killing execution environments needs the local cloud (running, on this machine)."""


@dataclass(frozen=True)
class LambdaWorker:
    """One live Lambda execution environment of the local cloud."""

    pid: int
    function: str
    rss_bytes: int
    started: float


@dataclass(frozen=True)
class Kill:
    """Worker processes killed at one moment: ``wall_time`` (epoch s) and their pids."""

    wall_time: float
    function: str | None
    pids: tuple[int, ...]


def local_cloud_port(lab: Lab) -> int | None:
    """The port of the local cloud ``lab`` talks to, or None (AWS, or an endpoint that is not ours).

    The ``endpoint`` target counts when it points at a local cloud of this project on this machine.
    """
    if lab.target.is_aws or lab.target.port is None:
        return None
    endpoint = lab.target.endpoint_url or ""
    if not lab.target.is_local and "127.0.0.1" not in endpoint and "localhost" not in endpoint:
        return None
    return lab.target.port if localcloud.status(lab.target.port).running else None


def server_process(port: int) -> psutil.Process:
    """The local cloud server on ``port`` (raises :class:`ChaosUnavailable` if it is not running)."""
    status = localcloud.status(port)
    if not status.running or status.pid is None:
        raise ChaosUnavailable(f"No local cloud runs on port {port}: chaos needs the local cloud")
    return psutil.Process(status.pid)


def lambda_workers(port: int, function_name: str | None = None) -> list[LambdaWorker]:
    """The local cloud's live Lambda worker processes (of one function, or all), oldest first."""
    found = []
    for proc in server_process(port).children(recursive=True):
        try:
            function = localcloud.lambda_worker_function(proc.cmdline())
            if function is None or (function_name is not None and function != function_name):
                continue
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            found.append(LambdaWorker(proc.pid, function, proc.memory_info().rss, proc.create_time()))
        except psutil.Error:
            continue  # it ended while we looked
    return sorted(found, key=lambda w: w.started)


def kill_lambda_workers(
    port: int, function_name: str | None = None, *, limit: int | None = None, sig: int = signal.SIGKILL
) -> Kill:
    """Kill the worker processes of ``function_name`` (all functions if None), at most ``limit``.

    SIGKILL by default: no handler, no cleanup, like a crashed environment. Returns the pids
    that were signalled.
    """
    targets = lambda_workers(port, function_name)
    if limit is not None:
        targets = targets[:limit]
    pids = []
    for worker in targets:
        try:
            psutil.Process(worker.pid).send_signal(sig)
            pids.append(worker.pid)
        except psutil.Error:
            continue
    return Kill(time.time(), function_name, tuple(pids))


def kill_when_quiet(
    port: int, function_name: str, *, lab: Lab, queue_url: str, timeout: float = 30.0, settle: float = 0.3
) -> Kill:
    """Kill ``function_name``'s workers once its queue has no visible message (twice, ``settle`` s apart).

    The moment a burst has been worked off while retries still wait out their backoff: the
    retries must then run on fresh execution environments. (A worker killed *during* a batch
    costs that batch the queue's visibility timeout, as on AWS; this avoids that wait.)
    Bounded by ``timeout``; kills anyway when it runs out.
    """
    sqs = lab.client("sqs")
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        visible = int(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        quiet = quiet + 1 if visible == 0 else 0
        time.sleep(settle)
    return kill_lambda_workers(port, function_name)


@dataclass
class WorkerKiller:
    """Kill ``function_name``'s workers every ``every`` seconds, ``times`` times, in the background.

    The first kill comes after ``first_after`` seconds (default ``every``). A round that finds
    no worker alive is skipped and retried on the next tick (it does not count).
    """

    port: int
    function_name: str | None
    every: float = 2.0
    times: int = 1
    first_after: float | None = None
    limit: int | None = None
    kills: list[Kill] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        server_process(self.port)  # fail now, not in the thread, when there is no local cloud

    def _run(self) -> None:
        wait = self.every if self.first_after is None else self.first_after
        while len(self.kills) < self.times and not self._stop.wait(wait):
            wait = self.every
            try:
                kill = kill_lambda_workers(self.port, self.function_name, limit=self.limit)
            except (ChaosUnavailable, psutil.Error):
                continue  # the cloud is restarting: try again next tick
            if kill.pids:
                self.kills.append(kill)

    def start(self) -> WorkerKiller:
        self._thread = threading.Thread(target=self._run, name="worker-killer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Kill]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.kills

    def __enter__(self) -> WorkerKiller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def killed_pids(self) -> list[int]:
        return [pid for kill in self.kills for pid in kill.pids]


def cloud_memory(port: int) -> dict[str, Any]:
    """Resident memory of the local cloud: the server, its Lambda worker pool (MB, count, per function)
    and the zygotes the workers are forked from.

    >>> cloud_memory(4599)["workers_pss_mb"]                                # doctest: +SKIP
    410.7
    """
    server = server_process(port)
    workers = lambda_workers(port)
    by_function: dict[str, dict[str, float]] = {}
    pss_total = 0
    for worker in workers:
        entry = by_function.setdefault(worker.function, {"workers": 0, "rss_mb": 0.0, "pss_mb": 0.0})
        pss = _pss_bytes(worker.pid, worker.rss_bytes)
        pss_total += pss
        entry["workers"] += 1
        entry["rss_mb"] = round(entry["rss_mb"] + worker.rss_bytes / 2**20, 1)
        entry["pss_mb"] = round(entry["pss_mb"] + pss / 2**20, 1)
    zygotes = _zygote_processes(server)
    zygotes_rss = sum(p.memory_info().rss for p in zygotes)
    return {
        "server_rss_mb": round(server.memory_info().rss / 2**20, 1),
        "workers_rss_mb": round(sum(w.rss_bytes for w in workers) / 2**20, 1),
        "workers_pss_mb": round(pss_total / 2**20, 1),
        "workers": len(workers),
        "by_function": by_function,
        "zygotes": len(zygotes),
        "zygotes_rss_mb": round(zygotes_rss / 2**20, 1),
        "zygotes_pss_mb": round(sum(_pss_bytes(p.pid, p.memory_info().rss) for p in zygotes) / 2**20, 1),
    }


def _zygote_processes(server: psutil.Process) -> list[psutil.Process]:
    """The processes new environments are forked from (``localcloud.is_lambda_zygote``): the pool's
    other share of memory, since the environments share their pages."""
    found = []
    for proc in server.children(recursive=True):
        try:
            if localcloud.is_lambda_zygote(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _pss_bytes(pid: int, fallback: int) -> int:
    """The process's proportional set size: what the pool really occupies.

    Summing RSS counts the pages the workers share (the interpreter's shared library, libc,
    ~15 MB each) once per process; PSS divides each shared page among its sharers, so the
    sum over the pool counts them once. Linux only: elsewhere (or if the process ended) RSS.
    """
    try:
        return int(getattr(psutil.Process(pid).memory_full_info(), "pss", fallback))
    except psutil.Error:
        return fallback
