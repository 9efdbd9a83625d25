"""EventBridge Pipes (step 04: high-value routing), checked against the AWS contract.

References (AWS documentation followed):
- Pipes overview, enrichment, states: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes.html
- DynamoDB stream source (event shape, StartingPosition, batching):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html
- SQS source (batches, deletion after success, visibility timeout and redrive on failure):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html
- Filtering (patterns, SQS body as JSON, DynamoDB data is typed):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
- Targets: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html
- Input transformation: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html
- API (CreatePipe, DescribePipe, StartPipe, StopPipe, DeletePipe, CurrentState values):
  https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_CreatePipe.html,
  https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_DescribePipe.html,
  https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_StopPipe.html,
  https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_StartPipe.html

Everything is created with boto3 (or the lab's committed helpers), named ``lab.name(...)`` and
tagged ``lab.tags``, so the session cleanup removes what a failed test leaves. Waits are bounded
polls; a record written last (the *sentinel*) proves that everything written before it on the same
ordered stream was already seen by the pipe.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conformance._esm import ON_AWS, PATIENCE, POLL, RUNTIME, create_queue
from helpers.aws.common import error_code, error_message, partition, retry_on
from helpers.core.naming import tag_list
from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

PROBE_DIR = Path(__file__).resolve().parent / "probes" / "pipe_enricher"
VIEW = "NEW_AND_OLD_IMAGES"
PIPE_PATIENCE = 600.0 if ON_AWS else 15.0  # a pipe takes a minute or two to change state on AWS
SETTLED = {"RUNNING", "STOPPED"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pipe_role(lab) -> str:
    """A role EventBridge Pipes can assume, allowed on this lab's streams, queues, functions and topics."""
    iam = lab.client("iam")
    from helpers.aws.iam import ROLE_PATH, role_name

    name = role_name(lab, "pipes-conformance")
    part, region, account, prefix = partition(lab.region), lab.region, lab.account_id, lab.prefix
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pipes.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams",
                ],
                "Resource": [f"arn:{part}:dynamodb:{region}:{account}:table/{prefix}-*/stream/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage"],
                "Resource": [f"arn:{part}:sqs:{region}:{account}:{prefix}-*"],
            },
            {
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [f"arn:{part}:lambda:{region}:{account}:function:{prefix}-*"],
            },
        ],
    }
    try:
        arn = iam.create_role(
            RoleName=name,
            Path=ROLE_PATH,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="Role of the Pipes conformance tests",
            Tags=tag_list(lab.tags),
        )["Role"]["Arn"]
    except ClientError as error:
        if error_code(error) != "EntityAlreadyExists":
            raise
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="pipes-conformance", PolicyDocument=json.dumps(policy))
    return arn


@dataclass(frozen=True)
class Probes:
    enricher_arn: str
    capture_arn: str
    capture_url: str


@pytest.fixture(scope="module")
def probes(lab) -> Probes:
    """The enrichment probe and the capture target (it forwards each batch to a queue the test reads)."""
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    capture_url, capture_queue_arn = create_queue(lab, "pipes-captured")
    role = ensure_lambda_role(
        lab,
        "pipe-probe",
        statements=[
            {"Sid": "ReportBatches", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [capture_queue_arn]}
        ],
    )
    enricher = deploy_function(
        lab,
        PROBE_DIR,
        component="pipe-enricher",
        handler="pipe_enricher.enrich",
        role_arn=role,
        environment={},
        runtime=RUNTIME,
    )
    capture = deploy_function(
        lab,
        PROBE_DIR,
        component="pipe-capture",
        handler="pipe_enricher.capture",
        role_arn=role,
        environment={"CAPTURE_QUEUE_URL": capture_url},
        runtime=RUNTIME,
    )
    return Probes(enricher.arn, capture.arn, capture_url)


# --------------------------------------------------------------------------- helpers


def _table(lab, component: str):
    from helpers.aws import ensure_orders_table

    table = ensure_orders_table(lab, lab.name(component), stream_view_type=VIEW)
    assert table.stream_arn
    return table


