"""DynamoDB Streams -> Lambda event source mappings (step 02), checked against the AWS contract.

References (AWS documentation followed):
- Using Lambda with DynamoDB (event shape, batches, synchronous invocation, in-order per shard):
  https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
- Stream record fields (SequenceNumber, SizeBytes, StreamViewType, Keys/NewImage/OldImage):
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html,
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Record.html
- Ordering ("each stream record appears exactly once ... in the same sequence as the actual
  modifications to the item"): https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
- Error handling, retries, bisect, on-failure destination and its invocation record:
  https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
- Mapping parameters (BatchSize, StartingPosition, MaximumRetryAttempts, BisectBatchOnFunctionError,
  DestinationConfig): https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html,
  https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
- Partial batch responses (ReportBatchItemFailures, checkpoint at the lowest sequence number):
  https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
- SNS -> SQS raw message delivery (to read an SNS destination):
  https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

import pytest

from conformance._esm import (
    EventProbe,
    Invocation,
    create_queue,
    event_source_mapping,
    invocations,
    receive,
    wait_for_invocations,
)

pytestmark = pytest.mark.cloud

VIEW = "NEW_AND_OLD_IMAGES"


def _table(lab, component: str):
    from helpers.aws import ensure_orders_table

    table = ensure_orders_table(lab, lab.name(component), stream_view_type=VIEW)
    assert table.stream_arn
    return table


def _put(lab, table, order_id: str, behaviour: str = "", **extra: str) -> None:
    item = {"orderId": {"S": order_id}, **{k: {"S": v} for k, v in extra.items()}}
    if behaviour:
        item["behaviour"] = {"S": behaviour}
    lab.client("dynamodb").put_item(TableName=table.name, Item=item)


def _key(record: dict) -> str:
    return record["dynamodb"]["Keys"]["orderId"]["S"]


def _seq(record: dict) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def _with_key(found: list[Invocation], key: str) -> list[Invocation]:
    return [i for i in found if key in {_key(r) for r in i.records}]


def _processed(found: list[Invocation], key: str) -> bool:
    """The record of ``key`` was in an invocation that succeeded."""
    return any(i.outcome == "ok" for i in _with_key(found, key))


def _on_failure_record(lab, queue_url: str) -> dict:
    [message] = receive(lab, queue_url, 1)
    return json.loads(message["Body"])


def _assert_invocation_record(
    record: dict,
    *,
    probe: EventProbe,
    stream_arn: str,
    condition: str,
    invoke_count: int,
    first: dict,
    last: dict,
    size: int,
) -> None:
    assert set(record) >= {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    context = record["requestContext"]
    assert isinstance(context["requestId"], str) and context["requestId"]
    assert context["functionArn"] == probe.arn
    assert context["condition"] == condition
    assert context["approximateInvokeCount"] == invoke_count
    response = record["responseContext"]
    assert response["statusCode"] == 200
    assert response["executedVersion"] == "$LATEST"
    assert response["functionError"]
    assert record["version"] == "1.0"
    datetime.fromisoformat(record["timestamp"])
    info = record["DDBStreamBatchInfo"]
    assert info["shardId"].startswith("shardId-")
    assert info["startSequenceNumber"] == first["dynamodb"]["SequenceNumber"]
    assert info["endSequenceNumber"] == last["dynamodb"]["SequenceNumber"]
    for name in ("approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord"):
        datetime.fromisoformat(info[name])
    assert info["batchSize"] == size
    assert info["streamArn"] == stream_arn


@pytest.mark.slow
def test_stream_records_have_the_aws_shape_arrive_in_order_and_respect_batch_size(lab, probe):
    table = _table(lab, "esm-shape")
    ddb = lab.client("dynamodb")
    started = time.time()
    _put(lab, table, "o1", status="PENDING")
    _put(lab, table, "o2", status="PENDING")
    ddb.update_item(
        TableName=table.name,
        Key={"orderId": {"S": "o1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "CONFIRMED"}},
    )
    _put(lab, table, "o2", status="REJECTED")
    ddb.delete_item(TableName=table.name, Key={"orderId": {"S": "o1"}})
    _put(lab, table, "o3", status="PENDING")

    with event_source_mapping(
        lab, probe, EventSourceArn=table.stream_arn, StartingPosition="TRIM_HORIZON", BatchSize=2
    ) as mapping:
        assert mapping["BatchSize"] == 2
        found = wait_for_invocations(
            lab,
            probe,
            table.stream_arn,
            lambda f: sum(len(i.records) for i in f) >= 6,
            "the 6 stream records of esm-shape",
        )
    assert all(1 <= len(i.records) <= 2 for i in found), [len(i.records) for i in found]
    records = [r for i in found for r in i.records]
    assert len(records) == 6, "each stream record is delivered exactly once"
    assert len({r["eventID"] for r in records}) == 6

    for record in records:
        assert {
            "eventID",
            "eventName",
            "eventVersion",
            "eventSource",
            "awsRegion",
            "dynamodb",
            "eventSourceARN",
        } <= set(record)
        assert isinstance(record["eventID"], str) and record["eventID"]
        assert isinstance(record["eventVersion"], str) and record["eventVersion"]
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == lab.region
        assert record["eventSourceARN"] == table.stream_arn
        change = record["dynamodb"]
        assert change["Keys"] == {"orderId": {"S": _key(record)}}
        assert change["StreamViewType"] == VIEW
        assert change["SequenceNumber"].isdigit()
        assert isinstance(change["SizeBytes"], int) and change["SizeBytes"] > 0, change
        assert started - 60 <= float(change["ApproximateCreationDateTime"]) <= time.time() + 60
        images = {name for name in ("NewImage", "OldImage") if name in change}
        assert (
            images
            == {"INSERT": {"NewImage"}, "MODIFY": {"NewImage", "OldImage"}, "REMOVE": {"OldImage"}}[record["eventName"]]
        ), record

    # Delivery order is stream order; per key, the order of the writes.
    assert [_seq(r) for r in records] == sorted(_seq(r) for r in records)
    by_key = {
        key: [
            (r["eventName"], (r["dynamodb"].get("NewImage") or {}).get("status", {}).get("S"))
            for r in records
            if _key(r) == key
        ]
        for key in ("o1", "o2", "o3")
    }
    assert by_key == {
        "o1": [("INSERT", "PENDING"), ("MODIFY", "CONFIRMED"), ("REMOVE", None)],
        "o2": [("INSERT", "PENDING"), ("MODIFY", "REJECTED")],
        "o3": [("INSERT", "PENDING")],
    }
    modify = next(r for r in records if r["eventName"] == "MODIFY" and _key(r) == "o1")
    assert modify["dynamodb"]["OldImage"]["status"] == {"S": "PENDING"}


def test_starting_position_latest_skips_what_was_written_before(lab, probe):
    table = _table(lab, "esm-latest")
    _put(lab, table, "before")
    with event_source_mapping(lab, probe, EventSourceArn=table.stream_arn, StartingPosition="LATEST", BatchSize=10):
        _put(lab, table, "after")
        found = wait_for_invocations(
            lab, probe, table.stream_arn, lambda f: _processed(f, "after"), "the record written after the mapping"
        )
    assert not _with_key(found, "before")


def _mapping_from_the_start(lab, probe, table, on_failure_arn: str, **settings):
    """A mapping of ``table``'s stream from TRIM_HORIZON to the probe, discarded batches sent to ``on_failure_arn``."""
    return event_source_mapping(
        lab,
        probe,
        EventSourceArn=table.stream_arn,
        StartingPosition="TRIM_HORIZON",
        DestinationConfig={"OnFailure": {"Destination": on_failure_arn}},
        **settings,
    )


