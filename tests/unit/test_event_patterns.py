"""The event-pattern matcher (localcloud/services/eventbridge/patterns.py), row by row from AWS's documentation.

Each row: pattern, event, expected match, and the AWS page (section) it comes from. Rows marked
"AWS-recorded" follow behaviour LocalStack recorded against real EventBridge (its
``tests/aws/services/events/event_pattern_templates`` snapshots); invalid-pattern rows expect
the reason texts of AWS's rule compiler (aws/event-ruler ``JsonRuleCompiler``).
"""

from __future__ import annotations

import json

import pytest

from localcloud.services.eventbridge.patterns import (
    ERROR_PREFIX,
    EventPattern,
    InvalidEventPattern,
    compile_pattern,
    matches,
)

EB = "https://docs.aws.amazon.com/eventbridge/latest/userguide/"
PATTERNS = EB + "eb-event-patterns.html"
OPERATORS = EB + "eb-create-pattern-operators.html"
ARRAYS = EB + "eb-event-patterns-arrays.html"
NULLS = EB + "eb-event-patterns-null-values.html"
LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html"

EC2_EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}


def detail(**fields) -> dict:
    return {"source": "orders", "detail": fields}


def ddb_record(new_image: dict, event_name: str = "INSERT") -> dict:
    """A DynamoDB stream record as Lambda's filter sees it (attribute values are typed, N is a string)."""
    return {
        "eventID": "1",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"orderId": {"S": "o-1"}},
            "NewImage": new_image,
            "SequenceNumber": "111",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


