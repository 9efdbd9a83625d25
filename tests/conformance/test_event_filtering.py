"""Lambda event filtering on an SQS event source mapping, against the AWS contract.

References (AWS documentation followed):
- Event filtering (filters are OR'ed; a record matching none is dropped; SQS messages that
  don't match are deleted; a JSON ``body`` filter never matches a plain-string body and a
  plain-string filter never matches a JSON body; ``numeric`` matches JSON numbers only):
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html
- Filter syntax: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
- CreateEventSourceMapping / UpdateEventSourceMapping (``FilterCriteria``; an invalid pattern is
  InvalidParameterValueException): https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html,
  https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from conformance._esm import (
    PATIENCE,
    POLL,
    Invocation,
    create_queue,
    delete_mapping,
    event_source_mapping,
    invocations,
    wait_queue_size,
)
from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

HIGH_VALUE = {"body": {"total": [{"numeric": [">=", 1000]}]}}
VIP = {"body": {"tier": ["vip"]}}


def _filters(*patterns: dict) -> dict:
    return {"Filters": [{"Pattern": json.dumps(pattern)} for pattern in patterns]}


def _decided(lab, probe, url: str, arn: str) -> list[Invocation]:
    """Wait until every message of the queue is decided (processed or filtered out); the probe's invocations."""
    # Filtered-out messages are deleted, matching ones deleted after the function succeeds:
    # once the queue is empty every message has been decided and every invocation logged.
    wait_queue_size(lab, url, 0, "every message processed or filtered out")
    return wait_until(
        lambda: invocations(lab, probe, arn) or None,
        timeout=PATIENCE,
        interval=POLL,
        what="the probe's invocations",
    )


def _delivered_bodies(found: list[Invocation]) -> list[str]:
    return sorted(record["body"] for invocation in found for record in invocation.records)


@pytest.mark.slow
def test_only_messages_matching_a_filter_invoke_the_function(lab, probe):
    url, arn = create_queue(lab, "filter-sqs")
    sqs = lab.client("sqs")
    sent = {
        "big": json.dumps({"name": "big", "total": 1500}),
        "vip": json.dumps({"name": "vip", "tier": "vip", "total": 5}),
        "small": json.dumps({"name": "small", "total": 10}),
        "string-total": json.dumps({"name": "string-total", "total": "1500"}),  # a string is not a number
        "plain": "total 1500",  # not JSON: a JSON filter drops it
    }
    for body in sent.values():
        sqs.send_message(QueueUrl=url, MessageBody=body)
    with event_source_mapping(
        lab, probe, EventSourceArn=arn, BatchSize=10, FilterCriteria=_filters(HIGH_VALUE, VIP)
    ) as mapping:
        assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"]) == HIGH_VALUE
        found = _decided(lab, probe, url, arn)
    assert _delivered_bodies(found) == sorted([sent["big"], sent["vip"]])


@pytest.mark.slow
def test_a_plain_string_filter_matches_plain_bodies_only(lab, probe):
    url, arn = create_queue(lab, "filter-plain")
    sqs = lab.client("sqs")
    for body in ("ping", "pong", json.dumps({"body": "ping"})):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    with event_source_mapping(
        lab, probe, EventSourceArn=arn, BatchSize=10, FilterCriteria=_filters({"body": ["ping"]})
    ):
        found = _decided(lab, probe, url, arn)
    assert _delivered_bodies(found) == ["ping"]


@pytest.mark.parametrize(
    "pattern",
    [
        '{"body": {"total": [{"numeric": [">", "1000"]}]}}',  # a numeric bound must be a number
        '{"body": {"tier": "vip"}}',  # a leaf must be an array
        "not json",
    ],
)
def test_an_invalid_filter_is_refused(lab, probe, pattern):
    _url, arn = create_queue(lab, "filter-invalid")
    lam = lab.client("lambda")
    with pytest.raises(ClientError) as refused:
        created = lam.create_event_source_mapping(
            FunctionName=probe.name,
            EventSourceArn=arn,
            Tags=lab.tags,
            FilterCriteria={"Filters": [{"Pattern": pattern}]},
        )
        delete_mapping(lab, created["UUID"])  # only reached when the local cloud wrongly accepts it
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "Invalid filter pattern definition" in refused.value.response["Error"]["Message"]


def test_an_update_with_an_invalid_filter_is_refused_and_changes_nothing(lab, probe):
    _url, arn = create_queue(lab, "filter-update")
    lam = lab.client("lambda")
    with event_source_mapping(lab, probe, EventSourceArn=arn, FilterCriteria=_filters(VIP)) as mapping:
        with pytest.raises(ClientError) as refused:
            lam.update_event_source_mapping(UUID=mapping["UUID"], FilterCriteria=_filters({"body": {"tier": []}}))
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
        current = lam.get_event_source_mapping(UUID=mapping["UUID"])
        assert json.loads(current["FilterCriteria"]["Filters"][0]["Pattern"]) == VIP
