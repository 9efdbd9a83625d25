"""DynamoDB wrong calls a learner is likely to make, answered as AWS answers them.

Each expected message is the text AWS returns, as recorded by tests that were run against
real AWS (moto's ``aws_verified`` DynamoDB tests: tests/test_dynamodb/exceptions/
test_dynamodb_exceptions.py, test_dynamodb_transactions.py, test_dynamodb_select.py and
test_dynamodb_scan.py in github.com/getmoto/moto), and the rules are AWS's documented ones:
- UpdateExpression sections and overlapping document paths:
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html
- Select and its combinations: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html#DDB-Query-request-Select
- Expression attribute names and values: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeNames.html
- A Scan returns a partition's items in sort-key order (numbers by value):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.Partitions.html

Nothing a refused call asks for is written.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

OVERLAP = (
    "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; "
)
PREFIX = "1 validation error detected: "


def _table(lab, ddb, component: str, *, sort_type: str, gsi_projection: str | None = None) -> str:
    name = lab.name(component)
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": sort_type}]
    extra = {}
    if gsi_projection:
        definitions.append({"AttributeName": "gsi_pk", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "test_gsi",
                "KeySchema": [{"AttributeName": "gsi_pk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": gsi_projection},
            }
        ]
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=definitions,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()],
        **extra,
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


@pytest.fixture(scope="module")
def table(lab, ddb):
    name = _table(lab, ddb, "wrong-calls", sort_type="S", gsi_projection="KEYS_ONLY")
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def numeric_table(lab, ddb):
    name = _table(lab, ddb, "wrong-calls-numeric", sort_type="N")
    yield name
    ddb.delete_table(TableName=name)


def _refused(call, **kwargs) -> str:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException", error
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Message"]


KEY = {"pk": {"S": "the-key"}, "sk": {"S": "s"}}


@pytest.mark.parametrize(
    "expression, names, values, paths",
    [
        (
            "SET string_set = :h, string_set.nested = :h",
            None,
            {":h": {"S": "H"}},
            "path one: [string_set], path two: [string_set, nested]",
        ),
        (
            "ADD #s :add DELETE #s :del",
            {"#s": "string_set"},
            {":add": {"SS": ["c"]}, ":del": {"SS": ["a"]}},
            "path one: [string_set], path two: [string_set]",
        ),
        ("REMOVE string_set SET string_set.nested = :h", None, {":h": {"S": "H"}}, None),
        (
            "SET #s = :h, #s = :h",
            {"#s": "string_set"},
            {":h": {"S": "H"}},
            "path one: [string_set], path two: [string_set]",
        ),
        (
            "SET string_set.nested = :h, string_set.nested = :h",
            None,
            {":h": {"S": "H"}},
            "path one: [string_set, nested], path two: [string_set, nested]",
        ),
    ],
)
def test_update_on_overlapping_paths_is_refused_and_writes_nothing(ddb, table, expression, names, values, paths):
    request = {"TableName": table, "Key": KEY, "UpdateExpression": expression, "ExpressionAttributeValues": values}
    if names:
        request["ExpressionAttributeNames"] = names

    message = _refused(ddb.update_item, **request)

    assert message.startswith(PREFIX + OVERLAP)
    if paths:
        assert message == PREFIX + OVERLAP + paths
    assert "Item" not in ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)


def test_a_name_placeholder_is_one_path_element_not_a_path(ddb, table):
    """``#n`` standing for "string_set.nested" names one attribute: no overlap with string_set."""
    ddb.update_item(
        TableName=table,
        Key=KEY,
        UpdateExpression="SET string_set = :h, #n = :h",
        ExpressionAttributeNames={"#n": "string_set.nested"},
        ExpressionAttributeValues={":h": {"S": "H"}},
    )
    item = ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)["Item"]
    assert item["string_set"] == {"S": "H"} and item["string_set.nested"] == {"S": "H"}
    ddb.delete_item(TableName=table, Key=KEY)


@pytest.mark.parametrize(
    "expression, section",
    [
        ("ADD x :one SET a = :a ADD y :one", "ADD"),
        ("SET a = :a SET b = :a", "SET"),
        ("REMOVE a SET b = :a REMOVE c", "REMOVE"),
    ],
)
def test_a_section_used_twice_is_refused(ddb, table, expression, section):
    message = _refused(
        ddb.update_item,
        TableName=table,
        Key=KEY,
        UpdateExpression=expression,
        ExpressionAttributeValues={":one": {"N": "1"}, ":a": {"S": "v"}}
        if ":one" in expression
        else {":a": {"S": "v"}},
    )
    assert message == (
        f'{PREFIX}Invalid UpdateExpression: The "{section}" section can only be used once in an update expression;'
    )


