"""Step 4: route high-value orders with an EventBridge pipe (filter → enrichment → SQS → consumer).

>>> stack = deploy_high_value_routing(lab, threshold=1000)            # doctest: +SKIP
>>> stack.pipe.state, stack.queues.queue.name                         # doctest: +SKIP
('RUNNING', 'alice-high-value-queue')
>>> routing_status(lab)["ready"]                                      # doctest: +SKIP
True

The pipe reads the orders table's stream, keeps only new orders whose ``valueTier`` is ``HIGH``
(:data:`HIGH_VALUE_PATTERN`), lets ``high_value_enricher`` add the customer tier and a priority,
and sends one message per order to the high-value queue, whose consumer (``high_value``) marks the
order. ``create_order`` derives ``valueTier`` from the total and ``HIGH_VALUE_THRESHOLD``: filtering
on ``total`` itself cannot work, because a stream record carries numbers as strings
(``{"N": "1500"}``) and a ``numeric`` rule never matches a string (:func:`numeric_pitfall_pattern`).
Re-running converges: same queues, functions, mapping and pipe; nothing updated that did not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from helpers.aws.event_sources import (
    MappingInfo,
    dynamodb_stream_statements,
    ensure_event_source_mapping,
)
from helpers.aws.iam import (
    dynamodb_statement,
    ensure_lambda_role,
    ensure_pipe_role,
)
from helpers.aws.lambda_ import FunctionInfo, deploy_function, get_function
from helpers.aws.pipes import PipeInfo, describe_pipe, ensure_pipe
from helpers.aws.sqs import (
    MAX_RETENTION_SECONDS,
    QueueInfo,
    describe_queue,
    ensure_queue,
    queue_arn,
    sqs_consumer_statement,
    sqs_sender_statement,
)
from helpers.core.lab import Lab
from helpers.core.waiters import WaitTimeout, wait_until
from helpers.pipeline.catalog import (
    HIGH_VALUE_CONSUMER,
    HIGH_VALUE_DLQ_COMPONENT,
    HIGH_VALUE_ENRICHER,
    HIGH_VALUE_PIPE_COMPONENT,
    HIGH_VALUE_PIPE_DLQ_COMPONENT,
    HIGH_VALUE_QUEUE_COMPONENT,
    ORDERS_COMPONENT,
    PITFALL_PIPE_COMPONENT,
    PITFALL_QUEUE_COMPONENT,
    step,
)
from helpers.pipeline.orders import get_orders
from helpers.pipeline.step1 import check_threshold, current_threshold, deploy_create_order
from helpers.pipeline.step2 import StepInfo, enable_order_stream
from helpers.pipeline.step5 import pipeline_status

__all__ = [
    "CONSUMER_COMPONENT",
    "CONSUMER_MAPPING",
    "ENRICHER_COMPONENT",
    "HIGH_VALUE_PATTERN",
    "PIPE_COMPONENT",
    "PITFALL_PIPE_COMPONENT",
    "HighValueQueues",
    "RoutingStack",
    "consumer_environment",
    "consumer_role_statements",
    "current_threshold",  # step 1's, re-exported for notebook 04
    "deploy_enricher",
    "deploy_high_value_consumer",
    "deploy_high_value_routing",
    "enricher_environment",
    "ensure_high_value_pipe",
    "ensure_high_value_queues",
    "ensure_numeric_pitfall_pipe",
    "high_value_pipe_settings",
    "high_value_queue_settings",
    "numeric_pitfall_pattern",
    "pipe_role_statements",
    "routing_frame",
    "routing_status",
    "set_high_value_threshold",
    "wait_for_marks",
]

NOTEBOOK = step("04").notebook
PIPE_COMPONENT = HIGH_VALUE_PIPE_COMPONENT
QUEUE_COMPONENT = HIGH_VALUE_QUEUE_COMPONENT
DLQ_COMPONENT = HIGH_VALUE_DLQ_COMPONENT
PIPE_DLQ_COMPONENT = HIGH_VALUE_PIPE_DLQ_COMPONENT
ENRICHER_COMPONENT = HIGH_VALUE_ENRICHER.component
CONSUMER_COMPONENT = HIGH_VALUE_CONSUMER.component
ENRICHER_DIR = HIGH_VALUE_ENRICHER.directory
CONSUMER_DIR = HIGH_VALUE_CONSUMER.directory
ENRICHER_HANDLER = HIGH_VALUE_ENRICHER.handler
CONSUMER_HANDLER = HIGH_VALUE_CONSUMER.handler
CONSUMER_TIMEOUT = HIGH_VALUE_CONSUMER.timeout
MAX_RECEIVE_COUNT = 3
# high_value's mapping from the high-value queue (ensure_event_source_mapping keywords): partial batch
# failures, at most 5 concurrent invocations.
CONSUMER_MAPPING: dict[str, Any] = {
    "batch_size": 10,
    "maximum_batching_window_seconds": 0,
    "function_response_types": ("ReportBatchItemFailures",),
    "maximum_concurrency": 5,
}
# A failed enrichment/delivery is retried this many times, then the pipe sends the batch's
# metadata to its dead-letter queue (with -1, AWS's default, a bad record would block the shard
# for the 24 h of the stream's retention).
PIPE_MAX_RETRIES = 3

# New orders (INSERT) whose string attribute valueTier is "HIGH". The same syntax as EventBridge
# rules (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html).
HIGH_VALUE_PATTERN: dict[str, Any] = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"valueTier": {"S": ["HIGH"]}}},
}


def numeric_pitfall_pattern(threshold: Decimal | int | str) -> dict[str, Any]:
    """The filter everyone writes first — and that never matches on AWS: ``total`` is ``{"N": "1500"}``,
    a *string*, and EventBridge's ``numeric`` operator only matches JSON numbers.

    >>> numeric_pitfall_pattern(1000)["dynamodb"]["NewImage"]["total"]
    {'N': [{'numeric': ['>=', 1000]}]}
    """
    amount = check_threshold(threshold)
    number: int | float = int(amount) if amount == amount.to_integral_value() else float(amount)
    return {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">=", number]}]}}}}


@dataclass(frozen=True)
class HighValueQueues:
    """The queue the pipe sends to, its consumer's DLQ, and the pipe's own dead-letter queue."""

    queue: QueueInfo
    dlq: QueueInfo
    pipe_dlq: QueueInfo


@dataclass(frozen=True)
class RoutingStack:
    """Everything step 4 deploys."""

    threshold: Decimal
    queues: HighValueQueues
    enricher: FunctionInfo | None
    consumer: StepInfo
    pipe: PipeInfo
    create_order: FunctionInfo


def set_high_value_threshold(lab: Lab, threshold: Decimal | int | str) -> FunctionInfo:
    """Redeploy create_order so that orders of at least ``threshold`` get ``valueTier`` HIGH
    (only its environment changes; the code and the API stay)."""
    table = enable_order_stream(lab)
    return deploy_create_order(lab, table, high_value_threshold=threshold)


def ensure_high_value_queues(lab: Lab) -> HighValueQueues:
    """The high-value queue (its consumer's failures go to the high-value DLQ after
    :data:`MAX_RECEIVE_COUNT` receives) and the pipe's dead-letter queue."""
    queues = {
        component: ensure_queue(lab, component, **settings)
        for component, settings in high_value_queue_settings(lab).items()
    }
    return HighValueQueues(
        queue=queues[QUEUE_COMPONENT], dlq=queues[DLQ_COMPONENT], pipe_dlq=queues[PIPE_DLQ_COMPONENT]
    )


