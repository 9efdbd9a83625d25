"""The pipeline's catalog: every step, resource, Lambda function, alarm and metric, declared once.

The step modules provision what is declared here; the plan (:mod:`helpers.learn.plan`), the cost
estimate (:mod:`helpers.learn.cost`), cleanup and grading read it instead of repeating names.

>>> [step.number for step in STEPS]
['01', '02', '03', '04', '05', '06']
>>> CREATE_ORDER.component, CREATE_ORDER.directory.name
('create-order', 'create_order')
>>> RESOURCES[0].name_for("alice"), RESOURCES[3].name_for("alice")
('alice-orders', '/aws/lambda/alice-create-order')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.core.naming import resource_name
from helpers.core.paths import LAMBDAS_DIR

__all__ = [
    "ALARMS",
    "ALARM_KEYS",
    "BUSINESS_METRICS",
    "DASHBOARD_COMPONENT",
    "FUNCTIONS",
    "METRICS_NAMESPACE",
    "METRICS_SERVICE",
    "RESOURCES",
    "STEPS",
    "Alarm",
    "Function",
    "Resource",
    "Step",
    "resources_of",
    "step",
]


@dataclass(frozen=True)
class Step:
    """One step of the series: its number, the notebook that builds it, a title for reports."""

    number: str
    notebook: str
    title: str


STEPS: tuple[Step, ...] = (
    Step("01", "01_order_ingestion.ipynb", "order ingestion"),
    Step("02", "02_dynamodb_streams.ipynb", "DynamoDB Streams"),
    Step("03", "03_sqs_workers.ipynb", "SQS workers"),
    Step("04", "04_high_value_pipes.ipynb", "high-value routing (EventBridge Pipes)"),
    Step("05", "05_dead_letter_queue.ipynb", "dead-letter queue and redrive"),
    Step("06", "06_alerts_observability.ipynb", "alarms, alerts and observability"),
)


def step(number: str) -> Step:
    """The step numbered ``number`` ("01" … "06")."""
    for candidate in STEPS:
        if candidate.number == number:
            return candidate
    raise KeyError(f"no step {number!r} in the catalog (known: {', '.join(s.number for s in STEPS)})")


@dataclass(frozen=True)
class Function:
    """One of the pipeline's Lambda functions: ``lambdas/<package>/``, its handler, its own role and log group."""

    component: str
    package: str
    step: str
    kind: str  # for the plan; ``{runtime}`` is the lab's Lambda runtime
    timeout: int = 10  # seconds (helpers.aws.lambda_.deploy_function's default)

    @property
    def directory(self) -> Path:
        return LAMBDAS_DIR / self.package

    @property
    def handler(self) -> str:
        return f"{self.package}.handler.lambda_handler"

    @property
    def role_component(self) -> str:
        return f"{self.component}-role"


CREATE_ORDER = Function("create-order", "create_order", "01", "function ({runtime})")
STREAM_PROCESSOR = Function(
    "stream-processor", "stream_processor", "02", "function ({runtime}) + DynamoDB stream trigger", timeout=30
)
ORDER_WORKER = Function("order-worker", "order_worker", "03", "function ({runtime}) + SQS trigger", timeout=5)
HIGH_VALUE_ENRICHER = Function(
    "high-value-enricher", "high_value_enricher", "04", "function ({runtime}, pipe enrichment)", timeout=5
)
HIGH_VALUE_CONSUMER = Function("high-value", "high_value", "04", "function ({runtime}) + SQS trigger", timeout=5)
FUNCTIONS: tuple[Function, ...] = (
    CREATE_ORDER,
    STREAM_PROCESSOR,
    ORDER_WORKER,
    HIGH_VALUE_ENRICHER,
    HIGH_VALUE_CONSUMER,
)

# Components: a resource's name is ``lab.name(component)``.
ORDERS_COMPONENT = "orders"
API_COMPONENT = "orders-api"
FRONTEND_COMPONENT = "frontend"
ORDER_QUEUE_COMPONENT = "order-queue"
STREAM_FAILURES_COMPONENT = "stream-failures"
HIGH_VALUE_QUEUE_COMPONENT = "high-value-queue"
HIGH_VALUE_DLQ_COMPONENT = "high-value-dlq"
HIGH_VALUE_PIPE_DLQ_COMPONENT = "high-value-pipe-dlq"
HIGH_VALUE_PIPE_COMPONENT = "high-value-pipe"
PITFALL_QUEUE_COMPONENT = "numeric-pitfall-queue"
PITFALL_PIPE_COMPONENT = "numeric-pitfall-pipe"
ORDER_DLQ_COMPONENT = "order-dlq"
ALERTS_TOPIC_COMPONENT = "alerts"
ALERT_INBOX_COMPONENT = "alert-inbox"
DASHBOARD_COMPONENT = "order-pipeline"

