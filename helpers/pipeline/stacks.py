"""One call per tutorial step: compose the provisioning helpers into the step's stack.

>>> stack = deploy_ingestion(lab)                                   # doctest: +SKIP
>>> stack.api.url("/orders")                                        # doctest: +SKIP
'http://127.0.0.1:4599/_aws/execute-api/0c00ffa6/orders'
>>> ingestion_status(lab)["ready"]                                  # doctest: +SKIP
True

Re-running converges: same table, function and API; nothing is updated that did not change.

Steps 2, 3 and 5 (the stream, the queues, both consumers, the dead-letter queue):

>>> stack = deploy_pipeline(lab, max_receive_count=3)               # doctest: +SKIP
>>> stack.worker.mapping.state, stack.queues.dlq.name              # doctest: +SKIP
('Enabled', 'alice-order-dlq')
>>> pipeline_status(lab)["steps"]["03"]["ready"]                    # doctest: +SKIP
True
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.aws.packaging import REPO_ROOT
from helpers.aws.apigateway import (
    DEFAULT_STAGE,
    DEFAULT_THROTTLING_BURST_LIMIT,
    DEFAULT_THROTTLING_RATE_LIMIT,
    HttpApiInfo,
    ensure_http_api,
    find_http_apis,
)
from helpers.aws.dynamodb import TableInfo, describe_table, ensure_orders_table
from helpers.aws.event_sources import (
    MappingInfo,
    delete_event_source_mapping,
    dynamodb_stream_statements,
    ensure_event_source_mapping,
    find_event_source_mappings,
)
from helpers.aws.iam import dynamodb_statement, ensure_lambda_role
from helpers.aws.lambda_ import FunctionInfo, deploy_function, get_function
from helpers.aws.sqs import (
    MAX_RETENTION_SECONDS,
    QueueInfo,
    describe_queue,
    ensure_queue,
    queue_arn,
    sqs_consumer_statement,
    sqs_sender_statement,
)

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "API_COMPONENT",
    "CREATE_ORDER_COMPONENT",
    "CREATE_ORDER_DIR",
    "CREATE_ORDER_HANDLER",
    "DEFAULT_CORS_ORIGINS",
    "IngestionStack",
    "ORDERS_COMPONENT",
    "ORDER_DLQ_COMPONENT",
    "ORDER_QUEUE_COMPONENT",
    "ORDER_WORKER_COMPONENT",
    "ORDER_WORKER_DIR",
    "ORDER_WORKER_HANDLER",
    "ORDER_WORKER_TIMEOUT",
    "OrderQueues",
    "PIPELINE_NOTEBOOKS",
    "PipelineStack",
    "STREAM_FAILURES_COMPONENT",
    "STREAM_PROCESSOR_COMPONENT",
    "STREAM_PROCESSOR_DIR",
    "STREAM_PROCESSOR_HANDLER",
    "StepInfo",
    "DEFAULT_HIGH_VALUE_THRESHOLD",
    "check_threshold",
    "current_threshold",
    "create_order_environment",
    "create_order_role_statements",
    "deploy_create_order",
    "deploy_ingestion",
    "deploy_order_worker",
    "deploy_pipeline",
    "deploy_stream_processor",
    "enable_order_stream",
    "ensure_ingestion_table",
    "ensure_order_queues",
    "ensure_orders_api",
    "ingestion_status",
    "order_queue_settings",
    "order_worker_environment",
    "order_worker_role_statements",
    "pipeline_status",
    "stream_processor_environment",
    "stream_processor_role_statements",
]

LAMBDAS_DIR = REPO_ROOT / "lambdas"
ORDERS_COMPONENT = "orders"
CREATE_ORDER_COMPONENT = "create-order"
CREATE_ORDER_DIR = LAMBDAS_DIR / "create_order"
CREATE_ORDER_HANDLER = "create_order.handler.lambda_handler"
API_COMPONENT = "orders-api"
ROUTES = ("POST /orders", "GET /orders/{orderId}")
# The frontend is served from here (frontend/); keep it a parameter.
DEFAULT_CORS_ORIGINS = ["http://127.0.0.1:8000"]
# create_order's default (lambdas/create_order/create_order/orders.py DEFAULT_HIGH_VALUE_THRESHOLD).
DEFAULT_HIGH_VALUE_THRESHOLD = Decimal("1000")
HIGH_VALUE_THRESHOLD_VARIABLE = "HIGH_VALUE_THRESHOLD"


@dataclass(frozen=True)
class IngestionStack:
    """Step 1: the orders table, the create_order function and the HTTP API in front of it."""

    table: TableInfo
    function: FunctionInfo
    api: HttpApiInfo

    @property
    def orders_url(self) -> str:
        """``POST`` here to create an order; ``GET {orders_url}/{orderId}`` to read one."""
        return self.api.url("/orders")


def ensure_ingestion_table(lab: "Lab") -> TableInfo:
    """Step 1a: the orders table (on-demand, key ``orderId``)."""
    return ensure_orders_table(lab, lab.name(ORDERS_COMPONENT))


def create_order_role_statements(table: TableInfo) -> list[dict[str, Any]]:
    """What create_order may do: PutItem and GetItem on the orders table, nothing else."""
    return [dynamodb_statement(table.arn, ["dynamodb:PutItem", "dynamodb:GetItem"])]


def deploy_create_order(lab: "Lab", table: TableInfo, *, function_dir: Path = CREATE_ORDER_DIR,
                        high_value_threshold: Decimal | int | str | None = None) -> FunctionInfo:
    """Step 1b: the create_order function with its least-privilege role.

    ``high_value_threshold`` (step 4): orders whose total is at least this get ``valueTier`` HIGH.
    None keeps what the function has (so re-running step 1 does not undo step 4's choice), else 1000.
    """
    role_arn = ensure_lambda_role(lab, CREATE_ORDER_COMPONENT, create_order_role_statements(table))
    if high_value_threshold is None:
        threshold = current_threshold(lab) or DEFAULT_HIGH_VALUE_THRESHOLD
    else:
        threshold = check_threshold(high_value_threshold)
    environment = create_order_environment(table.name, threshold)
    return deploy_function(
        lab,
        function_dir,
        component=CREATE_ORDER_COMPONENT,
        handler=CREATE_ORDER_HANDLER,
        role_arn=role_arn,
        environment=environment,
    )


def create_order_environment(table_name: str, threshold: Decimal) -> dict[str, str]:
    """create_order's environment: its table and the high-value threshold (:data:`HIGH_VALUE_THRESHOLD_VARIABLE`)."""
    return {
        "ORDERS_TABLE": table_name,
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        HIGH_VALUE_THRESHOLD_VARIABLE: str(threshold),
    }


def current_threshold(lab: "Lab") -> Decimal | None:
    """The high-value threshold create_order uses now (None before step 1)."""
    function = get_function(lab, lab.name(CREATE_ORDER_COMPONENT))
    variables = ((function or {}).get("Configuration", {}).get("Environment") or {}).get("Variables", {})
    raw = variables.get(HIGH_VALUE_THRESHOLD_VARIABLE)
    return Decimal(raw) if raw else None


def check_threshold(value: Decimal | int | str) -> Decimal:
    """A high-value threshold as an exact amount > 0 (refused with a readable message otherwise).

    >>> check_threshold(1000), check_threshold("250.5")
    (Decimal('1000'), Decimal('250.5'))
    """
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        amount = Decimal(0)
    if isinstance(value, bool) or not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"The high-value threshold must be a positive amount with at most 2 decimals, got {value!r}")
    return amount