def test_a_transaction_with_overlapping_paths_is_refused_and_writes_nothing(ddb, table):
    other = {"pk": {"S": "other"}, "sk": {"S": "s"}}
    message = _refused(
        ddb.transact_write_items,
        TransactItems=[
            {"Put": {"TableName": table, "Item": {**other, "v": {"S": "1"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": KEY,
                    "UpdateExpression": "SET a = :h, a.b = :h",
                    "ExpressionAttributeValues": {":h": {"S": "H"}},
                }
            },
        ],
    )
    assert message == OVERLAP + "path one: [a], path two: [a, b]"  # no prefix on transactions
    assert "Item" not in ddb.get_item(TableName=table, Key=other, ConsistentRead=True)


def test_a_transaction_with_a_section_used_twice_is_refused(ddb, table):
    message = _refused(
        ddb.transact_write_items,
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": KEY,
                    "UpdateExpression": "SET a = :v SET b = :v ADD n :one",
                    "ExpressionAttributeValues": {":v": {"S": "v"}, ":one": {"N": "1"}},
                }
            }
        ],
    )
    assert 'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;' in message


@pytest.mark.parametrize("parameter", ["FilterExpression", "ProjectionExpression"])
def test_an_empty_expression_is_refused(ddb, table, parameter):
    message = _refused(
        ddb.query,
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "x"}},
        **{parameter: ""},
    )
    assert message == f"Invalid {parameter}: The expression can not be empty;"


@pytest.mark.parametrize("operation", ["scan", "query"])
def test_a_value_placeholder_without_its_colon_is_refused(ddb, table, operation):
    expression = {"FilterExpression": "attr = loc"} if operation == "scan" else {"KeyConditionExpression": "attr = loc"}
    message = _refused(
        getattr(ddb, operation), TableName=table, ExpressionAttributeValues={"loc": {"S": "x"}}, **expression
    )
    assert message == 'ExpressionAttributeValues contains invalid key: Syntax error; key: "loc"'


def test_names_without_an_expression_are_refused(ddb, table):
    message = _refused(ddb.get_item, TableName=table, Key=KEY, ExpressionAttributeNames={"#a": "b"})
    assert message == "ExpressionAttributeNames can only be specified when using expressions"


def test_empty_expression_attribute_values_are_refused(ddb, table):
    message = _refused(
        ddb.update_item, TableName=table, Key=KEY, UpdateExpression="SET a = b", ExpressionAttributeValues={}
    )
    assert message == PREFIX + "ExpressionAttributeValues must not be empty"


def test_a_key_condition_on_the_sort_key_alone_is_refused(ddb, table):
    message = _refused(
        ddb.query, TableName=table, KeyConditionExpression="sk = :sk", ExpressionAttributeValues={":sk": {"S": "s"}}
    )
    assert message == "Query condition missed key schema element: pk"


def _read(ddb, operation: str, table: str, index: str | None = None, **kwargs):
    request = {"TableName": table, **({"IndexName": index} if index else {}), **kwargs}
    if operation == "query":
        request.update(
            KeyConditionExpression=f"{'gsi_pk' if index else 'pk'} = :key",
            ExpressionAttributeValues={":key": {"S": "value"}},
        )
    return getattr(ddb, operation)(**request)


@pytest.mark.parametrize("operation", ["query", "scan"])
def test_select_values_are_case_sensitive(ddb, table, operation):
    assert _read(ddb, operation, table, Select="COUNT")["Count"] == 0
    message = _refused(_read, ddb=ddb, operation=operation, table=table, Select="count")
    assert message == (
        PREFIX + "Value 'count' at 'select' failed to satisfy constraint: Member must satisfy enum "
        "value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
    )


@pytest.mark.parametrize("operation", ["query", "scan"])
def test_select_misuse_is_refused(ddb, table, operation):
    prefix = PREFIX if operation == "query" else ""

    def refused(**kwargs) -> str:
        return _refused(_read, ddb=ddb, operation=operation, table=table, **kwargs)

    assert refused(index="test_gsi", Select="ALL_ATTRIBUTES") == (
        "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary "
        "index test_gsi because its projection type is not ALL"
    )
    assert refused(Select="ALL_PROJECTED_ATTRIBUTES") == (
        f"{prefix}ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
    )
    assert refused(Select="SPECIFIC_ATTRIBUTES") == (
        f"{prefix}Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
    )
    for select, described in [("ALL_PROJECTED_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"), ("COUNT", "only the Count")]:
        assert refused(index="test_gsi", Select=select, ProjectionExpression="pk") == (
            f"{prefix}Cannot specify the ProjectionExpression when choosing to get {described}"
        )
    # and what is right is still answered
    assert _read(ddb, operation, table, index="test_gsi", Select="ALL_PROJECTED_ATTRIBUTES")["Count"] == 0
    assert _read(ddb, operation, table, Select="SPECIFIC_ATTRIBUTES", ProjectionExpression="pk")["Count"] == 0


