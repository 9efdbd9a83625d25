"""Scaffolding for the build-it-yourself exercises: the learner writes one step's AWS calls for a
*practice copy* of its piece, beside the pipeline (never instead of it).

Each helper here makes what the exercise does not teach (a queue, a function and its role, a table
to practise on), idempotently, named ``<prefix>-practice-…`` and tagged like every lab resource, so
``cleanup.ipynb`` removes them. What the step teaches — the route, the event source mapping, the
queue attributes, the pipe's filter, the redrive policy, the alarm — is the learner's boto3 call.
The exercise's check compares that piece with what the step's helper built and proves that it works.
No later cell depends on a practice copy. See docs/notebook-conventions.md.

>>> practice_order_item("o-1", total="42.5")["total"]
{'N': '42.50'}
>>> boto3_docs("sqs", "set_queue_attributes")
'https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/sqs/client/set_queue_attributes.html'
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from helpers.aws.apigateway import allow_api_invoke, find_http_apis
from helpers.aws.common import error_code, paginate
from helpers.aws.dynamodb import TableInfo, ensure_orders_table
from helpers.aws.event_sources import dynamodb_stream_statements
from helpers.aws.iam import dynamodb_statement, ensure_lambda_role, ensure_pipe_role
from helpers.aws.lambda_ import FunctionInfo, deploy_function
from helpers.aws.sqs import QueueInfo, ensure_queue, queue_counts, sqs_consumer_statement, sqs_sender_statement
from helpers.core import workspace
from helpers.core.lab import Lab
from helpers.learn.checks import wait_for
from helpers.pipeline.catalog import (
    PRACTICE_API_COMPONENT,
    PRACTICE_PIPE_COMPONENT,
    PRACTICE_STREAM_FAILURES_COMPONENT,
    PRACTICE_STREAM_PROCESSOR,
    PRACTICE_STREAM_QUEUE_COMPONENT,
    PRACTICE_TABLE_COMPONENT,
    PRACTICE_WORKER,
    Function,
)
from helpers.pipeline.step2 import STREAM_VIEW_TYPE, stream_processor_environment

__all__ = [
    "PracticeApi",
    "PracticeStreamProcessor",
    "boto3_docs",
    "dead_letter_one",
    "deploy_practice_stream_processor",
    "deploy_practice_worker",
    "ensure_practice_api",
    "ensure_practice_pipe_role",
    "ensure_practice_queue",
    "ensure_practice_table",
    "open_handler",
    "patch_handler",
    "practice_order_item",
    "practice_order_message",
    "put_practice_order",
    "reset_handler",
    "take_messages",
]


def boto3_docs(service: str, operation: str) -> str:
    """The boto3 reference page of one operation (``operation`` in snake_case, as the client names it)."""
    return (
        f"https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/{service}/client/{operation}.html"
    )


# ---------------------------------------------------------------------------------------------
# Handler exercises: the learner's copy of a function's code (helpers.core.workspace)
# ---------------------------------------------------------------------------------------------


def open_handler(lab: Lab, package: str, file: str = "handler.py") -> Path:
    """The file to edit in this prefix's own copy of ``lambdas/<package>/`` (copied on first use).

    Deploys of that function for this prefix then package the copy; the repository is never changed.
    """
    path = workspace.open_handler(lab.prefix, package, file)
    print(f"Your copy of {package}/{file}: {path}")
    print(f"(deploys for prefix {lab.prefix!r} use it; reset_handler(lab, {package!r}) goes back to the original)")
    return path


def handler_edited(lab: Lab, package: str, file: str = "handler.py") -> bool:
    """Whether this prefix's copy of ``lambdas/<package>/<file>`` was edited (an exercise's first question)."""
    return workspace.handler_edited(lab.prefix, package, file)


def reset_handler(lab: Lab, package: str) -> bool:
    """Delete this prefix's copy of ``package``; redeploy the function to run the repository's code again."""
    removed = workspace.reset_handler(lab.prefix, package)
    print(f"{package}: " + ("your copy is deleted" if removed else "no copy of yours") + ": deploys use lambdas/")
    return removed


def patch_handler(path: Path, *, old: str, new: str) -> bool:
    """Replace the first ``old`` in ``path`` with ``new``, once (False: ``new`` is there already).

    What a solution does to a learner's copy; raises ``ValueError`` when ``old`` is not in the file.
    """
    text = path.read_text()
    if new in text:
        return False
    if old not in text:
        raise ValueError(f"{path.name} no longer contains {old.strip()[:60]!r}: reset_handler(...) and try again")
    path.write_text(text.replace(old, new, 1))
    return True


# ---------------------------------------------------------------------------------------------
# Practice resources
# ---------------------------------------------------------------------------------------------


def ensure_practice_queue(lab: Lab, component: str) -> QueueInfo:
    """Queue ``lab.name(component)``, created with SQS's defaults if missing — its attributes are the
    learner's to set, so an existing queue is never changed."""
    sqs = lab.client("sqs")
    name = lab.name(component)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if error_code(error) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, tags=lab.tags)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueInfo(name=name, url=url, arn=arn)


