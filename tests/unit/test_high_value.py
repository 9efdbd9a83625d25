"""Unit tests for step 4's Lambdas: high_value_enricher (pipe enrichment) and high_value (queue consumer).

Events are shaped exactly as AWS delivers them (helpers.learn.events); DynamoDB is a botocore Stubber.
"""

from __future__ import annotations

import doctest
import json
from decimal import Decimal

import pytest
from botocore.stub import ANY
from high_value import handler as consumer
from high_value import marking
from high_value_enricher import enrich
from high_value_enricher import handler as enricher

from helpers.learn.events import FakeLambdaContext, dynamodb_stream_record, sqs_event, sqs_record


def order_image(order_id: str = "o-1", total: str = "6200.00", customer: str = "cust-1", tier: str = "HIGH"):
    return {
        "orderId": order_id,
        "status": "PENDING",
        "total": Decimal(total),
        "currency": "EUR",
        "valueTier": tier,
        "itemCount": 2,
        "createdAt": "2024-05-01T12:00:00.000Z",
        "customer": {"id": customer, "name": "Ada"},
    }


# --------------------------------------------------------------------------- enrichment


def test_enrichment_turns_each_filtered_record_into_one_message():
    batch = [
        dynamodb_stream_record("INSERT", order_image("o-1", "6200")),
        dynamodb_stream_record("INSERT", order_image("o-2", "1200.5", customer="cust-vip")),
    ]

    out = enricher.lambda_handler(batch, FakeLambdaContext())

    assert [m["orderId"] for m in out] == ["o-1", "o-2"]
    assert out[0] | {"sequenceNumber": None} == {
        "orderId": "o-1",
        "total": "6200.00",
        "currency": "EUR",
        "valueTier": "HIGH",
        "itemCount": 2,
        "createdAt": "2024-05-01T12:00:00.000Z",
        "customerId": "cust-1",
        "customerTier": "STANDARD",
        "priority": "P1",
        "sequenceNumber": None,
    }
    assert out[1]["total"] == "1200.50" and out[1]["priority"] == "P2"
    json.dumps(out)  # the pipe serialises what the enrichment returns


def test_vip_customers_get_p1_whatever_the_total():
    settings = enrich.settings_from_env({"VIP_CUSTOMERS": "cust-vip, cust-gold"})
    message = enrich.enrich_record(
        dynamodb_stream_record("INSERT", order_image(total="1000", customer="cust-gold")), settings
    )
    assert (message["customerTier"], message["priority"]) == ("VIP", "P1")


@pytest.mark.parametrize(
    "record",
    [
        {"eventName": "INSERT", "dynamodb": {}},
        dynamodb_stream_record("INSERT", {"orderId": {"S": "o"}, "total": {"S": "12"}}, typed=True),
        dynamodb_stream_record("INSERT", {**{k: v for k, v in order_image().items() if k != "customer"}}),
    ],
)
def test_unreadable_record_fails_the_batch(record):
    with pytest.raises(enrich.InvalidRecord):
        enrich.enrich_batch([dynamodb_stream_record("INSERT", order_image()), record], enrich.EnrichmentSettings())


@pytest.mark.parametrize("raw", ["abc", "-1", "0"])
def test_bad_p1_total_is_refused_at_cold_start(raw):
    with pytest.raises(RuntimeError, match="P1_TOTAL"):
        enrich.settings_from_env({"P1_TOTAL": raw})


# --------------------------------------------------------------------------- consumer


@pytest.fixture
def dynamodb(stubbed_client, handler_client):
    client, stub = stubbed_client("dynamodb")
    handler_client("dynamodb", client)
    return stub


def routed(order_id="o-1", priority="P1", tier="VIP"):
    return json.dumps({"orderId": order_id, "priority": priority, "customerTier": tier, "total": "6200.00"})


def expect_mark(stub, order_id, priority, tier):
    stub.add_response(
        "update_item",
        {},
        {
            "TableName": "orders-unit-test",
            "Key": {"orderId": {"S": order_id}},
            "UpdateExpression": "SET #priority = :priority, #customerTier = :tier, #markedAt = :now",
            "ConditionExpression": "attribute_exists(#orderId) AND attribute_not_exists(#priority)",
            "ExpressionAttributeNames": {
                "#orderId": "orderId",
                "#priority": "priority",
                "#customerTier": "customerTier",
                "#markedAt": "priorityMarkedAt",
            },
            "ExpressionAttributeValues": {":priority": {"S": priority}, ":tier": {"S": tier}, ":now": ANY},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )


def test_each_routed_order_is_marked_conditionally(dynamodb):
    expect_mark(dynamodb, "o-1", "P1", "VIP")
    expect_mark(dynamodb, "o-2", "P2", "STANDARD")
    event = sqs_event([sqs_record(routed("o-1")), sqs_record(routed("o-2", "P2", "STANDARD"))])

    assert consumer.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    dynamodb.assert_no_pending_responses()


def test_a_redelivered_message_is_a_success_and_changes_nothing(dynamodb):
    dynamodb.add_client_error(
        "update_item",
        "ConditionalCheckFailedException",
        response_meta={},
        modeled_fields={"Item": {"orderId": {"S": "o-1"}, "priority": {"S": "P1"}}},
    )
    event = sqs_event([sqs_record(routed("o-1"))])

    assert consumer.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}


def test_unknown_order_and_bad_messages_are_reported_failed_alone(dynamodb):
    dynamodb.add_client_error("update_item", "ConditionalCheckFailedException")  # no Item: the order does not exist
    expect_mark(dynamodb, "o-3", "P1", "VIP")
    missing, bad, good = sqs_record(routed("o-404")), sqs_record("not json"), sqs_record(routed("o-3"))

    reply = consumer.lambda_handler(sqs_event([missing, bad, good]), FakeLambdaContext())

    assert reply == {
        "batchItemFailures": [{"itemIdentifier": missing["messageId"]}, {"itemIdentifier": bad["messageId"]}]
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[]", "JSON object"),
        ('{"priority": "P1", "customerTier": "VIP"}', "orderId"),
        ('{"orderId": "o", "priority": "P1", "customerTier": "GOLD"}', "customerTier"),
    ],
)
def test_message_validation_names_the_problem(body, message):
    with pytest.raises(marking.InvalidMessage, match=message):
        marking.parse_message(body)


@pytest.mark.parametrize("module", [marking, enrich])
def test_docstring_examples_hold(module):
    assert doctest.testmod(module).failed == 0
