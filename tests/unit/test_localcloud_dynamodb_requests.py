"""The local cloud's DynamoDB request rules (localcloud/services/dynamodb/requests.py), without a server.

The same rules are checked end to end, against the AWS contract, in
tests/conformance/test_dynamodb_wrong_calls.py.
"""

from __future__ import annotations

import pytest

from localcloud.services.dynamodb.requests import (
    VALIDATION_PREFIX,
    expression_parameter_error,
    partition_in_key_order,
    request_error,
    select_error,
    update_expression_error,
)


def test_the_lab_s_own_update_expressions_pass() -> None:
    assert (
        update_expression_error(
            "SET #status = :s, updatedAt = :u ADD failedAttempts :one REMOVE lastError", {"#status": "status"}
        )
        is None
    )
    assert update_expression_error("SET #r.#a = :a, #r.#b = :b", {"#r": "nested", "#a": "a", "#b": "b"}) is None


def test_overlapping_paths_name_both_paths() -> None:
    message = update_expression_error("SET a = :v, a.b = :v", None)
    assert message == (
        VALIDATION_PREFIX + "Invalid UpdateExpression: Two document paths overlap with each other; "
        "must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
    )


def test_a_syntax_error_is_left_to_the_server_s_parser() -> None:
    assert update_expression_error("SET = = :v", None) is None


def test_transactions_answer_without_the_validation_prefix() -> None:
    data = {"TransactItems": [{"Put": {}}, {"Update": {"UpdateExpression": "SET a = :v SET b = :v"}}]}
    message = request_error("TransactWriteItems", data, lambda name: None)
    assert message == 'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"FilterExpression": ""}, "Invalid FilterExpression: The expression can not be empty;"),
        ({"ProjectionExpression": ""}, "Invalid ProjectionExpression: The expression can not be empty;"),
        (
            {"FilterExpression": "a = v", "ExpressionAttributeValues": {"v": {}}},
            'ExpressionAttributeValues contains invalid key: Syntax error; key: "v"',
        ),
        (
            {"FilterExpression": "n = :v", "ExpressionAttributeNames": {"n": "x"}},
            'ExpressionAttributeNames contains invalid key: Syntax error; key: "n"',
        ),
        (
            {"ExpressionAttributeNames": {"#n": "x"}},
            "ExpressionAttributeNames can only be specified when using expressions",
        ),
        (
            {
                "FilterExpression": "#n = :v",
                "ExpressionAttributeNames": {"#n": "x"},
                "ExpressionAttributeValues": {":v": {}},
            },
            None,
        ),
    ],
)
def test_expression_parameters(data, expected) -> None:
    assert expression_parameter_error(data) == expected


GSI_TABLE = {
    "GlobalSecondaryIndexes": [
        {"IndexName": "by-status", "Projection": {"ProjectionType": "INCLUDE"}},
        {"IndexName": "everything", "Projection": {"ProjectionType": "ALL"}},
    ]
}


@pytest.mark.parametrize(
    "data, operation, expected",
    [
        ({}, "Query", None),
        ({"Select": "COUNT"}, "Scan", None),
        ({"Select": "ALL_ATTRIBUTES", "IndexName": "everything"}, "Query", None),
        (
            {"Select": "ALL_ATTRIBUTES", "IndexName": "by-status"},
            "Scan",
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported "
            "for global secondary index by-status because its projection type is not ALL",
        ),
        (
            {"Select": "COUNT", "AttributesToGet": ["a"]},
            "Query",
            VALIDATION_PREFIX + "Cannot specify the AttributesToGet when choosing to get only the Count",
        ),
        (
            {"Select": "ALL_PROJECTED_ATTRIBUTES"},
            "Scan",
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ),
        ({"Select": "SPECIFIC_ATTRIBUTES", "AttributesToGet": ["a"]}, "Query", None),
    ],
)
def test_select_rules(data, operation, expected) -> None:
    assert select_error(data, operation, lambda name: GSI_TABLE) == expected


def test_a_partition_is_ordered_by_number_not_by_text() -> None:
    table = {"sk_name": "sk", "AttributeDefinitions": [{"AttributeName": "sk", "AttributeType": "N"}]}
    partition = {v: {"pk": {"S": "A"}, "sk": {"N": v}} for v in ["10", "9", "-1", "2.5", "100"]}
    assert [item["sk"]["N"] for item in partition_in_key_order(table, partition)] == ["-1", "2.5", "9", "10", "100"]


def test_an_empty_set_is_found_inside_maps_and_lists() -> None:
    from localcloud.services.dynamodb.requests import empty_set_error

    assert empty_set_error({"a": {"S": "x"}, "b": {"NS": ["1"]}}) is None
    assert empty_set_error({"m": {"M": {"l": {"L": [{"S": "x"}, {"BS": []}]}}}}) == (
        "One or more parameter values were invalid: An binary set  may not be empty"
    )


def test_unused_placeholders_are_whole_tokens() -> None:
    from localcloud.services.dynamodb.requests import unused_placeholder_error

    used = {
        "UpdateExpression": "SET #ab = :vv",
        "ExpressionAttributeNames": {"#ab": "x"},
        "ExpressionAttributeValues": {":vv": {"S": "x"}},
    }
    assert unused_placeholder_error(used) is None
    assert unused_placeholder_error({**used, "ExpressionAttributeNames": {"#ab": "x", "#a": "y"}}) == (
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a}"
    )


def test_write_refusals_carry_the_validation_prefix() -> None:
    message = request_error(
        "PutItem",
        {
            "Item": {"pk": {"S": "k"}},
            "ExpressionAttributeNames": {"#c": "c"},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
        lambda name: None,
    )
    assert message == VALIDATION_PREFIX + "Value provided in ExpressionAttributeNames unused in expressions: keys: {#c}"
