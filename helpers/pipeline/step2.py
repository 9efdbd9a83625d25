"""Step 2 (notebook 02): the orders table's stream, the queues, and stream_processor feeding the order queue.

>>> table = enable_order_stream(lab)                                # doctest: +SKIP
>>> queues = ensure_order_queues(lab, max_receive_count=3)          # doctest: +SKIP
>>> deploy_stream_processor(lab, table, queues).mapping.state       # doctest: +SKIP
'Enabled'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from helpers.aws.dynamodb import TableInfo, ensure_orders_table
from helpers.aws.event_sources import (
    MappingInfo,
    delete_event_source_mapping,
    dynamodb_stream_statements,
    ensure_event_source_mapping,
    find_event_source_mappings,
)
from helpers.aws.iam import ensure_lambda_role
from helpers.aws.lambda_ import FunctionInfo, deploy_function
from helpers.aws.sqs import MAX_RETENTION_SECONDS, QueueInfo, ensure_queue, queue_arn, sqs_sender_statement
from helpers.core.lab import Lab
from helpers.pipeline.catalog import (
    ORDER_DLQ_COMPONENT,
    ORDER_QUEUE_COMPONENT,
    ORDER_WORKER,
    ORDERS_COMPONENT,
    STREAM_FAILURES_COMPONENT,
    STREAM_PROCESSOR,
)

__all__ = [
    "DEFAULT_MAX_RECEIVE_COUNT",
    "ORDER_DLQ_COMPONENT",
    "ORDER_QUEUE_COMPONENT",
    "ORDER_QUEUE_VISIBILITY_TIMEOUT",
    "STREAM_FAILURES_COMPONENT",
    "STREAM_PROCESSOR_COMPONENT",
    "STREAM_PROCESSOR_DIR",
    "STREAM_PROCESSOR_HANDLER",
    "STREAM_PROCESSOR_MAPPING",
    "STREAM_PROCESSOR_TIMEOUT",
    "STREAM_VIEW_TYPE",
    "OrderQueues",
    "StepInfo",
    "deploy_stream_processor",
    "enable_order_stream",
    "ensure_order_queues",
    "order_queue_settings",
    "stream_processor_environment",
    "stream_processor_role_statements",
]

STREAM_VIEW_TYPE: Final = "NEW_AND_OLD_IMAGES"
STREAM_PROCESSOR_COMPONENT = STREAM_PROCESSOR.component
STREAM_PROCESSOR_DIR = STREAM_PROCESSOR.directory
STREAM_PROCESSOR_HANDLER = STREAM_PROCESSOR.handler
STREAM_PROCESSOR_TIMEOUT = STREAM_PROCESSOR.timeout
# AWS: set the source queue's visibility timeout to at least six times the function's timeout.
ORDER_QUEUE_VISIBILITY_TIMEOUT = 6 * ORDER_WORKER.timeout
DEFAULT_MAX_RECEIVE_COUNT = 3
# The stream mapping's settings (helpers.aws.event_sources.ensure_event_source_mapping keywords): a
# failing batch is split in two and retried at most twice; records older than an hour are not
# retried; the function reports partial batch failures.
STREAM_PROCESSOR_MAPPING: dict[str, Any] = {
    "batch_size": 10,
    "starting_position": "TRIM_HORIZON",
    "bisect_batch_on_function_error": True,
    "maximum_retry_attempts": 2,
    "maximum_record_age_in_seconds": 3600,
    "function_response_types": ("ReportBatchItemFailures",),
}


@dataclass(frozen=True)
class OrderQueues:
    """The order queue, its dead-letter queue, and the stream mapping's on-failure queue."""

    queue: QueueInfo
    dlq: QueueInfo
    stream_failures: QueueInfo

    @property
    def changed(self) -> bool:
        return self.queue.changed or self.dlq.changed or self.stream_failures.changed

    def urls(self) -> dict[str, str]:
        """``{label: url}`` for :func:`helpers.ops.tracking.sample_queue_counts`."""
        return {"order queue": self.queue.url, "DLQ": self.dlq.url, "stream failures": self.stream_failures.url}


@dataclass(frozen=True)
class StepInfo:
    """A function and the event source mapping that feeds it."""

    function: FunctionInfo
    mapping: MappingInfo

    @property
    def changed(self) -> bool:
        return self.function.changed or self.mapping.changed


def enable_order_stream(lab: Lab) -> TableInfo:
    """Step 2a: turn on the orders table's stream (``NEW_AND_OLD_IMAGES``); returns the table with its stream ARN.

    >>> enable_order_stream(lab).stream_arn                             # doctest: +SKIP
    'arn:aws:dynamodb:us-east-1:123456789012:table/alice-orders/stream/2024-05-01T12:00:00.000'
    """
    table = ensure_orders_table(lab, lab.name(ORDERS_COMPONENT), stream_view_type=STREAM_VIEW_TYPE)
    if not table.stream_arn:
        raise RuntimeError(f"DynamoDB table {table.name} reports no LatestStreamArn after enabling its stream")
    return table