def _put(lab, table, order_id: str, **attributes: str) -> None:
    item = {"orderId": {"S": order_id}}
    for name, value in attributes.items():
        item[name] = {"N": value[1:]} if value.startswith("#") else {"S": value}
    lab.client("dynamodb").put_item(TableName=table.name, Item=item)


def _state(lab, name: str) -> str:
    return lab.client("pipes").describe_pipe(Name=name)["CurrentState"]


def _wait_state(lab, name: str, want: str) -> dict:
    def settled() -> dict | None:
        pipe = lab.client("pipes").describe_pipe(Name=name)
        assert not pipe["CurrentState"].endswith("_FAILED"), (
            f"pipe {name}: {pipe['CurrentState']}: {pipe.get('StateReason')}"
        )
        return pipe if pipe["CurrentState"] == want else None

    return wait_until(settled, timeout=PIPE_PATIENCE, interval=0.05, max_interval=5.0, what=f"pipe {name} {want}")


def _role_not_ready(error: ClientError) -> bool:
    message = error_message(error).lower()
    return error_code(error) == "ValidationException" and ("role" in message or "assume" in message)


@contextmanager
def pipe(lab, role_arn: str, component: str, *, source: str, target: str, **params: Any) -> Iterator[dict]:
    """CreatePipe (tagged), wait until RUNNING, yield its description; DeletePipe afterwards."""
    client = lab.client("pipes")
    name = lab.name(component)
    created = retry_on(
        lambda: client.create_pipe(Name=name, RoleArn=role_arn, Source=source, Target=target, Tags=lab.tags, **params),
        should_retry=_role_not_ready,
        timeout=120,
        what=f"CreatePipe {name} (IAM propagation)",
    )
    try:
        assert created["CurrentState"] == "CREATING", created
        yield _wait_state(lab, name, "RUNNING")
    finally:
        try:
            if _state(lab, name) not in SETTLED | {"DELETING"}:
                wait_until(
                    lambda: _state(lab, name) in SETTLED,
                    timeout=PIPE_PATIENCE,
                    interval=0.05,
                    max_interval=5.0,
                    what=f"pipe {name} settled before deleting it",
                )
            client.delete_pipe(Name=name)
        except ClientError as error:
            if error_code(error) != "NotFoundException":
                raise


def _collect(lab, url: str, done: Callable[[list[Any]], bool], what: str) -> list[Any]:
    """Receive (and delete) messages from ``url`` until ``done(bodies)``; bodies parsed as JSON when they are."""
    sqs = lab.client("sqs")
    bodies: list[Any] = []

    def check() -> list[Any] | None:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in response.get("Messages", []):
            try:
                bodies.append(json.loads(message["Body"]))
            except ValueError:
                bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bodies if done(bodies) else None

    return wait_until(check, timeout=PATIENCE, interval=POLL, what=what)


def _keys(records: list[dict]) -> list[str]:
    return [r["dynamodb"]["Keys"]["orderId"]["S"] for r in records]


def _has(key: str) -> Callable[[list[dict]], bool]:
    return lambda records: key in _keys(records)


def _queue_empty(lab, url: str) -> bool:
    attributes = lab.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    return all(value == "0" for value in attributes["Attributes"].values())


def _pattern(value: dict) -> dict:
    return {"Filters": [{"Pattern": json.dumps(value)}]}


# --------------------------------------------------------------------------- DynamoDB stream source


