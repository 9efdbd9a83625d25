"""Step 3 (notebook 03): order_worker, fed by the order queue, confirms or rejects each order.

>>> deploy_order_worker(lab, table, queues).mapping.state            # doctest: +SKIP
'Enabled'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.aws.dynamodb import TableInfo
from helpers.aws.event_sources import ensure_event_source_mapping
from helpers.aws.iam import dynamodb_statement, ensure_lambda_role
from helpers.aws.lambda_ import deploy_function
from helpers.aws.sqs import sqs_consumer_statement
from helpers.core.lab import Lab
from helpers.pipeline.catalog import ORDER_WORKER
from helpers.pipeline.step2 import OrderQueues, StepInfo

__all__ = [
    "ORDER_WORKER_COMPONENT",
    "ORDER_WORKER_DIR",
    "ORDER_WORKER_HANDLER",
    "ORDER_WORKER_MAPPING",
    "ORDER_WORKER_TIMEOUT",
    "WORKER_RULES",
    "deploy_order_worker",
    "order_worker_environment",
    "order_worker_role_statements",
]

ORDER_WORKER_COMPONENT = ORDER_WORKER.component
ORDER_WORKER_DIR = ORDER_WORKER.directory
ORDER_WORKER_HANDLER = ORDER_WORKER.handler
ORDER_WORKER_TIMEOUT = ORDER_WORKER.timeout
# The queue mapping's settings (ensure_event_source_mapping keywords): no batching window, partial
# batch failures, at most 5 concurrent invocations.
ORDER_WORKER_MAPPING: dict[str, Any] = {
    "batch_size": 10,
    "maximum_batching_window_seconds": 0,
    "function_response_types": ("ReportBatchItemFailures",),
    "maximum_concurrency": 5,
}
# The order worker's business rules, by keyword: the environment variable each one sets.
WORKER_RULES = {
    "max_quantity_per_item": "MAX_QUANTITY_PER_ITEM",
    "max_order_total": "MAX_ORDER_TOTAL",
    "blocked_customers": "BLOCKED_CUSTOMERS",
    "discontinued_skus": "DISCONTINUED_SKUS",
}


def order_worker_role_statements(table: TableInfo, queues: OrderQueues) -> list[dict[str, Any]]:
    """UpdateItem + GetItem on the orders table; consume the order queue (receive, delete,
    change visibility for its backoff, read attributes)."""
    return [
        dynamodb_statement(table.arn, ["dynamodb:UpdateItem", "dynamodb:GetItem"]),
        sqs_consumer_statement(queues.queue.arn, change_visibility=True),
    ]


def order_worker_environment(
    table: TableInfo,
    queues: OrderQueues,
    *,
    transient_failures: int = 2,
    fault_injection: bool = True,
    rules: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The worker's environment. ``rules`` keys: ``max_quantity_per_item``, ``max_order_total``,
    ``blocked_customers``, ``discontinued_skus`` (lists become comma-separated); unset rules keep
    the worker's defaults. ``extra`` adds variables as they are (e.g. tuning knobs).

    >>> from helpers.aws.sqs import QueueInfo
    >>> env = order_worker_environment(TableInfo("a-orders", "arn:aws:dynamodb:r:1:table/a-orders"),
    ...     OrderQueues(*(QueueInfo(n, f"https://q/{n}", f"arn:aws:sqs:r:1:{n}") for n in ("q", "d", "f"))),
    ...     rules={"blocked_customers": ["cust-666", "cust-13"], "max_quantity_per_item": 100})
    >>> env["BLOCKED_CUSTOMERS"], env["MAX_QUANTITY_PER_ITEM"], env["FAULT_INJECTION"], env["TRANSIENT_FAILURES"]
    ('cust-666,cust-13', '100', 'on', '2')
    """
    if isinstance(transient_failures, bool) or not isinstance(transient_failures, int) or transient_failures < 0:
        raise ValueError(f"transient_failures must be an integer >= 0, got {transient_failures!r}")
    environment = {
        "ORDERS_TABLE": table.name,
        "ORDER_QUEUE_URL": queues.queue.url,
        "TRANSIENT_FAILURES": str(transient_failures),
        "FAULT_INJECTION": "on" if fault_injection else "off",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    unknown = sorted(set(rules or {}) - set(WORKER_RULES))
    if unknown:
        raise ValueError(f"Unknown worker rules {unknown}: use {sorted(WORKER_RULES)}")
    for key, value in (rules or {}).items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            value = ",".join(str(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value))
        environment[WORKER_RULES[key]] = str(value)
    environment.update(extra or {})
    return environment


def deploy_order_worker(
    lab: Lab,
    table: TableInfo,
    queues: OrderQueues,
    *,
    transient_failures: int = 2,
    fault_injection: bool = True,
    rules: dict[str, Any] | None = None,
    environment: dict[str, str] | None = None,
    function_dir: Path = ORDER_WORKER_DIR,
) -> StepInfo:
    """Step 3: the order_worker function (5 s timeout) and its mapping from the order queue.

    Mapping: batches of up to 10, no batching window, partial batch failures reported (a failed
    message returns to the queue after its visibility timeout; the others are deleted), at most
    5 concurrent invocations (``ScalingConfig.MaximumConcurrency``; without it AWS scales a
    queue's mapping up to 1,000, which on a learner's account is a cost, not a feature).
    ``fault_injection=False`` is "the fix" of step 5: poison orders then go through.

    >>> deploy_order_worker(lab, table, queues, fault_injection=False).function.config_updated   # doctest: +SKIP
    True
    """
    role_arn = ensure_lambda_role(lab, ORDER_WORKER_COMPONENT, order_worker_role_statements(table, queues))
    function = deploy_function(
        lab,
        function_dir,
        component=ORDER_WORKER_COMPONENT,
        handler=ORDER_WORKER_HANDLER,
        role_arn=role_arn,
        timeout=ORDER_WORKER_TIMEOUT,
        environment=order_worker_environment(
            table,
            queues,
            transient_failures=transient_failures,
            fault_injection=fault_injection,
            rules=rules,
            extra=environment,
        ),
    )
    mapping = ensure_event_source_mapping(
        lab, function_name=function.name, source_arn=queues.queue.arn, **ORDER_WORKER_MAPPING
    )
    return StepInfo(function, mapping)
