"""Shared by test_streams.py, test_sqs.py and test_event_filtering.py: the event probe, its invocation
log, mappings, queues.

Everything is created through the AWS API (boto3) or the lab's helpers, named ``lab.name(...)``
and tagged with ``lab.tags``, so the suite runs unchanged on real AWS (``ORDERLAB_TARGET=aws``)
and the session cleanup removes what a failed test leaves behind. Waits are bounded polls;
their patience is longer on real AWS, where a new mapping takes a minute or two to start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, error_message, partition, retry_on
from helpers.aws.runtime import lambda_runtime
from helpers.aws.sqs import queue_counts
from helpers.core.naming import tag_list
from helpers.core.waiters import wait_table_active, wait_until

PROBE_DIR = Path(__file__).resolve().parent / "probes" / "event_probe"
RUNTIME = lambda_runtime()  # the lab's: the Python running the suite, or ORDERLAB_LAMBDA_RUNTIME
ON_AWS = os.environ.get("ORDERLAB_TARGET", "local") != "local"
PATIENCE = 300.0 if ON_AWS else 30.0  # for something that should happen
POLL = 1.0 if ON_AWS else 0.1


@dataclass(frozen=True)
class EventProbe:
    name: str
    arn: str
    invocations_table: str


@dataclass(frozen=True)
class Invocation:
    request_id: str
    at: float
    outcome: str  # ok | partial | raise
    records: list[dict]


def deploy_event_probe(lab: Any) -> EventProbe:
    """The probe function (idempotent) and the DynamoDB table it logs its invocations to."""
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    ddb = lab.client("dynamodb")
    table = lab.name("esm-invocations")
    try:
        ddb.describe_table(TableName=table)
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        ddb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            Tags=tag_list(lab.tags),
        )
    wait_table_active(ddb, table, timeout=PATIENCE)
    table_arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]

    part, region, account, prefix = partition(lab.region), lab.region, lab.account_id, lab.prefix
    statements = [
        {"Sid": "LogInvocations", "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [table_arn]},
        {
            "Sid": "ReadLabStreams",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ],
            "Resource": [
                f"arn:{part}:dynamodb:{region}:{account}:table/{prefix}-*",
                f"arn:{part}:dynamodb:{region}:{account}:table/{prefix}-*/stream/*",
            ],
        },
        {
            "Sid": "UseLabQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ChangeMessageVisibility",
                "sqs:SendMessage",
            ],
            "Resource": [f"arn:{part}:sqs:{region}:{account}:{prefix}-*"],
        },
        {
            "Sid": "PublishLabTopics",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": [f"arn:{part}:sns:{region}:{account}:{prefix}-*"],
        },
    ]
    role = ensure_lambda_role(lab, "event-probe", statements=statements)
    function = deploy_function(
        lab,
        PROBE_DIR,
        component="event-probe",
        handler="event_probe.handler",
        role_arn=role,
        environment={"INVOCATIONS_TABLE": table},
        runtime=RUNTIME,
        timeout=10,
    )
    return EventProbe(function.name, function.arn, table)


def invocations(lab: Any, probe: EventProbe, source_arn: str) -> list[Invocation]:
    """Every invocation of the probe by events of ``source_arn``, oldest first."""
    found = []
    pages = (
        lab.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=probe.invocations_table,
            ConsistentRead=True,
            FilterExpression="#s = :s",
            ExpressionAttributeNames={"#s": "source"},
            ExpressionAttributeValues={":s": {"S": source_arn}},
        )
    )
    for page in pages:
        for item in page.get("Items", []):
            found.append(
                Invocation(
                    item["id"]["S"], float(item["at"]["N"]), item["outcome"]["S"], json.loads(item["records"]["S"])
                )
            )
    return sorted(found, key=lambda invocation: invocation.at)


def wait_for_invocations(
    lab: Any,
    probe: EventProbe,
    source_arn: str,
    done: Callable[[list[Invocation]], bool],
    what: str,
    timeout: float = PATIENCE,
) -> list[Invocation]:
    def check() -> list[Invocation] | None:
        found = invocations(lab, probe, source_arn)
        return found if found and done(found) else None

    return wait_until(check, timeout=timeout, interval=POLL, max_interval=2.0, what=what)


def _role_not_ready(error: ClientError) -> bool:
    message = error_message(error).lower()
    return error_code(error) == "InvalidParameterValueException" and ("role" in message or "permission" in message)


@contextmanager
def event_source_mapping(lab: Any, probe: EventProbe, *, warm: bool = False, **params: Any) -> Iterator[dict]:
    """Create a mapping to the probe, wait until it is Enabled, and delete it afterwards.

    ``warm``: invoke the probe once first. A first batch that met a cold start could outlast a
    one-second visibility timeout, and SQS would then deliver the whole batch again, as on AWS.
    """
    lam = lab.client("lambda")
    if warm:
        lam.invoke(FunctionName=probe.name, Payload=b"{}")  # logs an invocation of no source: none is counted
    mapping = retry_on(
        lambda: lam.create_event_source_mapping(FunctionName=probe.name, Tags=lab.tags, **params),
        should_retry=_role_not_ready,
        timeout=120,
        what="CreateEventSourceMapping (IAM role propagation)",
    )
    uuid = mapping["UUID"]
    try:
        wait_until(
            lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled",
            timeout=PATIENCE,
            interval=POLL,
            max_interval=5.0,
            what=f"event source mapping {uuid} Enabled",
        )
        yield lam.get_event_source_mapping(UUID=uuid)
    finally:
        delete_mapping(lab, uuid)


def delete_mapping(lab: Any, uuid: str) -> None:
    lam = lab.client("lambda")

    def gone() -> bool:
        try:
            state = lam.get_event_source_mapping(UUID=uuid)["State"]
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return True
            raise
        if state not in ("Deleting", "Creating", "Enabling", "Disabling", "Updating"):
            lam.delete_event_source_mapping(UUID=uuid)
        return False

    wait_until(gone, timeout=PATIENCE, interval=POLL, max_interval=5.0, what=f"event source mapping {uuid} deleted")


def create_queue(lab: Any, component: str, **attributes: str) -> tuple[str, str]:
    """A tagged standard queue; returns (url, arn)."""
    sqs = lab.client("sqs")
    url = sqs.create_queue(QueueName=lab.name(component), Attributes=attributes, tags=lab.tags)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def wait_queue_size(lab: Any, url: str, size: int = 0, what: str = "") -> None:
    """Wait until the queue holds ``size`` messages (visible, in flight and delayed; empty by default)."""
    wait_until(
        lambda: queue_counts(lab, url).total == size,
        timeout=PATIENCE,
        interval=POLL,
        max_interval=2.0,
        what=what or f"{size} message(s) in {url}",
    )


def receive(
    lab: Any, url: str, count: int, timeout: float = PATIENCE, *, delete: bool = True, **params: Any
) -> list[dict]:
    """Receive until ``count`` messages arrived (bounded by ``timeout``); deletes them unless told not to."""
    sqs = lab.client("sqs")
    got: dict[str, dict] = {}

    def check() -> list[dict] | None:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **params)
        for message in response.get("Messages", []):
            got.setdefault(message["MessageId"], message)
            if delete:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return list(got.values()) if len(got) >= count else None

    return wait_until(check, timeout=timeout, interval=0.01, what=f"{count} message(s) in {url}")
