"""Lambda entry point for the SQS high-value queue: ``high_value.handler.lambda_handler``.

Event source mapping: the high-value queue, ``FunctionResponseTypes: ["ReportBatchItemFailures"]``.
Environment: ``ORDERS_TABLE`` (required). Per message (Powertools ``BatchProcessor``):

- marked now, or already marked (a redelivery): success;
- the order does not exist (yet): a failure, retried by SQS, then the queue's DLQ;
- an unreadable message: a failure too — after maxReceiveCount receives it lands in the DLQ with its body.

The setting, the DynamoDB client and the timestamp come from ``orderlab_runtime``, the module every
handler shares. Tests swap the client: ``orderlab_runtime.set_client("dynamodb", fake)``; ``None`` restores it.
"""

from __future__ import annotations

from typing import Any

import orderlab_runtime
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from high_value.marking import mark_update, parse_message

TABLE_NAME = orderlab_runtime.required_env("ORDERS_TABLE", "the DynamoDB orders table name")
logger = Logger(service="orders")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class OrderNotFound(RuntimeError):
    """The routed order is not in the table: retried (it may be a replica lag), then the DLQ."""


def record_handler(record: SQSRecord) -> None:
    """Mark one routed order; raise to have SQS retry the message."""
    order = parse_message(record.body)
    logger.append_keys(orderId=order.order_id)
    client = orderlab_runtime.client("dynamodb")
    try:
        client.update_item(**mark_update(TABLE_NAME, order, timestamp=orderlab_runtime.timestamp_now()))
    except client.exceptions.ConditionalCheckFailedException as error:
        old = error.response.get("Item")
        if not old:
            raise OrderNotFound(f"order {order.order_id} is not in table {TABLE_NAME}") from None
        logger.info(
            "Already marked for priority handling (redelivery)", extra={"priority": old.get("priority", {}).get("S")}
        )
        return
    logger.info("Marked for priority handling", extra={"priority": order.priority, "customerTier": order.customer_tier})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process the batch; report only the failed messages (partial batch response)."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
