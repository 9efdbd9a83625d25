"""CloudWatch Logs export tasks to S3 (CreateExportTask, DescribeExportTasks, CancelExportTask).

What it changes and why: docs/local-cloud.md, "CloudWatch Logs". An export runs at once and
completes; its objects are what AWS writes, one gzip per stream:

>>> objects = export_objects("exportedlogs", "t1", {"app/1": [{"timestamp": 0, "message": "hi"}]})
>>> list(objects), gzip.decompress(objects["exportedlogs/t1/app/1/000000.gz"])
(['exportedlogs/t1/app/1/000000.gz'], b'1970-01-01T00:00:00.000Z hi\\n')
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_PREFIX = "exportedlogs"
WRITE_TEST_KEY = "aws-logs-write-test"
WRITE_TEST_BODY = b"Permission Check Successful"
Event = Mapping[str, Any]


class ExportError(Exception):
    """A refused export call: AWS's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ExportTask:
    """One export task as DescribeExportTasks shows it."""

    task_id: str
    log_group_name: str
    destination: str
    destination_prefix: str
    from_time: int
    to: int
    task_name: str | None = None
    created_ms: int = 0
    completed_ms: int | None = None
    status: dict[str, str] = field(default_factory=lambda: {"code": "PENDING", "message": "Task is pending"})

    def describe(self) -> dict[str, Any]:
        """The task's ``exportTasks`` entry."""
        info: dict[str, Any] = {"creationTime": self.created_ms}
        if self.completed_ms is not None:
            info["completionTime"] = self.completed_ms
        entry: dict[str, Any] = {
            "taskId": self.task_id,
            "logGroupName": self.log_group_name,
            "from": self.from_time,
            "to": self.to,
            "destination": self.destination,
            "destinationPrefix": self.destination_prefix,
            "status": dict(self.status),
            "executionInfo": info,
        }
        if self.task_name:
            entry["taskName"] = self.task_name
        return entry


def validate_request(data: Mapping[str, Any], *, group_exists: bool, bucket_exists: bool) -> None:
    """Raise :class:`ExportError` as AWS refuses a CreateExportTask; the checks run in AWS's order
    (the bucket first, then the group: moto's ``aws_verified`` tests, run against AWS).

    >>> try:
    ...     validate_request({"logGroupName": "g", "from": 2, "to": 1, "destination": "b"},
    ...                      group_exists=True, bucket_exists=True)
    ... except ExportError as refused:
    ...     print(refused.code)
    InvalidParameterException
    """
    for name in ("logGroupName", "from", "to", "destination"):
        if data.get(name) in (None, ""):
            raise ExportError(
                "ValidationException",
                f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
                "Member must not be null",
            )
    if not bucket_exists:
        raise ExportError(
            "InvalidParameterException", "The given bucket does not exist. Please make sure the bucket is valid."
        )
    if not group_exists:
        raise ExportError("ResourceNotFoundException", "The specified log group does not exist.")
    start, end = data["from"], data["to"]
    if not isinstance(start, int) or not isinstance(end, int) or start < 0 or start > end:
        raise ExportError(
            "InvalidParameterException",
            f"Specified time range of '{start}' and '{end}' is not valid. Please make sure the values are "
            "within the retention period of the log group and from value is less than the to value",
        )


def event_line(event: Event) -> str:
    """One exported line: the event's time in ISO 8601 (UTC, milliseconds), a space, its message.

    >>> event_line({"timestamp": 1700000000123, "message": "order placed"})
    '2023-11-14T22:13:20.123Z order placed'
    """
    at = datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC)
    return f"{at.strftime('%Y-%m-%dT%H:%M:%S')}.{at.microsecond // 1000:03d}Z {event['message']}"


def in_range(events: Iterable[Event], start: int, end: int) -> list[Event]:
    """The events AWS exports for ``from``/``to``: neither earlier than ``from`` nor later than ``to``.

    >>> [e["timestamp"] for e in in_range([{"timestamp": t} for t in (1, 2, 3, 4)], 2, 3)]
    [2, 3]
    """
    return [e for e in events if start <= e["timestamp"] <= end]


def export_objects(prefix: str, task_id: str, streams: Mapping[str, list[Event]]) -> dict[str, bytes]:
    """The S3 objects of a task: ``<prefix>/<taskId>/<stream>/000000.gz`` per stream with events."""
    return {
        f"{prefix.rstrip('/')}/{task_id}/{stream}/000000.gz": gzip.compress(
            "".join(event_line(e) + "\n" for e in events).encode()
        )
        for stream, events in streams.items()
        if events
    }


def select_tasks(tasks: Mapping[str, ExportTask], data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """DescribeExportTasks: one task by ``taskId`` (ResourceNotFoundException if unknown), or all,
    optionally those with ``statusCode``, newest first."""
    task_id = data.get("taskId")
    if task_id:
        if task_id not in tasks:
            raise ExportError("ResourceNotFoundException", "The specified export task does not exist.")
        return [tasks[task_id].describe()]
    status = data.get("statusCode")
    chosen = [t for t in tasks.values() if not status or t.status["code"] == status]
    return [t.describe() for t in sorted(chosen, key=lambda t: t.created_ms, reverse=True)]


def cancel(tasks: Mapping[str, ExportTask], task_id: str, now_ms: int) -> None:
    """CancelExportTask: only a PENDING or RUNNING task can be cancelled."""
    task = tasks.get(task_id)
    if task is None:
        raise ExportError("ResourceNotFoundException", "The specified export task does not exist.")
    if task.status["code"] not in ("PENDING", "RUNNING"):
        raise ExportError("InvalidOperationException", "The specified export task has already finished")
    task.status = {"code": "CANCELLED", "message": "Cancelled by user"}
    task.completed_ms = now_ms