def ensure_orders_api(lab: "Lab", function: FunctionInfo, *, cors_allow_origins: list[str] | None = None,
                      throttling_burst_limit: int = DEFAULT_THROTTLING_BURST_LIMIT,
                      throttling_rate_limit: float = DEFAULT_THROTTLING_RATE_LIMIT) -> HttpApiInfo:
    """Step 1c: the HTTP API (``POST /orders``, ``GET /orders/{orderId}``) in front of create_order.

    Its ``$default`` stage is throttled (rate in requests/s, burst): see ``ensure_http_api``.
    """
    return ensure_http_api(
        lab,
        component=API_COMPONENT,
        routes={route: function.arn for route in ROUTES},
        cors_allow_origins=list(cors_allow_origins if cors_allow_origins is not None else DEFAULT_CORS_ORIGINS),
        throttling_burst_limit=throttling_burst_limit,
        throttling_rate_limit=throttling_rate_limit,
    )


def deploy_ingestion(
    lab: "Lab",
    *,
    cors_allow_origins: list[str] | None = None,
    function_dir: Path = CREATE_ORDER_DIR,
    throttling_burst_limit: int = DEFAULT_THROTTLING_BURST_LIMIT,
    throttling_rate_limit: float = DEFAULT_THROTTLING_RATE_LIMIT,
) -> IngestionStack:
    """Deploy (or converge) step 1: table -> role -> function -> HTTP API.

    ``cors_allow_origins`` defaults to the local frontend, ``http://127.0.0.1:8000``.
    ``function_dir`` is the create_order folder (tests may pass a stand-in).
    ``throttling_*``: the API stage's throttle (requests/s and burst), see ``ensure_http_api``.
    """
    table = ensure_ingestion_table(lab)
    function = deploy_create_order(lab, table, function_dir=function_dir)
    api = ensure_orders_api(lab, function, cors_allow_origins=cors_allow_origins,
                            throttling_burst_limit=throttling_burst_limit,
                            throttling_rate_limit=throttling_rate_limit)
    return IngestionStack(table, function, api)


