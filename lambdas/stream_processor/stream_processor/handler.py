"""Lambda entry point for the orders table's DynamoDB stream: new orders -> SQS order queue.

Handler setting: ``stream_processor.handler.lambda_handler``. Event source mapping: the
orders table's stream (``NEW_AND_OLD_IMAGES``), ``FunctionResponseTypes: ["ReportBatchItemFailures"]``.
Environment:

- ``ORDER_QUEUE_URL`` (required): URL of the SQS order queue; the function fails at cold start without it.
- ``POWERTOOLS_LOG_LEVEL`` (optional): Powertools log level, ``INFO`` by default.

Each ``INSERT`` becomes one message (see :mod:`stream_processor.messages`); ``MODIFY`` and
``REMOVE`` are skipped. Messages go out with ``SendMessageBatch``, 10 per call; entries SQS
reports as ``Failed`` are retried a few times. What still fails, and any record that cannot
be turned into a message, is reported back to Lambda as a batch item failure: the lowest such
sequence number, from which Lambda retries the shard. The setting and the SQS client come from
``orderlab_runtime``, the module every handler shares. Tests swap the queue::

    from stream_processor import handler
    handler.set_queue(my_fake_queue)
    handler.lambda_handler(event, context)
    handler.set_queue(None)  # back to SQS, built lazily
"""

from __future__ import annotations

import time
from typing import Any

import orderlab_runtime
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stream_processor import messages
from stream_processor.queue import OrderQueue, SqsOrderQueue, send_with_retries

__all__ = ["forward", "get_queue", "lambda_handler", "logger", "set_queue"]

QUEUE_URL = orderlab_runtime.required_env("ORDER_QUEUE_URL", "the URL of the SQS order queue")

SEND_MAX_ATTEMPTS = 3
"""``SendMessageBatch`` calls per chunk at most (the first one plus two retries of failed entries)."""

SEND_BASE_DELAY_SECONDS = 0.1
"""Backoff before the first retry of failed entries; doubled for each further retry."""

logger = Logger(service="orders")

sleep = time.sleep  # tests replace it

# Tests inject a fake queue with set_queue; set_queue(None) goes back to SQS, built lazily.
_queue = orderlab_runtime.Dependency[OrderQueue](lambda: SqsOrderQueue(QUEUE_URL, orderlab_runtime.client("sqs")))
get_queue, set_queue = _queue.get, _queue.set


def forward(records: list[dict[str, Any]], queue: OrderQueue) -> dict[str, list[dict[str, str]]]:
    """Send the INSERT records of a stream batch to ``queue``; return the partial batch response.

    Never drops a record silently: a record that is malformed, or whose message SQS did not
    take after the retries, is logged and its sequence number (the lowest of them) reported.
    After a ``SendMessageBatch`` call raises, later chunks are not sent: Lambda sends them
    again from the reported record anyway.
    """
    failed_sequences: list[str] = []
    outgoing: list[tuple[str, dict[str, Any], messages.OrderMessage]] = []
    skipped = 0
    for index, record in enumerate(records):
        sequence = messages.sequence_number(record)
        try:
            message = messages.to_order_message(record)
        except messages.MalformedRecord as exc:
            keys = messages.record_keys(record)
            logger.error(
                "Malformed stream record: cannot build an order message",
                extra={
                    "orderId": keys.get("orderId"),
                    "keys": keys,
                    "reason": exc.reason,
                    "sequenceNumber": sequence,
                    "eventID": record.get("eventID"),
                },
            )
            failed_sequences.append(sequence)
            continue
        if message is None:
            skipped += 1
            logger.debug(
                "Skipped stream record (not an INSERT)",
                extra={
                    "eventName": record.get("eventName"),
                    "keys": messages.record_keys(record),
                    "sequenceNumber": sequence,
                },
            )
            continue
        outgoing.append((sequence, messages.send_entry(message, f"r{index}"), message))

    forwarded = not_sent = 0
    chunks = list(messages.chunked(outgoing))
    for number, chunk in enumerate(chunks):
        try:
            failures = send_with_retries(
                queue,
                [entry for _, entry, _ in chunk],
                max_attempts=SEND_MAX_ATTEMPTS,
                base_delay=SEND_BASE_DELAY_SECONDS,
                sleep=sleep,
            )
        except Exception:
            logger.exception(
                "SendMessageBatch failed: reporting the chunk's first record, later chunks not sent",
                extra={"orderIds": [message["orderId"] for _, _, message in chunk], "sequenceNumber": chunk[0][0]},
            )
            failed_sequences.extend(sequence for sequence, _, _ in chunk)
            not_sent = sum(len(later) for later in chunks[number + 1 :])
            break
        failed_by_id = {failure.id: failure for failure in failures}
        for sequence, entry, message in chunk:
            failure = failed_by_id.get(entry["Id"])
            if failure is None:
                forwarded += 1
                # The whole message is logged: an audit trail of what went to the queue.
                logger.info(
                    "Order forwarded to the queue",
                    extra={"orderId": message["orderId"], "sequenceNumber": sequence, "orderMessage": message},
                )
                continue
            failed_sequences.append(sequence)
            logger.error(
                "Order message not accepted by SQS after retries",
                extra={
                    "orderId": message["orderId"],
                    "sequenceNumber": sequence,
                    "code": failure.code,
                    "reason": failure.message,
                    "senderFault": failure.sender_fault,
                },
            )

    reported = messages.failure_to_report(failed_sequences)
    logger.info(
        "Stream batch processed",
        extra={
            "records": len(records),
            "forwarded": forwarded,
            "skipped": skipped,
            "failed": len(failed_sequences),
            "notSent": not_sent,
            "reportedSequenceNumber": reported,
        },
    )
    return messages.batch_response(reported)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: forward the batch's new orders, report what failed."""
    return forward(list(event.get("Records") or []), get_queue())
