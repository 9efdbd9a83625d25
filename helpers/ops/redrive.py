"""Redrive: move the messages of a dead-letter queue back to where they came from (SQS message move task).

>>> result = redrive(lab, stack.queues.dlq.arn)                 # doctest: +SKIP
>>> result.status, result.moved, result.to_move                 # doctest: +SKIP
('COMPLETED', 1, 1)

``StartMessageMoveTask`` starts an asynchronous task on the dead-letter queue; without a
``destination_arn`` each message goes back to the queue it was dead-lettered from. We then
poll ``ListMessageMoveTasks`` (bounded) until the task is ``COMPLETED``, ``FAILED`` or
``CANCELLED``. AWS allows one active task per source queue: starting a second one while the
first runs is refused, and :class:`RedriveError` says which task is running and how to cancel it.
Only a queue that is some queue's dead-letter queue can be redriven.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, error_message
from helpers.core.waiters import WaitTimeout, wait_until

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = ["FINAL_STATUSES", "MoveTaskResult", "RedriveError", "cancel_redrive", "list_redrives", "redrive"]

FINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")


class RedriveError(RuntimeError):
    """A redrive could not start, or its task failed. The message says why and what to do."""


@dataclass(frozen=True)
class MoveTaskResult:
    """One message move task: ``status`` is RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED."""

    task_handle: str
    status: str
    moved: int
    to_move: int
    source_arn: str = ""
    destination_arn: str | None = None
    failure_reason: str | None = None
    started: int | None = None  # ms since the epoch

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATUSES


def _result(entry: dict[str, Any], handle: str) -> MoveTaskResult:
    return MoveTaskResult(
        task_handle=entry.get("TaskHandle") or handle,
        status=str(entry.get("Status", "")),
        moved=int(entry.get("ApproximateNumberOfMessagesMoved", 0) or 0),
        to_move=int(entry.get("ApproximateNumberOfMessagesToMove", 0) or 0),
        source_arn=str(entry.get("SourceArn", "")),
        destination_arn=entry.get("DestinationArn"),
        failure_reason=entry.get("FailureReason"),
        started=entry.get("StartedTimestamp"),
    )


def list_redrives(lab: Lab, dlq_arn: str) -> list[MoveTaskResult]:
    """The most recent message move tasks of ``dlq_arn`` (up to 10, newest first)."""
    tasks = lab.client("sqs").list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10).get("Results", [])
    return [_result(entry, "") for entry in tasks]


def cancel_redrive(lab: Lab, task_handle: str) -> int:
    """Cancel a running move task; returns how many messages it had moved so far."""
    return int(
        lab.client("sqs").cancel_message_move_task(TaskHandle=task_handle).get("ApproximateNumberOfMessagesMoved", 0)
    )


def _find_task(
    entries: list[dict[str, Any]], handle: str, started_ms: int, earlier: frozenset[int] = frozenset()
) -> dict[str, Any] | None:
    """Our task among ListMessageMoveTasks' results: by handle (AWS returns it while the task runs),
    else the newest task started since we asked that was not listed before (a finished task may
    come without its handle)."""
    for entry in entries:
        if entry.get("TaskHandle") == handle:
            return entry
    for entry in entries:  # newest first
        started = int(entry.get("StartedTimestamp") or 0)
        if not entry.get("TaskHandle") and started >= started_ms and started not in earlier:
            return entry
    return None


def _running_error(dlq_arn: str, task: MoveTaskResult, cause: str = "") -> RedriveError:
    return RedriveError(
        f"A message move task is already running for {dlq_arn} (handle {task.task_handle!r}, "
        f"{task.moved}/{task.to_move} moved): SQS allows one active task per source queue. Wait for it "
        f"to finish, or cancel it with cancel_redrive(lab, {task.task_handle!r}).{cause}"
    )


def redrive(
    lab: Lab,
    dlq_arn: str,
    *,
    destination_arn: str | None = None,
    max_per_second: int | None = None,
    timeout: float = 120,
) -> MoveTaskResult:
    """Move every message of dead-letter queue ``dlq_arn`` back (to its source queue, or ``destination_arn``).

    ``max_per_second`` caps the velocity (1-500 messages/s; AWS picks one if None). Waits up to
    ``timeout`` seconds for the task to finish; raises :class:`RedriveError` if it cannot start or
    ends FAILED, :class:`helpers.core.waiters.WaitTimeout` if it is still running after ``timeout``
    (the task keeps running: see :func:`list_redrives`, :func:`cancel_redrive`).

    >>> redrive(lab, stack.queues.dlq.arn, max_per_second=10)      # doctest: +SKIP
    MoveTaskResult(task_handle='eyJ...', status='COMPLETED', moved=1, to_move=1, ...)
    """
    if max_per_second is not None and not 1 <= max_per_second <= 500:
        raise ValueError(f"max_per_second must be 1-500, got {max_per_second}")
    sqs = lab.client("sqs")
    params: dict[str, Any] = {"SourceArn": dlq_arn}
    if destination_arn:
        params["DestinationArn"] = destination_arn
    if max_per_second is not None:
        params["MaxNumberOfMessagesPerSecond"] = max_per_second

    before = _safe_list(lab, dlq_arn)
    running = [t for t in before if t.status in ("RUNNING", "CANCELLING")]
    if running:
        raise _running_error(dlq_arn, running[0])
    earlier = frozenset(int(t.started or 0) for t in before)
    started_ms = int(time.time() * 1000) - 5_000  # tolerate clock skew between us and the service
    try:
        handle = str(sqs.start_message_move_task(**params)["TaskHandle"])
    except ClientError as error:
        code, message = error_code(error), error_message(error)
        running = [t for t in _safe_list(lab, dlq_arn) if t.status in ("RUNNING", "CANCELLING")]
        if running:  # started meanwhile by someone else
            raise _running_error(dlq_arn, running[0], f" ({code}: {message})") from error
        if code in ("AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation", "InvalidParameterValue"):
            raise RedriveError(
                f"SQS refused to start a redrive from {dlq_arn}: {message or code}. A redrive source must be "
                "the dead-letter queue of another queue (its RedrivePolicy points here), and a destination, "
                "if given, a queue in the same account and region."
            ) from error
        if code in ("InvalidAction", "UnknownOperationException", "NotImplemented"):
            raise RedriveError(
                f"This endpoint ({lab.target.describe()}) does not implement SQS "
                f"StartMessageMoveTask: {message or code}"
            ) from error
        if code in ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise RedriveError(f"No such queue: {dlq_arn} ({message or code})") from error
        raise

    last: dict[str, Any] = {}

    def finished() -> MoveTaskResult | None:
        entries = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10).get("Results", [])
        entry = _find_task(entries, handle, started_ms, earlier)
        if entry is None:
            return None
        result = _result(entry, handle)
        last["result"] = result
        return result if result.done else None

    try:
        result = wait_until(
            finished,
            timeout=timeout,
            interval=0.5,
            max_interval=5,
            what=f"the message move task from {dlq_arn} to finish",
        )
    except WaitTimeout as error:
        seen = last.get("result")
        raise WaitTimeout(
            error.what,
            timeout,
            seen.status if seen else None,
            detail=(f"{seen.moved}/{seen.to_move} messages moved so far; " if seen else "the task was not listed; ")
            + f"it keeps running — check list_redrives(lab, {dlq_arn!r}) or cancel_redrive(lab, {handle!r})",
        ) from None
    if result.status == "FAILED":
        raise RedriveError(
            f"The message move task from {dlq_arn} FAILED after moving {result.moved} of "
            f"{result.to_move} messages: {result.failure_reason or 'no reason given'}"
        )
    return result


def _safe_list(lab: Lab, dlq_arn: str) -> list[MoveTaskResult]:
    try:
        return list_redrives(lab, dlq_arn)
    except ClientError:
        return []