MATCH_ROWS = [
    # --- exact values, AND across fields, OR within a list -------------------------------------------
    (
        "ec2-termination",
        PATTERNS,
        {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["terminated"]},
        },
        EC2_EVENT,
        True,
    ),
    (
        "ec2-termination-other-state",
        PATTERNS,
        {"source": ["aws.ec2"], "detail": {"state": ["running"]}},
        EC2_EVENT,
        False,
    ),
    ("values-in-a-list-are-or", PATTERNS, {"detail": {"state": ["running", "terminated"]}}, EC2_EVENT, True),
    (
        "every-field-must-match-and",
        PATTERNS,
        {"source": ["aws.ec2"], "detail": {"state": ["running"]}},
        EC2_EVENT,
        False,
    ),
    ("pattern-field-missing-from-event", PATTERNS, {"detail": {"color": ["red"]}}, EC2_EVENT, False),
    ("event-fields-not-in-pattern-ignored", PATTERNS, {"source": ["aws.ec2"]}, EC2_EVENT, True),
    ("matching-is-case-sensitive", PATTERNS, {"source": ["AWS.EC2"]}, EC2_EVENT, False),
    ("key-case-sensitive", PATTERNS, {"Source": ["aws.ec2"]}, EC2_EVENT, False),
    ("number-exact", PATTERNS, {"detail": {"count": [5]}}, detail(count=5), True),
    ("number-exact-float-equal", PATTERNS, {"detail": {"count": [300]}}, detail(count=3.0e2), True),
    ("number-does-not-match-string", PATTERNS, {"detail": {"count": [5]}}, detail(count="5"), False),
    ("string-does-not-match-number", PATTERNS, {"detail": {"count": ["5"]}}, detail(count=5), False),
    ("boolean-true", PATTERNS, {"detail": {"paid": [True]}}, detail(paid=True), True),
    ("boolean-vs-string", PATTERNS, {"detail": {"paid": [True]}}, detail(paid="true"), False),
    ("boolean-is-not-one", PATTERNS, {"detail": {"paid": [1]}}, detail(paid=True), False),
    (
        "nested-fields",
        PATTERNS,
        {"detail": {"order": {"status": ["PLACED"]}}},
        detail(order={"status": "PLACED", "id": "o-1"}),
        True,
    ),
    (
        "nested-pattern-vs-scalar",
        PATTERNS,
        {"detail": {"order": {"status": ["PLACED"]}}},
        detail(order="PLACED"),
        False,
    ),
    ("dotted-key-pattern-names-nested-field", PATTERNS, {"detail.state": ["terminated"]}, EC2_EVENT, True),
    ("dotted-key-event-named-by-nested-pattern", PATTERNS, {"detail": {"state": ["x"]}}, {"detail.state": "x"}, True),
    # --- arrays ---------------------------------------------------------------------------------------
    (
        "event-array-any-element",
        ARRAYS,
        {"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-b188560f"]},
        {
            "resources": [
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                "arn:aws:ec2:us-west-1:123456789012:instance/i-b188560f",
            ]
        },
        True,
    ),
    ("event-array-no-element", ARRAYS, {"resources": ["a", "b"]}, {"resources": ["c", "d"]}, False),
    (
        "event-array-of-objects",
        ARRAYS,
        {"detail": {"items": {"sku": ["B"]}}},
        detail(items=[{"sku": "A"}, {"sku": "B"}]),
        True,
    ),
    (
        "array-fields-from-same-element",
        ARRAYS,
        {"detail": {"items": {"sku": ["A"], "qty": [2]}}},
        detail(items=[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]),
        False,
    ),
    (
        "array-fields-same-element-ok",
        ARRAYS,
        {"detail": {"items": {"sku": ["B"], "qty": [2]}}},
        detail(items=[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]),
        True,
    ),
    ("empty-event-array-vs-null", NULLS, {"resources": [None]}, {"resources": []}, False),  # AWS-recorded
    # --- null and empty string ------------------------------------------------------------------------
    ("null-matches-null", NULLS, {"responseElements": [None]}, {"responseElements": None}, True),
    ("null-does-not-match-absent", NULLS, {"responseElements": [None]}, {"other": 1}, False),
    ("null-does-not-match-empty-string", NULLS, {"responseElements": [None]}, {"responseElements": ""}, False),
    ("empty-string-matches-empty", NULLS, {"eventVersion": [""]}, {"eventVersion": ""}, True),
    ("empty-string-does-not-match-null", NULLS, {"eventVersion": [""]}, {"eventVersion": None}, False),
    # --- prefix / suffix (and their equals-ignore-case forms) -----------------------------------------
    (
        "prefix",
        OPERATORS + "#eb-filtering-prefix-matching",
        {"time": [{"prefix": "2017-10-02"}]},
        {"time": "2017-10-02T18:43:48Z"},
        True,
    ),
    (
        "prefix-no",
        OPERATORS + "#eb-filtering-prefix-matching",
        {"time": [{"prefix": "2017-10-02"}]},
        {"time": "2017-10-03T18:43:48Z"},
        False,
    ),
    ("prefix-on-number", OPERATORS + "#eb-filtering-prefix-matching", {"v": [{"prefix": "1"}]}, {"v": 12}, False),
    (
        "prefix-ignore-case",
        OPERATORS + "#eb-filtering-prefix-matching",
        {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]},
        {"service": "eventbridge"},
        True,
    ),
    (
        "prefix-ignore-case-no",
        OPERATORS + "#eb-filtering-prefix-matching",
        {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]},
        {"service": "lambda"},
        False,
    ),
    (
        "suffix",
        OPERATORS + "#eb-filtering-suffix-matching",
        {"FileName": [{"suffix": ".png"}]},
        {"FileName": "image.png"},
        True,
    ),
    (
        "suffix-no",
        OPERATORS + "#eb-filtering-suffix-matching",
        {"FileName": [{"suffix": ".png"}]},
        {"FileName": "image.PNG"},
        False,
    ),
    (
        "suffix-ignore-case",
        OPERATORS + "#eb-filtering-suffix-matching",
        {"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]},
        {"service": "EVENTBRIDGE"},
        True,
    ),
    # --- equals-ignore-case ---------------------------------------------------------------------------
    (
        "equals-ignore-case",
        OPERATORS + "#eb-filtering-equals-ignore-case-matching",
        {"Name": [{"equals-ignore-case": "alice"}]},
        {"Name": "ALICE"},
        True,
    ),
    (
        "equals-ignore-case-no",
        OPERATORS + "#eb-filtering-equals-ignore-case-matching",
        {"Name": [{"equals-ignore-case": "alice"}]},
        {"Name": "alicia"},
        False,
    ),
    # --- anything-but ---------------------------------------------------------------------------------
    (
        "anything-but-string",
        OPERATORS + "#eb-filtering-anything-but",
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        detail(state="running"),
        True,
    ),
    (
        "anything-but-string-excluded",
        OPERATORS + "#eb-filtering-anything-but",
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        detail(state="initializing"),
        False,
    ),
    (
        "anything-but-missing-field",
        OPERATORS + "#eb-filtering-anything-but",  # AWS-recorded
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        detail(),
        False,
    ),
    (
        "anything-but-null-value",
        OPERATORS + "#eb-filtering-anything-but",  # AWS-recorded
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        detail(state=None),
        True,
    ),
    (
        "anything-but-number",
        OPERATORS + "#eb-filtering-anything-but",
        {"detail": {"x-limit": [{"anything-but": 123}]}},
        detail(**{"x-limit": 124}),
        True,
    ),
    (
        "anything-but-number-excluded",
        OPERATORS + "#eb-filtering-anything-but",
        {"detail": {"x-limit": [{"anything-but": 123}]}},
        detail(**{"x-limit": 123}),
        False,
    ),
    (
        "anything-but-string-list",
        OPERATORS + "#eb-filtering-anything-but",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        detail(state="overloaded"),
        False,
    ),
    (
        "anything-but-number-list",
        OPERATORS + "#eb-filtering-anything-but",
        {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
        detail(**{"x-limit": 250}),
        True,
    ),
    (
        "anything-but-prefix",
        OPERATORS + "#eb-filtering-anything-but-prefix",
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        detail(state="initializing"),
        False,
    ),
    (
        "anything-but-prefix-other",
        OPERATORS + "#eb-filtering-anything-but-prefix",
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        detail(state="running"),
        True,
    ),
    (
        "anything-but-prefix-list",
        OPERATORS + "#eb-filtering-anything-but-prefix",
        {"Region": [{"anything-but": {"prefix": ["us-", "eu-"]}}]},
        {"Region": "eu-west-1"},
        False,
    ),
    (
        "anything-but-suffix",
        OPERATORS + "#eb-filtering-anything-but-suffix",
        {"FileName": [{"anything-but": {"suffix": ".png"}}]},
        {"FileName": "a.txt"},
        True,
    ),
    (
        "anything-but-suffix-excluded",
        OPERATORS + "#eb-filtering-anything-but-suffix",
        {"FileName": [{"anything-but": {"suffix": ".png"}}]},
        {"FileName": "a.png"},
        False,
    ),
    (
        "anything-but-ignore-case",
        OPERATORS + "#eb-filtering-anything-but-ignore-case",
        {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]},
        {"state": "INITIALIZING"},
        False,
    ),
    (
        "anything-but-ignore-case-list",
        OPERATORS + "#eb-filtering-anything-but-ignore-case",
        {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OVERLOADED"]}}]},
        {"state": "running"},
        True,
    ),
    (
        "anything-but-wildcard",
        OPERATORS + "#eb-filtering-anything-but-wildcard",
        {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"FilePath": "/usr/lib/x.so"},
        False,
    ),
    (
        "anything-but-wildcard-other",
        OPERATORS + "#eb-filtering-anything-but-wildcard",
        {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"FilePath": "/usr/bin/x"},
        True,
    ),
    (
        "anything-but-prefix-number-value",
        OPERATORS + "#eb-filtering-anything-but-prefix",  # AWS-recorded
        {"v": [{"anything-but": {"prefix": "1"}}]},
        {"v": 123},
        True,
    ),
    # --- numeric --------------------------------------------------------------------------------------
    (
        "numeric-range",
        OPERATORS + "#eb-filtering-numeric-matching",
        {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}},
        detail(**{"c-count": 5}),
        True,
    ),
    (
        "numeric-range-open-bottom",
        OPERATORS + "#eb-filtering-numeric-matching",
        {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}},
        detail(**{"c-count": 0}),
        False,
    ),
    (
        "numeric-less-than",
        OPERATORS + "#eb-filtering-numeric-matching",
        {"detail": {"d-count": [{"numeric": ["<", 10]}]}},
        detail(**{"d-count": 9.99}),
        True,
    ),
    (
        "numeric-equals-exponent",
        OPERATORS + "#eb-filtering-numeric-matching",
        {"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}},
        detail(**{"x-limit": 301.8}),
        True,
    ),
    (
        "numeric-all-fields",
        OPERATORS + "#eb-filtering-numeric-matching",
        {
            "detail": {
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"numeric": ["=", 3.018e2]}],
            }
        },
        detail(**{"c-count": 5, "d-count": 7, "x-limit": 301.8}),
        True,
    ),
    ("numeric-greater-equal", LAMBDA, {"Price": [{"numeric": [">=", 100]}]}, {"Price": 100}, True),
    ("numeric-string-never-matches", LAMBDA, {"Price": [{"numeric": [">=", 100]}]}, {"Price": "1500"}, False),
    ("numeric-boolean-never-matches", LAMBDA, {"Price": [{"numeric": [">", 0]}]}, {"Price": True}, False),
    ("numeric-any-array-element", ARRAYS, {"Price": [{"numeric": [">", 10]}]}, {"Price": [1, 2, 30]}, True),
    # --- exists ---------------------------------------------------------------------------------------
    (
        "exists-true",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": True}]}},
        EC2_EVENT,
        True,
    ),
    (
        "exists-true-absent",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": True}]}},
        detail(**{"c-count": {"c1": 100}}),
        False,
    ),
    (
        "exists-true-array-of-values",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": True}]}},
        detail(state=["initializing", "running"]),
        True,
    ),
    (
        "exists-true-null-value",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": True}]}},
        detail(state=None),
        True,
    ),
    (
        "exists-true-object-is-not-a-leaf",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"c-count": [{"exists": True}]}},
        detail(**{"c-count": {"c1": 100}}),
        False,
    ),
    (
        "exists-true-empty-array",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": True}]}},
        detail(state=[]),
        False,
    ),
    (
        "exists-false-absent",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": False}]}},
        detail(other=1),
        True,
    ),
    (
        "exists-false-present",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": False}]}},
        EC2_EVENT,
        False,
    ),
    (
        "exists-false-deep-path",
        OPERATORS + "#eb-filtering-exists-matching",  # AWS-recorded
        {"detail": {"level1": {"level2:": {"level3": {"level4": [{"exists": False}]}}}}},
        detail(level1={"level2": "l2 value"}),
        True,
    ),
    (
        "exists-false-empty-array",
        OPERATORS + "#eb-filtering-exists-matching",
        {"detail": {"state": [{"exists": False}]}},
        detail(state=[]),
        True,
    ),
    (
        "exists-false-or-value",
        OPERATORS,
        {"detail": {"state": [{"exists": False}, "running"]}},
        detail(state="running"),
        True,
    ),
    # --- wildcard -------------------------------------------------------------------------------------
    (
        "wildcard",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"EventBusArn": [{"wildcard": "*.png"}]},
        {"EventBusArn": "dir/a.png"},
        True,
    ),
    (
        "wildcard-middle",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"FileName": [{"wildcard": "dir/*.png"}]},
        {"FileName": "dir/sub/a.png"},
        True,
    ),
    (
        "wildcard-whole-string",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"FileName": [{"wildcard": "dir/*.png"}]},
        {"FileName": "other/dir/a.png"},
        False,
    ),
    (
        "wildcard-star-matches-empty",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"FileName": [{"wildcard": "a*b"}]},
        {"FileName": "ab"},
        True,
    ),
    (
        "wildcard-escaped-star",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"FileName": [{"wildcard": "a\\*b"}]},
        {"FileName": "a*b"},
        True,
    ),
    (
        "wildcard-escaped-star-is-literal",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"FileName": [{"wildcard": "a\\*b"}]},
        {"FileName": "axb"},
        False,
    ),
    (
        "wildcard-escaped-backslash",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"FileName": [{"wildcard": "a\\\\*"}]},
        {"FileName": "a\\bc"},
        True,
    ),
    (
        "wildcard-arn",
        OPERATORS + "#eb-filtering-wildcard-matching",
        {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
        {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/orders"},
        True,
    ),
    # --- cidr -----------------------------------------------------------------------------------------
    (
        "cidr-v4",
        OPERATORS + "#eb-filtering-ip-matching",
        {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}},
        detail(sourceIPAddress="10.0.0.255"),
        True,
    ),
    (
        "cidr-v4-outside",
        OPERATORS + "#eb-filtering-ip-matching",
        {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}},
        detail(sourceIPAddress="10.0.1.0"),
        False,
    ),
    (
        "cidr-v6",
        OPERATORS + "#eb-filtering-ip-matching",
        {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]},
        {"sourceIPAddress": "2001:db8:1::5"},
        True,
    ),
    (
        "cidr-not-an-ip",
        OPERATORS + "#eb-filtering-ip-matching",
        {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]},
        {"sourceIPAddress": "localhost"},
        False,
    ),
    # --- $or ------------------------------------------------------------------------------------------
    (
        "or-first",
        OPERATORS + "#eb-filtering-complex-example-or",
        {
            "detail": {
                "$or": [
                    {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                    {"d-count": [{"numeric": ["<", 10]}]},
                    {"x-limit": [{"numeric": ["=", 3.018e2]}]},
                ]
            }
        },
        detail(**{"c-count": 3}),
        True,
    ),
    (
        "or-last",
        OPERATORS + "#eb-filtering-complex-example-or",
        {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"x-limit": [{"numeric": ["=", 301.8]}]}]}},
        detail(**{"x-limit": 301.8}),
        True,
    ),
    (
        "or-none",
        OPERATORS + "#eb-filtering-complex-example-or",
        {"detail": {"$or": [{"c-count": [1]}, {"d-count": [2]}]}},
        detail(**{"c-count": 2}),
        False,
    ),
    (
        "or-with-and-outside",
        OPERATORS + "#eb-filtering-complex-example-or",
        {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
        {"source": "aws.cloudwatch", "namespace": "AWS/EC2"},
        True,
    ),
    (
        "or-and-outside-fails",
        OPERATORS + "#eb-filtering-complex-example-or",
        {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]},
        {"source": "aws.ec2", "namespace": "AWS/EC2"},
        False,
    ),
    # --- Lambda FilterCriteria (records as Lambda sees them) -------------------------------------------
    (
        "lambda-sqs-body-json",
        LAMBDA,
        {"body": {"RequestCode": ["BBBB"]}},
        {"messageId": "m", "body": {"RequestCode": "BBBB"}},
        True,
    ),
    ("lambda-ddb-insert", LAMBDA, {"eventName": ["INSERT"]}, ddb_record({"total": {"N": "10"}}), True),
    (
        "lambda-ddb-n-is-a-string-numeric-never-matches",
        LAMBDA,
        {"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">", 100]}]}}}},
        ddb_record({"total": {"N": "150"}}),
        False,
    ),
    (
        "lambda-ddb-n-exact-string",
        LAMBDA,
        {"dynamodb": {"NewImage": {"total": {"N": ["150"]}}}},
        ddb_record({"total": {"N": "150"}}),
        True,
    ),
    (
        "lambda-ddb-valuetier-string",
        LAMBDA,
        {"dynamodb": {"NewImage": {"valueTier": {"S": ["HIGH"]}}}},
        ddb_record({"valueTier": {"S": "HIGH"}}),
        True,
    ),
    (
        "lambda-ddb-valuetier-other",
        LAMBDA,
        {"dynamodb": {"NewImage": {"valueTier": {"S": ["HIGH"]}}}},
        ddb_record({"valueTier": {"S": "LOW"}}),
        False,
    ),
    (
        "lambda-ddb-exists-on-list-is-not-a-leaf",
        LAMBDA,
        {"dynamodb": {"NewImage": {"Organizations": [{"exists": True}]}}},
        ddb_record({"Organizations": {"L": [{"S": "a"}]}}),
        False,
    ),
    (
        "lambda-ddb-exists-on-list-leaf",
        LAMBDA,
        {"dynamodb": {"NewImage": {"Organizations": {"L": {"S": [{"exists": True}]}}}}},
        ddb_record({"Organizations": {"L": [{"S": "a"}]}}),
        True,
    ),
]