def test_stream_filter_delivers_exactly_the_matching_items_as_dynamodb_records(lab, pipe_role):
    """https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html and
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html (the event is the stream
    record); SQS target: one message per event, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html
    """
    table = _table(lab, "pipes-filter-src")
    target_url, target_arn = create_queue(lab, "pipes-filter-high")
    with pipe(
        lab,
        pipe_role,
        "pipes-filter",
        source=table.stream_arn,
        target=target_arn,
        SourceParameters={
            "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 10},
            "FilterCriteria": _pattern({"dynamodb": {"NewImage": {"valueTier": {"S": ["HIGH"]}}}}),
        },
    ) as described:
        assert described["SourceParameters"]["FilterCriteria"]["Filters"]
        tags = lab.client("pipes").list_tags_for_resource(resourceArn=described["Arn"])["tags"]
        assert tags.items() >= lab.tags.items()
        for order_id, tier in (
            ("h1", "HIGH"),
            ("l1", "LOW"),
            ("h2", "HIGH"),
            ("l2", "low"),
            ("n1", ""),
            ("h3", "HIGH"),
        ):
            _put(lab, table, order_id, **({"valueTier": tier} if tier else {}))
        records = _collect(lab, target_url, _has("h3"), "the last HIGH order in the target queue")

    assert Counter(_keys(records)) == Counter({"h1": 1, "h2": 1, "h3": 1})
    first = records[_keys(records).index("h1")]
    assert first["eventName"] == "INSERT" and first["eventSource"] == "aws:dynamodb"
    assert first["eventSourceARN"] == table.stream_arn and first["awsRegion"] == lab.region and first["eventID"]
    change = first["dynamodb"]
    assert change["Keys"] == {"orderId": {"S": "h1"}}
    assert change["NewImage"] == {"orderId": {"S": "h1"}, "valueTier": {"S": "HIGH"}}
    assert change["StreamViewType"] == VIEW and change["SizeBytes"] > 0 and change["SequenceNumber"].isdigit()
    assert [int(r["dynamodb"]["SequenceNumber"]) for r in records] == sorted(
        int(r["dynamodb"]["SequenceNumber"]) for r in records
    )