def ingestion_status(lab: "Lab") -> dict[str, Any]:
    """Which parts of step 1 exist (read-only): for a notebook to check its prerequisites.

    >>> ingestion_status(lab)                                          # doctest: +SKIP
    {'table': {'exists': True, 'name': 'alice-orders', 'status': 'ACTIVE'}, 'function': {...},
     'api': {'exists': True, ..., 'routes': ['GET /orders/{orderId}', 'POST /orders'], 'orders_url': '...'},
     'ready': True, 'missing': []}
    """
    table_name = lab.name(ORDERS_COMPONENT)
    table = describe_table(lab, table_name)
    function_name = lab.name(CREATE_ORDER_COMPONENT)
    function = get_function(lab, function_name)
    apis = find_http_apis(lab, API_COMPONENT)

    status: dict[str, Any] = {
        "table": {"exists": table is not None, "name": table_name,
                  "status": table["TableStatus"] if table else None},
        "function": {"exists": function is not None, "name": function_name,
                     "state": function["Configuration"].get("State") if function else None,
                     "last_update_status": function["Configuration"].get("LastUpdateStatus") if function else None},
        "api": {"exists": bool(apis), "name": lab.name(API_COMPONENT), "api_id": None, "routes": [],
                "orders_url": None, "has_default_stage": False},
    }
    if apis:
        apigw = lab.client("apigatewayv2")
        api = apis[0]
        routes = sorted(r["RouteKey"] for r in apigw.get_paginator("get_routes").paginate(ApiId=api["ApiId"])
                        .build_full_result().get("Items", []))
        stages = {s["StageName"] for s in apigw.get_paginator("get_stages").paginate(ApiId=api["ApiId"])
                  .build_full_result().get("Items", [])}
        base = api.get("ApiEndpoint", "").rstrip("/")
        status["api"].update(api_id=api["ApiId"], routes=routes, orders_url=f"{base}/orders",
                             has_default_stage=DEFAULT_STAGE in stages)
    missing = []
    if not status["table"]["exists"] or status["table"]["status"] != "ACTIVE":
        missing.append(f"table {table_name} (ACTIVE)")
    if not status["function"]["exists"] or status["function"]["state"] != "Active":
        missing.append(f"function {function_name} (Active)")
    api_ok = status["api"]["has_default_stage"] and set(ROUTES) <= set(status["api"]["routes"])
    if not api_ok:
        missing.append(f"HTTP API {lab.name(API_COMPONENT)} with routes {', '.join(ROUTES)} and a $default stage")
    status["missing"] = missing
    status["ready"] = not missing
    return status