@pytest.mark.slow
def test_retries_stop_after_maximum_retry_attempts_then_on_failure_and_later_records_run(lab, probe):
    table = _table(lab, "esm-retries")
    dlq_url, dlq_arn = create_queue(lab, "esm-retries-onfailure")
    _put(lab, table, "poison", behaviour="raise")
    _put(lab, table, "good-1")
    _put(lab, table, "good-2")
    retries = 2

    with _mapping_from_the_start(lab, probe, table, dlq_arn, BatchSize=1, MaximumRetryAttempts=retries) as mapping:
        assert mapping["MaximumRetryAttempts"] == retries
        found = wait_for_invocations(
            lab,
            probe,
            table.stream_arn,
            lambda f: _processed(f, "good-2"),
            "good-2 to be processed after the poison record",
        )
        record = _on_failure_record(lab, dlq_url)

    poisoned = _with_key(found, "poison")
    assert len(poisoned) == retries + 1, "the first attempt plus MaximumRetryAttempts retries, no more"
    assert all(i.outcome == "raise" for i in poisoned)
    for key in ("good-1", "good-2"):
        [only] = _with_key(found, key)
        assert only.outcome == "ok" and only.at > poisoned[-1].at
    poison_record = poisoned[0].records[0]
    _assert_invocation_record(
        record,
        probe=probe,
        stream_arn=table.stream_arn,
        condition="RetryAttemptsExhausted",
        invoke_count=retries + 1,
        first=poison_record,
        last=poison_record,
        size=1,
    )
    assert invocations(lab, probe, table.stream_arn) == found, "nothing ran again after good-2"


