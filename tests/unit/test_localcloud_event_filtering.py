"""Lambda FilterCriteria in the local cloud (localcloud/services/awslambda/filtering.py): the pure parts.

Follows https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html; the
end-to-end behaviour (and on AWS) is tests/conformance/test_event_filtering.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from localcloud.services.awslambda.filtering import INVALID_FILTER_MESSAGE, apply_filter_criteria, filter_criteria_error

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:orders"


def esm(*patterns: dict | str) -> dict:
    return {
        "UUID": "u-1",
        "FilterCriteria": {"Filters": [{"Pattern": p if isinstance(p, str) else json.dumps(p)} for p in patterns]},
    }


def sqs_record(message_id: str, body: str) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
    }


def ddb_record(key: str, total: str, tier: str) -> dict:
    return {
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"orderId": {"S": key}},
            "NewImage": {"orderId": {"S": key}, "total": {"N": total}, "valueTier": {"S": tier}},
        },
    }


def ids(records: list[dict]) -> list[str]:
    return [r.get("messageId") or r["dynamodb"]["Keys"]["orderId"]["S"] for r in records]


def test_without_filters_every_record_passes():
    records = [sqs_record("a", "x")]
    assert apply_filter_criteria(records, {}) is records
    assert apply_filter_criteria(records, {"FilterCriteria": {"Filters": []}}) is records


def test_filters_are_ored_and_records_matching_none_are_dropped():
    records = [
        sqs_record("big", json.dumps({"total": 1500})),
        sqs_record("vip", json.dumps({"tier": "vip"})),
        sqs_record("small", json.dumps({"total": 10})),
    ]
    kept = apply_filter_criteria(
        records, esm({"body": {"total": [{"numeric": [">=", 1000]}]}}, {"body": {"tier": ["vip"]}})
    )
    assert ids(kept) == ["big", "vip"]


def test_a_string_number_in_an_sqs_body_does_not_match_numeric():
    kept = apply_filter_criteria(
        [sqs_record("s", json.dumps({"total": "1500"}))], esm({"body": {"total": [{"numeric": [">=", 1000]}]}})
    )
    assert kept == []


@pytest.mark.parametrize(
    "body, pattern, expected",
    [
        ("hello", {"body": ["hello"]}, True),  # plain body, plain filter
        ("hello", {"body": {"greeting": ["hello"]}}, False),  # plain body, JSON filter: dropped
        (json.dumps({"greeting": "hello"}), {"body": ["hello"]}, False),  # JSON body, plain filter: dropped
        (json.dumps({"greeting": "hello"}), {"body": {"greeting": ["hello"]}}, True),
        ("hello", {"messageId": ["m"]}, True),  # no body filter: metadata only
        (json.dumps({"greeting": "hello"}), {"messageId": ["m"]}, True),
        ("hello", {"body": {"greeting": [{"exists": False}]}}, False),  # a JSON filter never takes a plain body
    ],
)
def test_sqs_body_and_filter_must_agree_on_json(body, pattern, expected):
    kept = apply_filter_criteria([sqs_record("m", body)], esm(pattern))
    assert bool(kept) is expected


def test_dynamodb_records_are_filtered_as_lambda_delivers_them():
    records = [ddb_record("o-1", "1500", "HIGH"), ddb_record("o-2", "10", "LOW")]
    numeric = esm({"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">=", 1000]}]}}}})
    assert apply_filter_criteria(records, numeric) == [], "N is a string: numeric never matches it"
    tier = esm({"dynamodb": {"NewImage": {"valueTier": {"S": ["HIGH"]}}}})
    assert ids(apply_filter_criteria(records, tier)) == ["o-1"]


def test_dropped_sqs_messages_next_to_kept_ones_are_deleted():
    deleted: list[list[str]] = []
    records = [sqs_record("keep", json.dumps({"k": 1})), sqs_record("drop", json.dumps({"k": 2}))]
    kept = apply_filter_criteria(
        records, esm({"body": {"k": [1]}}), drop_sqs=lambda dropped: deleted.append(ids(dropped))
    )
    assert ids(kept) == ["keep"] and deleted == [["drop"]]
    deleted.clear()
    assert apply_filter_criteria(records[1:], esm({"body": {"k": [1]}}), drop_sqs=deleted.append) == []
    assert deleted == [], "a batch dropped whole is deleted by MiniStack's poll itself"


def test_kinesis_records_are_matched_through_the_kinesis_view():
    record = {"eventSource": "aws:kinesis", "kinesis": {"partitionKey": "p", "data": "e30="}}
    view = lambda r: {"partitionKey": r["kinesis"]["partitionKey"], "data": {"kind": "order"}}  # noqa: E731
    assert apply_filter_criteria([record], esm({"data": {"kind": ["order"]}}), kinesis_view=view) == [record]
    assert apply_filter_criteria([record], esm({"data": {"kind": ["other"]}}), kinesis_view=view) == []


@pytest.mark.parametrize(
    "criteria",
    [
        {"Filters": [{"Pattern": '{"body": {"total": [{"numeric": [">", "1000"]}]}}'}]},
        {"Filters": [{"Pattern": "not json"}]},
        {"Filters": [{"Pattern": '{"body": "x"}'}]},
        {"Filters": [{"Pattern": ""}]},
        {"Filters": [{}]},
        {"Filters": [{"Pattern": '{"a": [1]}'}, {"Pattern": '{"a": []}'}]},
        {"Filters": "nope"},
    ],
)
def test_invalid_filter_criteria_are_refused_with_lambdas_message(criteria):
    assert (
        filter_criteria_error({"FilterCriteria": criteria})
        == INVALID_FILTER_MESSAGE
        == "Invalid filter pattern definition."
    )


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"FilterCriteria": None},
        {"FilterCriteria": {}},
        {"FilterCriteria": {"Filters": []}},
        {"FilterCriteria": {"Filters": [{"Pattern": '{"body": {"total": [{"numeric": [">", 1000]}]}}'}]}},
    ],
)
def test_valid_or_absent_filter_criteria_pass(data):
    assert filter_criteria_error(data) is None


def test_the_patch_applies_to_the_pinned_ministack():
    """In a fresh interpreter (patching this one would change MiniStack for every other test).

    The Lambda service's patch wraps ``_create_esm`` once; the filter is one of its checks.
    """
    script = (
        "import json\n"
        "from localcloud.patches import check_version\n"
        "from localcloud.services.awslambda import patch as lambda_patch\n"
        "from ministack.services import lambda_svc\n"
        "check_version()\n"
        "for _ in range(2):  # idempotent\n"
        "    lambda_patch.apply()\n"
        "assert len(lambda_svc._apply_filter_criteria.__orderlab_patches__) == 1\n"
        "assert len(lambda_svc._create_esm.__orderlab_patches__) == 1  # one wrapper, every check in it\n"
        "assert len(lambda_svc._update_esm.__orderlab_patches__) == 1\n"
        "bad = {'FilterCriteria': {'Filters': [{'Pattern': '{\"a\": 1}'}]}}\n"
        "status, headers, body = lambda_svc._create_esm(dict(bad, FunctionName='f', EventSourceArn='x'))\n"
        "assert status == 400 and headers['x-amzn-errortype'] == 'InvalidParameterValueException'\n"
        "assert json.loads(body)['message'] == 'Invalid filter pattern definition.', body\n"
        "pattern = json.dumps({'dynamodb': {'NewImage': {'total': {'N': [{'numeric': ['>', 1]}]}}}})\n"
        "rec = {'eventSource': 'aws:dynamodb', 'dynamodb': {'NewImage': {'total': {'N': '5'}}}}\n"
        "esm = {'FilterCriteria': {'Filters': [{'Pattern': pattern}]}}\n"
        "assert lambda_svc._apply_filter_criteria([rec], esm) == []\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
