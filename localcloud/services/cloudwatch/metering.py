"""AWS/Lambda, AWS/ApiGateway and AWS/SQS metrics, counted from the events those services publish.

>>> from localcloud.events import EventBus
>>> bus = EventBus(); subscribe(bus); bus.wants(FunctionInvoked)
True
"""

from __future__ import annotations

import time

from localcloud.events import EventBus
from localcloud.services.apigateway.events import HttpApiRequestServed
from localcloud.services.awslambda.events import FunctionInvoked
from localcloud.services.cloudwatch.runtime import _record, _rt
from localcloud.services.cloudwatch.sources import (
    MOVED,
    SENT_COUNTED,
    api_dimension_sets,
    lambda_dimension_sets,
    message_size,
    queue_arn,
)
from localcloud.services.sns.events import DeliveredToQueue
from localcloud.services.sqs.events import (
    MessagesDeadLettered,
    MessagesDeleted,
    MessageSent,
    MessagesReceived,
    QueueAccessed,
)


def _function_scope(config: dict) -> tuple[str, str, str, str]:
    """(account, region, name, arn) of a function configuration."""
    from ministack.core.responses import get_account_id, get_region

    arn = str(config.get("FunctionArn") or "")
    parts = arn.split(":")
    name = str(config.get("FunctionName") or (parts[6] if len(parts) > 6 else "unknown"))
    if len(parts) > 6 and parts[2] == "lambda":
        return parts[4], parts[3], name, arn
    return get_account_id(), get_region(), name, arn


def on_function_invoked(event: FunctionInvoked) -> None:
    account, region, name, arn = _function_scope(event.config)
    sets = lambda_dimension_sets(arn, name, event.config.get("Version"))
    ns = "AWS/Lambda"
    started = event.started
    result = event.result if isinstance(event.result, dict) else {}
    if result.get("throttle"):
        _record(account, region, ns, "Throttles", sets, started, 1, "Count")
        return
    _record(account, region, ns, "Invocations", sets, started, 1, "Count")
    _record(account, region, ns, "Errors", sets, started, 1 if result.get("error") else 0, "Count")
    _record(account, region, ns, "Throttles", sets, started, 0, "Count")
    _record(account, region, ns, "Duration", sets, started, round(event.elapsed_ms, 2), "Milliseconds", aggregate=False)
    _record(account, region, ns, "ConcurrentExecutions", sets[:1], started, event.concurrent, "Count")
    _record(account, region, ns, "ConcurrentExecutions", [()], started, event.concurrent_in_region, "Count")


def on_http_api_request(event: HttpApiRequestServed) -> None:
    account, region, started = event.account, event.region, event.started
    sets = api_dimension_sets(event.api_id, event.stage or "$default")
    ns = "AWS/ApiGateway"
    _record(account, region, ns, "Count", sets, started, 1, "Count")
    _record(account, region, ns, "4xx", sets, started, 1 if 400 <= event.status < 500 else 0, "Count")
    _record(account, region, ns, "5xx", sets, started, 1 if event.status >= 500 else 0, "Count")
    _record(account, region, ns, "Latency", sets, started, round(event.latency_ms, 2), "Milliseconds", aggregate=False)
    if event.integration_ms is not None:
        _record(
            account,
            region,
            ns,
            "IntegrationLatency",
            sets,
            started,
            round(event.integration_ms, 2),
            "Milliseconds",
            aggregate=False,
        )
    _record(account, region, ns, "DataProcessed", sets, started, event.size, "Bytes", aggregate=False)


def _count_new_last(queue: dict | None, message_id: str | None = None) -> None:
    """Count the message just appended to ``queue`` as sent (once)."""
    if queue is None:
        return
    messages = queue.get("messages") or []
    last = messages[-1] if messages else None
    now = time.time()
    if last is not None and not last.get(SENT_COUNTED) and (message_id is None or last.get("id") == message_id):
        last[SENT_COUNTED] = True
        _rt.meters.sent(queue_arn(queue), message_size(last), now)
    else:
        _rt.meters.touch(queue_arn(queue), now)


def on_message_sent(event: MessageSent) -> None:
    _count_new_last(event.queue, event.message_id)


def on_messages_received(event: MessagesReceived) -> None:
    _rt.meters.received(queue_arn(event.queue), event.count, time.time())


def on_messages_deleted(event: MessagesDeleted) -> None:
    _rt.meters.deleted(queue_arn(event.queue), event.count, time.time())


def on_queue_accessed(event: QueueAccessed) -> None:
    _rt.meters.touch(queue_arn(event.queue), time.time())


def on_messages_dead_lettered(event: MessagesDeadLettered) -> None:
    now = time.time()
    for message in event.messages:  # their age in the dead-letter queue counts from the move
        message.setdefault(MOVED, (now, int(message.get("receive_count") or 0)))


def on_delivered_to_queue(event: DeliveredToQueue) -> None:
    from ministack.services import sqs

    _count_new_last(sqs._queue_byqueue_arn(event.queue_arn))


def subscribe(bus: EventBus) -> None:
    """Count what the other services report; e.g. ``subscribe(localcloud.events.bus)``."""
    bus.subscribe(FunctionInvoked, on_function_invoked)
    bus.subscribe(HttpApiRequestServed, on_http_api_request)
    bus.subscribe(MessageSent, on_message_sent)
    bus.subscribe(MessagesReceived, on_messages_received)
    bus.subscribe(MessagesDeleted, on_messages_deleted)
    bus.subscribe(QueueAccessed, on_queue_accessed)
    bus.subscribe(MessagesDeadLettered, on_messages_dead_lettered)
    bus.subscribe(DeliveredToQueue, on_delivered_to_queue)
