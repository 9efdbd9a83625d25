"""Amazon SQS (MiniStack ``services/sqs.py``): dead-letter queue redrive, error types, FIFO defaults.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/sqs/responses.py`.

>>> namespaced_error(400, {"x-amzn-errortype": "QueueDoesNotExist"}, b'{"message": "x"}')[1]
{'x-amzn-errortype': 'com.amazonaws.sqs#QueueDoesNotExist'}
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from localcloud.patches import PatchError, patch_source, require, wrap

logger = logging.getLogger("localcloud.sqs")

RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED = "RUNNING", "COMPLETED", "CANCELLING", "CANCELLED", "FAILED"
MAX_RATE = 500
MAX_LIST_RESULTS = 10
_YIELD_EVERY = 50  # moves between yields to the event loop when no rate is set


@dataclass
class MoveTask:
    task_id: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    to_move: set[str]
    started_ms: int
    status: str = RUNNING
    moved: int = 0
    total: int = 0
    failure_reason: str | None = None
    wake: asyncio.Event | None = field(default=None, repr=False)

    @property
    def handle(self) -> str:
        return encode_task_handle(self.task_id, self.source_arn)

    def entry(self) -> dict[str, Any]:
        """ListMessageMoveTasksResultEntry."""
        out: dict[str, Any] = {"Status": self.status, "SourceArn": self.source_arn}
        if self.status == RUNNING:
            out["TaskHandle"] = self.handle
        if self.destination_arn:
            out["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        out["ApproximateNumberOfMessagesMoved"] = self.moved
        out["ApproximateNumberOfMessagesToMove"] = self.total
        if self.status == FAILED and self.failure_reason:
            out["FailureReason"] = self.failure_reason
        out["StartedTimestamp"] = self.started_ms
        return out


_tasks: dict[str, MoveTask] = {}
_running: set[asyncio.Task] = set()


def encode_task_handle(task_id: str, source_arn: str) -> str:
    raw = json.dumps({"taskId": task_id, "sourceArn": source_arn}, separators=(",", ":")).encode()
    return base64.b64encode(raw).decode()


def decode_task_handle(handle: str) -> tuple[str, str] | None:
    try:
        data = json.loads(base64.b64decode(handle.encode(), validate=True))
        return str(data["taskId"]), str(data["sourceArn"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def dead_letter_sources(queues: list[dict], dlq_arn: str) -> list[str]:
    """ARNs of the queues whose RedrivePolicy targets ``dlq_arn``."""
    sources = []
    for queue in queues:
        raw = (queue.get("attributes") or {}).get("RedrivePolicy")
        try:
            policy = json.loads(raw) if raw else None
        except ValueError:
            policy = None
        if isinstance(policy, dict) and policy.get("deadLetterTargetArn") == dlq_arn:
            sources.append(queue["attributes"].get("QueueArn", ""))
    return sources


def redriven_message(message: dict, destination: dict, now: float, delay: int, account_id: str) -> dict:
    """A moved message as the destination receives it: same body and attributes, a new message."""
    sys_in = message.get("sys") or {}
    sys_out = {"SenderId": sys_in.get("SenderId", account_id), "SentTimestamp": str(int(now * 1000))}
    if sys_in.get("AWSTraceHeader"):
        sys_out["AWSTraceHeader"] = sys_in["AWSTraceHeader"]
    body = message.get("body", "")
    seq = None
    if destination.get("is_fifo"):
        destination["fifo_seq"] = destination.get("fifo_seq", 0) + 1
        seq = str(destination["fifo_seq"]).zfill(20)
    return {
        "id": str(uuid.uuid4()),
        "body": body,
        "md5_body": message.get("md5_body") or hashlib.md5(body.encode()).hexdigest(),
        "md5_attrs": message.get("md5_attrs"),
        "receipt_handle": None,
        "sent_at": now,
        "visible_at": now + delay,
        "receive_count": 0,
        "first_receive_at": None,
        "message_attributes": copy.deepcopy(message.get("message_attributes") or {}),
        "sys": sys_out,
        "group_id": message.get("group_id"),
        "dedup_id": message.get("dedup_id"),
        "dedup_cache_key": None,
        "seq": seq,
    }


def next_to_move(messages: list[dict], wanted: set[str], now: float) -> tuple[dict | None, float | None]:
    """(the oldest visible message of the snapshot, None) or (None, seconds until one is visible)
    or (None, None) when none of the snapshot is left."""
    wait: float | None = None
    for message in messages:
        if message.get("id") not in wanted:
            continue
        visible_at = float(message.get("visible_at") or 0)
        if visible_at <= now:
            return message, None
        wait = visible_at - now if wait is None else min(wait, visible_at - now)
    return None, wait


def apply() -> None:
    from ministack.services import sqs

    needed = (
        "_HANDLERS",
        "_Err",
        "_queues",
        "_queues_lock",
        "_queue_by_arn",
        "queue_delay",
        "_to_xml",
        "_xml_resp",
        "esm_wake",
        "get_account_id",
        "reset",
    )
    require(sqs, needed, patching="SQS message move tasks")
    Err = sqs._Err

    def require_queue(arn: Any, parameter: str) -> dict:
        queue = sqs._queue_by_arn(arn) if isinstance(arn, str) and arn else None
        if queue is None:
            raise Err(
                "ResourceNotFoundException",
                f"The resource that you specified for the {parameter} parameter doesn't exist.",
                400,
            )
        return queue

    def fail(task: MoveTask, reason: str) -> None:
        task.status, task.failure_reason = FAILED, reason
        logger.warning("SQS message move task %s failed: %s", task.task_id, reason)

    async def run(task: MoveTask) -> None:
        interval = 1.0 / task.rate if task.rate else 0.0
        moves = 0
        while task.status == RUNNING:
            now = time.time()
            with sqs._queues_lock:
                source = sqs._queue_by_arn(task.source_arn)
                if source is None:
                    fail(task, "AWS.SimpleQueueService.NonExistentQueue: the source queue was deleted")
                    return
                message, wait = next_to_move(source["messages"], task.to_move, now)
                if message is None and wait is None:
                    break
                if message is not None:
                    target_arn = task.destination_arn or (message.get("sys") or {}).get("DeadLetterQueueSourceArn")
                    target = sqs._queue_by_arn(target_arn) if target_arn else None
                    if target is None:
                        fail(
                            task,
                            "AWS.SimpleQueueService.NonExistentQueue: no destination queue for message "
                            f"{message.get('id')} ({target_arn or 'it was not dead-lettered from a queue'})",
                        )
                        return
                    source["messages"] = [m for m in source["messages"] if m is not message]
                    target["messages"].append(
                        redriven_message(message, target, now, sqs.queue_delay(target), sqs.get_account_id())
                    )
                    task.to_move.discard(message.get("id"))
                    task.moved += 1
                    moves += 1
            if message is not None:
                sqs.esm_wake.set()
                if interval:
                    await sleep_or_cancel(task, interval)
                elif moves % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            else:
                await sleep_or_cancel(task, max(wait or 0.0, 0.01))
        if task.status == RUNNING:
            task.status = COMPLETED
        elif task.status == CANCELLING:
            task.status = CANCELLED
        logger.info("SQS message move task %s %s: %d moved", task.task_id, task.status, task.moved)

    async def sleep_or_cancel(task: MoveTask, seconds: float) -> None:
        assert task.wake is not None
        try:
            await asyncio.wait_for(task.wake.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def start_message_move_task(data: dict, _qurl: str) -> dict:
        source_arn = data.get("SourceArn")
        if not source_arn:
            raise Err("MissingParameter", "The request must contain the parameter SourceArn.", 400)
        source = require_queue(source_arn, "SourceArn")
        with sqs._queues_lock:
            all_queues = list(sqs._queues.values())
        if not dead_letter_sources(all_queues, source_arn):
            raise Err("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.", 400)
        destination_arn = data.get("DestinationArn") or None
        if destination_arn:
            destination = require_queue(destination_arn, "DestinationArn")
            if bool(destination.get("is_fifo")) != bool(source.get("is_fifo")):
                raise Err(
                    "InvalidParameterValue",
                    "The source queue and the destination queue must be of the same queue type.",
                    400,
                )
        rate = data.get("MaxNumberOfMessagesPerSecond")
        if rate is not None:
            try:
                rate = int(rate)
            except (TypeError, ValueError):
                rate = 0
            if not 1 <= rate <= MAX_RATE:
                raise Err(
                    "InvalidParameterValue",
                    f"Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 "
                    f"and {MAX_RATE}.",
                    400,
                )
        if any(t.source_arn == source_arn and t.status in (RUNNING, CANCELLING) for t in _tasks.values()):
            raise Err(
                "InvalidParameterValue",
                "There is already a task running. Only one active task is allowed "
                "for a source queue arn at a given time.",
                400,
            )
        with sqs._queues_lock:
            snapshot = {m["id"] for m in source["messages"] if m.get("id")}
        task = MoveTask(
            task_id=str(uuid.uuid4()),
            source_arn=source_arn,
            destination_arn=destination_arn,
            rate=rate,
            to_move=snapshot,
            total=len(snapshot),
            started_ms=int(time.time() * 1000),
            wake=asyncio.Event(),
        )
        _tasks[task.task_id] = task
        running = asyncio.get_running_loop().create_task(run(task))
        _running.add(running)
        running.add_done_callback(_running.discard)
        logger.info(
            "SQS message move task %s started: %d message(s) from %s to %s",
            task.task_id,
            task.total,
            source_arn,
            destination_arn or "their source queues",
        )
        return {"TaskHandle": task.handle}

    def list_message_move_tasks(data: dict, _qurl: str) -> dict:
        source_arn = data.get("SourceArn")
        if not source_arn:
            raise Err("MissingParameter", "The request must contain the parameter SourceArn.", 400)
        require_queue(source_arn, "SourceArn")
        limit = data.get("MaxResults")
        limit = 1 if limit is None else int(limit)
        if not 1 <= limit <= MAX_LIST_RESULTS:
            raise Err(
                "InvalidParameterValue",
                f"Value for parameter MaxResults is invalid. Reason: must be between 1 and {MAX_LIST_RESULTS}.",
                400,
            )
        tasks = sorted(
            (t for t in _tasks.values() if t.source_arn == source_arn), key=lambda t: t.started_ms, reverse=True
        )
        return {"Results": [t.entry() for t in tasks[:limit]]}

    def cancel_message_move_task(data: dict, _qurl: str) -> dict:
        handle = data.get("TaskHandle")
        if not handle:
            raise Err("MissingParameter", "The request must contain the parameter TaskHandle.", 400)
        decoded = decode_task_handle(str(handle))
        if decoded is None:
            raise Err("InvalidParameterValue", "Value for parameter TaskHandle is invalid.", 400)
        task = _tasks.get(decoded[0])
        if task is None or task.source_arn != decoded[1]:
            raise Err("ResourceNotFoundException", "Task does not exist.", 400)
        if task.status != RUNNING:
            raise Err(
                "UnsupportedOperation",
                f"A message movement task can only be cancelled when it is RUNNING; it is {task.status}.",
                400,
            )
        task.status = CANCELLING
        if task.wake is not None:
            task.wake.set()
        return {"ApproximateNumberOfMessagesMoved": task.moved}

    def make_to_xml(original):
        def _to_xml(action: str, result: dict) -> tuple:
            if action == "StartMessageMoveTask":
                return sqs._xml_resp(
                    200,
                    "StartMessageMoveTaskResponse",
                    f"<StartMessageMoveTaskResult><TaskHandle>{_xml(result['TaskHandle'])}"
                    "</TaskHandle></StartMessageMoveTaskResult>",
                )
            if action == "CancelMessageMoveTask":
                return sqs._xml_resp(
                    200,
                    "CancelMessageMoveTaskResponse",
                    "<CancelMessageMoveTaskResult><ApproximateNumberOfMessagesMoved>"
                    f"{result['ApproximateNumberOfMessagesMoved']}</ApproximateNumberOfMessagesMoved>"
                    "</CancelMessageMoveTaskResult>",
                )
            if action == "ListMessageMoveTasks":
                entries = "".join(
                    "<Result>" + "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in entry.items()) + "</Result>"
                    for entry in result.get("Results", [])
                )
                return sqs._xml_resp(
                    200,
                    "ListMessageMoveTasksResponse",
                    f"<ListMessageMoveTasksResult>{entries}</ListMessageMoveTasksResult>",
                )
            return original(action, result)

        return _to_xml

    def make_reset(original):
        def reset(*args: Any, **kwargs: Any):
            for task in _tasks.values():
                if task.status == RUNNING:
                    task.status = CANCELLING
                    if task.wake is not None:
                        task.wake.set()
            _tasks.clear()
            return original(*args, **kwargs)

        return reset

    for action, handler in (
        ("StartMessageMoveTask", start_message_move_task),
        ("ListMessageMoveTasks", list_message_move_tasks),
        ("CancelMessageMoveTask", cancel_message_move_task),
    ):
        existing = sqs._HANDLERS.get(action)
        if existing is not None and not getattr(existing, "__orderlab_patched__", False):
            raise PatchError(f"cannot patch SQS {action}: MiniStack implements it now; re-check this patch")
        handler.__orderlab_patched__ = True  # type: ignore[attr-defined]
        sqs._HANDLERS[action] = handler
    wrap(sqs, "_to_xml", make_to_xml)
    wrap(sqs, "reset", make_reset)
    wrap(sqs, "_json_err_resp", make_json_error)
    patch_source(
        sqs._act_create_queue,
        [
            (
                '            attrs.get("ContentBasedDeduplication", "false")\n',
                '            attrs.get("ContentBasedDeduplication", "false")\n'
                '        q["attributes"].update({"DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"})\n',
            )
        ],
        what="SQS FIFO queue defaults",
    )
    patch_source(
        sqs._validate_batch_entries,
        [
            (
                '"Too many messages in a batch request. A maximum of 10 messages are allowed.")',
                'f"Maximum number of entries per request are {_BATCH_MAX_ENTRIES}. You have sent {len(entries)}.")',
            )
        ],
        what="SQS batch size message",
    )


ERROR_TYPE_NAMESPACE = "com.amazonaws.sqs#"


def namespaced_error(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """An SQS JSON-protocol error with its type namespaced as AWS sends it."""
    code = headers.get("x-amzn-errortype", "")
    if not code or "#" in code:
        return status, headers, body
    error = json.loads(body)
    error["__type"] = ERROR_TYPE_NAMESPACE + code
    if code == "QueueDoesNotExist":  # the wsdl wording belongs to the XML (query) protocol
        error["message"] = "The specified queue does not exist."
    return status, {**headers, "x-amzn-errortype": ERROR_TYPE_NAMESPACE + code}, json.dumps(error).encode("utf-8")


def make_json_error(original):
    def _json_err_resp(code: str, msg: str, status: int = 400) -> tuple:
        return namespaced_error(*original(code, msg, status))

    return _json_err_resp


def _xml(value: Any) -> str:
    from xml.sax.saxutils import escape

    return escape(str(value))