def high_value_queue_settings(lab: Lab) -> dict[str, dict[str, Any]]:
    """Step 4's queues: component -> :func:`helpers.aws.sqs.ensure_queue` settings, in creation order."""
    return {
        DLQ_COMPONENT: {
            "message_retention_seconds": MAX_RETENTION_SECONDS,
            "redrive_allow_source_arns": [queue_arn(lab, QUEUE_COMPONENT)],
        },
        PIPE_DLQ_COMPONENT: {"message_retention_seconds": MAX_RETENTION_SECONDS},
        QUEUE_COMPONENT: {
            "visibility_timeout": CONSUMER_TIMEOUT * 6,
            "dead_letter_target_arn": queue_arn(lab, DLQ_COMPONENT),
            "max_receive_count": MAX_RECEIVE_COUNT,
        },
    }


def deploy_enricher(
    lab: Lab, *, vip_customers: Iterable[str] = (), p1_total: Decimal | int | str = 5000
) -> FunctionInfo:
    """The enrichment function. Its role only writes its own logs: the *pipe's* role may invoke it."""
    role_arn = ensure_lambda_role(lab, ENRICHER_COMPONENT, [])
    return deploy_function(
        lab,
        ENRICHER_DIR,
        component=ENRICHER_COMPONENT,
        handler=ENRICHER_HANDLER,
        role_arn=role_arn,
        timeout=HIGH_VALUE_ENRICHER.timeout,
        environment=enricher_environment(vip_customers=vip_customers, p1_total=p1_total),
    )


