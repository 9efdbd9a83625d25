"""Lambda entry point for the SQS order queue: decide each order, PENDING -> CONFIRMED | REJECTED.

Handler setting: ``order_worker.handler.lambda_handler``. Event source mapping: the order
queue, ``FunctionResponseTypes: ["ReportBatchItemFailures"]``. Environment:

- ``ORDERS_TABLE`` (required): DynamoDB orders table name;
- ``ORDER_QUEUE_URL`` (required): the order queue's URL (for ``ChangeMessageVisibility``);
- ``TRANSIENT_FAILURES`` (default 2): failing receives of a ``fault: "transient"`` order;
- ``FAULT_INJECTION`` (default ``on``): ``off`` ignores every order's ``fault`` ("the fix");
- ``MAX_QUANTITY_PER_ITEM`` (100), ``MAX_ORDER_TOTAL`` (10000), ``BLOCKED_CUSTOMERS``
  (``cust-666``), ``DISCONTINUED_SKUS`` (none): the business rules (:mod:`order_worker.rules`);
- ``POWERTOOLS_LOG_LEVEL`` (optional): Powertools log level, ``INFO`` by default;
- ``POWERTOOLS_METRICS_NAMESPACE`` (optional): namespace of the business metrics,
  ``OrderPipelineLab`` by default.

Business metrics (CloudWatch embedded metric format, one JSON line per invocation in the
function's log, dimension ``service=orders``): ``OrdersConfirmed`` and ``OrdersRejected``,
counted when this worker records the decision (a duplicate message counts nothing).

A missing or malformed setting fails the function at cold start, naming the variable.

Powertools' ``BatchProcessor`` runs :func:`record_handler` per message and returns the
partial batch response: only the messages that raised are listed, so SQS retries just those.
Settings, AWS clients and timestamps come from ``orderlab_runtime``, the module every handler
shares. Tests swap the store and the visibility control::

    from order_worker import handler
    handler.set_store(my_in_memory_store)
    handler.set_visibility(my_fake_visibility)
    handler.lambda_handler(event, context)
    handler.set_store(None); handler.set_visibility(None)  # back to AWS, built lazily
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import orderlab_runtime
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from order_worker import faults, messages, rules
from order_worker.errors import OrderNotFound, PermanentFailure, TransientFailure
from order_worker.store import DynamoOrderStatusStore, OrderStatusStore
from order_worker.visibility import MessageVisibility, SqsMessageVisibility

__all__ = [
    "decide",
    "get_store",
    "get_visibility",
    "lambda_handler",
    "logger",
    "metrics",
    "processor",
    "record_handler",
    "set_store",
    "set_visibility",
]

TABLE_NAME = orderlab_runtime.required_env("ORDERS_TABLE", "the DynamoDB orders table name")
QUEUE_URL = orderlab_runtime.required_env("ORDER_QUEUE_URL", "the URL of the SQS order queue")
RULES = rules.rules_from_env(os.environ)
TRANSIENT_FAILURES = faults.transient_failures_from_env(os.environ)
FAULT_INJECTION = faults.fault_injection_from_env(os.environ)

BODY_PREVIEW_CHARS = 500
"""How much of a malformed body is logged."""

logger = Logger(service="orders")
# EMF: CloudWatch turns the JSON line Powertools prints into metrics, no PutMetricData call
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format.html).
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "OrderPipelineLab"
metrics = Metrics(namespace=METRICS_NAMESPACE, service="orders")
# A batch of only failures or duplicates decides nothing new: expected, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# The metric counting each final status this worker records.
DECISION_METRICS = {"CONFIRMED": "OrdersConfirmed", "REJECTED": "OrdersRejected"}
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

# Tests inject an in-memory store and a fake visibility control; set_*(None) goes back to AWS, built lazily.
_store = orderlab_runtime.Dependency[OrderStatusStore](
    lambda: DynamoOrderStatusStore(TABLE_NAME, orderlab_runtime.client("dynamodb"))
)
get_store, set_store = _store.get, _store.set
_visibility = orderlab_runtime.Dependency[MessageVisibility](
    lambda: SqsMessageVisibility(QUEUE_URL, orderlab_runtime.client("sqs"))
)
get_visibility, set_visibility = _visibility.get, _visibility.set


def decide(order: messages.OrderMessage, receive_count: int) -> str:
    """Apply fault injection (unless ``FAULT_INJECTION`` is off) and the rules to one order,
    record the decision; return the status.

    Idempotent: if the order is no longer PENDING (a duplicate message, or a retry after a
    write that succeeded), nothing is written and the order's current final status is
    returned — before any fault is injected, since a duplicate of a decided order has nothing
    left to fail. Raises :class:`~order_worker.errors.OrderNotFound` for an unknown order.
    """
    if FAULT_INJECTION and order.fault is not None:
        decided = _final_status(order.order_id)
        if decided is not None:
            return decided
        faults.inject_fault(order, receive_count=receive_count, transient_failures=TRANSIENT_FAILURES)
    elif order.fault is not None:
        logger.info("Fault injection is off: ignoring the order's fault", extra={"fault": order.fault})
    decision = rules.evaluate(order, RULES)
    store = get_store()
    timestamp = orderlab_runtime.timestamp_now()
    if store.record_decision(order.order_id, decision, timestamp=timestamp, attempts=receive_count):
        logger.info(
            f"Order {decision.status.lower()}",
            extra={"status": decision.status, "reason": decision.reason, "total": str(order.total)},
        )
        if decision.status in DECISION_METRICS:
            metrics.add_metric(name=DECISION_METRICS[decision.status], unit=MetricUnit.Count, value=1)
        return decision.status

    status = _current_status(order.order_id)
    if status in rules.FINAL_STATUSES:
        return status
    # PENDING yet the condition failed (or a status this worker does not know): let SQS retry.
    raise RuntimeError(f"order {order.order_id} has status {status!r}; the decision was not recorded")


def _final_status(order_id: str) -> str | None:
    """The order's final status if it has one, else None (see :func:`_current_status`)."""
    status = _current_status(order_id)
    return status if status in rules.FINAL_STATUSES else None


