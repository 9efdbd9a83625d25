"""The export-task calls over MiniStack's log groups and S3 buckets (rules in :mod:`.exports`).

>>> sorted(ACTIONS)
['CancelExportTask', 'CreateExportTask', 'DescribeExportTasks']
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from localcloud.services.logs.exports import (
    DEFAULT_PREFIX,
    WRITE_TEST_BODY,
    WRITE_TEST_KEY,
    ExportError,
    ExportTask,
    cancel,
    export_objects,
    in_range,
    select_tasks,
    validate_request,
)

ACTIONS = frozenset({"CreateExportTask", "DescribeExportTasks", "CancelExportTask"})
# (account, region) -> task id -> task; kept in memory (a restart forgets finished exports).
_tasks: dict[tuple[str, str], dict[str, ExportTask]] = {}
_lock = threading.Lock()


def _scope() -> tuple[str, str]:
    from ministack.core.responses import get_account_id, get_region

    return get_account_id(), get_region()


def _now_ms() -> int:
    return int(time.time() * 1000)


def create(data: dict[str, Any]) -> dict[str, Any]:
    """Check the call as AWS does, write the permission check and the events, complete the task."""
    from ministack.services import cloudwatch_logs, s3

    group_name = data.get("logGroupName")
    group = cloudwatch_logs._log_groups.get(group_name) if isinstance(group_name, str) else None
    destination = data.get("destination")
    bucket_exists = isinstance(destination, str) and s3._buckets.get(destination) is not None
    validate_request(data, group_exists=group is not None, bucket_exists=bucket_exists)
    assert group is not None and isinstance(destination, str)
    task = ExportTask(
        task_id=str(uuid.uuid4()),
        log_group_name=group_name,  # type: ignore[arg-type]
        destination=destination,
        destination_prefix=data.get("destinationPrefix") or DEFAULT_PREFIX,
        from_time=data["from"],
        to=data["to"],
        task_name=data.get("taskName"),
        created_ms=_now_ms(),
    )
    stream_prefix = data.get("logStreamNamePrefix") or ""
    with cloudwatch_logs._log_events_lock:
        streams = {
            name: in_range(list(stream.get("events") or ()), task.from_time, task.to)
            for name, stream in group.get("streams", {}).items()
            if name.startswith(stream_prefix)
        }
    s3._put_object(destination, WRITE_TEST_KEY, WRITE_TEST_BODY, {})
    for key, blob in export_objects(task.destination_prefix, task.task_id, streams).items():
        s3._put_object(destination, key, blob, {"content-type": "application/octet-stream"})
    task.status = {"code": "COMPLETED", "message": "Completed successfully"}
    task.completed_ms = _now_ms()
    with _lock:
        _tasks.setdefault(_scope(), {})[task.task_id] = task
    return {"taskId": task.task_id}


def handle(action: str, body: bytes) -> tuple:
    """Answer one export-task call as MiniStack answers a JSON call."""
    from ministack.core.responses import error_response_json, json_response

    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return error_response_json("SerializationException", "Invalid JSON", 400)
    try:
        if action == "CreateExportTask":
            return json_response(create(data))
        with _lock:
            tasks = _tasks.setdefault(_scope(), {})
            if action == "DescribeExportTasks":
                return json_response({"exportTasks": select_tasks(tasks, data)})
            cancel(tasks, str(data.get("taskId") or ""), _now_ms())
            return json_response({})
    except ExportError as exc:
        return error_response_json(exc.code, exc.message, 400)
