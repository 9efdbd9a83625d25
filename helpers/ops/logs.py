"""Read a function's CloudWatch Logs from a notebook (Powertools writes one JSON object per line).

>>> line = find_json_log(  # doctest: +SKIP
...     lab, "alice-stream-processor", lambda entry: entry.get("orderId") == order_id)
>>> line["message"]  # doctest: +SKIP
'Order forwarded to the queue'

Tail a function's log group, like ``aws logs tail --follow`` (bounded: it stops after ``seconds``
or as soon as ``until`` accepts a line), and follow one order through every function:

>>> tail = LogTail(lab, "alice-order-worker", since=t0, contains=order_id)                  # doctest: +SKIP
>>> tail.follow(seconds=10, until=lambda e: e.get("message", "").startswith("Order confirmed"))  # doctest: +SKIP
12:00:01.120 ERROR   Order message failed permanently: bound for the dead-letter queue  orderId=… receiveCount=1
>>> order_trail(lab, ["alice-create-order", "alice-order-worker"], order_id)                 # doctest: +SKIP

FilterLogEvents: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
(on AWS a line is searchable a few seconds after the function wrote it; locally at once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from helpers.core.waiters import wait_until


def log_group_of(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def json_log_entries(
    lab, function_name: str, *, contains: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """The function's structured (JSON) log lines, oldest first; ``contains`` filters on a term."""
    logs = lab.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": log_group_of(function_name)}
    if contains:
        kwargs["filterPattern"] = f'"{contains}"'
    entries: list[dict[str, Any]] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
            for event in page.get("events", []):
                text = event.get("message", "").strip()
                if text.startswith("{"):
                    try:
                        entries.append(json.loads(text))
                    except ValueError:
                        continue
            if len(entries) >= limit:
                break
    except logs.exceptions.ResourceNotFoundException:
        return []
    return entries


def find_json_log(
    lab,
    function_name: str,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    contains: str | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    """Wait (bounded) for a structured log line of the function that ``predicate`` accepts.

    Log delivery takes a few seconds on AWS; locally it is immediate.
    """

    def lookup() -> dict[str, Any] | None:
        return next(
            (entry for entry in json_log_entries(lab, function_name, contains=contains) if predicate(entry)), None
        )

    return wait_until(lookup, timeout=timeout, interval=1.0, what=f"a matching log line of {function_name}")


# Keys every Powertools line has; the rest (orderId, receiveCount, errors...) is shown after the message.
_STANDARD_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
        "correlation_id",
    }
)
_EMF_KEY = "_aws"  # an embedded-metric-format line (Powertools Metrics), not a log message


def _millis(moment: datetime | float | None) -> int | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    return int(float(moment) * 1000)


def _parse(event: dict[str, Any]) -> dict[str, Any]:
    """A FilterLogEvents event as one flat record: ``time`` plus the JSON line's keys (or ``message`` text)."""
    text = event.get("message", "").strip()
    entry: dict[str, Any] = {}
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
            entry = parsed if isinstance(parsed, dict) else {"message": text}
        except ValueError:
            entry = {"message": text}
    else:
        entry = {"message": text}
    entry.setdefault("message", "")
    return {
        "time": datetime.fromtimestamp(event.get("timestamp", 0) / 1000, UTC),
        **entry,
        "_event_id": event.get("eventId"),
    }


def format_log_line(entry: dict[str, Any]) -> str:
    """One parsed line for a human: time, level, message, then the context keys (orderId first).

    >>> format_log_line({"time": datetime(2024, 5, 1, 12, 0, 1, 120000, tzinfo=UTC), "level": "ERROR",
    ...                  "message": "failed", "orderId": "o-1", "receiveCount": 2, "service": "orders"})
    '12:00:01.120 ERROR   failed  orderId=o-1 receiveCount=2'
    >>> format_log_line({"time": datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC), "message": "",
    ...                  "_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "OrdersConfirmed"}]}]},
    ...                  "OrdersConfirmed": [1.0]})
    '12:00:01.000 METRIC  OrdersConfirmed=[1.0]'
    """
    when = entry.get("time")
    stamp = f"{when:%H:%M:%S}.{when.microsecond // 1000:03d}" if isinstance(when, datetime) else "--:--:--.---"
    if _EMF_KEY in entry:
        names = [m.get("Name") for d in entry[_EMF_KEY].get("CloudWatchMetrics", []) for m in d.get("Metrics", [])]
        return f"{stamp} METRIC  " + " ".join(f"{n}={entry.get(n)}" for n in names)
    extra = {k: v for k, v in entry.items() if k not in _STANDARD_KEYS and k not in ("time", "_event_id")}
    ordered = sorted(extra, key=lambda k: (k != "orderId", k))
    context = " ".join(f"{k}={extra[k]}" for k in ordered)
    return f"{stamp} {entry.get('level', '')!s:<7} {entry.get('message', '')}" + (f"  {context}" if context else "")


