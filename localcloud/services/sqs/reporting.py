"""SQS actions reported on the event bus (:mod:`.events`): what CloudWatch's AWS/SQS metrics count.

Each ``make_*`` wraps the MiniStack function of the same name; :func:`apply` installs them.
A message appended by another service (SNS, EventBridge, a redrive) is reported by that path:
``_act_send_message`` is the module function they all call.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from localcloud.events import bus
from localcloud.patches import PatchError, wrap
from localcloud.services.sqs.events import (
    MessagesDeadLettered,
    MessagesDeleted,
    MessageSent,
    MessagesReceived,
    QueueAccessed,
)

_REPORTED = "__orderlab_reported__"


def _queue(sqs: Any, url: object) -> dict | None:
    if not url or not isinstance(url, str):
        return None
    try:
        return sqs._get_q(url)
    except Exception:
        return None


def _reporting_action(
    sqs: Any, original: Callable[[dict, str], dict], event: Callable[[dict, dict], object]
) -> Callable[[dict, str], dict]:
    """SQS action ``original``, then ``event(queue, result)`` on the bus (a queue that is gone reports nothing).

    >>> send = _reporting_action(sqs, send, lambda q, r: MessageSent(q, r["MessageId"]))  # doctest: +SKIP
    """

    def action(data: dict, qurl: str) -> dict:
        result = original(data, qurl)
        queue = _queue(sqs, data.get("QueueUrl", qurl))
        if queue is not None:
            bus.publish(event(queue, result))
        return result

    return action


def _batch_deleted(queue: dict, result: dict) -> MessagesDeleted:
    return MessagesDeleted(queue, len((result or {}).get("Successful") or []))


def apply() -> None:
    """Wrap SQS's actions so they report; e.g. ``apply()`` twice is a no-op."""
    from ministack.services import sqs

    def make_send(original):
        return _reporting_action(sqs, original, lambda queue, result: MessageSent(queue, result.get("MessageId")))

    def make_receive(original):
        async def _act_receive_message(data: dict, qurl: str) -> dict:
            result = await original(data, qurl)
            queue = _queue(sqs, data.get("QueueUrl", qurl))
            if queue is not None:
                bus.publish(MessagesReceived(queue, len((result or {}).get("Messages") or [])))
            return result

        return _act_receive_message

    def make_dispatch(original):
        async def _dispatch(action: str, data: dict, qurl: str) -> dict:
            result = await original(action, data, qurl)
            url = (result or {}).get("QueueUrl") if action == "CreateQueue" else (data.get("QueueUrl") or qurl)
            queue = _queue(sqs, url)
            if queue is not None:  # "any action accesses it" keeps a queue active
                bus.publish(QueueAccessed(queue))
            return result

        return _dispatch

    def make_esm_receive(original):
        def _receive_messages_for_esm(queue_url: str, max_number: int) -> list:
            batch = original(queue_url, max_number)
            queue = _queue(sqs, queue_url)
            if queue is not None:
                # Lambda's pollers receive when woken, not continuously: an empty batch is no empty receive.
                bus.publish(MessagesReceived(queue, len(batch)) if batch else QueueAccessed(queue))
            return batch

        return _receive_messages_for_esm

    def make_esm_delete(original):
        def _delete_messages_for_esm(queue_url: str, receipt_handles: set) -> None:
            queue = _queue(sqs, queue_url)
            found = 0
            if queue is not None and receipt_handles and bus.wants(MessagesDeleted):
                with sqs._queues_lock:
                    found = sum(1 for m in queue["messages"] if m.get("receipt_handle") in receipt_handles)
            original(queue_url, receipt_handles)
            if queue is not None and found:
                bus.publish(MessagesDeleted(queue, found))

        return _delete_messages_for_esm

    def make_dlq_sweep(original):
        def _dlq_sweep(q: dict) -> None:
            before = len(q.get("messages") or [])
            original(q)
            moved = before - len(q.get("messages") or [])
            if moved <= 0:
                return
            try:
                target = json.loads(q["attributes"].get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
            except (ValueError, AttributeError):
                return
            dlq = sqs._queue_by_arn(target) if target else None
            if dlq is not None:
                bus.publish(MessagesDeadLettered(dlq, dlq["messages"][-moved:]))

        return _dlq_sweep

    wrap(sqs, "_act_send_message", make_send)
    # The handler table holds the functions themselves: point it at the reporting ones.
    handlers: tuple[tuple[str, Callable[[Callable[..., Any]], Callable[..., Any]] | None], ...] = (
        ("SendMessage", None),
        ("ReceiveMessage", make_receive),
        ("DeleteMessage", functools.partial(_reporting_action, sqs, event=lambda queue, _: MessagesDeleted(queue, 1))),
        ("DeleteMessageBatch", functools.partial(_reporting_action, sqs, event=_batch_deleted)),
    )
    for action, make in handlers:
        handler = sqs._HANDLERS.get(action)
        if handler is None:
            raise PatchError(f"cannot report SQS {action}: MiniStack has no handler")
        if make is None:
            sqs._HANDLERS[action] = sqs._act_send_message
        elif not getattr(handler, _REPORTED, False):
            replacement = make(handler)
            functools.update_wrapper(replacement, handler)
            setattr(replacement, _REPORTED, True)
            sqs._HANDLERS[action] = replacement
    wrap(sqs, "_dispatch", make_dispatch)
    wrap(sqs, "_receive_messages_for_esm", make_esm_receive)
    wrap(sqs, "_delete_messages_for_esm", make_esm_delete)
    wrap(sqs, "_dlq_sweep", make_dlq_sweep)
