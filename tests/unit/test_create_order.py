"""Unit tests for the create_order Lambda (no AWS: the store is an in-memory fake)."""

from __future__ import annotations

import copy
import doctest
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers.aws.packaging import SHARED_MODULES_DIR
from helpers.learn.events import FakeLambdaContext, http_api_event

CREATE_ORDER_ROOT = Path(__file__).resolve().parents[2] / "lambdas" / "create_order"
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
FIXED_NOW = datetime(2024, 5, 1, 12, 30, 45, 678901, tzinfo=UTC)


def valid_order(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "customer": {"id": "cust-123", "name": "Ada Lovelace", "email": "ada@example.com"},
        "items": [
            {"sku": "BOOK-001", "quantity": 2, "unitPrice": 19.99},
            {"sku": "PEN_42", "quantity": 1, "unitPrice": 5.00},
        ],
        "currency": "EUR",
    }
    order.update(overrides)
    return order


def with_line(**line_overrides: Any) -> dict[str, Any]:
    order = valid_order()
    order["items"][0].update(line_overrides)
    return order


def raw_order(text_for_first_line: str) -> str:
    """A JSON body whose first line is given as raw JSON text (to control number syntax)."""
    return '{"customer": {"id": "cust-123", "name": "Ada"}, "items": [' + text_for_first_line + "]}"