# The learner's own copies of a step's pieces, built in the build-it-yourself exercises
# (helpers/learn/practice.py): beside the pipeline, never part of it.
PRACTICE_API_COMPONENT = "practice-api"
PRACTICE_TABLE_COMPONENT = "practice-orders"
PRACTICE_STREAM_PROCESSOR = Function(
    "practice-stream-processor",
    "stream_processor",
    "02",
    "function ({runtime}), practice copy (exercise 02.3)",
    timeout=30,
)
PRACTICE_STREAM_QUEUE_COMPONENT = "practice-stream-queue"
PRACTICE_STREAM_FAILURES_COMPONENT = "practice-stream-failures"
PRACTICE_WORKER = Function(
    "practice-order-worker", "order_worker", "03", "function ({runtime}), practice copy (exercise 03.3)", timeout=10
)
PRACTICE_ORDER_QUEUE_COMPONENT = "practice-order-queue"
PRACTICE_PIPE_COMPONENT = "practice-pipe"
PRACTICE_PIPE_QUEUE_COMPONENT = "practice-pipe-queue"
PRACTICE_REDRIVE_QUEUE_COMPONENT = "practice-redrive-queue"
PRACTICE_REDRIVE_DLQ_COMPONENT = "practice-redrive-dlq"
PRACTICE_ALARM_COMPONENT = "practice-dlq-alarm"


@dataclass(frozen=True)
class Alarm:
    """One of step 6's CloudWatch alarms: its key (``alarm_specs``) and the component of its name."""

    key: str
    component: str


ALARMS: tuple[Alarm, ...] = (
    Alarm("dlq", "order-dlq-not-empty"),
    Alarm("worker-errors", "order-worker-errors"),
    Alarm("queue-age", "order-queue-oldest-message"),
    Alarm("api-5xx", "orders-api-5xx"),
    Alarm("api-latency", "orders-api-latency"),
)
ALARM_KEYS = tuple(alarm.key for alarm in ALARMS)

# The namespace and dimension the Lambda handlers publish their business metrics under (Powertools EMF),
# and the metrics themselves (a unit test checks that the handlers publish exactly these).
METRICS_NAMESPACE = "OrderPipelineLab"
METRICS_SERVICE = "orders"
BUSINESS_METRICS = ("OrdersAccepted", "HighValueOrders", "OrdersConfirmed", "OrdersRejected")


@dataclass(frozen=True)
class Resource:
    """One resource the series creates: in which step, which service, what it is, where the console shows it.

    ``name`` is a template (``{prefix}``); by default ``<prefix>-<component>``.
    """

    step: str
    service: str
    component: str
    kind: str
    console: str
    name: str = ""

    def name_for(self, prefix: str) -> str:
        return self.name.format(prefix=prefix) if self.name else resource_name(prefix, self.component)


def _function_resources(function: Function) -> list[Resource]:
    """A function, its least-privilege role and its log group, in the order a step creates them."""
    return [
        Resource(function.step, "IAM", function.role_component, "role (least privilege)", "IAM → Roles"),
        Resource(function.step, "Lambda", function.component, function.kind, "Lambda → Functions"),
        Resource(
            function.step,
            "CloudWatch Logs",
            function.component,
            "log group (7 days)",
            "CloudWatch → Log groups",
            name=f"/aws/lambda/{{prefix}}-{function.component}",
        ),
    ]


def _queue(step_number: str, component: str, kind: str) -> Resource:
    return Resource(step_number, "SQS", component, kind, "Amazon SQS → Queues")


def _pipe(component: str, kind: str, role_kind: str) -> list[Resource]:
    return [
        Resource("04", "IAM", f"{component}-role", role_kind, "IAM → Roles"),
        Resource("04", "EventBridge Pipes", component, kind, "Amazon EventBridge → Pipes"),
    ]


