"""What the local cloud's AWS services publish to CloudWatch: the pieces that need no MiniStack.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/cloudwatch/sources.py`.

>>> queue_gauges([{"visible_at": 0, "receive_count": 0, "sent_at": 90.0}], 100.0, fifo=False).visible
1
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Dimensions = tuple[tuple[str, str], ...]

# Keys this module adds to MiniStack's SQS message dicts (copied along when MiniStack moves a
# message to its dead-letter queue, which is what the metrics need).
SENT_COUNTED = "_cw_sent"  # NumberOfMessagesSent already counted this message
MOVED = "_cw_moved"  # (time, receive count) when it was moved to a dead-letter queue
POISON_RECEIVES = 3  # "received three times (or more) and not deleted": out of the age metric


@dataclass(frozen=True)
class Datum:
    """One value for one metric. ``aggregate``: counted into a per-second point with others."""

    account: str
    region: str
    namespace: str
    name: str
    dimensions: Dimensions
    timestamp: float
    value: float
    unit: str
    aggregate: bool = True


class Recorder:
    """A thread-safe staging queue; ``notify`` is called once when a batch starts (to schedule a
    flush on the server loop)."""

    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._pending: deque[Datum] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self.notify = notify

    def add(self, datum: Datum) -> None:
        self._pending.append(datum)
        with self._lock:
            if self._scheduled or self.notify is None:
                return
            self._scheduled = True
        try:
            self.notify()
        except RuntimeError:  # the loop is closed (shutting down): the datum is dropped with it
            pass

    def drain(self) -> list[Datum]:
        with self._lock:
            self._scheduled = False
        out = []
        while True:
            try:
                out.append(self._pending.popleft())
            except IndexError:
                return out


def dims_key(dimensions: Mapping[str, str]) -> str:
    """MiniStack's key of a dimension set (``services/cloudwatch.py`` ``_dims_key``)."""
    return "|".join(f"{k}={v}" for k, v in sorted(dimensions.items()))


