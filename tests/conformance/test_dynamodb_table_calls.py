"""DynamoDB table-level calls answered as AWS answers them: key schemas, PartiQL on an index,
resource-based policies.

The expected messages are the text AWS returns, as recorded by tests run against real AWS
(moto's ``aws_verified`` tests in github.com/getmoto/moto: tests/test_dynamodb/
test_dynamodb_create_table.py, test_dynamodb_statements.py, test_dynamodb_resource_policy.py),
and the rules are AWS's documented ones:
- KeyType is HASH or RANGE: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_KeySchemaElement.html
- PartiQL SELECT from an index (``FROM table.index``):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.select.html
- Resource policies and their revision ids:
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutResourcePolicy.html
"""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

KEY_TYPES = "Member must satisfy enum value set: [HASH, RANGE]"


@pytest.fixture(scope="module")
def table(lab, ddb):
    # No hyphen: an unquoted PartiQL name is an identifier.
    name = lab.name("table-calls").replace("-", "_")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "gsi_pk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_gsi_pk",
                "KeySchema": [{"AttributeName": "gsi_pk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()],
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def table_arn(ddb, table) -> str:
    return str(ddb.describe_table(TableName=table)["Table"]["TableArn"])


def _error(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    return dict(refused.value.response["Error"])


@pytest.mark.parametrize("indexes", ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"])
def test_an_index_key_type_outside_hash_and_range_is_refused(lab, ddb, indexes):
    index = {
        "IndexName": "by_other",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "other", "KeyType": "SORT"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    error = _error(
        ddb.create_table,
        TableName=lab.name("wrong-key-type"),
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "other", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        **{indexes: [index]},
    )
    where = f"{indexes[0].lower()}{indexes[1:]}.1.member.keySchema.2.member.keyType"
    assert error == {
        "Code": "ValidationException",
        "Message": f"1 validation error detected: Value 'SORT' at '{where}' failed to satisfy constraint: {KEY_TYPES}",
    }
    assert lab.name("wrong-key-type") not in ddb.list_tables()["TableNames"]


def test_partiql_reads_an_index_named_after_a_dot(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "indexed"}, "gsi_pk": {"S": "g"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "not-indexed"}})

    everything = ddb.execute_statement(Statement=f"SELECT * FROM {table}", ConsistentRead=True)["Items"]
    from_index = ddb.execute_statement(Statement=f"SELECT * FROM {table}.by_gsi_pk")["Items"]

    assert sorted(item["pk"]["S"] for item in everything) == ["indexed", "not-indexed"]
    assert from_index == [{"pk": {"S": "indexed"}, "gsi_pk": {"S": "g"}}]


def test_partiql_on_an_unknown_index_or_table(ddb, table):
    unknown_index = _error(ddb.execute_statement, Statement=f"SELECT * FROM {table}.no_such_index")
    unknown_table = _error(ddb.execute_statement, Statement="SELECT * FROM no_such_table_x1.by_gsi_pk")

    assert unknown_index == {"Code": "ValidationException", "Message": "The table does not have the specified index"}
    assert unknown_table == {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"}


def _policy(lab, table_arn: str, action: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": lab.account_id}, "Action": [action], "Resource": table_arn}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _put(ddb, table_arn: str, policy: str, **expected) -> str:
    revision = str(ddb.put_resource_policy(ResourceArn=table_arn, Policy=policy, **expected)["RevisionId"])
    # A policy update is asynchronous on AWS: wait (bounded) until it reads back.
    for _ in range(30):
        try:
            if ddb.get_resource_policy(ResourceArn=table_arn)["RevisionId"] == revision:
                return revision
        except ClientError as error:
            if error.response["Error"]["Code"] != "PolicyNotFoundException":
                raise
        time.sleep(1)
    raise AssertionError(f"policy revision {revision} did not read back within 30 s")


def test_a_resource_policy_revision_is_a_comparable_timestamp_kept_for_the_same_policy(lab, ddb, table_arn):
    first = _put(ddb, table_arn, _policy(lab, table_arn, "dynamodb:GetItem"))
    again = _put(ddb, table_arn, _policy(lab, table_arn, "dynamodb:GetItem"))
    changed = _put(ddb, table_arn, _policy(lab, table_arn, "dynamodb:Query"))

    assert again == first
    assert changed != first and changed > first
    ddb.delete_resource_policy(ResourceArn=table_arn)


def test_a_stale_expected_revision_is_refused(lab, ddb, table, table_arn):
    first = _put(ddb, table_arn, _policy(lab, table_arn, "dynamodb:GetItem"))
    current = _put(ddb, table_arn, _policy(lab, table_arn, "dynamodb:Query"), ExpectedRevisionId=first)
    not_found = "Resource-based policy not found for the provided ResourceArn: "

    stale_put = _error(
        ddb.put_resource_policy,
        ResourceArn=table_arn,
        Policy=_policy(lab, table_arn, "dynamodb:Scan"),
        ExpectedRevisionId=first,
    )
    none_expected = _error(
        ddb.put_resource_policy,
        ResourceArn=table_arn,
        Policy=_policy(lab, table_arn, "dynamodb:Scan"),
        ExpectedRevisionId="NO_POLICY",
    )
    stale_delete = _error(ddb.delete_resource_policy, ResourceArn=table_arn, ExpectedRevisionId=first)

    stale = (
        f"{not_found}Requested update for policy with revision id {first}, "
        f"but the policy associated to target table {table} has revision id {current}."
    )
    assert stale_put == {"Code": "PolicyNotFoundException", "Message": stale}
    assert stale_delete == {"Code": "PolicyNotFoundException", "Message": stale}
    assert none_expected == {
        "Code": "PolicyNotFoundException",
        "Message": f"{not_found}Requested policy update expecting none to be present for table {table}, "
        f"but a policy exists with revision id {current}.",
    }
    assert ddb.get_resource_policy(ResourceArn=table_arn)["RevisionId"] == current
    ddb.delete_resource_policy(ResourceArn=table_arn, ExpectedRevisionId=current)


def test_policy_calls_on_a_missing_policy_or_table(ddb, table, table_arn):
    missing_policy = _error(ddb.get_resource_policy, ResourceArn=table_arn)
    missing_table = [
        _error(call, ResourceArn=table_arn + "x", **extra)
        for call, extra in (
            (ddb.get_resource_policy, {}),
            (ddb.delete_resource_policy, {}),
            (ddb.put_resource_policy, {"Policy": "{}"}),
        )
    ]

    assert missing_policy == {
        "Code": "PolicyNotFoundException",
        "Message": f"Resource-based policy not found for the provided ResourceArn: {table_arn}",
    }
    expected = {
        "Code": "ResourceNotFoundException",
        "Message": f"Requested resource not found: Table: {table}x not found",
    }
    assert missing_table == [expected] * 3


@pytest.fixture(scope="module")
def multi_attribute_table(lab, ddb):
    name = lab.name("multi-attribute-keys")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "placed", "AttributeType": "S"},
            {"AttributeName": "total", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "placed", "KeyType": "RANGE"},
                    {"AttributeName": "total", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()],
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    yield name
    ddb.delete_table(TableName=name)


def test_key_conditions_cannot_skip_a_multi_attribute_sort_key(ddb, multi_attribute_table):
    """Sort-key attributes of a multi-attribute key are queried left to right, equality on all but
    the last named (global secondary indexes with multi-attribute keys:
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html); the legacy KeyConditions
    parameter is refused like KeyConditionExpression, naming the skipped attribute (moto's aws_verified
    tests/test_dynamodb/test_dynamodb_multi_attribute_gsi.py::test_key_conditions_error_skip_range_key)."""
    by_expression = _error(
        ddb.query,
        TableName=multi_attribute_table,
        IndexName="by_status",
        KeyConditionExpression="#s = :s AND #t > :t",
        ExpressionAttributeNames={"#s": "status", "#t": "total"},
        ExpressionAttributeValues={":s": {"S": "PLACED"}, ":t": {"N": "100"}},
    )
    by_conditions = _error(
        ddb.query,
        TableName=multi_attribute_table,
        IndexName="by_status",
        KeyConditions={
            "status": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "PLACED"}]},
            "total": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "100"}]},
        },
    )

    for error in (by_expression, by_conditions):
        assert error["Code"] == "ValidationException"
        assert "placed" in error["Message"]
