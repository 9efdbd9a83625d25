"""The local cloud's DynamoDB table-level rules (key types, PartiQL index targets, resource
policies, export/import parsing), without a server; end to end in
tests/conformance/test_dynamodb_table_calls.py and test_dynamodb_transfers.py.
"""

from __future__ import annotations

import doctest
import json

import pytest

from localcloud.services.dynamodb import policies, requests, transfers
from localcloud.services.dynamodb.requests import key_type_error, partiql_index_target, request_error


@pytest.mark.parametrize("module", [policies, transfers, requests])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


def test_key_type_errors_are_counted_and_joined_as_aws_does() -> None:
    message = key_type_error(
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {"KeySchema": [{"KeyType": "PARTITION"}]},
                {"KeySchema": [{"KeyType": "HASH"}, {"KeyType": "SORT"}]},
            ],
        }
    )
    assert message == (
        "2 validation errors detected: "
        "Value 'PARTITION' at 'globalSecondaryIndexes.1.member.keySchema.1.member.keyType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [HASH, RANGE]; "
        "Value 'SORT' at 'globalSecondaryIndexes.2.member.keySchema.2.member.keyType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [HASH, RANGE]"
    )


def test_a_valid_create_table_passes() -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert (
        request_error("CreateTable", {"KeySchema": schema, "LocalSecondaryIndexes": [{"KeySchema": schema}]}, dict.get)
        is None
    )


def test_a_dotted_table_name_stays_a_table_when_it_exists() -> None:
    parsed = {"op": "SELECT", "table": "orders.v2", "index": None}
    assert partiql_index_target(parsed, lambda name: name == "orders.v2") == parsed
    assert partiql_index_target(parsed, lambda name: False) == {"op": "SELECT", "table": "orders", "index": "v2"}
    write = {"op": "DELETE", "table": "orders.v2", "index": None}
    assert partiql_index_target(write, lambda name: False) == write


def test_a_repeated_policy_keeps_its_revision_and_a_new_one_moves_it_forward() -> None:
    stored: dict = {}
    outcome, first = policies.put(stored, "arn:t", json.dumps({"a": 1, "b": 2}), "t", None)
    assert outcome == "ok"
    assert policies.put(stored, "arn:t", json.dumps({"b": 2, "a": 1}), "t", first) == ("ok", first)
    outcome, second = policies.put(stored, "arn:t", json.dumps({"a": 2}), "t", None)
    assert outcome == "ok" and int(second) > int(first)
    assert policies.put(stored, "arn:t", "{}", "t", first)[0] == "conflict"
    assert stored["arn:t"]["RevisionId"] == second


def test_no_policy_expected_on_a_table_without_one_is_fine() -> None:
    assert policies.revision_conflict("NO_POLICY", None, "t") is None
    assert policies.next_revision("1700000000500", now_ms=1700000000000) == "1700000000501"


def test_dynamodb_json_records_one_a_line_back_to_back_and_broken() -> None:
    text = '{"Item": {"a": {"S": "1"}}}\n{"Item": {"b": {"S": "2"}}} {"Item": {}}\n{"Item": \n\n["x"]'
    items, malformed = transfers.dynamodb_json_items(text.encode())
    assert [(line, item) for line, item in items] == [(0, {"a": {"S": "1"}}), (1, {"b": {"S": "2"}}), (1, {})]
    assert [line for line, _ in malformed] == [2, 4]
    assert malformed[0][1].startswith("The item is not valid JSON")
    assert malformed[1][1] == "The item is not in DYNAMODB_JSON format"