def invoke(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(event, FakeLambdaContext())


def post(handler: Any, body: Any, headers: dict[str, str] | None = None, base64: bool = False) -> dict[str, Any]:
    return invoke(handler, http_api_event("POST", "/orders", body=body, headers=headers, base64=base64))


def get(handler: Any, order_id: str) -> dict[str, Any]:
    return invoke(handler, http_api_event("GET", f"/orders/{order_id}", path_parameters={"orderId": order_id}))


def json_body(response: dict[str, Any]) -> Any:
    assert response["headers"]["Content-Type"] == "application/json"
    return json.loads(response["body"])


@pytest.fixture
def frozen_clock(freeze_clock: Any) -> datetime:
    return freeze_clock(FIXED_NOW)


# --------------------------------------------------------------------------- POST /orders: success


def test_valid_order_is_created_and_stored(handler_module, store, frozen_clock):
    response = post(handler_module, valid_order())

    assert response["statusCode"] == 201
    body = json_body(response)
    order_id = body["orderId"]
    assert uuid.UUID(order_id).version == 4  # no Idempotency-Key: random id
    assert body == {
        "orderId": order_id,
        "status": "PENDING",
        "total": "44.98",
        "currency": "EUR",
        "createdAt": "2024-05-01T12:30:45.678Z",
        "valueTier": "STANDARD",
    }
    assert response["headers"]["Location"] == f"/orders/{order_id}"
    assert "Idempotent-Replayed" not in response["headers"]

    assert list(store.items) == [order_id]
    item = store.items[order_id]
    assert item["status"] == "PENDING"
    assert item["total"] == Decimal("44.98")
    assert isinstance(item["total"], Decimal)
    assert item["customer"] == {"id": "cust-123", "name": "Ada Lovelace", "email": "ada@example.com"}
    assert item["items"] == [
        {"sku": "BOOK-001", "quantity": 2, "unitPrice": Decimal("19.99")},
        {"sku": "PEN_42", "quantity": 1, "unitPrice": Decimal(5)},
    ]
    assert item["currency"] == "EUR"
    assert item["itemCount"] == 2
    assert item["createdAt"] == item["updatedAt"] == "2024-05-01T12:30:45.678Z"
    assert "idempotencyKey" not in item and "requestHash" not in item


def test_write_is_the_conditional_put_of_exact_decimals(handler_module, store):
    post(handler_module, valid_order())

    (attempt,) = store.put_attempts  # what the handler handed to the store, before any normalisation
    assert attempt["total"] == Decimal("44.98") and str(attempt["total"]) == "44.98"
    assert [str(line["unitPrice"]) for line in attempt["items"]] == ["19.99", "5.00"]
    assert [type(line["quantity"]) for line in attempt["items"]] == [int, int]
    assert TIMESTAMP_RE.match(attempt["createdAt"])


def test_real_clock_timestamps_are_utc_milliseconds(handler_module, store):
    before = datetime.now(UTC) - timedelta(seconds=1)
    body = json_body(post(handler_module, valid_order()))
    after = datetime.now(UTC) + timedelta(seconds=1)

    assert TIMESTAMP_RE.match(body["createdAt"])
    created = datetime.strptime(body["createdAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= created <= after


def test_defaults_currency_and_strips_name_and_totals_exactly(handler_module, store):
    order = {
        "customer": {"id": "c_1", "name": "  Grace  "},
        "items": [{"sku": "X", "quantity": 3, "unitPrice": 0.1}, {"sku": "Y", "quantity": 1000, "unitPrice": 100000}],
    }
    response = post(handler_module, order)

    assert response["statusCode"] == 201, response["body"]
    body = json_body(response)
    assert body["currency"] == "USD"
    assert body["total"] == "100000000.30"  # 0.3 exactly (no float drift) + 1000 x 100000
    item = store.items[body["orderId"]]
    assert item["customer"] == {"id": "c_1", "name": "Grace"}


def test_base64_encoded_body_is_decoded(handler_module, store):
    response = post(handler_module, valid_order(), base64=True)

    assert response["statusCode"] == 201, response["body"]
    body = json_body(response)
    assert body["total"] == "44.98"
    assert body["orderId"] in store.items


def test_body_just_under_the_limit_is_accepted(handler_module, store):
    text = json.dumps(valid_order())
    padded = text[:-1] + " " * (16 * 1024 - len(text.encode())) + "}"
    assert len(padded.encode()) == 16 * 1024

    assert post(handler_module, padded)["statusCode"] == 201


def test_created_order_id_is_logged(handler_module, store):
    log_handler = handler_module.logger.registered_handler
    stream = io.StringIO()
    previous = log_handler.setStream(stream)  # Powertools bound its handler to stdout at import
    try:
        body = json_body(post(handler_module, valid_order()))
    finally:
        log_handler.setStream(previous)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    created = [line for line in lines if line.get("message") == "Order created"]
    assert len(created) == 1
    assert created[0]["orderId"] == body["orderId"]
    assert created[0]["service"] == "orders"
    assert created[0]["function_name"] == "create-order"
    assert "correlation_id" in created[0]


# --------------------------------------------------------------------------- POST /orders: bad input

OVERSIZED = json.dumps(valid_order(customer={"id": "c", "name": "A"}))[:-1] + " " * (16 * 1024) + "}"

BAD_INPUTS = [
    # (id, body, headers, base64, field)
    ("malformed-json", '{"customer": ', None, False, "body"),
    ("json-array", [valid_order()], None, False, "body"),
    ("json-string", '"an order"', None, False, "body"),
    ("json-null", "null", None, False, "body"),
    ("empty-body", "", None, False, "body"),
    ("nan", raw_order('{"sku": "A", "quantity": 1, "unitPrice": NaN}'), None, False, "body"),
    ("not-utf8", b"\xff\xfe{}", None, True, "body"),
    ("bad-base64", "not base64!!", None, "raw-base64", "body"),
    ("oversized", OVERSIZED, None, False, "body"),
    ("oversized-base64", OVERSIZED, None, True, "body"),
    ("missing-customer", {"items": valid_order()["items"]}, None, False, "customer"),
    ("customer-not-object", valid_order(customer="cust-123"), None, False, "customer"),
    ("customer-id-bad-chars", valid_order(customer={"id": "cust 123!", "name": "A"}), None, False, "customer.id"),
    ("customer-id-too-long", valid_order(customer={"id": "c" * 65, "name": "A"}), None, False, "customer.id"),
    ("customer-id-number", valid_order(customer={"id": 123, "name": "A"}), None, False, "customer.id"),
    ("customer-name-blank", valid_order(customer={"id": "c", "name": "   "}), None, False, "customer.name"),
    ("customer-name-too-long", valid_order(customer={"id": "c", "name": "n" * 101}), None, False, "customer.name"),
    (
        "customer-email-bad",
        valid_order(customer={"id": "c", "name": "A", "email": "nope"}),
        None,
        False,
        "customer.email",
    ),
    (
        "customer-unknown-field",
        valid_order(customer={"id": "c", "name": "A", "vip": True}),
        None,
        False,
        "customer.vip",
    ),
    ("missing-items", {"customer": {"id": "c", "name": "A"}}, None, False, "items"),
    ("empty-items", valid_order(items=[]), None, False, "items"),
    ("items-not-list", valid_order(items={"sku": "A", "quantity": 1, "unitPrice": 1}), None, False, "items"),
    (
        "too-many-items",
        valid_order(items=[{"sku": f"S{i}", "quantity": 1, "unitPrice": 1} for i in range(51)]),
        None,
        False,
        "items",
    ),
    ("quantity-string", with_line(quantity="2"), None, False, "items[0].quantity"),
    ("quantity-float", with_line(quantity=2.5), None, False, "items[0].quantity"),
    (
        "quantity-integral-float",
        raw_order('{"sku": "A", "quantity": 2.0, "unitPrice": 1}'),
        None,
        False,
        "items[0].quantity",
    ),
    ("quantity-bool", with_line(quantity=True), None, False, "items[0].quantity"),
    ("quantity-null", with_line(quantity=None), None, False, "items[0].quantity"),
    ("quantity-zero", with_line(quantity=0), None, False, "items[0].quantity"),
    ("quantity-negative", with_line(quantity=-1), None, False, "items[0].quantity"),
    ("quantity-too-big", with_line(quantity=1001), None, False, "items[0].quantity"),
    (
        "second-line-quantity",
        valid_order(items=[{"sku": "A", "quantity": 1, "unitPrice": 1}, {"sku": "B", "quantity": -5, "unitPrice": 1}]),
        None,
        False,
        "items[1].quantity",
    ),
    ("missing-quantity", valid_order(items=[{"sku": "A", "unitPrice": 1}]), None, False, "items[0].quantity"),
    ("unit-price-3-decimals", with_line(unitPrice=19.999), None, False, "items[0].unitPrice"),
    ("unit-price-string", with_line(unitPrice="19.99"), None, False, "items[0].unitPrice"),
    ("unit-price-bool", with_line(unitPrice=True), None, False, "items[0].unitPrice"),
    ("unit-price-zero", with_line(unitPrice=0), None, False, "items[0].unitPrice"),
    ("unit-price-negative", with_line(unitPrice=-1.5), None, False, "items[0].unitPrice"),
    ("unit-price-too-big", with_line(unitPrice=100000.01), None, False, "items[0].unitPrice"),
    ("sku-bad-chars", with_line(sku="BOOK 001"), None, False, "items[0].sku"),
    ("sku-empty", with_line(sku=""), None, False, "items[0].sku"),
    ("sku-too-long", with_line(sku="S" * 65), None, False, "items[0].sku"),
    ("line-unknown-field", with_line(discount=5), None, False, "items[0].discount"),
    ("unknown-field", valid_order(coupon="FREE"), None, False, "coupon"),
    ("client-total", valid_order(total=0.01), None, False, "total"),
    ("fault-unknown", valid_order(fault="slow"), None, False, "fault"),
    ("fault-wrong-case", valid_order(fault="Poison"), None, False, "fault"),
    ("fault-not-a-string", valid_order(fault=1), None, False, "fault"),
    ("fault-empty", valid_order(fault=""), None, False, "fault"),
    ("currency-lowercase", valid_order(currency="eur"), None, False, "currency"),
    ("currency-too-long", valid_order(currency="EURO"), None, False, "currency"),
    ("idempotency-key-empty", valid_order(), {"Idempotency-Key": ""}, False, "Idempotency-Key"),
    ("idempotency-key-too-long", valid_order(), {"Idempotency-Key": "k" * 256}, False, "Idempotency-Key"),
    ("idempotency-key-non-ascii", valid_order(), {"Idempotency-Key": "clé-1"}, False, "Idempotency-Key"),
    ("idempotency-key-control-char", valid_order(), {"Idempotency-Key": "k\t1"}, False, "Idempotency-Key"),
]


@pytest.mark.parametrize(
    ("body", "headers", "base64", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input_is_rejected_with_400_naming_the_field(handler_module, store, body, headers, base64, field):
    if base64 == "raw-base64":  # an already "encoded" body that is not valid base64
        event = http_api_event("POST", "/orders", body=body, headers=headers)
        event["isBase64Encoded"] = True
    else:
        event = http_api_event("POST", "/orders", body=body, headers=headers, base64=base64)

    response = invoke(handler_module, event)

    assert response["statusCode"] == 400, response["body"]
    payload = json_body(response)
    assert set(payload) == {"message", "errors"}
    assert payload["message"].startswith("Invalid order: ")
    fields = [error["field"] for error in payload["errors"]]
    assert field in fields, payload
    assert all(set(error) == {"field", "message"} and error["message"] for error in payload["errors"])
    assert f"{field}: " in payload["message"]
    assert store.put_attempts == [] and store.items == {}


def test_error_body_shape_is_exact(handler_module, store):
    response = post(handler_module, with_line(quantity=0))

    assert response["statusCode"] == 400
    assert json_body(response) == {
        "message": "Invalid order: items[0].quantity: Input should be greater than 0",
        "errors": [{"field": "items[0].quantity", "message": "Input should be greater than 0"}],
    }


def test_all_problems_are_reported_together(handler_module, store):
    order = valid_order(total=1, customer={"id": "c", "name": ""})
    order["items"][1]["quantity"] = "1"
    response = post(handler_module, order, headers={"Idempotency-Key": ""})

    fields = [error["field"] for error in json_body(response)["errors"]]
    assert response["statusCode"] == 400
    assert sorted(fields) == sorted(["Idempotency-Key", "customer.name", "items[1].quantity", "total"])
    assert store.put_attempts == []


# --------------------------------------------------------------------------- idempotency


def test_idempotent_retry_returns_the_same_order(handler_module, store, freeze_clock):
    headers = {"Idempotency-Key": "checkout-7f3a"}
    freeze_clock(FIXED_NOW)
    first = post(handler_module, valid_order(), headers=headers)
    freeze_clock(FIXED_NOW + timedelta(minutes=5))
    second = post(handler_module, valid_order(), headers=headers)

    assert first["statusCode"] == second["statusCode"] == 201
    assert json_body(second) == json_body(first)  # including the original createdAt
    order_id = json_body(first)["orderId"]
    assert order_id == str(uuid.uuid5(handler_module.orders.ORDER_ID_NAMESPACE, "cust-123:checkout-7f3a"))
    assert "Idempotent-Replayed" not in first["headers"]
    assert second["headers"]["Idempotent-Replayed"] == "true"
    assert second["headers"]["Location"] == f"/orders/{order_id}"

    assert list(store.items) == [order_id]
    item = store.items[order_id]
    assert item["idempotencyKey"] == "checkout-7f3a"
    assert re.fullmatch(r"[0-9a-f]{64}", item["requestHash"])
    assert item["createdAt"] == "2024-05-01T12:30:45.678Z"


def test_retry_with_equivalent_json_is_a_replay(handler_module, store):
    headers = {"Idempotency-Key": "k-equivalent"}
    first = post(handler_module, valid_order(), headers=headers)
    reordered = (
        '{"currency":"EUR","items":[{"unitPrice":19.99,"quantity":2,"sku":"BOOK-001"},'
        '{"quantity":1,"sku":"PEN_42","unitPrice":5}],'
        '"customer":{"email":"ada@example.com","name":"Ada Lovelace ","id":"cust-123"}}'
    )
    second = post(handler_module, reordered, headers=headers, base64=True)

    assert second["statusCode"] == 201
    assert second["headers"]["Idempotent-Replayed"] == "true"
    assert json_body(second)["orderId"] == json_body(first)["orderId"]
    assert len(store.items) == 1


def test_same_key_different_request_is_422_and_changes_nothing(handler_module, store):
    headers = {"Idempotency-Key": "k-conflict"}
    first = post(handler_module, valid_order(), headers=headers)
    snapshot = copy.deepcopy(store.items)

    response = post(handler_module, with_line(quantity=3), headers=headers)

    assert first["statusCode"] == 201
    assert response["statusCode"] == 422
    payload = json_body(response)
    assert payload["message"] == "Idempotency-Key 'k-conflict' was already used with a different request"
    assert [error["field"] for error in payload["errors"]] == ["Idempotency-Key"]
    assert store.items == snapshot
    assert "Location" not in response["headers"]


def test_same_key_for_another_customer_is_another_order(handler_module, store):
    headers = {"Idempotency-Key": "shared-key"}
    a = post(handler_module, valid_order(), headers=headers)
    b = post(handler_module, valid_order(customer={"id": "cust-456", "name": "Bob"}), headers=headers)

    assert a["statusCode"] == b["statusCode"] == 201
    assert json_body(a)["orderId"] != json_body(b)["orderId"]
    assert len(store.items) == 2


def test_without_key_each_post_is_a_new_order(handler_module, store):
    ids = {json_body(post(handler_module, valid_order()))["orderId"] for _ in range(3)}

    assert len(ids) == 3 and set(store.items) == ids


# --------------------------------------------------------------------------- fault injection field


@pytest.mark.parametrize("fault", ["transient", "poison"])
def test_fault_is_stored_and_shown(handler_module, store, fault):
    response = post(handler_module, valid_order(fault=fault))

    assert response["statusCode"] == 201, response["body"]
    body = json_body(response)
    assert "fault" not in body  # the 201 body is unchanged
    assert store.items[body["orderId"]]["fault"] == fault
    assert json_body(get(handler_module, body["orderId"]))["fault"] == fault


def test_without_fault_nothing_is_stored(handler_module, store):
    order_id = json_body(post(handler_module, valid_order()))["orderId"]

    assert "fault" not in store.items[order_id]
    assert "fault" not in json_body(get(handler_module, order_id))


def test_null_fault_is_the_same_as_absent(handler_module, store):
    headers = {"Idempotency-Key": "k-null-fault"}
    first = post(handler_module, valid_order(), headers=headers)
    second = post(handler_module, valid_order(fault=None), headers=headers)

    assert first["statusCode"] == second["statusCode"] == 201
    assert second["headers"]["Idempotent-Replayed"] == "true"
    assert "fault" not in store.items[json_body(first)["orderId"]]


def test_fault_error_names_the_allowed_values(handler_module, store):
    response = post(handler_module, valid_order(fault="slow"))

    assert response["statusCode"] == 400
    assert json_body(response) == {
        "message": "Invalid order: fault: Input should be 'transient' or 'poison'",
        "errors": [{"field": "fault", "message": "Input should be 'transient' or 'poison'"}],
    }


def test_fault_is_part_of_the_request_hash(handler_module, store):
    headers = {"Idempotency-Key": "k-fault"}
    first = post(handler_module, valid_order(), headers=headers)
    with_fault = post(handler_module, valid_order(fault="poison"), headers=headers)

    assert first["statusCode"] == 201
    assert with_fault["statusCode"] == 422  # same key, different request
    (item,) = store.items.values()
    assert "fault" not in item

    headers = {"Idempotency-Key": "k-fault-2"}
    transient = post(handler_module, valid_order(fault="transient"), headers=headers)
    replay = post(handler_module, valid_order(fault="transient"), headers=headers)
    poison = post(handler_module, valid_order(fault="poison"), headers=headers)
    assert transient["statusCode"] == replay["statusCode"] == 201
    assert replay["headers"]["Idempotent-Replayed"] == "true"
    assert poison["statusCode"] == 422


def test_request_hash_without_fault_is_unchanged_by_the_new_field():
    """Orders created before ``fault`` existed keep matching their retries."""
    from create_order import orders

    request = orders.parse_create_order(json.dumps(valid_order()), {}).request
    canonical = json.dumps(
        {
            "currency": "EUR",
            "customer": {"email": "ada@example.com", "id": "cust-123", "name": "Ada Lovelace"},
            "items": [
                {"quantity": 2, "sku": "BOOK-001", "unitPrice": "19.99"},
                {"quantity": 1, "sku": "PEN_42", "unitPrice": "5.00"},
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert orders.request_hash(request) == hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- GET /orders/{orderId}


def test_get_returns_the_order_as_plain_json(handler_module, store, frozen_clock):
    created = json_body(post(handler_module, valid_order(), headers={"Idempotency-Key": "k-get"}))

    response = get(handler_module, created["orderId"])

    assert response["statusCode"] == 200
    assert json_body(response) == {
        "orderId": created["orderId"],
        "status": "PENDING",
        "customer": {"id": "cust-123", "name": "Ada Lovelace", "email": "ada@example.com"},
        "items": [
            {"sku": "BOOK-001", "quantity": 2, "unitPrice": "19.99"},
            {"sku": "PEN_42", "quantity": 1, "unitPrice": "5.00"},
        ],
        "total": "44.98",
        "valueTier": "STANDARD",
        "currency": "EUR",
        "itemCount": 2,
        "createdAt": "2024-05-01T12:30:45.678Z",
        "updatedAt": "2024-05-01T12:30:45.678Z",
    }


def test_get_accepts_upper_case_uuid(handler_module, store):
    order_id = json_body(post(handler_module, valid_order()))["orderId"]

    assert get(handler_module, order_id.upper())["statusCode"] == 200


def test_get_unknown_order_is_404(handler_module, store):
    order_id = str(uuid.uuid4())

    response = get(handler_module, order_id)

    assert response["statusCode"] == 404
    assert json_body(response) == {"message": f"Order {order_id} not found"}


@pytest.mark.parametrize("bad_id", ["42", "not-a-uuid", "3f2504e0-4f89-41d3-9a0c-0305e82c330"])
def test_get_with_non_uuid_id_is_400(handler_module, store, bad_id):
    response = get(handler_module, bad_id)

    assert response["statusCode"] == 400
    payload = json_body(response)
    assert [error["field"] for error in payload["errors"]] == ["orderId"]
    assert payload["message"].startswith("Invalid request: orderId: ")


# --------------------------------------------------------------------------- routing and failures


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/orders"),
        ("DELETE", "/orders/685609e0-c9e7-44c4-b114-b89f93cd6e0a"),
        ("POST", "/customers"),
        ("PUT", "/orders"),
    ],
)
def test_other_routes_are_not_found(handler_module, store, method, path):
    response = invoke(handler_module, http_api_event(method, path))

    assert response["statusCode"] in (404, 405)
    assert store.put_attempts == []


class ExplodingStore:
    def put_new(self, item):
        raise RuntimeError("DynamoDB is down")

    def get(self, order_id):
        raise RuntimeError("DynamoDB is down")


def test_store_failure_on_write_propagates(handler_module, swap_dependency):
    swap_dependency(handler_module.set_store, ExplodingStore())
    with pytest.raises(RuntimeError, match="DynamoDB is down"):
        post(handler_module, valid_order())


def test_store_failure_on_read_propagates(handler_module, swap_dependency):
    swap_dependency(handler_module.set_store, ExplodingStore())
    with pytest.raises(RuntimeError, match="DynamoDB is down"):
        get(handler_module, str(uuid.uuid4()))


def test_vanished_order_on_retry_propagates(handler_module, store, monkeypatch):
    post(handler_module, valid_order(), headers={"Idempotency-Key": "k"})
    monkeypatch.setattr(store, "get", lambda order_id: None)  # deleted between the put and the get
    with pytest.raises(RuntimeError, match="could not be replayed"):
        post(handler_module, valid_order(), headers={"Idempotency-Key": "k"})


def test_missing_table_env_fails_at_import(cold_start_error):
    assert "Environment variable ORDERS_TABLE is required" in cold_start_error("create_order", unset=["ORDERS_TABLE"])


@pytest.mark.parametrize(("unit_price", "tier"), [(999.99, "STANDARD"), (1000, "HIGH"), (1000.01, "HIGH")])
def test_value_tier_is_high_from_the_threshold_up(handler_module, store, unit_price, tier):
    body = json_body(post(handler_module, valid_order(items=[{"sku": "TV-1", "quantity": 1, "unitPrice": unit_price}])))

    assert body["valueTier"] == tier
    assert store.items[body["orderId"]]["valueTier"] == tier  # a string attribute: what the pipe filters on


def _create_with_threshold(threshold: str, unit_price: float) -> subprocess.CompletedProcess[str]:
    script = (
        "import json\n"
        "from create_order import handler\n"
        "from helpers.learn.events import FakeLambdaContext, http_api_event\n"
        "class Store:\n"
        "    items = {}\n"
        "    def put_new(self, item): self.items[item['orderId']] = item; return True\n"
        "    def get(self, order_id): return self.items.get(order_id)\n"
        "handler.set_store(Store())\n"
        "body = {'customer': {'id': 'c-1', 'name': 'Ada'}, "
        f"'items': [{{'sku': 'S', 'quantity': 1, 'unitPrice': {unit_price}}}]}}\n"
        "reply = handler.lambda_handler(http_api_event('POST', '/orders', body=body), FakeLambdaContext())\n"
        "print(json.loads(reply['body'])['valueTier'])\n"
    )
    env = {
        **os.environ,
        "ORDERS_TABLE": "t",
        "HIGH_VALUE_THRESHOLD": threshold,
        "PYTHONPATH": os.pathsep.join(
            [str(CREATE_ORDER_ROOT), str(SHARED_MODULES_DIR), str(CREATE_ORDER_ROOT.parents[1])]
        ),
    }
    return subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=60
    )


def test_threshold_comes_from_the_environment():
    assert _create_with_threshold("250", 250).stdout.splitlines()[-1] == "HIGH"
    assert _create_with_threshold("250", 249.99).stdout.splitlines()[-1] == "STANDARD"


def test_bad_threshold_fails_the_cold_start_with_a_clear_message():
    result = _create_with_threshold("lots", 10)

    assert result.returncode != 0
    assert "HIGH_VALUE_THRESHOLD must be a positive amount" in result.stderr


def test_default_store_is_dynamodb_built_lazily(handler_module, handler_client, default_dependency):
    pytest.importorskip("boto3")
    from create_order.store import DynamoOrderStore

    sentinel_client = handler_client("dynamodb", object())
    built = default_dependency(handler_module.get_store, handler_module.set_store)

    assert isinstance(built, DynamoOrderStore)
    assert built.table_name == os.environ["ORDERS_TABLE"]
    assert built._client is sentinel_client


# --------------------------------------------------------------------------- DynamoOrderStore (botocore Stubber)


def _sample_item() -> dict[str, Any]:
    return {
        "orderId": "0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10",
        "status": "PENDING",
        "customer": {"id": "cust-123", "name": "Ada"},
        "items": [{"sku": "BOOK-001", "quantity": 2, "unitPrice": Decimal("19.99")}],
        "total": Decimal("39.98"),
        "currency": "USD",
        "itemCount": 1,
        "createdAt": "2024-05-01T12:30:45.678Z",
        "updatedAt": "2024-05-01T12:30:45.678Z",
    }


SAMPLE_WIRE_ITEM = {
    "orderId": {"S": "0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10"},
    "status": {"S": "PENDING"},
    "customer": {"M": {"id": {"S": "cust-123"}, "name": {"S": "Ada"}}},
    "items": {"L": [{"M": {"sku": {"S": "BOOK-001"}, "quantity": {"N": "2"}, "unitPrice": {"N": "19.99"}}}]},
    "total": {"N": "39.98"},
    "currency": {"S": "USD"},
    "itemCount": {"N": "1"},
    "createdAt": {"S": "2024-05-01T12:30:45.678Z"},
    "updatedAt": {"S": "2024-05-01T12:30:45.678Z"},
}


def test_dynamo_store_put_new_serializes_and_is_conditional(stubbed_client):
    from create_order.store import DynamoOrderStore

    client, stubber = stubbed_client("dynamodb")
    expected = {
        "TableName": "orders",
        "Item": SAMPLE_WIRE_ITEM,
        "ConditionExpression": "attribute_not_exists(orderId)",
    }
    stubber.add_response("put_item", {}, expected)
    stubber.add_client_error(
        "put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400, expected_params=expected
    )

    store = DynamoOrderStore("orders", client)
    assert store.put_new(_sample_item()) is True
    assert store.put_new(_sample_item()) is False


def test_dynamo_store_other_errors_propagate(stubbed_client):
    from botocore.exceptions import ClientError
    from create_order.store import DynamoOrderStore

    client, stubber = stubbed_client("dynamodb")
    stubber.add_client_error(
        "put_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
    )

    with pytest.raises(ClientError):
        DynamoOrderStore("orders", client).put_new(_sample_item())


def test_dynamo_store_get_deserializes_or_returns_none(stubbed_client):
    from create_order.store import DynamoOrderStore

    client, stubber = stubbed_client("dynamodb")
    key = {"orderId": {"S": "0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10"}}
    stubber.add_response(
        "get_item", {"Item": SAMPLE_WIRE_ITEM}, {"TableName": "orders", "Key": key, "ConsistentRead": True}
    )
    stubber.add_response("get_item", {}, {"TableName": "orders", "Key": key, "ConsistentRead": True})

    store = DynamoOrderStore("orders", client)
    item = store.get("0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10")
    assert item == _sample_item()
    assert isinstance(item["total"], Decimal)
    assert store.get("0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10") is None


# --------------------------------------------------------------------------- orders module


def test_orders_docstring_examples_hold():
    from create_order import orders

    result = doctest.testmod(orders, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_an_order_is_never_stamped_with_a_naive_time(handler_module, store, freeze_clock):
    freeze_clock(datetime(2024, 1, 1))  # no time zone: which moment it means is unknown

    with pytest.raises(ValueError, match="timezone-aware"):
        post(handler_module, valid_order())
    assert store.put_attempts == []