def test_numeric_filter_on_a_dynamodb_number_matches_nothing(lab, pipe_role):
    """A DynamoDB number arrives as {"N": "1500"}, a string: ``numeric`` never matches it
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-numeric-matching,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html). Filters are OR'ed: the
    sentinel's own filter shows the stream was read past the big order."""
    table = _table(lab, "pipes-numeric-src")
    target_url, target_arn = create_queue(lab, "pipes-numeric-out")
    filters = {
        "Filters": [
            {"Pattern": json.dumps({"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">=", 1000]}]}}}})},
            {"Pattern": json.dumps({"dynamodb": {"NewImage": {"sentinel": {"S": ["yes"]}}}})},
        ]
    }
    with pipe(
        lab,
        pipe_role,
        "pipes-numeric",
        source=table.stream_arn,
        target=target_arn,
        SourceParameters={
            "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 10},
            "FilterCriteria": filters,
        },
    ):
        _put(lab, table, "big", total="#1500")
        _put(lab, table, "small", total="#50")
        _put(lab, table, "sentinel", sentinel="yes")
        records = _collect(lab, target_url, _has("sentinel"), "the sentinel order in the target queue")
    assert _keys(records) == ["sentinel"]


def test_numeric_filter_on_a_json_number_in_an_sqs_body_matches(lab, pipe_role):
    """An SQS body that is JSON is filtered as JSON, and non-matching messages are deleted from the
    source queue (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html#pipes-filter-sqs)."""
    source_url, source_arn = create_queue(lab, "pipes-sqs-numeric-src")
    target_url, target_arn = create_queue(lab, "pipes-sqs-numeric-out")
    with pipe(
        lab,
        pipe_role,
        "pipes-sqs-numeric",
        source=source_arn,
        target=target_arn,
        SourceParameters={
            "SqsQueueParameters": {"BatchSize": 10},
            "FilterCriteria": _pattern({"body": {"total": [{"numeric": [">=", 1000]}]}}),
        },
    ):
        sqs = lab.client("sqs")
        for order_id, total in (("big", 1500), ("small", 50), ("text", None)):
            body = json.dumps({"orderId": order_id, "total": total}) if total is not None else "total 5000"
            sqs.send_message(QueueUrl=source_url, MessageBody=body)
        records = _collect(lab, target_url, lambda found: len(found) >= 1, "the big order in the target queue")
        wait_until(
            lambda: _queue_empty(lab, source_url),
            timeout=PATIENCE,
            interval=POLL,
            max_interval=2.0,
            what="the source queue to be empty (matches delivered, the rest deleted)",
        )
    assert [json.loads(r["body"])["orderId"] for r in records] == ["big"]
    assert records[0]["eventSource"] == "aws:sqs" and records[0]["eventSourceARN"] == source_arn


def test_enrichment_output_replaces_the_events(lab, pipe_role, probes):
    """The enrichment gets the batch (a JSON array) and what it returns goes to the target instead; an event
    it leaves out is not delivered (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes.html#pipes-enrichment)."""
    table = _table(lab, "pipes-enrich-src")
    target_url, target_arn = create_queue(lab, "pipes-enrich-out")
    with pipe(
        lab,
        pipe_role,
        "pipes-enrich",
        source=table.stream_arn,
        target=target_arn,
        Enrichment=probes.enricher_arn,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 1}},
    ) as described:
        assert described["Enrichment"] == probes.enricher_arn
        _put(lab, table, "e1", valueTier="HIGH")
        _put(lab, table, "dropped", valueTier="HIGH", drop="yes")
        _put(lab, table, "e2", valueTier="LOW")
        bodies = _collect(
            lab,
            target_url,
            lambda found: any(b.get("orderId") == "e2" for b in found),
            "the last enriched order in the target queue",
        )
    assert [(b["orderId"], b["valueTier"], b["enrichedBy"]) for b in bodies] == [
        ("e1", "HIGH", "pipe_enricher"),
        ("e2", "LOW", "pipe_enricher"),
    ]
    assert all(b["sourceEventId"] for b in bodies)


def test_input_template_shapes_the_target_message(lab, pipe_role):
    """``<$.path>`` values and reserved variables; strings are quoted for us, objects inserted as JSON
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html)."""
    table = _table(lab, "pipes-template-src")
    target_url, target_arn = create_queue(lab, "pipes-template-out")
    template = (
        '{"orderId": <$.dynamodb.NewImage.orderId.S>, "tier": "<$.dynamodb.NewImage.valueTier.S>", '
        '"keys": <$.dynamodb.Keys>, "pipe": <aws.pipes.pipe-name>, "source": <aws.pipes.source-arn>}'
    )
    with pipe(
        lab,
        pipe_role,
        "pipes-template",
        source=table.stream_arn,
        target=target_arn,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 10}},
        TargetParameters={"InputTemplate": template},
    ) as described:
        assert described["TargetParameters"]["InputTemplate"] == template
        _put(lab, table, "t1", valueTier="HIGH")
        bodies = _collect(lab, target_url, lambda found: len(found) >= 1, "the transformed order")
    assert bodies == [
        {
            "orderId": "t1",
            "tier": "HIGH",
            "keys": {"orderId": {"S": "t1"}},
            "pipe": lab.name("pipes-template"),
            "source": table.stream_arn,
        }
    ]


def test_stop_and_start_lose_nothing_and_deliver_nothing_twice(lab, pipe_role):
    """StopPipe answers STOPPING then the pipe is STOPPED; StartPipe answers STARTING then RUNNING; a stream
    pipe resumes from its checkpoint (https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_StopPipe.html,
    https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_StartPipe.html,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes.html#pipes-start-stop)."""
    table = _table(lab, "pipes-stop-src")
    target_url, target_arn = create_queue(lab, "pipes-stop-out")
    client = lab.client("pipes")
    with pipe(
        lab,
        pipe_role,
        "pipes-stop",
        source=table.stream_arn,
        target=target_arn,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 10}},
    ) as p:
        _put(lab, table, "before")
        records = _collect(lab, target_url, _has("before"), "the order written before StopPipe")

        stopping = client.stop_pipe(Name=p["Name"])
        assert (stopping["CurrentState"], stopping["DesiredState"]) == ("STOPPING", "STOPPED")
        _wait_state(lab, p["Name"], "STOPPED")
        _put(lab, table, "while-stopped-1")
        _put(lab, table, "while-stopped-2")
        if not ON_AWS:  # AWS may take a while to stop polling after STOPPED; locally it stops at once
            assert lab.client("sqs").receive_message(QueueUrl=target_url, WaitTimeSeconds=1).get("Messages") is None

        starting = client.start_pipe(Name=p["Name"])
        assert (starting["CurrentState"], starting["DesiredState"]) == ("STARTING", "RUNNING")
        _wait_state(lab, p["Name"], "RUNNING")
        _put(lab, table, "after")
        records += _collect(lab, target_url, _has("after"), "the order written after StartPipe")
    assert Counter(_keys(records)) == Counter({"before": 1, "while-stopped-1": 1, "while-stopped-2": 1, "after": 1})


