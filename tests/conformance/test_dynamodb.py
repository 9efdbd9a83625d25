"""DynamoDB behaviours step 1 relies on, checked against the AWS contract.

References (AWS documentation followed):
- Condition expressions, attribute_not_exists, ConditionalCheckFailedException:
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
- Numbers are sent and returned as strings, exactly (up to 38 digits of precision):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
- Read consistency (ConsistentRead sees every successful write):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html
- Scan with Select=COUNT: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html
- Tagging: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ListTagsOfResource.html
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.cloud


@pytest.fixture(scope="module")
def table(lab):
    from helpers.aws import ensure_orders_table

    return ensure_orders_table(lab, lab.name("conformance-orders"))


def test_table_is_on_demand_with_the_orders_key(lab, table):
    description = lab.client("dynamodb").describe_table(TableName=table.name)["Table"]
    assert description["TableStatus"] == "ACTIVE"
    assert description["KeySchema"] == [{"AttributeName": "orderId", "KeyType": "HASH"}]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_conditional_put_refuses_an_existing_key_and_changes_nothing(lab, table):
    ddb = lab.client("dynamodb")
    item = {"orderId": {"S": "conf-1"}, "status": {"S": "PENDING"}}
    ddb.put_item(TableName=table.name, Item=item, ConditionExpression="attribute_not_exists(orderId)")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(
            TableName=table.name,
            Item={**item, "status": {"S": "CONFIRMED"}},
            ConditionExpression="attribute_not_exists(orderId)",
        )
    stored = ddb.get_item(TableName=table.name, Key={"orderId": {"S": "conf-1"}}, ConsistentRead=True)["Item"]
    assert stored["status"] == {"S": "PENDING"}


def test_numbers_round_trip_exactly(lab, table):
    ddb = lab.client("dynamodb")
    ddb.put_item(
        TableName=table.name,
        Item={"orderId": {"S": "conf-2"}, "total": {"N": "30.97"}, "big": {"N": "12345678901234567890.12"}},
    )
    stored = ddb.get_item(TableName=table.name, Key={"orderId": {"S": "conf-2"}}, ConsistentRead=True)["Item"]
    assert stored["total"] == {"N": "30.97"}
    assert stored["big"] == {"N": "12345678901234567890.12"}


def test_missing_item_has_no_item_key(lab, table):
    response = lab.client("dynamodb").get_item(
        TableName=table.name, Key={"orderId": {"S": "nope"}}, ConsistentRead=True
    )
    assert "Item" not in response


def test_scan_count(lab, table):
    ddb = lab.client("dynamodb")
    for index in range(3):
        ddb.put_item(TableName=table.name, Item={"orderId": {"S": f"count-{index}"}})
    pages = ddb.get_paginator("scan").paginate(TableName=table.name, Select="COUNT", ConsistentRead=True)
    assert sum(page["Count"] for page in pages) >= 3
    first = ddb.scan(TableName=table.name, Select="COUNT")
    assert "Items" not in first


def test_table_carries_the_lab_tags(lab, table):
    tags = lab.client("dynamodb").list_tags_of_resource(ResourceArn=table.arn)["Tags"]
    assert lab.tags.items() <= {t["Key"]: t["Value"] for t in tags}.items()