def enricher_environment(*, vip_customers: Iterable[str] = (), p1_total: Decimal | int | str = 5000) -> dict[str, str]:
    """The enrichment function's environment: the VIP customers and the total from which an order is P1."""
    return {
        "VIP_CUSTOMERS": ",".join(sorted(set(vip_customers))),
        "P1_TOTAL": str(check_threshold(p1_total)),
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def consumer_environment(table_name: str) -> dict[str, str]:
    """high_value's environment: the orders table it marks."""
    return {"ORDERS_TABLE": table_name, "POWERTOOLS_SERVICE_NAME": "orders", "POWERTOOLS_LOG_LEVEL": "INFO"}


def consumer_role_statements(table_arn: str, queue_arn: str) -> list[dict[str, Any]]:
    """What high_value may do: mark orders (UpdateItem) and consume the high-value queue."""
    return [dynamodb_statement(table_arn, ["dynamodb:UpdateItem"]), sqs_consumer_statement(queue_arn)]


def deploy_high_value_consumer(lab: Lab, table_name: str, table_arn: str, queues: HighValueQueues) -> StepInfo:
    """The high_value function and its mapping from the high-value queue (partial batch failures,
    at most 5 concurrent invocations: ``ScalingConfig.MaximumConcurrency``)."""
    role_arn = ensure_lambda_role(lab, CONSUMER_COMPONENT, consumer_role_statements(table_arn, queues.queue.arn))
    function = deploy_function(
        lab,
        CONSUMER_DIR,
        component=CONSUMER_COMPONENT,
        handler=CONSUMER_HANDLER,
        role_arn=role_arn,
        timeout=CONSUMER_TIMEOUT,
        environment=consumer_environment(table_name),
    )
    mapping: MappingInfo = ensure_event_source_mapping(
        lab, function_name=function.name, source_arn=queues.queue.arn, **CONSUMER_MAPPING
    )
    return StepInfo(function, mapping)


def pipe_role_statements(
    stream_arn: str, target_queue_arn: str, dead_letter_arn: str, enrichment_arn: str | None
) -> list[dict[str, Any]]:
    """Exactly what the pipe uses: read that stream, invoke that enrichment, send to those queues
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html)."""
    statements = [
        *dynamodb_stream_statements(stream_arn),
        sqs_sender_statement(target_queue_arn),
        sqs_sender_statement(dead_letter_arn),
    ]
    if enrichment_arn:
        statements.append(
            {
                "Sid": "InvokeEnrichment",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [enrichment_arn],
            }
        )
    return statements


def ensure_high_value_pipe(
    lab: Lab,
    stream_arn: str,
    queues: HighValueQueues,
    *,
    enricher: FunctionInfo | None = None,
    desired_state: str = "RUNNING",
    batch_size: int = 10,
) -> PipeInfo:
    """The pipe: stream → :data:`HIGH_VALUE_PATTERN` → (enricher) → high-value queue.

    Without an enricher the queue gets the stream record itself, as the filter saw it.
    """
    enrichment_arn = enricher.arn if enricher else None
    role_arn = ensure_pipe_role(
        lab, PIPE_COMPONENT, pipe_role_statements(stream_arn, queues.queue.arn, queues.pipe_dlq.arn, enrichment_arn)
    )
    return ensure_pipe(
        lab,
        PIPE_COMPONENT,
        role_arn=role_arn,
        desired_state=desired_state,
        **high_value_pipe_settings(
            stream_arn, queues.queue.arn, queues.pipe_dlq.arn, enrichment_arn, batch_size=batch_size
        ),
    )


def high_value_pipe_settings(
    stream_arn: str, target_queue_arn: str, dead_letter_arn: str, enrichment_arn: str | None, *, batch_size: int = 10
) -> dict[str, Any]:
    """The pipe's source, filter, enrichment and target (:func:`helpers.aws.pipes.ensure_pipe` keywords)."""
    return {
        "source_arn": stream_arn,
        "target_arn": target_queue_arn,
        "filter_patterns": [HIGH_VALUE_PATTERN],
        "enrichment_arn": enrichment_arn,
        "batch_size": batch_size,
        "starting_position": "LATEST",
        "maximum_retry_attempts": PIPE_MAX_RETRIES,
        "dead_letter_arn": dead_letter_arn,
        "description": "High-value orders: orders stream -> valueTier HIGH -> enrichment -> high-value queue",
    }


def ensure_numeric_pitfall_pipe(
    lab: Lab, stream_arn: str, threshold: Decimal | int | str
) -> tuple[PipeInfo, QueueInfo]:
    """A second pipe with :func:`numeric_pitfall_pattern`, into a scratch queue: to *see* that it routes nothing."""
    queue = ensure_queue(lab, PITFALL_QUEUE_COMPONENT, message_retention_seconds=3600)
    role_arn = ensure_pipe_role(
        lab, PITFALL_PIPE_COMPONENT, [*dynamodb_stream_statements(stream_arn), sqs_sender_statement(queue.arn)]
    )
    pipe = ensure_pipe(
        lab,
        PITFALL_PIPE_COMPONENT,
        source_arn=stream_arn,
        target_arn=queue.arn,
        role_arn=role_arn,
        filter_patterns=[numeric_pitfall_pattern(threshold)],
        starting_position="LATEST",
        maximum_retry_attempts=PIPE_MAX_RETRIES,
        description="Teaching pipe: a numeric rule on a stream's N value (never matches)",
    )
    return pipe, queue


def deploy_high_value_routing(
    lab: Lab,
    *,
    threshold: Decimal | int | str | None = None,
    enrichment: bool = True,
    vip_customers: Iterable[str] = (),
    p1_total: Decimal | int | str = 5000,
    desired_state: str = "RUNNING",
) -> RoutingStack:
    """Deploy (or converge) step 4 on top of steps 1–3.

    ``threshold`` None keeps create_order's current one (1000 by default). ``enrichment=False``
    connects the pipe straight to the queue (the consumer then gets raw stream records and fails
    them: keep it for experiments).
    """
    table = enable_order_stream(lab)
    create_order = deploy_create_order(lab, table, high_value_threshold=threshold)
    queues = ensure_high_value_queues(lab)
    consumer = deploy_high_value_consumer(lab, table.name, table.arn, queues)
    enricher = deploy_enricher(lab, vip_customers=vip_customers, p1_total=p1_total) if enrichment else None
    if not table.stream_arn:
        raise RuntimeError(f"Table {table.name} has no stream: run 02_dynamodb_streams.ipynb first")
    pipe = ensure_high_value_pipe(lab, table.stream_arn, queues, enricher=enricher, desired_state=desired_state)
    active = current_threshold(lab)
    return RoutingStack(
        threshold=active if active is not None else check_threshold(1000),
        queues=queues,
        enricher=enricher,
        consumer=consumer,
        pipe=pipe,
        create_order=create_order,
    )


def wait_for_marks(
    lab: Lab, table_name: str, order_ids: Iterable[str], *, timeout: float = 60
) -> dict[str, dict[str, Any]]:
    """Wait until every order of ``order_ids`` carries the high-value consumer's ``priority`` mark.

    On timeout the error says which are not marked and where to look.
    """
    ids = list(dict.fromkeys(order_ids))
    last: dict[str, dict[str, Any]] = {}

    def all_marked() -> dict[str, dict[str, Any]] | None:
        last.clear()
        last.update(get_orders(lab, table_name, ids))
        return dict(last) if all("priority" in last.get(i, {}) for i in ids) else None

    try:
        return wait_until(
            all_marked,
            timeout=timeout,
            interval=0.2,
            max_interval=1.0,
            what=f"{len(ids)} high-value order(s) to be marked for priority handling",
        )
    except WaitTimeout as error:
        unmarked = [i for i in ids if "priority" not in last.get(i, {})]
        error.add_note(
            f"not marked: {', '.join(unmarked[:10])}. Is the pipe RUNNING (routing_status(lab))? "
            f"Look at the high-value queues' counts and the {lab.name(CONSUMER_COMPONENT)} log group."
        )
        raise


def routing_frame(items: Mapping[str, Mapping[str, Any]], threshold: Decimal) -> pd.DataFrame:
    """One row per order: its total, tier, whether it should be routed (``total >= threshold``),
    whether it was (it carries a ``priority`` mark), and its status.

    >>> frame = routing_frame({"o-1": {"orderId": "o-1", "total": Decimal("1500"), "valueTier": "HIGH",
    ...                                "priority": "P2", "status": "CONFIRMED", "customer": {"id": "c-1"}}},
    ...                       Decimal("1000"))
    >>> frame[["total", "should_route", "routed", "priority"]].to_dict("records")
    [{'total': 1500.0, 'should_route': True, 'routed': True, 'priority': 'P2'}]
    """
    rows = []
    for order_id, item in items.items():
        total = Decimal(str(item.get("total", 0)))
        rows.append(
            {
                "orderId": order_id,
                "customer": (item.get("customer") or {}).get("id"),
                "total": float(total),
                "valueTier": item.get("valueTier"),
                "should_route": total >= threshold,
                "routed": "priority" in item,
                "priority": item.get("priority"),
                "customerTier": item.get("customerTier"),
                "status": item.get("status"),
            }
        )
    columns = [
        "orderId",
        "customer",
        "total",
        "valueTier",
        "should_route",
        "routed",
        "priority",
        "customerTier",
        "status",
    ]
    return pd.DataFrame(rows, columns=columns)


def routing_status(lab: Lab) -> dict[str, Any]:
    """What exists of step 4 (read-only), for later notebooks' prerequisite checks and grading.

    ``{"ready", "missing", "notebook", "pipe_state", "threshold", "message"}``.
    """
    missing: list[str] = []
    pipe = describe_pipe(lab, lab.name(PIPE_COMPONENT))
    if pipe is None:
        missing.append(f"EventBridge pipe {lab.name(PIPE_COMPONENT)}")
    elif pipe.get("CurrentState") not in ("RUNNING", "STOPPED"):
        missing.append(f"pipe {pipe['Name']} settled (it is {pipe.get('CurrentState')})")
    for component in (QUEUE_COMPONENT, DLQ_COMPONENT, PIPE_DLQ_COMPONENT):
        if describe_queue(lab, lab.name(component)) is None:
            missing.append(f"SQS queue {lab.name(component)}")
    consumer = get_function(lab, lab.name(CONSUMER_COMPONENT))
    if consumer is None:
        missing.append(f"Lambda function {lab.name(CONSUMER_COMPONENT)}")
    earlier = pipeline_status(lab)
    if not earlier["steps"]["03"]["ready"]:
        missing = [
            *earlier["steps"]["01"]["missing"],
            *earlier["steps"]["02"]["missing"],
            *earlier["steps"]["03"]["missing"],
            *missing,
        ]
    message = (
        "Step 4 (high-value routing) is in place."
        if not missing
        else f"Run {earlier['next_notebook'] if not earlier['steps']['03']['ready'] else NOTEBOOK} first "
        f"(prefix {lab.prefix!r}): missing {'; '.join(missing)}."
    )
    return {
        "ready": not missing,
        "missing": missing,
        "notebook": NOTEBOOK,
        "pipe_state": pipe.get("CurrentState") if pipe else None,
        "threshold": current_threshold(lab),
        "table": lab.name(ORDERS_COMPONENT),
        "message": message,
    }