def _current_status(order_id: str) -> str:
    """Read the order's status (a final one is logged: a duplicate, nothing written).

    Raises :class:`~order_worker.errors.OrderNotFound` for an unknown order.
    """
    current = get_store().get(order_id)
    if current is None:
        raise OrderNotFound(order_id)
    status = str(current.get("status"))
    if status in rules.FINAL_STATUSES:
        logger.info(
            "Order already processed: nothing written",
            extra={"status": status, "statusReason": current.get("statusReason")},
        )
    return status


def _shorten_backoff(receipt_handle: str, error: Exception, receive_count: int) -> int:
    """Best effort: make the failed message visible again after its retry delay; return it."""
    timeout = faults.retry_delay_seconds(error, receive_count)
    try:
        get_visibility().change_visibility(receipt_handle, timeout)
    except Exception as exc:
        logger.warning(
            "Could not shorten the retry delay (ChangeMessageVisibility failed)",
            extra={"visibilityTimeout": timeout, "error": f"{type(exc).__name__}: {exc}"},
        )
    return timeout


def _note_failure(order_id: str, exc: Exception, receive_count: int) -> None:
    """Best effort: write why and how often the order failed onto the (still PENDING) order."""
    try:
        get_store().record_failure(
            order_id,
            error=f"{type(exc).__name__}: {exc}",
            attempts=receive_count,
            timestamp=orderlab_runtime.timestamp_now(),
        )
    except Exception as note_error:
        logger.warning(
            "Could not note the failure on the order", extra={"error": f"{type(note_error).__name__}: {note_error}"}
        )


def _log_failure(exc: Exception, body: str | None, retry_in: int) -> None:
    details: dict[str, Any] = {"errorType": type(exc).__name__, "reason": str(exc), "retryInSeconds": retry_in}
    if isinstance(exc, PermanentFailure):
        if isinstance(exc, messages.PoisonMessage):
            details["bodyPreview"] = (body or "")[:BODY_PREVIEW_CHARS]
        logger.error("Order message failed permanently: bound for the dead-letter queue", extra=details)
    elif isinstance(exc, TransientFailure):
        logger.warning("Order message failed transiently: SQS will retry it", extra=details)
    else:
        logger.exception("Order message failed unexpectedly: SQS will retry it", extra=details)


def record_handler(record: SQSRecord) -> str:
    """Process one SQS message; return the order's status, or raise so it is retried.

    Before raising, the failure is noted on the order while it is PENDING (``failedAttempts`` =
    receive count, ``lastError``), then the message's visibility timeout is set to
    :func:`~order_worker.faults.retry_delay_seconds` (0 s for a permanent failure, else a
    backoff growing with the receive count).
    """
    receive_count = faults.parse_receive_count(record.attributes.get("ApproximateReceiveCount"))
    logger.append_keys(messageId=record.message_id, receiveCount=receive_count)
    order: messages.OrderMessage | None = None
    try:
        order = messages.parse_message(record.body)
        logger.append_keys(orderId=order.order_id)
        return decide(order, receive_count)
    except Exception as exc:
        # Note the failure before the message can come back (at once, for a permanent failure)
        # or move to the DLQ: whoever finds it there reads every failed receive on the order.
        if order is not None and not isinstance(exc, OrderNotFound):
            _note_failure(order.order_id, exc, receive_count)
        retry_in = _shorten_backoff(record.receipt_handle, exc, receive_count)
        _log_failure(exc, record.body, retry_in)
        raise
    finally:
        logger.remove_keys(["messageId", "receiveCount", "orderId"])


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Lambda entry point: process the batch, report only the failed messages."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