def ensure_order_queues(lab: Lab, *, max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT) -> OrderQueues:
    """Steps 3 and 5: the order queue with its dead-letter queue, and the stream-failures queue.

    - ``order-dlq``: keeps messages 14 days (longer than the order queue's 4, as AWS advises: a
      message's age counts from its first enqueue); only the order queue may use it (RedriveAllowPolicy).
    - ``order-queue``: visibility timeout 30 s (6 x the worker's 5 s timeout, AWS's guidance for
      Lambda consumers); after ``max_receive_count`` receives a message moves to the DLQ.
    - ``stream-failures``: where the stream mapping sends a record batch it gave up on.

    >>> queues = ensure_order_queues(lab, max_receive_count=3)          # doctest: +SKIP
    >>> queues.queue.name, queues.dlq.name                              # doctest: +SKIP
    ('alice-order-queue', 'alice-order-dlq')
    """
    queues = {
        component: ensure_queue(lab, component, **settings)
        for component, settings in order_queue_settings(lab, max_receive_count=max_receive_count).items()
    }
    return OrderQueues(
        queue=queues[ORDER_QUEUE_COMPONENT],
        dlq=queues[ORDER_DLQ_COMPONENT],
        stream_failures=queues[STREAM_FAILURES_COMPONENT],
    )


def order_queue_settings(lab: Lab, *, max_receive_count: int) -> dict[str, dict[str, Any]]:
    """The queues of steps 2, 3 and 5: component -> :func:`helpers.aws.sqs.ensure_queue` settings,
    in creation order (the dead-letter queue before the queue that names it)."""
    return {
        ORDER_DLQ_COMPONENT: {
            "message_retention_seconds": MAX_RETENTION_SECONDS,
            "redrive_allow_source_arns": [queue_arn(lab, ORDER_QUEUE_COMPONENT)],
        },
        ORDER_QUEUE_COMPONENT: {
            "visibility_timeout": ORDER_QUEUE_VISIBILITY_TIMEOUT,
            "dead_letter_target_arn": queue_arn(lab, ORDER_DLQ_COMPONENT),
            "max_receive_count": max_receive_count,
        },
        STREAM_FAILURES_COMPONENT: {"message_retention_seconds": MAX_RETENTION_SECONDS},
    }


def stream_processor_role_statements(table: TableInfo, queues: OrderQueues) -> list[dict[str, Any]]:
    """Read the table's stream; send to the order queue; send to stream-failures (the mapping's
    on-failure destination: Lambda sends those records with the function's role)."""
    if not table.stream_arn:
        raise ValueError(f"Table {table.name} has no stream: call enable_order_stream(lab) first")
    return [
        *dynamodb_stream_statements(table.stream_arn),
        sqs_sender_statement(queues.queue.arn),
        sqs_sender_statement(queues.stream_failures.arn),
    ]


def deploy_stream_processor(
    lab: Lab,
    table: TableInfo,
    queues: OrderQueues,
    *,
    function_dir: Path = STREAM_PROCESSOR_DIR,
) -> StepInfo:
    """Step 2b: the stream_processor function and its mapping from the table's stream.

    Mapping: batches of 10 from TRIM_HORIZON; a failing batch is split in two (bisect) and retried
    at most twice; records older than an hour are not retried; what is given up goes to the
    stream-failures queue; the function reports partial batch failures. A mapping of this function
    from an earlier stream of the same table (the stream was switched off and on) is deleted.
    """
    if not table.stream_arn:
        raise ValueError(f"Table {table.name} has no stream: call enable_order_stream(lab) first")
    role_arn = ensure_lambda_role(lab, STREAM_PROCESSOR_COMPONENT, stream_processor_role_statements(table, queues))
    function = deploy_function(
        lab,
        function_dir,
        component=STREAM_PROCESSOR_COMPONENT,
        handler=STREAM_PROCESSOR_HANDLER,
        role_arn=role_arn,
        timeout=STREAM_PROCESSOR_TIMEOUT,
        environment=stream_processor_environment(queues.queue.url),
    )
    for stale in find_event_source_mappings(lab, function.name):
        source = stale.get("EventSourceArn", "")
        if source.startswith(f"{table.arn}/stream/") and source != table.stream_arn:
            delete_event_source_mapping(lab, stale["UUID"])
    mapping = ensure_event_source_mapping(
        lab,
        function_name=function.name,
        source_arn=table.stream_arn,
        on_failure_destination_arn=queues.stream_failures.arn,
        **STREAM_PROCESSOR_MAPPING,
    )
    return StepInfo(function, mapping)


def stream_processor_environment(order_queue_url: str) -> dict[str, str]:
    """stream_processor's environment: where it sends orders."""
    return {"ORDER_QUEUE_URL": order_queue_url, "POWERTOOLS_SERVICE_NAME": "orders", "POWERTOOLS_LOG_LEVEL": "INFO"}