@pytest.mark.slow
def test_on_failure_destination_can_be_an_sns_topic(lab, probe):
    table = _table(lab, "esm-sns")
    sns, sqs = lab.client("sns"), lab.client("sqs")
    topic_arn = sns.create_topic(
        Name=lab.name("esm-sns-onfailure"), Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()]
    )["TopicArn"]
    inbox_url, inbox_arn = create_queue(lab, "esm-sns-inbox")
    sqs.set_queue_attributes(
        QueueUrl=inbox_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": inbox_arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                        }
                    ],
                }
            )
        },
    )
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    _put(lab, table, "poison", behaviour="raise")
    _put(lab, table, "good")

    with _mapping_from_the_start(lab, probe, table, topic_arn, BatchSize=1, MaximumRetryAttempts=0):
        found = wait_for_invocations(
            lab, probe, table.stream_arn, lambda f: _processed(f, "good"), "the record after the poison one"
        )
        record = _on_failure_record(lab, inbox_url)
    [poisoned] = _with_key(found, "poison")
    _assert_invocation_record(
        record,
        probe=probe,
        stream_arn=table.stream_arn,
        condition="RetryAttemptsExhausted",
        invoke_count=1,
        first=poisoned.records[0],
        last=poisoned.records[0],
        size=1,
    )


@pytest.mark.slow
def test_bisect_isolates_the_poison_record_and_processes_the_good_ones(lab, probe):
    table = _table(lab, "esm-bisect")
    dlq_url, dlq_arn = create_queue(lab, "esm-bisect-onfailure")
    for key, behaviour in (("good-1", ""), ("good-2", ""), ("poison", "raise"), ("good-3", "")):
        _put(lab, table, key, behaviour=behaviour)
    good = ("good-1", "good-2", "good-3")

    settings = {"BatchSize": 4, "BisectBatchOnFunctionError": True, "MaximumRetryAttempts": 1}
    with _mapping_from_the_start(lab, probe, table, dlq_arn, **settings):
        found = wait_for_invocations(
            lab,
            probe,
            table.stream_arn,
            lambda f: all(_processed(f, k) for k in good),
            "every good record to be processed despite the poison one",
        )
        record = _on_failure_record(lab, dlq_url)

    assert not any(i.outcome == "ok" for i in _with_key(found, "poison"))
    last_with_poison = _with_key(found, "poison")[-1]
    assert [_key(r) for r in last_with_poison.records] == ["poison"], "bisecting isolates the bad record"
    poison_record = last_with_poison.records[0]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1
    assert record["DDBStreamBatchInfo"]["startSequenceNumber"] == poison_record["dynamodb"]["SequenceNumber"]
    assert record["DDBStreamBatchInfo"]["endSequenceNumber"] == poison_record["dynamodb"]["SequenceNumber"]


@pytest.mark.slow
def test_report_batch_item_failures_checkpoints_before_the_reported_record(lab, probe):
    table = _table(lab, "esm-partial")
    dlq_url, dlq_arn = create_queue(lab, "esm-partial-onfailure")
    for key, behaviour in (("a", ""), ("b", ""), ("poison", "report"), ("c", "")):
        _put(lab, table, key, behaviour=behaviour)
    retries = 1

    settings = {"BatchSize": 4, "MaximumRetryAttempts": retries, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    with _mapping_from_the_start(lab, probe, table, dlq_arn, **settings) as mapping:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        record = _on_failure_record(lab, dlq_url)
        found = invocations(lab, probe, table.stream_arn)

    for key in ("a", "b"):
        assert len(_with_key(found, key)) == 1, f"{key} was before the reported record: checkpointed, never retried"
    poisoned = _with_key(found, "poison")
    assert len(poisoned) == retries + 1
    assert all(i.outcome == "partial" for i in poisoned)
    for retry in poisoned[1:]:
        assert _key(retry.records[0]) == "poison", "the retry starts at the reported record"
    poison_seq = poisoned[0].records[[_key(r) for r in poisoned[0].records].index("poison")]["dynamodb"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert record["DDBStreamBatchInfo"]["startSequenceNumber"] == poison_seq["SequenceNumber"]
    assert Counter(i.outcome for i in found)["raise"] == 0