# Every resource, in the order the series creates them (the plan lists them in this order).
RESOURCES: tuple[Resource, ...] = (
    Resource("01", "DynamoDB", ORDERS_COMPONENT, "table (on demand)", "DynamoDB → Tables"),
    *_function_resources(CREATE_ORDER),
    Resource("01", "API Gateway", API_COMPONENT, "HTTP API ($default stage)", "API Gateway → APIs"),
    Resource(
        "01", "S3", f"{FRONTEND_COMPONENT}-<account id>", "static website bucket (aws target only)", "S3 → Buckets"
    ),
    Resource(
        "02",
        "DynamoDB Streams",
        "orders stream",
        "NEW_AND_OLD_IMAGES stream of the table",
        "DynamoDB → Tables → Exports and streams",
        name=f"{{prefix}}-{ORDERS_COMPONENT} stream",
    ),
    _queue("02", ORDER_QUEUE_COMPONENT, "standard queue"),
    _queue("02", STREAM_FAILURES_COMPONENT, "on-failure destination of the stream trigger"),
    *_function_resources(STREAM_PROCESSOR),
    *_function_resources(ORDER_WORKER),
    _queue("04", HIGH_VALUE_QUEUE_COMPONENT, "target queue of the pipe"),
    _queue("04", HIGH_VALUE_DLQ_COMPONENT, f"dead-letter queue of {HIGH_VALUE_QUEUE_COMPONENT}"),
    _queue("04", HIGH_VALUE_PIPE_DLQ_COMPONENT, "dead-letter queue of the pipe"),
    *_function_resources(HIGH_VALUE_ENRICHER),
    *_function_resources(HIGH_VALUE_CONSUMER),
    *_pipe(
        HIGH_VALUE_PIPE_COMPONENT, "pipe: stream → filter → enrichment → queue", "role of the pipe (least privilege)"
    ),
    _queue("04", PITFALL_QUEUE_COMPONENT, "target of the 'numeric filter' exercise"),
    Resource("04", "IAM", f"{PITFALL_PIPE_COMPONENT}-role", "role of the exercise's pipe", "IAM → Roles"),
    Resource("04", "EventBridge Pipes", PITFALL_PIPE_COMPONENT, "the exercise's pipe", "Amazon EventBridge → Pipes"),
    _queue("05", ORDER_DLQ_COMPONENT, f"dead-letter queue (redrive policy of {ORDER_QUEUE_COMPONENT})"),
    Resource("06", "SNS", ALERTS_TOPIC_COMPONENT, "topic + e-mail and SQS subscriptions", "Amazon SNS → Topics"),
    _queue("06", ALERT_INBOX_COMPONENT, "queue subscribed to the alerts topic"),
    *(
        Resource("06", "CloudWatch", alarm.component, "metric alarm → alerts topic", "CloudWatch → Alarms")
        for alarm in ALARMS
    ),
    Resource("06", "CloudWatch", DASHBOARD_COMPONENT, "dashboard", "CloudWatch → Dashboards"),
    # Practice copies: created only when a learner does a build-it-yourself exercise (or a headless run).
    Resource("01", "API Gateway", PRACTICE_API_COMPONENT, "practice copy (exercise 01.3)", "API Gateway → APIs"),
    Resource("02", "DynamoDB", PRACTICE_TABLE_COMPONENT, "practice copy (exercises 02.3-04.3)", "DynamoDB → Tables"),
    _queue("02", PRACTICE_STREAM_QUEUE_COMPONENT, "practice copy (exercise 02.3)"),
    _queue("02", PRACTICE_STREAM_FAILURES_COMPONENT, "practice copy (exercise 02.3)"),
    *_function_resources(PRACTICE_STREAM_PROCESSOR),
    _queue("03", PRACTICE_ORDER_QUEUE_COMPONENT, "practice copy (exercise 03.3)"),
    *_function_resources(PRACTICE_WORKER),
    _queue("04", PRACTICE_PIPE_QUEUE_COMPONENT, "practice copy (exercise 04.3)"),
    *_pipe(PRACTICE_PIPE_COMPONENT, "practice copy (exercise 04.3)", "role of the practice pipe"),
    _queue("05", PRACTICE_REDRIVE_QUEUE_COMPONENT, "practice copy (exercise 05.3)"),
    _queue("05", PRACTICE_REDRIVE_DLQ_COMPONENT, "practice copy (exercise 05.3)"),
    Resource("06", "CloudWatch", PRACTICE_ALARM_COMPONENT, "practice copy (exercise 06.3)", "CloudWatch → Alarms"),
)


def resources_of(step_number: str) -> tuple[Resource, ...]:
    """The resources one step creates."""
    return tuple(resource for resource in RESOURCES if resource.step == step_number)