class LogTail:
    """Follow one function's log group from ``since`` on, each line shown once (by event id).

    ``contains`` narrows to lines holding a term (a FilterLogEvents filter pattern, e.g. an order id).
    """

    def __init__(self, lab, function_name: str, *, since: datetime | None = None, contains: str | None = None) -> None:
        self.lab = lab
        self.function_name = function_name
        self.contains = contains
        self.start_ms = _millis(since) if since is not None else int(time.time() * 1000)
        self.seen: set[str] = set()
        self.lines: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """The lines written since the last poll (parsed; oldest first)."""
        logs = self.lab.client("logs")
        kwargs: dict[str, Any] = {"logGroupName": log_group_of(self.function_name), "startTime": self.start_ms}
        if self.contains:
            kwargs["filterPattern"] = f'"{self.contains}"'
        new: list[dict[str, Any]] = []
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
                for event in page.get("events", []):
                    key = (
                        event.get("eventId")
                        or f"{event.get('logStreamName')}/{event.get('timestamp')}/{event.get('message')}"
                    )
                    if key in self.seen:
                        continue
                    self.seen.add(key)
                    new.append(_parse(event))
        except logs.exceptions.ResourceNotFoundException:
            return []  # the function has not logged yet
        new.sort(key=lambda entry: entry["time"])
        self.lines.extend(new)
        return new

    def follow(
        self,
        *,
        seconds: float,
        until: Callable[[dict[str, Any]], bool] | None = None,
        show: Callable[[str], Any] | None = print,
        interval: float = 0.5,
    ) -> list[dict[str, Any]]:
        """Poll for ``seconds`` (or until ``until`` accepts a line), showing each new line; return them."""
        shown: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while True:
            for line in self.poll():
                shown.append(line)
                if show is not None:
                    show(format_log_line(line))
                if until is not None and until(line):
                    return shown
            if time.monotonic() >= deadline:
                return shown
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def frame(self) -> pd.DataFrame:
        """Every line read so far (one column per key that occurs)."""
        return pd.DataFrame([{k: v for k, v in line.items() if k != "_event_id"} for line in self.lines])


def tail_log(
    lab,
    function_name: str,
    *,
    since: datetime | None = None,
    contains: str | None = None,
    seconds: float = 0,
    until: Callable[[dict[str, Any]], bool] | None = None,
    show: Callable[[str], Any] | None = print,
) -> list[dict[str, Any]]:
    """Show a function's log lines since ``since`` (default: the last minute), then keep following for
    ``seconds`` (0: just what is there) or until ``until`` accepts a line. Returns the lines.

    >>> tail_log(lab, "alice-order-worker", contains=order_id, seconds=5)      # doctest: +SKIP
    """
    start = since if since is not None else datetime.fromtimestamp(time.time() - 60, UTC)
    return LogTail(lab, function_name, since=start, contains=contains).follow(seconds=seconds, until=until, show=show)


def order_trail(lab, function_names: Iterable[str], order_id: str, *, since: datetime | None = None) -> pd.DataFrame:
    """Every structured log line about one order (its ``orderId`` key), across functions, by time.

    Columns ``time``, ``function``, ``level``, ``message`` and the context keys that occur
    (``receiveCount``, ``status``, ``reason``...). Works because every handler adds ``orderId``
    to its log lines (Powertools ``logger.append_keys``).
    """
    rows = []
    for function_name in function_names:
        tail = LogTail(lab, function_name, since=since or datetime(2000, 1, 1, tzinfo=UTC), contains=order_id)
        for line in tail.poll():
            if line.get("orderId") == order_id and _EMF_KEY not in line:
                rows.append({"function": function_name, **{k: v for k, v in line.items() if k != "_event_id"}})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["time", "function", "level", "message"])
    keep = ["time", "function", "level", "message"] + [
        c for c in ("receiveCount", "status", "reason", "errorType", "retryInSeconds", "total") if c in frame.columns
    ]
    return frame.sort_values("time", kind="stable")[keep].reset_index(drop=True)


_REPORT_FIELDS = {"Duration": "duration_ms", "Init Duration": "init_ms", "Max Memory Used": "memory_mb"}


def parse_report_line(text: str) -> dict[str, float] | None:
    """The figures of a Lambda ``REPORT`` log line (what AWS writes after each invocation), or None.

    >>> parse_report_line("REPORT RequestId: r-1\\tDuration: 812.31 ms\\tBilled Duration: 813 ms\\t"
    ...                   "Memory Size: 128 MB\\tMax Memory Used: 71 MB\\tInit Duration: 402.10 ms")
    {'duration_ms': 812.31, 'memory_mb': 71.0, 'init_ms': 402.1}
    """
    if not text.startswith("REPORT "):
        return None
    figures: dict[str, float] = {}
    for part in text.split("\t")[1:]:
        name, _, value = part.partition(":")
        key = _REPORT_FIELDS.get(name.strip())
        if key:
            figures[key] = float(value.strip().split()[0])
    return figures


def invocation_reports(lab, function_name: str, *, since: datetime | None = None) -> pd.DataFrame:
    """One row per invocation of the function since ``since``, from its ``REPORT`` log lines: ``time``,
    ``duration_ms`` (the handler's time), ``init_ms`` (set on a cold start only), ``memory_mb``."""
    logs = lab.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": log_group_of(function_name), "filterPattern": '"REPORT RequestId"'}
    if since is not None:
        kwargs["startTime"] = _millis(since)
    rows = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
            for event in page.get("events", []):
                figures = parse_report_line(event.get("message", "").strip())
                if figures is not None:
                    rows.append({"time": datetime.fromtimestamp(event["timestamp"] / 1000, UTC), **figures})
    except logs.exceptions.ResourceNotFoundException:
        pass
    frame = pd.DataFrame(rows, columns=["time", "duration_ms", "init_ms", "memory_mb"])
    return frame.sort_values("time", ignore_index=True)