def test_batch_size_and_batching_window(lab, pipe_role, probes):
    """Records are gathered until the batch is full or the batching window ends; a Lambda target gets each
    batch as one JSON array, in stream order (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html)."""
    table = _table(lab, "pipes-batch-src")
    with pipe(
        lab,
        pipe_role,
        "pipes-batch",
        source=table.stream_arn,
        target=probes.capture_arn,
        SourceParameters={
            "DynamoDBStreamParameters": {
                "StartingPosition": "LATEST",
                "BatchSize": 3,
                "MaximumBatchingWindowInSeconds": 2,
            }
        },
    ):
        for order_id in ("b1", "b2", "b3", "b4"):
            _put(lab, table, order_id)

        def all_four(captured: list[dict]) -> bool:
            return "b4" in [
                k for c in captured if c["event"] and "dynamodb" in c["event"][0] for k in _keys(c["event"])
            ]

        captured = _collect(lab, probes.capture_url, all_four, "the four orders at the Lambda target")
    batches = [_keys(c["event"]) for c in captured if c["event"] and "dynamodb" in c["event"][0]]
    assert [k for batch in batches for k in batch] == ["b1", "b2", "b3", "b4"]  # each once, in order
    assert max(len(batch) for batch in batches) == 3 and all(len(batch) <= 3 for batch in batches)


def test_update_pipe_goes_through_updating_and_applies_the_new_filter(lab, pipe_role):
    """UpdatePipe answers UPDATING, the pipe returns to RUNNING with the new configuration; fields not named keep
    their values (https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_UpdatePipe.html)."""
    table = _table(lab, "pipes-update-src")
    target_url, target_arn = create_queue(lab, "pipes-update-out")
    client = lab.client("pipes")
    with pipe(
        lab,
        pipe_role,
        "pipes-update",
        source=table.stream_arn,
        target=target_arn,
        Description="before",
        SourceParameters={
            "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 10},
            "FilterCriteria": _pattern({"dynamodb": {"NewImage": {"valueTier": {"S": ["LOW"]}}}}),
        },
    ) as p:
        updated = client.update_pipe(
            Name=p["Name"],
            RoleArn=pipe_role,
            SourceParameters={"FilterCriteria": _pattern({"dynamodb": {"NewImage": {"valueTier": {"S": ["HIGH"]}}}})},
        )
        assert updated["CurrentState"] == "UPDATING"
        described = _wait_state(lab, p["Name"], "RUNNING")
        assert described["Description"] == "before"
        assert described["SourceParameters"]["DynamoDBStreamParameters"]["StartingPosition"] == "LATEST"
        _put(lab, table, "low", valueTier="LOW")
        _put(lab, table, "high", valueTier="HIGH")
        records = _collect(lab, target_url, _has("high"), "the HIGH order after the update")
    assert _keys(records) == ["high"]


# --------------------------------------------------------------------------- SQS source -> Lambda target


