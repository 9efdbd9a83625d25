"""Follow orders and messages through the pipeline: final statuses, queue depths, DLQ contents.

>>> item = wait_for_final_status(lab, stack.table.name, order_id)         # doctest: +SKIP
>>> item["status"], item.get("reason")                                    # doctest: +SKIP
('REJECTED', 'customer cust-666 is blocked')
>>> samples = sample_queue_counts(lab, {"orders": q.url, "DLQ": dlq.url}, seconds=20)   # doctest: +SKIP
>>> dlq_frame(lab, dlq.url)                                               # doctest: +SKIP

Every wait is bounded and says, on timeout, what it saw last.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from helpers.aws.sqs import QueueCounts, queue_counts
from helpers.core.waiters import WaitTimeout
from helpers.pipeline.orders import FINAL_STATUSES, get_order, get_orders

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "FINAL_STATUSES",
    "dlq_frame",
    "get_order",
    "get_orders",
    "peek_messages",
    "sample_queue_counts",
    "wait_for_final_status",
    "wait_for_statuses",
]


def wait_for_final_status(
    lab: Lab,
    table_name: str,
    order_id: str,
    *,
    timeout: float = 60,
    final: Iterable[str] = FINAL_STATUSES,
    interval: float = 0.25,
) -> dict[str, Any]:
    """Poll the order (GetItem, ConsistentRead) until its ``status`` is one of ``final``; return the item.

    >>> wait_for_final_status(lab, "alice-orders", order_id, timeout=30)["status"]   # doctest: +SKIP
    'CONFIRMED'
    """
    wanted = tuple(final)
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while True:
        last = get_order(lab, table_name, order_id)
        if last is not None and last.get("status") in wanted:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = "the order does not exist" if last is None else f"status {last.get('status')!r}"
            raise WaitTimeout(
                f"order {order_id} in {table_name} to reach {' or '.join(wanted)}",
                timeout,
                None if last is None else last.get("status"),
                detail=f"{seen}; check the mappings are Enabled, the queues' counts, the DLQ and the "
                "functions' log groups",
            )
        time.sleep(min(interval, remaining))


def wait_for_statuses(
    lab: Lab,
    table_name: str,
    order_ids: Iterable[str],
    *,
    timeout: float = 60,
    final: Iterable[str] = FINAL_STATUSES,
    interval: float = 0.5,
) -> dict[str, dict[str, Any]]:
    """Wait until every order of ``order_ids`` has a status in ``final``; return ``{orderId: item}``.

    On timeout the error lists the orders still not final, with their last status.

    >>> items = wait_for_statuses(lab, "alice-orders", ids, timeout=60)          # doctest: +SKIP
    >>> collections.Counter(i["status"] for i in items.values())                 # doctest: +SKIP
    Counter({'CONFIRMED': 18, 'REJECTED': 2})
    """
    ids = list(dict.fromkeys(order_ids))
    wanted = tuple(final)
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while True:
        pending = [order_id for order_id in ids if order_id not in done]
        if pending:
            for order_id, item in get_orders(lab, table_name, pending).items():
                if item.get("status") in wanted:
                    done[order_id] = item
        if len(done) == len(ids):
            return {order_id: done[order_id] for order_id in ids}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            still = [order_id for order_id in ids if order_id not in done]
            last = get_orders(lab, table_name, still[:100])
            summary = ", ".join(
                f"{order_id} ({(last.get(order_id) or {}).get('status', 'missing')})" for order_id in still[:10]
            )
            raise WaitTimeout(
                f"{len(ids)} orders in {table_name} to reach {' or '.join(wanted)}",
                timeout,
                f"{len(still)} not final",
                detail=summary + (" …" if len(still) > 10 else ""),
            )
        time.sleep(min(interval, remaining))


def sample_queue_counts(
    lab: Lab,
    queues: Mapping[str, str],
    *,
    seconds: float,
    interval: float = 0.5,
    until: Callable[[dict[str, QueueCounts]], bool] | None = None,
) -> pd.DataFrame:
    """Sample each queue's approximate counts every ``interval`` s for at most ``seconds`` s.

    ``queues`` maps a label to a queue URL. ``until(counts)`` (counts: label -> QueueCounts)
    may end the sampling early, e.g. ``until=lambda c: c["orders"].total == 0``. Returns one row per
    sample and queue: ``t`` (seconds since the start), ``label``, ``visible``, ``in_flight``, ``delayed``
    — what :func:`helpers.learn.plots.queue_timeline_plot` draws.
    """
    rows: list[dict[str, Any]] = []
    start = time.monotonic()
    deadline = start + seconds
    while True:
        t = round(time.monotonic() - start, 3)
        counts = {label: queue_counts(lab, url) for label, url in queues.items()}
        rows += [
            {"t": t, "label": label, "visible": c.visible, "in_flight": c.in_flight, "delayed": c.delayed}
            for label, c in counts.items()
        ]
        if until is not None and until(counts):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    return pd.DataFrame(rows, columns=["t", "label", "visible", "in_flight", "delayed"])


def _parse_body(body: str) -> Any:
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return body


def _timestamp(ms: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


def peek_messages(lab: Lab, queue_url: str, max_messages: int = 10, *, wait_seconds: int = 1) -> list[dict[str, Any]]:
    """Look at up to ``max_messages`` messages without consuming them.

    ReceiveMessage with ``VisibilityTimeout=0`` (they stay available) and every attribute, repeated
    while new messages come back (at most ``max_messages``, deduplicated by id). Each entry has
    ``body`` (parsed JSON when it is JSON), ``messageId``, ``receiveCount`` (SQS's
    ApproximateReceiveCount — *this* receive included), ``sentTimestamp`` (UTC datetime),
    ``deadLetterQueueSourceArn`` (set on a message SQS moved to a DLQ) and ``attributes``.

    Peeking is a receive: on a queue with a redrive policy it counts towards maxReceiveCount.
    Peek at dead-letter queues, not at queues a worker consumes.
    """
    if not 1 <= max_messages <= 100:
        raise ValueError(f"max_messages must be 1-100, got {max_messages}")
    sqs = lab.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, -(-max_messages // 10)) + 2):  # bounded: a few receives beyond the pages needed
        reply = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - len(seen)),
            VisibilityTimeout=0,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        fresh = [m for m in reply.get("Messages", []) if m["MessageId"] not in seen]
        for message in fresh:
            attributes = message.get("Attributes", {})
            seen[message["MessageId"]] = {
                "messageId": message["MessageId"],
                "body": _parse_body(message.get("Body", "")),
                "receiveCount": int(attributes.get("ApproximateReceiveCount", 0)),
                "sentTimestamp": _timestamp(attributes.get("SentTimestamp")),
                "deadLetterQueueSourceArn": attributes.get("DeadLetterQueueSourceArn"),
                "attributes": attributes,
                "messageAttributes": message.get("MessageAttributes", {}),
            }
        if not fresh or len(seen) >= max_messages:
            break
    return list(seen.values())


def _order_of(body: Any) -> dict[str, Any]:
    """The order a message body describes: the body itself, or its ``order``/``detail``/``NewImage`` part."""
    if not isinstance(body, dict):
        return {}
    for key in ("order", "detail"):
        if isinstance(body.get(key), dict):
            return {**body[key], **{k: v for k, v in body.items() if k not in (key,)}}
    return body


def _reason_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in ("error", "errorMessage", "lastError", "failureReason", "reason"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("errorMessage") or json.dumps(value)
        if value:
            return str(value)
    context = body.get("requestContext")
    if isinstance(context, dict) and context.get("condition"):  # a Lambda on-failure destination record
        return str(context["condition"])
    return None


def dlq_frame(lab: Lab, dlq_url: str, max_messages: int = 100, *, table_name: str | None = None) -> pd.DataFrame:
    """What sits in a dead-letter queue, one row per message: ``orderId``, ``fault``, ``receiveCount``
    (as SQS reports it on this peek), ``sent``, ``reason`` (when the body says why it failed), ``messageId``.

    With ``table_name``, each row also gets what the worker noted on the order: its ``status``,
    ``failedAttempts`` (how many receives failed) and ``lastError`` (why).
    """
    rows = []
    for message in peek_messages(lab, dlq_url, max_messages):
        order = _order_of(message["body"])
        row = {
            "orderId": order.get("orderId"),
            "fault": order.get("fault"),
            "receiveCount": message["receiveCount"],
            "sent": message["sentTimestamp"],
            "reason": _reason_of(message["body"]),
            "messageId": message["messageId"],
        }
        if table_name and row["orderId"]:
            item = get_order(lab, table_name, row["orderId"]) or {}
            failed = item.get("failedAttempts")
            row.update(
                status=item.get("status"),
                failedAttempts=int(failed) if failed is not None else None,
                lastError=item.get("lastError"),
            )
        rows.append(row)
    columns = ["orderId", "fault", "receiveCount", "sent", "reason", "messageId"]
    if table_name:
        columns += ["status", "failedAttempts", "lastError"]
    return pd.DataFrame(rows, columns=columns)


def status_timeline(items: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per order: seconds from the first order's creation to its own creation and final status.

    ``items`` maps order ids to orders as :func:`wait_for_statuses` returns them; feeds
    :func:`helpers.learn.plots.status_timeline_plot`.
    """

    def seconds(value: Any) -> float | None:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() if value else None

    rows = [
        {
            "label": order_id[:8],
            "status": item.get("status"),
            "created": seconds(item.get("createdAt")),
            "final": seconds(item.get("processedAt") or item.get("updatedAt")),
        }
        for order_id, item in items.items()
    ]
    frame = pd.DataFrame(rows, columns=["label", "status", "created", "final"])
    if frame.empty:
        return frame.assign(created_s=[], final_s=[])
    origin = frame["created"].min()
    frame["created_s"] = frame["created"] - origin
    frame["final_s"] = frame["final"] - origin
    return frame.sort_values("created_s", ignore_index=True)