def ensure_practice_table(lab: Lab) -> TableInfo:
    """The practice orders table (same key and stream as the real one): exercises put orders in it by hand."""
    return ensure_orders_table(lab, lab.name(PRACTICE_TABLE_COMPONENT), stream_view_type=STREAM_VIEW_TYPE)


def practice_order_item(
    order_id: str,
    *,
    total: Decimal | str | int = "42.00",
    value_tier: str = "STANDARD",
    customer_id: str = "practice-01",
) -> dict[str, Any]:
    """A PENDING order item in DynamoDB JSON, shaped as ``create_order`` writes it (one line)."""
    amount = Decimal(str(total)).quantize(Decimal("0.01"))
    now = "2026-01-01T00:00:00.000Z"
    return {
        "orderId": {"S": order_id},
        "status": {"S": "PENDING"},
        "customer": {"M": {"id": {"S": customer_id}, "name": {"S": "Practice Customer"}}},
        "items": {"L": [{"M": {"sku": {"S": "PRACTICE-1"}, "quantity": {"N": "1"}, "unitPrice": {"N": str(amount)}}}]},
        "total": {"N": str(amount)},
        "valueTier": {"S": value_tier},
        "currency": {"S": "EUR"},
        "itemCount": {"N": "1"},
        "createdAt": {"S": now},
        "updatedAt": {"S": now},
    }


def put_practice_order(lab: Lab, table_name: str, **fields: Any) -> str:
    """Write a new PENDING order into ``table_name`` (the practice table); return its id."""
    order_id = f"practice-{uuid.uuid4()}"
    lab.client("dynamodb").put_item(TableName=table_name, Item=practice_order_item(order_id, **fields))
    return order_id


def practice_order_message(order_id: str, *, total: Decimal | str | int = "42.00") -> str:
    """The order message (JSON) stream_processor would send for :func:`practice_order_item`."""
    amount = str(Decimal(str(total)).quantize(Decimal("0.01")))
    return json.dumps(
        {
            "orderId": order_id,
            "customerId": "practice-01",
            "customerName": "Practice Customer",
            "items": [{"sku": "PRACTICE-1", "quantity": 1, "unitPrice": amount}],
            "total": amount,
            "currency": "EUR",
            "createdAt": "2026-01-01T00:00:00.000Z",
        }
    )


def take_messages(lab: Lab, queue_url: str) -> list[dict[str, Any]]:
    """Receive what a practice queue holds now (up to 10, waiting 1 s), delete it, return the bodies
    (parsed JSON where they are JSON). Only for practice queues: nothing else reads them."""
    sqs = lab.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    bodies = []
    for message in messages:
        try:
            bodies.append(json.loads(message["Body"]))
        except ValueError:
            bodies.append({"Body": message["Body"]})
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def dead_letter_one(lab: Lab, source: QueueInfo, dlq: QueueInfo, *, timeout: float = 60) -> str:
    """Send a message to ``source`` and receive it without deleting it (a consumer that always fails)
    until SQS moves it to ``dlq`` by the source's redrive policy; return the message's marker."""
    sqs = lab.client("sqs")
    marker = f"poison-{uuid.uuid4()}"
    sqs.send_message(QueueUrl=source.url, MessageBody=json.dumps({"practice": marker}))

    def in_dlq() -> bool:
        # Each receive counts; VisibilityTimeout=0 makes the message visible again at once.
        sqs.receive_message(QueueUrl=source.url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1)
        return queue_counts(lab, dlq.url).visible >= 1

    wait_for(
        in_dlq,
        timeout=timeout,
        what=f"the message {marker} in {dlq.name}",
        hint="is the source queue's RedrivePolicy set (deadLetterTargetArn = the practice DLQ)?",
        progress=False,
    )
    return marker