@pytest.mark.parametrize(
    ("source", "pattern", "event", "expected"),
    [pytest.param(src, pat, ev, exp, id=rid) for rid, src, pat, ev, exp in MATCH_ROWS],
)
def test_pattern_matches_as_aws_documents(source: str, pattern: dict, event: dict, expected: bool) -> None:
    assert source.startswith("https://docs.aws.amazon.com/")
    assert compile_pattern(pattern).matches(event) is expected
    assert matches(json.dumps(pattern), event) is expected  # the JSON text compiles to the same pattern


INVALID_ROWS = [
    # (id, pattern text, expected reason)
    ("not-json", "this is not json", "Filter is not valid JSON"),
    ("not-an-object", '["aws.ec2"]', "Filter is not an object"),
    ("string-top-level", '"aws.ec2"', "Filter is not an object"),
    ("leaf-string-not-array", '{"string": "my-value"}', '"string" must be an object or an array'),
    ("leaf-number-not-array", '{"int": 42}', '"int" must be an object or an array'),
    ("empty-array", '{"resources": []}', "Empty arrays are not allowed"),
    ("empty-object", "{}", "Empty objects are not allowed"),
    ("empty-nested-object", '{"detail": {}}', "Empty objects are not allowed"),
    ("nested-array-value", '{"a": [["x"]]}', "Match value must be String, number, true, false, or null"),
    ("unknown-operator", '{"a": [{"contains": "x"}]}', "Unrecognized match type contains"),
    ("operator-case-sensitive", '{"my_key": [{"EXISTS": true}]}', "Unrecognized match type EXISTS"),
    ("numeric-operator-case", '{"detail": {"equal": [{"NUMERIC": ["=", 5]}]}}', "Unrecognized match type NUMERIC"),
    ("empty-operator", '{"a": [{}]}', "Match expression name not found"),
    ("two-operators", '{"a": [{"prefix": "a", "suffix": "b"}]}', "Only one key allowed in match expression"),
    ("prefix-not-string", '{"a": [{"prefix": 1}]}', "prefix match pattern must be a string"),
    ("prefix-unsupported-inner", '{"a": [{"prefix": {"wildcard": "x"}}]}', "Unsupported prefix pattern: wildcard"),
    ("suffix-not-string", '{"a": [{"suffix": ["x"]}]}', "suffix match pattern must be a string"),
    (
        "equals-ignore-case-list",
        '{"a": [{"equals-ignore-case": ["x"]}]}',
        "equals-ignore-case match pattern must be a string",
    ),
    (
        "equals-ignore-case-object",
        '{"detail-type": [{"equals-ignore-case": {"prefix": "ec2"}}]}',
        "equals-ignore-case match pattern must be a string",
    ),
    ("exists-not-boolean", '{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false."),
    ("numeric-not-array", '{"a": [{"numeric": 5}]}', "Value of numeric must be an array."),
    ("numeric-empty", '{"a": [{"numeric": []}]}', "Invalid member in numeric match: ]"),
    ("numeric-starts-with-number", '{"a": [{"numeric": [5, "<"]}]}', "Invalid member in numeric match: 5"),
    ("numeric-unknown-operator", '{"a": [{"numeric": ["!=", 5]}]}', "Unrecognized numeric range operator: !="),
    ("numeric-string-operand", '{"a": [{"numeric": [">", "5"]}]}', "Value of > must be numeric"),
    ("numeric-equals-string", '{"a": [{"numeric": ["=", "5"]}]}', "Value of equals must be numeric"),
    ("numeric-missing-top", '{"detail": {"c-count": [{"numeric": [">", 0, "<"]}]}}', "Value of < must be numeric"),
    (
        "numeric-two-lower-bounds",
        '{"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}}',
        "Bad numeric range operator: >",
    ),
    ("numeric-range-after-upper", '{"a": [{"numeric": ["<", 5, ">", 1]}]}', "Too many elements in numeric expression"),
    ("numeric-bottom-above-top", '{"a": [{"numeric": [">", 10, "<", 5]}]}', "Bottom must be less than top"),
    (
        "numeric-too-many-terms",
        '{"a": [{"numeric": [">", 0, "<", 5, "<", 6]}]}',
        "Too many terms in numeric range expression",
    ),
    (
        "anything-but-boolean",
        '{"a": [{"anything-but": true}]}',
        "Value of anything-but must be an array or single string/number value.",
    ),
    (
        "anything-but-mixed-list",
        '{"a": [{"anything-but": ["a", 1]}]}',
        "Inside anything but list, either all values are number or string, mixed type is not supported",
    ),
    (
        "anything-but-null-in-list",
        '{"a": [{"anything-but": ["a", null]}]}',
        "Inside anything but list, start|null|boolean is not supported.",
    ),
    (
        "anything-but-unsupported-inner",
        '{"a": [{"anything-but": {"numeric": [">", 1]}}]}',
        "Unsupported anything-but pattern: numeric",
    ),
    (
        "anything-but-ignore-case-number",
        '{"detail": {"state": [{"anything-but": {"equals-ignore-case": 123}}]}}',
        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
    ),
    ("anything-but-prefix-empty", '{"a": [{"anything-but": {"prefix": ""}}]}', "Null prefix/suffix not allowed"),
    (
        "anything-but-suffix-number",
        '{"a": [{"anything-but": {"suffix": 1}}]}',
        "prefix/suffix match pattern must be a string",
    ),
    (
        "anything-but-wildcard-number",
        '{"a": [{"anything-but": {"wildcard": [1]}}]}',
        "wildcard match pattern must be a string",
    ),
    ("wildcard-not-string", '{"a": [{"wildcard": 1}]}', "wildcard match pattern must be a string"),
    (
        "wildcard-consecutive",
        '{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:**:event-bus/*"}]}',
        "Consecutive wildcard characters at pos 26",
    ),
    ("wildcard-bad-escape", '{"a": [{"wildcard": "a\\\\b"}]}', "Invalid escape character at pos 2"),
    ("cidr-no-slash", '{"ip": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
    ("cidr-bad-mask", '{"ip": [{"cidr": "10.0.0.0/x"}]}', "Malformed CIDR, mask bits must be an integer"),
    ("cidr-bad-ip", '{"ip": [{"cidr": "10.0.0.256/24"}]}', "Invalid IP address: 10.0.0.256"),
    ("cidr-not-an-address", '{"ip": [{"cidr": "example.com/24"}]}', "Nonstandard IP address: example.com"),
    ("cidr-mask-too-wide", '{"ip": [{"cidr": "10.0.0.0/32"}]}', "IPv4 mask bits must be < 32"),
    ("cidr-not-string", '{"ip": [{"cidr": 10}]}', "prefix match pattern must be a string"),
    ("or-not-array", '{"$or": {"a": [1]}}', "It must be an Array followed with $or."),
    ("or-single", '{"$or": [{"a": [1]}]}', "There must have at least 2 Objects in $or relationship."),
    ("or-non-object", '{"$or": [{"a": [1]}, "b"]}', "Only JSON object is allowed in array of $or relationship."),
    (
        "or-reserved-name",
        '{"$or": [{"a": [1]}, {"prefix": ["b"]}]}',
        "prefix is Ruler reserved fieldName which cannot be used inside $or.",
    ),
]


@pytest.mark.parametrize(("text", "reason"), [pytest.param(t, r, id=i) for i, t, r in INVALID_ROWS])
def test_invalid_pattern_is_refused_with_aws_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidEventPattern) as caught:
        compile_pattern(text)
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith(ERROR_PREFIX + reason)
    assert isinstance(caught.value, ValueError)


def test_a_dict_pattern_is_validated_like_its_json_text() -> None:
    with pytest.raises(InvalidEventPattern, match="must be an object or an array"):
        compile_pattern({"source": "aws.ec2"})
    with pytest.raises(InvalidEventPattern, match="Filter is not an object"):
        compile_pattern(["aws.ec2"])  # type: ignore[arg-type]


def test_compiled_patterns_are_cached_and_reusable() -> None:
    first = compile_pattern('{"source": ["aws.ec2"]}')
    assert isinstance(first, EventPattern)
    assert compile_pattern('{"source": ["aws.ec2"]}') is first
    assert compile_pattern({"source": ["aws.ec2"]}) is first
    assert first.matches(EC2_EVENT) and not first.matches({"source": "aws.s3"})


def test_an_event_that_is_not_an_object_matches_nothing() -> None:
    assert not compile_pattern({"source": [{"exists": False}]}).matches("not an event")  # type: ignore[arg-type]


def test_the_table_covers_enough_documented_cases() -> None:
    assert len(MATCH_ROWS) + len(INVALID_ROWS) >= 80