# ---------------------------------------------------------------------------------------------
# Steps 2, 3 and 5: stream -> stream_processor -> SQS order queue -> order_worker, DLQ + redrive
# ---------------------------------------------------------------------------------------------

STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"
ORDER_QUEUE_COMPONENT = "order-queue"
ORDER_DLQ_COMPONENT = "order-dlq"
STREAM_FAILURES_COMPONENT = "stream-failures"
STREAM_PROCESSOR_COMPONENT = "stream-processor"
STREAM_PROCESSOR_DIR = LAMBDAS_DIR / "stream_processor"
STREAM_PROCESSOR_HANDLER = "stream_processor.handler.lambda_handler"
STREAM_PROCESSOR_TIMEOUT = 30
ORDER_WORKER_COMPONENT = "order-worker"
ORDER_WORKER_DIR = LAMBDAS_DIR / "order_worker"
ORDER_WORKER_HANDLER = "order_worker.handler.lambda_handler"
ORDER_WORKER_TIMEOUT = 5
# AWS: set the source queue's visibility timeout to at least six times the function's timeout.
ORDER_QUEUE_VISIBILITY_TIMEOUT = 6 * ORDER_WORKER_TIMEOUT
DEFAULT_MAX_RECEIVE_COUNT = 3
# The event source mappings' settings (helpers.aws.event_sources.ensure_event_source_mapping keywords).
# Stream: a failing batch is split in two and retried at most twice; records older than an hour are
# not retried; the function reports partial batch failures.
STREAM_PROCESSOR_MAPPING: dict[str, Any] = {
    "batch_size": 10, "starting_position": "TRIM_HORIZON", "bisect_batch_on_function_error": True,
    "maximum_retry_attempts": 2, "maximum_record_age_in_seconds": 3600,
    "function_response_types": ("ReportBatchItemFailures",),
}
# Queue: no batching window, partial batch failures, at most 5 concurrent invocations.
ORDER_WORKER_MAPPING: dict[str, Any] = {
    "batch_size": 10, "maximum_batching_window_seconds": 0, "function_response_types": ("ReportBatchItemFailures",),
    "maximum_concurrency": 5,
}
# The order worker's business rules, by keyword: the environment variable each one sets.
WORKER_RULES = {
    "max_quantity_per_item": "MAX_QUANTITY_PER_ITEM",
    "max_order_total": "MAX_ORDER_TOTAL",
    "blocked_customers": "BLOCKED_CUSTOMERS",
    "discontinued_skus": "DISCONTINUED_SKUS",
}
# Which notebook builds which step (pipeline_status names it when something is missing).
PIPELINE_NOTEBOOKS = {
    "01": "01_order_ingestion.ipynb",
    "02": "02_dynamodb_streams.ipynb",
    "03": "03_sqs_workers.ipynb",
    "05": "05_dead_letter_queue.ipynb",
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


@dataclass(frozen=True)
class PipelineStack:
    """Steps 1-3 and 5: ingestion, the table's stream, the queues and both consumers."""

    ingestion: IngestionStack
    table: TableInfo
    queues: OrderQueues
    stream_processor: StepInfo
    worker: StepInfo

    @property
    def orders_url(self) -> str:
        return self.ingestion.orders_url

    @property
    def api(self) -> HttpApiInfo:
        return self.ingestion.api

    @property
    def changed(self) -> bool:
        return (self.ingestion.function.changed or self.queues.changed or self.stream_processor.changed
                or self.worker.changed)


def enable_order_stream(lab: "Lab") -> TableInfo:
    """Step 2a: turn on the orders table's stream (``NEW_AND_OLD_IMAGES``); returns the table with its stream ARN.

    >>> enable_order_stream(lab).stream_arn                             # doctest: +SKIP
    'arn:aws:dynamodb:us-east-1:123456789012:table/alice-orders/stream/2024-05-01T12:00:00.000'
    """
    table = ensure_orders_table(lab, lab.name(ORDERS_COMPONENT), stream_view_type=STREAM_VIEW_TYPE)
    if not table.stream_arn:
        raise RuntimeError(f"DynamoDB table {table.name} reports no LatestStreamArn after enabling its stream")
    return table


def ensure_order_queues(lab: "Lab", *, max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT) -> OrderQueues:
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
    queues = {component: ensure_queue(lab, component, **settings)
              for component, settings in order_queue_settings(lab, max_receive_count=max_receive_count).items()}
    return OrderQueues(queue=queues[ORDER_QUEUE_COMPONENT], dlq=queues[ORDER_DLQ_COMPONENT],
                       stream_failures=queues[STREAM_FAILURES_COMPONENT])


def order_queue_settings(lab: "Lab", *, max_receive_count: int) -> dict[str, dict[str, Any]]:
    """The queues of steps 2, 3 and 5: component -> :func:`helpers.aws.sqs.ensure_queue` settings,
    in creation order (the dead-letter queue before the queue that names it)."""
    return {
        ORDER_DLQ_COMPONENT: {"message_retention_seconds": MAX_RETENTION_SECONDS,
                              "redrive_allow_source_arns": [queue_arn(lab, ORDER_QUEUE_COMPONENT)]},
        ORDER_QUEUE_COMPONENT: {"visibility_timeout": ORDER_QUEUE_VISIBILITY_TIMEOUT,
                                "dead_letter_target_arn": queue_arn(lab, ORDER_DLQ_COMPONENT),
                                "max_receive_count": max_receive_count},
        STREAM_FAILURES_COMPONENT: {"message_retention_seconds": MAX_RETENTION_SECONDS},
    }


def stream_processor_role_statements(table: TableInfo, queues: OrderQueues) -> list[dict[str, Any]]:
    """Read the table's stream; send to the order queue; send to stream-failures (the mapping's
    on-failure destination: Lambda sends those records with the function's role)."""
    if not table.stream_arn:
        raise ValueError(f"Table {table.name} has no stream: call enable_order_stream(lab) first")
    return [*dynamodb_stream_statements(table.stream_arn),
            sqs_sender_statement(queues.queue.arn),
            sqs_sender_statement(queues.stream_failures.arn)]


def deploy_stream_processor(
    lab: "Lab", table: TableInfo, queues: OrderQueues, *, function_dir: Path = STREAM_PROCESSOR_DIR,
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
        lab, function_dir, component=STREAM_PROCESSOR_COMPONENT, handler=STREAM_PROCESSOR_HANDLER,
        role_arn=role_arn, timeout=STREAM_PROCESSOR_TIMEOUT,
        environment=stream_processor_environment(queues.queue.url),
    )
    for stale in find_event_source_mappings(lab, function.name):
        source = stale.get("EventSourceArn", "")
        if source.startswith(f"{table.arn}/stream/") and source != table.stream_arn:
            delete_event_source_mapping(lab, stale["UUID"])
    mapping = ensure_event_source_mapping(
        lab, function_name=function.name, source_arn=table.stream_arn,
        on_failure_destination_arn=queues.stream_failures.arn, **STREAM_PROCESSOR_MAPPING,
    )
    return StepInfo(function, mapping)


def stream_processor_environment(order_queue_url: str) -> dict[str, str]:
    """stream_processor's environment: where it sends orders."""
    return {"ORDER_QUEUE_URL": order_queue_url, "POWERTOOLS_SERVICE_NAME": "orders", "POWERTOOLS_LOG_LEVEL": "INFO"}


def order_worker_role_statements(table: TableInfo, queues: OrderQueues) -> list[dict[str, Any]]:
    """UpdateItem + GetItem on the orders table; consume the order queue (receive, delete,
    change visibility for its backoff, read attributes)."""
    return [dynamodb_statement(table.arn, ["dynamodb:UpdateItem", "dynamodb:GetItem"]),
            sqs_consumer_statement(queues.queue.arn, change_visibility=True)]


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
    lab: "Lab",
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
        lab, function_dir, component=ORDER_WORKER_COMPONENT, handler=ORDER_WORKER_HANDLER,
        role_arn=role_arn, timeout=ORDER_WORKER_TIMEOUT,
        environment=order_worker_environment(table, queues, transient_failures=transient_failures,
                                             fault_injection=fault_injection, rules=rules, extra=environment),
    )
    mapping = ensure_event_source_mapping(lab, function_name=function.name, source_arn=queues.queue.arn,
                                          **ORDER_WORKER_MAPPING)
    return StepInfo(function, mapping)