@dataclass(frozen=True)
class PracticeApi:
    """The practice HTTP API: its id and base URL (``$default`` stage, auto-deployed)."""

    api_id: str
    endpoint_url: str


def ensure_practice_api(lab: Lab, function_arn: str) -> PracticeApi:
    """An empty HTTP API ``<prefix>-practice-api`` with its ``$default`` stage, allowed to invoke
    ``function_arn``: the learner adds the integration and the route."""
    apigw = lab.client("apigatewayv2")
    found = find_http_apis(lab, PRACTICE_API_COMPONENT)
    if found:
        api = apigw.get_api(ApiId=found[0]["ApiId"])
    else:
        api = apigw.create_api(
            Name=lab.name(PRACTICE_API_COMPONENT), ProtocolType="HTTP", Description="Practice copy", Tags=lab.tags
        )
    api_id = api["ApiId"]
    if not any(s.get("StageName") == "$default" for s in paginate(apigw, "get_stages", "Items", ApiId=api_id)):
        apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, Tags=lab.tags)
    allow_api_invoke(lab, function_arn, lab.name(PRACTICE_API_COMPONENT), api_id)
    endpoint = api.get("ApiEndpoint") or apigw.get_api(ApiId=api_id)["ApiEndpoint"]
    return PracticeApi(api_id, endpoint.rstrip("/"))


@dataclass(frozen=True)
class PracticeStreamProcessor:
    """The practice stream processor and the queues it uses (no trigger: that is the exercise)."""

    function: FunctionInfo
    queue: QueueInfo
    failures: QueueInfo


def deploy_practice_stream_processor(lab: Lab, table: TableInfo) -> PracticeStreamProcessor:
    """stream_processor's code as ``<prefix>-practice-stream-processor``, sending to a practice queue,
    allowed to read ``table``'s stream and to send to a practice on-failure queue."""
    if not table.stream_arn:
        raise ValueError(f"Table {table.name} has no stream: use ensure_practice_table(lab)")
    queue = ensure_queue(lab, PRACTICE_STREAM_QUEUE_COMPONENT, message_retention_seconds=3600)
    failures = ensure_queue(lab, PRACTICE_STREAM_FAILURES_COMPONENT, message_retention_seconds=3600)
    statements = [
        *dynamodb_stream_statements(table.stream_arn),
        sqs_sender_statement(queue.arn),
        sqs_sender_statement(failures.arn),
    ]
    function = _deploy_practice_function(
        lab, PRACTICE_STREAM_PROCESSOR, statements, stream_processor_environment(queue.url)
    )
    return PracticeStreamProcessor(function, queue, failures)


def _deploy_practice_function(
    lab: Lab, function: Function, statements: list[dict[str, Any]], environment: dict[str, str]
) -> FunctionInfo:
    """Deploy a practice copy of a catalog function with its own least-privilege role."""
    role_arn = ensure_lambda_role(lab, function.component, statements)
    return deploy_function(
        lab,
        function.directory,
        component=function.component,
        handler=function.handler,
        role_arn=role_arn,
        timeout=function.timeout,
        environment=environment,
    )


def deploy_practice_worker(lab: Lab, table: TableInfo, queue: QueueInfo) -> FunctionInfo:
    """order_worker's code as ``<prefix>-practice-order-worker`` (timeout 10 s), deciding the orders of
    ``table`` (the practice table), allowed to consume ``queue`` (no trigger: that is the exercise)."""
    statements = [
        dynamodb_statement(table.arn, ["dynamodb:UpdateItem", "dynamodb:GetItem"]),
        sqs_consumer_statement(queue.arn, change_visibility=True),
    ]
    return _deploy_practice_function(
        lab,
        PRACTICE_WORKER,
        statements,
        {
            "ORDERS_TABLE": table.name,
            "ORDER_QUEUE_URL": queue.url,
            "POWERTOOLS_SERVICE_NAME": "orders",
            "POWERTOOLS_METRICS_NAMESPACE": "OrderPipelineLabPractice",  # keeps the business metrics the real ones
            "POWERTOOLS_LOG_LEVEL": "INFO",
        },
    )


def ensure_practice_pipe_role(lab: Lab, stream_arn: str, target_queue_arn: str) -> str:
    """The practice pipe's role: read that stream, send to that queue; nothing else."""
    return ensure_pipe_role(
        lab, PRACTICE_PIPE_COMPONENT, [*dynamodb_stream_statements(stream_arn), sqs_sender_statement(target_queue_arn)]
    )