def test_a_scan_returns_a_partition_in_numeric_sort_key_order_across_pages(ddb, numeric_table):
    for value in [*range(8), *range(20, 15, -1)]:
        ddb.put_item(TableName=numeric_table, Item={"pk": {"S": "A"}, "sk": {"N": str(value)}})
    pages, response = [], ddb.scan(TableName=numeric_table, Limit=3, ConsistentRead=True)
    pages.append(response["Items"])
    while "LastEvaluatedKey" in response:
        response = ddb.scan(
            TableName=numeric_table, Limit=3, ConsistentRead=True, ExclusiveStartKey=response["LastEvaluatedKey"]
        )
        pages.append(response["Items"])

    seen = [Decimal(item["sk"]["N"]) for page in pages for item in page]
    assert seen == [*map(Decimal, range(8)), *map(Decimal, range(16, 21))]


@pytest.mark.parametrize(
    "operation, request_part",
    [
        (
            "update_item",
            {"Key": KEY, "UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}},
        ),
        ("put_item", {"Item": {**KEY, "a": {"S": "v"}}, "ConditionExpression": "attribute_not_exists(body)"}),
        ("delete_item", {"Key": KEY, "ConditionExpression": "attribute_exists(body)"}),
    ],
)
def test_a_name_no_expression_uses_is_refused_on_writes(ddb, table, operation, request_part):
    message = _refused(
        getattr(ddb, operation), TableName=table, ExpressionAttributeNames={"#count": "count"}, **request_part
    )
    assert message == PREFIX + "Value provided in ExpressionAttributeNames unused in expressions: keys: {#count}"
    assert "Item" not in ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)


def test_unused_names_are_named_before_unused_values(ddb, table):
    message = _refused(
        ddb.update_item,
        TableName=table,
        Key=KEY,
        UpdateExpression="SET a = :v",
        ExpressionAttributeNames={"#count": "count"},
        ExpressionAttributeValues={":v": {"S": "v"}, ":unused": {"N": "1"}},
    )
    assert message == PREFIX + "Value provided in ExpressionAttributeNames unused in expressions: keys: {#count}"
    message = _refused(
        ddb.update_item,
        TableName=table,
        Key=KEY,
        UpdateExpression="SET a = :v",
        ExpressionAttributeValues={":v": {"S": "v"}, ":unused": {"N": "1"}},
    )
    assert message == PREFIX + "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"


@pytest.mark.parametrize("operation", ["put_item", "update_item"])
def test_an_empty_set_is_refused_even_on_an_existing_attribute(ddb, table, operation):
    ddb.put_item(TableName=table, Item={**KEY, "tags": {"SS": ["a"]}})
    request = (
        {"Item": {**KEY, "tags": {"SS": []}}}
        if operation == "put_item"
        else {"Key": KEY, "UpdateExpression": "ADD tags :none", "ExpressionAttributeValues": {":none": {"SS": []}}}
    )
    message = _refused(getattr(ddb, operation), TableName=table, **request)
    assert message == PREFIX + "One or more parameter values were invalid: An string set  may not be empty"
    assert ddb.get_item(TableName=table, Key=KEY, ConsistentRead=True)["Item"]["tags"] == {"SS": ["a"]}
    ddb.delete_item(TableName=table, Key=KEY)


def test_an_empty_update_expression_is_refused(ddb, table):
    message = _refused(
        ddb.update_item, TableName=table, Key=KEY, UpdateExpression="", ExpressionAttributeNames={"#a": "a"}
    )
    assert message == PREFIX + "Invalid UpdateExpression: The expression can not be empty;"


def test_a_transaction_with_empty_values_is_refused(ddb, table):
    message = _refused(
        ddb.transact_write_items,
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": KEY,
                    "ConditionExpression": "attribute_not_exists(#n0)",
                    "ExpressionAttributeNames": {"#n0": "pk"},
                    "ExpressionAttributeValues": {},
                }
            }
        ],
    )
    assert message == "ExpressionAttributeValues must not be empty"


def test_an_oversized_hash_key_is_refused_on_update_in_aws_words(ddb, table):
    message = _refused(
        ddb.update_item,
        TableName=table,
        Key={"pk": {"S": "x" * 2049}, "sk": {"S": "s"}},
        UpdateExpression="SET body = :v",
        ExpressionAttributeValues={":v": {"S": "hello"}},
    )
    # AWS's text has no space between "of" and "2048"
    assert message == (
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
    )