def deploy_pipeline(
    lab: "Lab",
    *,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
    cors_allow_origins: list[str] | None = None,
    transient_failures: int = 2,
    fault_injection: bool = True,
    rules: dict[str, Any] | None = None,
    worker_environment: dict[str, str] | None = None,
) -> PipelineStack:
    """Deploy (or converge) steps 1, 2, 3 and 5 in dependency order.

    table + create_order + API -> stream on -> queues (DLQ, order queue, stream-failures) ->
    order_worker + its mapping -> stream_processor + its mapping. Re-running changes nothing
    that is already as asked (same queue URLs, same mapping UUIDs).

    >>> stack = deploy_pipeline(lab, max_receive_count=3)              # doctest: +SKIP
    >>> OrdersApi(stack.orders_url).create(order)                       # doctest: +SKIP
    """
    ingestion = deploy_ingestion(lab, cors_allow_origins=cors_allow_origins)
    table = enable_order_stream(lab)
    queues = ensure_order_queues(lab, max_receive_count=max_receive_count)
    worker = deploy_order_worker(lab, table, queues, transient_failures=transient_failures,
                                 fault_injection=fault_injection, rules=rules, environment=worker_environment)
    processor = deploy_stream_processor(lab, table, queues)
    return PipelineStack(ingestion=ingestion, table=table, queues=queues, stream_processor=processor, worker=worker)