def test_sqs_source_to_lambda_target(lab, pipe_role, probes):
    """The Lambda target gets the batch as a JSON array of SQS records; delivered messages are deleted; a
    failed batch stays in the queue and its redrive policy moves it to the DLQ
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-error-troubleshooting.html)."""
    dlq_url, dlq_arn = create_queue(lab, "pipes-lambda-dlq")
    source_url, source_arn = create_queue(
        lab,
        "pipes-lambda-src",
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
    )
    sqs = lab.client("sqs")
    with pipe(
        lab,
        pipe_role,
        "pipes-lambda",
        source=source_arn,
        target=probes.capture_arn,
        SourceParameters={"SqsQueueParameters": {"BatchSize": 10}},
        TargetParameters={"LambdaFunctionParameters": {"InvocationType": "REQUEST_RESPONSE"}},
    ):
        sent = {
            sqs.send_message(
                QueueUrl=source_url,
                MessageBody=json.dumps({"orderId": f"q{i}"}),
                MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
            )["MessageId"]
            for i in range(3)
        }

        def delivered(captured: list[dict]) -> bool:
            return {r["messageId"] for c in captured for r in c["event"]} >= sent

        captured = _collect(lab, probes.capture_url, delivered, "the three messages at the Lambda target")
        wait_until(
            lambda: _queue_empty(lab, source_url),
            timeout=PATIENCE,
            interval=POLL,
            max_interval=2.0,
            what="the delivered messages to be deleted from the source queue",
        )

        poison = sqs.send_message(QueueUrl=source_url, MessageBody=json.dumps({"orderId": "poison", "fail": True}))[
            "MessageId"
        ]
        moved = _collect(lab, dlq_url, lambda found: len(found) >= 1, "the failing message in the DLQ")
    assert all(isinstance(c["event"], list) for c in captured)
    records = [r for c in captured for r in c["event"]]
    assert Counter(r["messageId"] for r in records if r["messageId"] in sent) == Counter({m: 1 for m in sent})
    record = records[0]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == source_arn
    assert record["messageAttributes"]["kind"]["stringValue"] == "order"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert moved == [{"orderId": "poison", "fail": True}] and poison


# --------------------------------------------------------------------------- refused configurations


def test_unsupported_target_is_refused(lab, pipe_role):
    """An S3 bucket is not a Pipes target (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html):
    CreatePipe answers ValidationException. The local cloud also names the targets it runs."""
    _url, source_arn = create_queue(lab, "pipes-refused-src")
    with pytest.raises(ClientError) as raised:
        lab.client("pipes").create_pipe(
            Name=lab.name("pipes-refused"),
            RoleArn=pipe_role,
            Source=source_arn,
            Target=f"arn:{partition(lab.region)}:s3:::{lab.name('pipes-refused')}",
            Tags=lab.tags,
        )
    assert error_code(raised.value) == "ValidationException"
    if not ON_AWS:
        assert "Amazon SQS queue, an AWS Lambda function or an Amazon SNS topic" in error_message(raised.value)
        with pytest.raises(ClientError) as step_functions:  # AWS runs these; the local cloud says it does not
            lab.client("pipes").create_pipe(
                Name=lab.name("pipes-refused"),
                RoleArn=pipe_role,
                Source=source_arn,
                Tags=lab.tags,
                Target=f"arn:aws:states:{lab.region}:{lab.account_id}:stateMachine:{lab.name('none')}",
            )
        assert error_code(step_functions.value) == "ValidationException"
        assert "the local cloud does not run them" in error_message(step_functions.value)


def test_invalid_filter_pattern_is_refused(lab, pipe_role):
    """A pattern leaf must be an array (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):
    CreatePipe answers ValidationException with EventBridge's "Event pattern is not valid" message."""
    _url, source_arn = create_queue(lab, "pipes-invalid-src")
    _url2, target_arn = create_queue(lab, "pipes-invalid-out")
    with pytest.raises(ClientError) as raised:
        lab.client("pipes").create_pipe(
            Name=lab.name("pipes-invalid"),
            RoleArn=pipe_role,
            Source=source_arn,
            Target=target_arn,
            Tags=lab.tags,
            SourceParameters={
                "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"valueTier": "HIGH"}})}]}
            },
        )
    assert error_code(raised.value) == "ValidationException"
    assert "Event pattern is not valid" in error_message(raised.value)