class MetricWriter:
    """Writes datapoints into a MiniStack ``AccountRegionScopedDict`` of metric point lists."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._open: dict[tuple, tuple[int, dict]] = {}
        self._dims: dict[Dimensions, dict[str, str]] = {}  # one dict per dimension set, shared by its points

    def reset(self) -> None:
        self._open.clear()
        self._dims.clear()

    def dimensions(self, dimensions: Dimensions) -> dict[str, str]:
        dims = self._dims.get(dimensions)
        if dims is None:
            dims = self._dims[dimensions] = dict(dimensions)
        return dims

    def bucket(self, account: str, region: str, key: tuple) -> list:
        points = self.store.get_scoped(account, region, key)
        if points is None:
            points = []
            self.store.set_scoped(account, region, key, points)
        return points

    def write(self, datum: Datum) -> None:
        dims = self.dimensions(datum.dimensions)
        key = (datum.namespace, datum.name, dims_key(dims))
        points = self.bucket(datum.account, datum.region, key)
        if not datum.aggregate:
            points.append(
                {"Timestamp": datum.timestamp, "Value": float(datum.value), "Unit": datum.unit, "Dimensions": dims}
            )
            return
        second = math.floor(datum.timestamp)
        index_key = (datum.account, datum.region, key, float(datum.value), datum.unit)
        open_point = self._open.get(index_key)
        if open_point is not None and open_point[0] == second:
            open_point[1]["Count"] += 1.0
            return
        point = {
            "Timestamp": float(second),
            "Value": float(datum.value),
            "Unit": datum.unit,
            "Dimensions": dims,
            "Count": 1.0,
        }
        points.append(point)
        self._open[index_key] = (second, point)

    def write_stat(
        self,
        account: str,
        region: str,
        namespace: str,
        name: str,
        dimensions: Dimensions,
        timestamp: float,
        unit: str,
        count: float,
        total: float,
        low: float,
        high: float,
    ) -> None:
        """One published statistic set (SampleCount, Sum, Minimum, Maximum)."""
        dims = self.dimensions(dimensions)
        points = self.bucket(account, region, (namespace, name, dims_key(dims)))
        points.append(
            {
                "Timestamp": timestamp,
                "Value": total / count if count else 0.0,
                "Unit": unit,
                "Dimensions": dims,
                "_stat": {"SampleCount": count, "Sum": total, "Minimum": low, "Maximum": high},
            }
        )


def compact(points: list[dict], before: float, width: float = 60.0) -> list[dict] | None:
    """``points`` with those older than ``before`` merged into one statistic set per ``width``-second
    bucket and unit (CloudWatch keeps older data at coarser resolution too); None when nothing would
    shrink. SampleCount, Sum, Minimum and Maximum of every bucket are kept exactly.

    >>> merged = compact([{"Timestamp": t, "Value": 1.0, "Unit": "Count"} for t in (0.0, 5.0, 70.0)], 100.0)
    >>> [(p["Timestamp"], p["_stat"]["SampleCount"]) for p in merged]
    [(0.0, 2.0), (60.0, 1.0)]
    """
    groups: dict[tuple[float, str], list[dict]] = {}
    recent: list[dict] = []
    for point in points:
        if float(point.get("Timestamp", 0.0)) < before and not point.get("_compacted"):
            bucket = math.floor(float(point["Timestamp"]) / width) * width
            groups.setdefault((bucket, point.get("Unit", "None")), []).append(point)
        else:
            recent.append(point)
    if not groups or len(groups) == sum(len(g) for g in groups.values()):
        return None
    merged = []
    for (bucket, unit), group in sorted(groups.items(), key=lambda item: item[0][0]):
        count = total = 0.0
        low, high = math.inf, -math.inf
        for point in group:
            stat = point.get("_stat")
            if stat is not None:
                c, t, lo, hi = (float(stat.get(k, 0)) for k in ("SampleCount", "Sum", "Minimum", "Maximum"))
            else:
                c = float(point.get("Count", 1.0))
                t, lo, hi = float(point["Value"]) * c, float(point["Value"]), float(point["Value"])
            count, total, low, high = count + c, total + t, min(low, lo), max(high, hi)
        merged.append(
            {
                "Timestamp": bucket,
                "Value": total / count if count else 0.0,
                "Unit": unit,
                "Dimensions": group[0].get("Dimensions", {}),
                "_compacted": True,
                "_stat": {"SampleCount": count, "Sum": total, "Minimum": low, "Maximum": high},
            }
        )
    return merged + recent


# ---------------------------------------------------------------------------
# AWS/SQS
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueGauges:
    visible: int
    not_visible: int
    delayed: int
    oldest_age: float
    groups_in_flight: int


def queue_gauges(messages: Iterable[Mapping[str, Any]], now: float, *, fifo: bool) -> QueueGauges:
    """The queue's approximate counts and the age of its oldest message at ``now``.

    Visible: available now. NotVisible: received and in flight. Delayed: not yet available and
    never received. ApproximateAgeOfOldestMessage: since the message was enqueued, or since it was
    moved to this dead-letter queue ("the DLQ's metric reflects the time the message was moved");
    on a standard queue a message received three times or more without being deleted is left out
    ("poison-pill messages ... are excluded from this metric").
    """
    visible = not_visible = delayed = 0
    groups: set[str] = set()
    oldest = math.inf
    for message in messages:
        receives = int(message.get("receive_count") or 0)
        if float(message.get("visible_at") or 0.0) <= now:
            visible += 1
        elif receives == 0:
            delayed += 1
        else:
            not_visible += 1
            if fifo and message.get("group_id"):
                groups.add(str(message["group_id"]))
        moved = message.get(MOVED)
        since = moved[0] if moved else float(message.get("enqueued_at") or message.get("sent_at") or now)
        if not fifo and receives - (moved[1] if moved else 0) >= POISON_RECEIVES:
            continue
        oldest = min(oldest, since)
    age = max(0.0, now - oldest) if oldest != math.inf else 0.0
    return QueueGauges(visible, not_visible, delayed, float(int(age)), len(groups))


def queue_arn(queue: Mapping[str, Any]) -> str:
    """The ARN of a MiniStack queue record (``attributes.QueueArn``)."""
    return str((queue.get("attributes") or {}).get("QueueArn", ""))


def message_size(message: Mapping[str, Any]) -> int:
    """Bytes of a message: its body plus its attributes' names, types and values."""
    size = len(str(message.get("body") or "").encode("utf-8"))
    for name, attribute in (message.get("message_attributes") or {}).items():
        size += len(str(name).encode("utf-8"))
        if isinstance(attribute, Mapping):
            size += len(str(attribute.get("DataType", "")).encode("utf-8"))
            value = attribute.get("StringValue", attribute.get("BinaryValue", ""))
            size += len(value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8"))
    return size


@dataclass
class QueueMeter:
    """What happened to one queue since its last sample."""

    last_active: float = 0.0
    sent: int = 0
    size_count: int = 0
    size_sum: float = 0.0
    size_min: float = math.inf
    size_max: float = 0.0
    received: int = 0
    deleted: int = 0
    empty_receives: int = 0


@dataclass
class QueueMeters:
    """Thread-safe per-queue counters, keyed by queue ARN."""

    _meters: dict[str, QueueMeter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _meter(self, arn: str, now: float) -> QueueMeter:
        meter = self._meters.get(arn)
        if meter is None:
            meter = self._meters[arn] = QueueMeter()
        meter.last_active = max(meter.last_active, now)
        return meter

    def touch(self, arn: str, now: float) -> None:
        with self._lock:
            self._meter(arn, now)

    def sent(self, arn: str, size: int, now: float) -> None:
        with self._lock:
            meter = self._meter(arn, now)
            meter.sent += 1
            meter.size_count += 1
            meter.size_sum += size
            meter.size_min = min(meter.size_min, size)
            meter.size_max = max(meter.size_max, size)

    def received(self, arn: str, count: int, now: float) -> None:
        with self._lock:
            meter = self._meter(arn, now)
            if count:
                meter.received += count
            else:
                meter.empty_receives += 1

    def deleted(self, arn: str, count: int, now: float) -> None:
        with self._lock:
            self._meter(arn, now).deleted += count

    def take(self, arn: str) -> QueueMeter:
        """The counts since the last take (then zeroed); ``last_active`` is kept."""
        with self._lock:
            meter = self._meters.get(arn)
            if meter is None:
                return QueueMeter()
            self._meters[arn] = QueueMeter(last_active=meter.last_active)
            return meter

    def forget_others(self, arns: set[str]) -> None:
        with self._lock:
            for arn in [a for a in self._meters if a not in arns]:
                del self._meters[arn]

    def clear(self) -> None:
        with self._lock:
            self._meters.clear()


# ---------------------------------------------------------------------------
# Dimension sets
# ---------------------------------------------------------------------------


def lambda_dimension_sets(function_arn: str, function_name: str, executed_version: str | None) -> list[Dimensions]:
    """Per function, across all functions, and per alias/version (``Resource``, ``ExecutedVersion``)."""
    sets: list[Dimensions] = [(("FunctionName", function_name),), ()]
    parts = function_arn.split(":")
    qualifier = parts[7] if len(parts) > 7 else ""
    if qualifier and qualifier != "$LATEST":
        resource = f"{function_name}:{qualifier}"
        sets.append((("FunctionName", function_name), ("Resource", resource)))
        if not qualifier.isdigit() and executed_version:
            sets.append(
                (("ExecutedVersion", executed_version), ("FunctionName", function_name), ("Resource", resource))
            )
    return sets


def api_dimension_sets(api_id: str, stage: str) -> list[Dimensions]:
    return [(("ApiId", api_id),), (("ApiId", api_id), ("Stage", stage))]