def _queue_status(lab: "Lab", component: str) -> dict[str, Any]:
    name = lab.name(component)
    queue = describe_queue(lab, name)
    status: dict[str, Any] = {"exists": queue is not None, "name": name,
                              "url": queue.get("QueueUrl") if queue else None,
                              "arn": queue.get("QueueArn") if queue else None}
    if queue and queue.get("RedrivePolicy"):
        status["redrive_policy"] = json.loads(queue["RedrivePolicy"])
    return status


def _function_status(lab: "Lab", component: str) -> dict[str, Any]:
    name = lab.name(component)
    function = get_function(lab, name)
    configuration = function["Configuration"] if function else {}
    return {"exists": function is not None, "name": name, "state": configuration.get("State"),
            "environment": (configuration.get("Environment") or {}).get("Variables", {})}


def _mapping_status(lab: "Lab", function_name: str, source_arn: str | None) -> dict[str, Any]:
    mappings = find_event_source_mappings(lab, function_name, source_arn) if source_arn else []
    mapping = mappings[0] if mappings else None
    return {"exists": mapping is not None, "uuid": mapping.get("UUID") if mapping else None,
            "state": mapping.get("State") if mapping else None, "source": source_arn}


def pipeline_status(lab: "Lab") -> dict[str, Any]:
    """What exists of steps 1, 2, 3 and 5 (read-only), for a notebook to check its prerequisites.

    ``steps`` maps "01"/"02"/"03"/"05" to ``{"ready", "missing", "notebook", ...details}``; at the
    top, ``ready``, ``missing`` (everything), ``next_notebook`` (the first step not ready) and
    ``message`` (a sentence for a learner).

    >>> pipeline_status(lab)["message"]                                 # doctest: +SKIP
    'Run 03_sqs_workers.ipynb first (prefix alice): missing Lambda function alice-order-worker (Active); ...'
    """
    ingestion = ingestion_status(lab)
    table = describe_table(lab, lab.name(ORDERS_COMPONENT))
    stream_spec = (table or {}).get("StreamSpecification") or {}
    stream_arn = (table or {}).get("LatestStreamArn") if stream_spec.get("StreamEnabled") else None
    queue = _queue_status(lab, ORDER_QUEUE_COMPONENT)
    dlq = _queue_status(lab, ORDER_DLQ_COMPONENT)
    failures = _queue_status(lab, STREAM_FAILURES_COMPONENT)
    processor = _function_status(lab, STREAM_PROCESSOR_COMPONENT)
    worker = _function_status(lab, ORDER_WORKER_COMPONENT)
    processor_mapping = _mapping_status(lab, processor["name"], stream_arn) if processor["exists"] else \
        _mapping_status(lab, processor["name"], None)
    worker_mapping = _mapping_status(lab, worker["name"], queue["arn"]) if worker["exists"] else \
        _mapping_status(lab, worker["name"], None)

    def need(condition: bool, what: str, missing: list[str]) -> None:
        if not condition:
            missing.append(what)

    step2: list[str] = []
    need(stream_arn is not None and stream_spec.get("StreamViewType") == STREAM_VIEW_TYPE,
         f"the stream ({STREAM_VIEW_TYPE}) of table {lab.name(ORDERS_COMPONENT)}", step2)
    need(queue["exists"], f"SQS queue {queue['name']}", step2)
    need(failures["exists"], f"SQS queue {failures['name']}", step2)
    need(processor["exists"] and processor["state"] == "Active", f"Lambda function {processor['name']} (Active)", step2)
    need(processor_mapping["state"] == "Enabled", f"an Enabled mapping from the table's stream to {processor['name']}",
         step2)
    step3: list[str] = []
    need(queue["exists"], f"SQS queue {queue['name']}", step3)
    need(worker["exists"] and worker["state"] == "Active", f"Lambda function {worker['name']} (Active)", step3)
    need(worker_mapping["state"] == "Enabled", f"an Enabled mapping from {queue['name']} to {worker['name']}", step3)
    step5: list[str] = []
    need(dlq["exists"], f"SQS queue {dlq['name']} (the dead-letter queue)", step5)
    need(dlq["exists"] and (queue.get("redrive_policy") or {}).get("deadLetterTargetArn") == dlq["arn"],
         f"a redrive policy on {queue['name']} pointing to {dlq['name']}", step5)

    steps: dict[str, dict[str, Any]] = {
        "01": {**ingestion, "notebook": PIPELINE_NOTEBOOKS["01"]},
        "02": {"ready": not step2, "missing": step2, "notebook": PIPELINE_NOTEBOOKS["02"],
               "stream_arn": stream_arn, "function": processor, "mapping": processor_mapping,
               "queue": queue, "stream_failures": failures},
        "03": {"ready": not step3, "missing": step3, "notebook": PIPELINE_NOTEBOOKS["03"],
               "queue": queue, "function": worker, "mapping": worker_mapping},
        "05": {"ready": not step5, "missing": step5, "notebook": PIPELINE_NOTEBOOKS["05"],
               "dlq": dlq, "max_receive_count": (queue.get("redrive_policy") or {}).get("maxReceiveCount")},
    }
    missing = [item for step in steps.values() for item in step["missing"]]
    first = next((key for key, step in steps.items() if step["missing"]), None)
    message = ("The pipeline (steps 1, 2, 3 and 5) is in place." if first is None else
               f"Run {PIPELINE_NOTEBOOKS[first]} first (prefix {lab.prefix!r}): missing "
               f"{'; '.join(steps[first]['missing'])}.")
    return {"steps": steps, "ready": not missing, "missing": missing,
            "next_notebook": PIPELINE_NOTEBOOKS[first] if first else None, "message": message}
