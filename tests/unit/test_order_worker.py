"""Unit tests for the order_worker Lambda (no AWS: store and visibility are in-memory fakes)."""

from __future__ import annotations

import copy
import doctest
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers.learn.events import FakeLambdaContext, sqs_event, sqs_record

ORDER_WORKER_ROOT = Path(__file__).resolve().parents[2] / "lambdas" / "order_worker"
ORDER_ID = "0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10"
FIXED_NOW = datetime(2024, 5, 1, 12, 31, 2, 345678, tzinfo=UTC)
FIXED_STAMP = "2024-05-01T12:31:02.345Z"


def message(order_id: str = ORDER_ID, **overrides: Any) -> dict[str, Any]:
    """An order message as the stream processor sends it."""
    body: dict[str, Any] = {
        "orderId": order_id,
        "customerId": "cust-123",
        "customerName": "Ada Lovelace",
        "items": [
            {"sku": "BOOK-001", "quantity": 2, "unitPrice": "19.99"},
            {"sku": "PEN_42", "quantity": 1, "unitPrice": "5.00"},
        ],
        "total": "44.98",
        "currency": "EUR",
        "createdAt": "2024-05-01T12:30:45.678Z",
        "fault": None,
        "source": {
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "sequenceNumber": "4421584500000000017450439091",
            "approximateCreationDateTime": 1714566645.0,
        },
    }
    body.update(overrides)
    return body


def pending_order(order_id: str = ORDER_ID, **overrides: Any) -> dict[str, Any]:
    """The order item as create_order stored it (as DynamoDB returns it)."""
    item: dict[str, Any] = {
        "orderId": order_id,
        "status": "PENDING",
        "customer": {"id": "cust-123", "name": "Ada Lovelace"},
        "items": [
            {"sku": "BOOK-001", "quantity": Decimal(2), "unitPrice": Decimal("19.99")},
            {"sku": "PEN_42", "quantity": Decimal(1), "unitPrice": Decimal(5)},
        ],
        "total": Decimal("44.98"),
        "currency": "EUR",
        "itemCount": Decimal(2),
        "createdAt": "2024-05-01T12:30:45.678Z",
        "updatedAt": "2024-05-01T12:30:45.678Z",
    }
    item.update(overrides)
    return item


class InMemoryOrderStatusStore:
    """An ``OrderStatusStore`` in a dict, with the DynamoDB condition ``#status = :pending``."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.attempted: list[dict[str, Any]] = []  # every record_decision call
        self.writes: list[dict[str, Any]] = []  # the ones that changed an item
        self.gets: list[str] = []

    def record_decision(self, order_id: str, decision: Any, *, timestamp: str, attempts: int) -> bool:
        call = {
            "orderId": order_id,
            "status": decision.status,
            "reason": decision.reason,
            "timestamp": timestamp,
            "attempts": attempts,
        }
        self.attempted.append(call)
        item = self.items.get(order_id)
        if item is None or item.get("status") != "PENDING":
            return False  # ConditionalCheckFailedException
        item.update(status=decision.status, updatedAt=timestamp, processedAt=timestamp, attempts=Decimal(attempts))
        if decision.status == "REJECTED":
            item["statusReason"] = decision.reason
        self.writes.append(call)
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        self.gets.append(order_id)
        item = self.items.get(order_id)
        return copy.deepcopy(item) if item is not None else None

    def record_failure(self, order_id: str, *, error: str, attempts: int, timestamp: str) -> bool:
        item = self.items.get(order_id)
        if item is None or item.get("status") != "PENDING":
            return False
        item.update(failedAttempts=Decimal(attempts), lastError=error, lastFailedAt=timestamp)
        return True


class FakeVisibility:
    def __init__(self) -> None:
        self.changes: list[tuple[str, int]] = []
        self.error: Exception | None = None

    def change_visibility(self, receipt_handle: str, timeout_seconds: int) -> None:
        self.changes.append((receipt_handle, timeout_seconds))
        if self.error is not None:
            raise self.error


@pytest.fixture
def worker() -> Any:
    from order_worker import handler

    return handler


@pytest.fixture
def store(
    worker: Any, monkeypatch: pytest.MonkeyPatch, freeze_clock: Any, swap_dependency: Any
) -> InMemoryOrderStatusStore:
    from order_worker.rules import Rules

    fake = swap_dependency(worker.set_store, InMemoryOrderStatusStore())
    fake.items[ORDER_ID] = pending_order()
    freeze_clock(FIXED_NOW)
    # The defaults, whatever the environment the tests run in.
    monkeypatch.setattr(worker, "RULES", Rules())
    monkeypatch.setattr(worker, "TRANSIENT_FAILURES", 2)
    monkeypatch.setattr(worker, "FAULT_INJECTION", True)
    return fake


@pytest.fixture
def visibility(worker: Any, swap_dependency: Any) -> FakeVisibility:
    return swap_dependency(worker.set_visibility, FakeVisibility())


def invoke(worker: Any, *records: dict[str, Any]) -> dict[str, Any]:
    return worker.lambda_handler(sqs_event(records), FakeLambdaContext(function_name="order-worker"))


def record(body: Any = None, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    body = message() if body is None else body
    attributes = {"orderId": body["orderId"]} if isinstance(body, dict) and isinstance(body.get("orderId"), str) else {}
    if isinstance(body, dict) and body.get("fault"):
        attributes["fault"] = body["fault"]
    return sqs_record(body, receive_count=receive_count, message_id=message_id, message_attributes=attributes)


# --------------------------------------------------------------------------- the event factory


def test_sqs_record_is_shaped_like_aws():
    rec = sqs_record(
        "test",
        receive_count=3,
        message_id="059f36b4-87a3-44ab-83d2-661975830a7d",
        message_attributes={"orderId": "o-1"},
    )

    assert set(rec) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert set(rec["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert rec["attributes"]["ApproximateReceiveCount"] == "3"
    assert all(isinstance(value, str) for value in rec["attributes"].values())
    assert rec["messageAttributes"] == {
        "orderId": {"stringValue": "o-1", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert rec["md5OfBody"] == "098f6bcd4621d373cade4e832627b4f6"  # AWS's documented example for "test"
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:orders"
    assert "md5OfMessageAttributes" not in sqs_record("x")


def test_md5_of_message_attributes_matches_sqs():
    # Reference value computed with SQS's documented encoding (as also implemented by MiniStack).
    import hashlib
    import struct

    from helpers.learn.events import md5_of_message_attributes

    def lp(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    expected = hashlib.md5(
        lp(b"fault") + lp(b"String") + b"\x01" + lp(b"poison") + lp(b"orderId") + lp(b"String") + b"\x01" + lp(b"o-1")
    ).hexdigest()
    attributes = sqs_record("x", message_attributes={"orderId": "o-1", "fault": "poison"})["messageAttributes"]
    assert md5_of_message_attributes(attributes) == expected


# --------------------------------------------------------------------------- confirmed


def test_valid_order_is_confirmed(worker, store, visibility, logs):
    rec = record(receive_count=1, message_id="11111111-1111-4111-8111-111111111111")

    response = invoke(worker, rec)

    assert response == {"batchItemFailures": []}
    item = store.items[ORDER_ID]
    assert item["status"] == "CONFIRMED"
    assert "statusReason" not in item
    assert item["updatedAt"] == item["processedAt"] == FIXED_STAMP
    assert item["attempts"] == 1
    assert item["createdAt"] == "2024-05-01T12:30:45.678Z"  # untouched
    assert store.writes == [
        {"orderId": ORDER_ID, "status": "CONFIRMED", "reason": None, "timestamp": FIXED_STAMP, "attempts": 1}
    ]
    assert visibility.changes == []
    (confirmed,) = [line for line in logs() if line["message"] == "Order confirmed"]
    assert confirmed["orderId"] == ORDER_ID
    assert confirmed["messageId"] == "11111111-1111-4111-8111-111111111111"
    assert confirmed["receiveCount"] == 1
    assert confirmed["service"] == "orders" and confirmed["function_name"] == "order-worker"


def test_attempts_is_the_receive_count(worker, store, visibility):
    invoke(worker, record(receive_count=4))

    assert store.items[ORDER_ID]["attempts"] == 4
    assert store.items[ORDER_ID]["status"] == "CONFIRMED"


def test_keys_do_not_leak_between_messages(worker, store, visibility, logs):
    other = "22222222-2222-4222-8222-222222222222"
    store.items[other] = pending_order(other)

    invoke(worker, record(), record(message(other)))

    lines = [line for line in logs() if line["message"] == "Order confirmed"]
    assert [line["orderId"] for line in lines] == [ORDER_ID, other]
    assert len({line["messageId"] for line in lines}) == 2


# --------------------------------------------------------------------------- rejected

REJECTIONS = [
    # (id, message overrides, rules overrides, reason)
    ("total-mismatch", {"total": "44.99"}, {}, "total does not match items"),
    ("blocked-customer", {"customerId": "cust-666"}, {}, "customer cust-666 is blocked"),
    ("discontinued-sku", {}, {"discontinued_skus": frozenset({"PEN_42"})}, "SKU PEN_42 is discontinued"),
    (
        "quantity-limit",
        {"items": [{"sku": "SKU-1", "quantity": 150, "unitPrice": "1.00"}], "total": "150.00"},
        {},
        "quantity 150 of SKU-1 exceeds the limit of 100",
    ),
    (
        "total-limit",
        {"items": [{"sku": "TV", "quantity": 2, "unitPrice": "6000.00"}], "total": "12000.00"},
        {},
        "total 12000.00 exceeds the limit of 10000",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "rule_overrides", "reason"), [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS]
)
def test_each_rule_rejects_with_its_reason(worker, store, visibility, monkeypatch, overrides, rule_overrides, reason):
    from order_worker.rules import Rules

    monkeypatch.setattr(worker, "RULES", Rules(**rule_overrides))

    response = invoke(worker, record(message(**overrides), receive_count=2))

    assert response == {"batchItemFailures": []}  # a rejection is a successful processing
    item = store.items[ORDER_ID]
    assert item["status"] == "REJECTED"
    assert item["statusReason"] == reason
    assert item["attempts"] == 2 and item["processedAt"] == FIXED_STAMP
    assert visibility.changes == []


def test_limits_are_inclusive(worker, store, visibility):
    body = message(items=[{"sku": "A", "quantity": 100, "unitPrice": "100.00"}], total="10000.00")

    invoke(worker, record(body))

    assert store.items[ORDER_ID]["status"] == "CONFIRMED"


def test_total_is_compared_exactly():
    from order_worker.messages import parse_message
    from order_worker.rules import Rules, evaluate

    def decide(total: str, price: str = "0.10", quantity: int = 3) -> str:
        body = message(items=[{"sku": "X", "quantity": quantity, "unitPrice": price}], total=total)
        return evaluate(parse_message(json.dumps(body)), Rules()).status

    assert decide("0.30") == "CONFIRMED"  # 3 x 0.10 is exactly 0.30 (no float drift)
    assert decide("0.3") == "CONFIRMED"
    assert decide("0.31") == "REJECTED"
    assert decide("0.29") == "REJECTED"


def test_rules_come_from_the_environment():
    from order_worker.rules import Rules, rules_from_env

    assert rules_from_env({}) == Rules(100, Decimal(10000), frozenset({"cust-666"}), frozenset())
    env = {
        "MAX_QUANTITY_PER_ITEM": "5",
        "MAX_ORDER_TOTAL": "250.50",
        "BLOCKED_CUSTOMERS": "a,b",
        "DISCONTINUED_SKUS": " OLD-1 , OLD-2 ",
    }
    assert rules_from_env(env) == Rules(5, Decimal("250.50"), frozenset({"a", "b"}), frozenset({"OLD-1", "OLD-2"}))
    assert rules_from_env({"BLOCKED_CUSTOMERS": ""}).blocked_customers == frozenset()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_QUANTITY_PER_ITEM", "0"),
        ("MAX_QUANTITY_PER_ITEM", "ten"),
        ("MAX_QUANTITY_PER_ITEM", "1.5"),
        ("MAX_ORDER_TOTAL", "-1"),
        ("MAX_ORDER_TOTAL", "NaN"),
        ("MAX_ORDER_TOTAL", "lots"),
    ],
)
def test_bad_rule_settings_name_the_variable(name, value):
    from order_worker.rules import rules_from_env

    with pytest.raises(ValueError, match=name):
        rules_from_env({name: value})


def test_bad_settings_fail_at_import(cold_start_error):
    assert "TRANSIENT_FAILURES" in cold_start_error("order_worker", TRANSIENT_FAILURES="-1")


@pytest.mark.parametrize("missing", ["ORDERS_TABLE", "ORDER_QUEUE_URL"])
def test_missing_env_fails_at_import(missing, cold_start_error):
    assert f"Environment variable {missing} is required" in cold_start_error("order_worker", unset=[missing])


# --------------------------------------------------------------------------- fault injection and backoff


@pytest.mark.parametrize("transient_failures", [0, 1, 2, 3])
def test_transient_fails_on_receives_1_to_n_then_succeeds(worker, store, visibility, monkeypatch, transient_failures):
    monkeypatch.setattr(worker, "TRANSIENT_FAILURES", transient_failures)
    body = message(fault="transient")

    for receive in range(1, transient_failures + 1):
        rec = record(body, receive_count=receive)
        response = invoke(worker, rec)
        assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}, receive
        assert store.items[ORDER_ID]["status"] == "PENDING"
        assert visibility.changes[-1] == (rec["receiptHandle"], min(2**receive, 30))

    final = record(body, receive_count=transient_failures + 1)
    assert invoke(worker, final) == {"batchItemFailures": []}
    assert store.items[ORDER_ID]["status"] == "CONFIRMED"
    assert store.items[ORDER_ID]["attempts"] == transient_failures + 1
    assert len(visibility.changes) == transient_failures


def test_transient_failures_setting():
    from order_worker.faults import transient_failures_from_env

    assert transient_failures_from_env({}) == 2
    assert transient_failures_from_env({"TRANSIENT_FAILURES": " 5 "}) == 5
    for bad in ("-1", "two", "1.5"):
        with pytest.raises(ValueError, match="TRANSIENT_FAILURES"):
            transient_failures_from_env({"TRANSIENT_FAILURES": bad})


def test_poison_always_fails(worker, store, visibility, logs):
    body = message(fault="poison")

    for receive in range(1, 7):
        rec = record(body, receive_count=receive)
        assert invoke(worker, rec) == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}

    assert store.items[ORDER_ID]["status"] == "PENDING"
    assert store.attempted == []  # nothing decided
    # the failure is noted on the order: how many receives failed, and why
    assert store.items[ORDER_ID]["failedAttempts"] == 6
    assert (
        store.items[ORDER_ID]["lastError"]
        == f"PoisonOrder: poison order {ORDER_ID}: this order always fails (lab fault injection)"
    )
    # a permanent failure is made visible again at once: no backoff can help it
    assert [timeout for _, timeout in visibility.changes] == [0] * 6
    errors = [line for line in logs() if line["level"] == "ERROR"]
    assert len(errors) == 6
    assert errors[0]["reason"] == f"poison order {ORDER_ID}: this order always fails (lab fault injection)"
    assert errors[0]["errorType"] == "PoisonOrder"
    assert errors[0]["orderId"] == ORDER_ID and errors[0]["receiveCount"] == 1


def test_fault_injection_off_lets_faulty_orders_through(worker, store, visibility, monkeypatch, logs):
    monkeypatch.setattr(worker, "FAULT_INJECTION", False)
    other = "22222222-2222-4222-8222-222222222222"
    store.items[other] = pending_order(other)

    response = invoke(
        worker,
        record(message(fault="poison"), receive_count=4),
        record(message(other, fault="transient"), receive_count=1),
    )

    assert response == {"batchItemFailures": []}
    assert store.items[ORDER_ID]["status"] == store.items[other]["status"] == "CONFIRMED"
    assert store.items[ORDER_ID]["attempts"] == 4
    assert visibility.changes == []
    ignored = [line for line in logs() if line["message"].startswith("Fault injection is off")]
    assert [line["fault"] for line in ignored] == ["poison", "transient"]


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (None, True),
        ("on", True),
        ("ON", True),
        ("true", True),
        ("off", False),
        ("Off", False),
        ("false", False),
        ("0", False),
    ],
)
def test_fault_injection_setting(value, enabled):
    from order_worker.faults import fault_injection_from_env

    assert fault_injection_from_env({} if value is None else {"FAULT_INJECTION": value}) is enabled


def test_bad_fault_injection_setting_fails_at_import(cold_start_error):
    assert "FAULT_INJECTION" in cold_start_error("order_worker", FAULT_INJECTION="sometimes")


def test_poison_raises_poison_order():
    from order_worker.errors import PoisonOrder
    from order_worker.faults import inject_fault
    from order_worker.messages import parse_message

    order = parse_message(json.dumps(message(fault="poison")))
    with pytest.raises(
        PoisonOrder, match=f"^poison order {ORDER_ID}: this order always fails \\(lab fault injection\\)$"
    ):
        inject_fault(order, receive_count=100, transient_failures=2)


def test_backoff_is_exponential_and_capped():
    from order_worker.faults import backoff_seconds

    assert [backoff_seconds(n) for n in range(1, 8)] == [2, 4, 8, 16, 30, 30, 30]
    assert backoff_seconds(10**6) == 30


def test_the_failure_is_noted_before_the_message_can_come_back(worker, store, visibility, monkeypatch):
    # A permanent failure is visible again at once: SQS may redeliver it, or move it to the DLQ,
    # before this invocation ends; whoever finds it there must already read this receive's failure.
    noted_when_released: list[Any] = []
    change = visibility.change_visibility
    monkeypatch.setattr(
        visibility,
        "change_visibility",
        lambda handle, timeout: (
            noted_when_released.append(store.items[ORDER_ID].get("failedAttempts")),
            change(handle, timeout),
        ),
    )

    invoke(worker, record(message(fault="poison"), receive_count=3))

    assert noted_when_released == [3]


def test_retry_delay_is_zero_for_permanent_failures_only():
    from order_worker.errors import OrderNotFound, PoisonMessage, PoisonOrder, TransientFailure
    from order_worker.faults import retry_delay_seconds

    for permanent in (PoisonOrder("o-1"), PoisonMessage("orderId: missing"), OrderNotFound("o-1")):
        assert [retry_delay_seconds(permanent, n) for n in (1, 2, 3)] == [0, 0, 0]
    for may_heal in (TransientFailure("o-1", 1, 2), RuntimeError("throttled")):
        assert [retry_delay_seconds(may_heal, n) for n in (1, 2, 3)] == [2, 4, 8]


def test_partial_batch_response_lists_only_failed_messages(worker, store, visibility):
    ids = [
        ORDER_ID,
        "22222222-2222-4222-8222-222222222222",
        "33333333-3333-4333-8333-333333333333",
        "44444444-4444-4444-8444-444444444444",
    ]
    for order_id in ids[1:]:
        store.items[order_id] = pending_order(order_id)
    records = [
        record(message(ids[0]), receive_count=1),
        record(message(ids[1], fault="poison"), receive_count=3),
        record(message(ids[2], customerId="cust-666"), receive_count=1),  # rejected = processed
        record(message(ids[3], fault="transient"), receive_count=1),
    ]

    response = invoke(worker, *records)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}, {"itemIdentifier": records[3]["messageId"]}]
    }
    assert [store.items[order_id]["status"] for order_id in ids] == ["CONFIRMED", "PENDING", "REJECTED", "PENDING"]
    # Visibility shortened for the failures only: the poison one at once, the transient one after its backoff.
    assert visibility.changes == [(records[1]["receiptHandle"], 0), (records[3]["receiptHandle"], 2)]


def test_whole_batch_failing_is_a_partial_response_not_an_error(worker, store, visibility):
    records = [record(message(fault="poison")), record("not json")]

    response = invoke(worker, *records)

    assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]} for rec in records]}


def test_visibility_failure_is_logged_not_raised(worker, store, visibility, logs):
    visibility.error = RuntimeError("SQS is down")
    rec = record(message(fault="poison"), receive_count=2)

    response = invoke(worker, rec)

    assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    warnings = [line for line in logs() if line["message"].startswith("Could not shorten the retry delay")]
    assert len(warnings) == 1 and warnings[0]["visibilityTimeout"] == 0
    assert "SQS is down" in warnings[0]["error"]


# --------------------------------------------------------------------------- idempotency


def test_duplicate_of_a_decided_faulty_order_succeeds_at_once(worker, store, visibility):
    # The transient order succeeded on its 3rd receive; a duplicate message (a re-sent stream batch)
    # arrives with its own receive count 1: nothing is left to fail, so no injected fault, no retry.
    body = message(fault="transient")
    assert invoke(worker, record(body, receive_count=3)) == {"batchItemFailures": []}
    snapshot = copy.deepcopy(store.items)

    assert invoke(worker, record(body, receive_count=1)) == {"batchItemFailures": []}
    assert store.items == snapshot and visibility.changes == []


def test_duplicate_message_for_a_final_order_succeeds_without_a_second_write(worker, store, visibility, logs):
    first = record(receive_count=1)
    duplicate = record(receive_count=1)  # the stream processor re-sent it: another message id

    assert invoke(worker, first) == {"batchItemFailures": []}
    snapshot = copy.deepcopy(store.items)
    assert invoke(worker, duplicate) == {"batchItemFailures": []}

    assert len(store.writes) == 1
    assert store.items == snapshot
    assert visibility.changes == []
    (already,) = [line for line in logs() if line["message"].startswith("Order already processed")]
    assert already["status"] == "CONFIRMED"
    assert already["messageId"] == duplicate["messageId"]


def test_order_never_moves_backwards(worker, store, visibility):
    store.items[ORDER_ID] = pending_order(
        status="CONFIRMED", processedAt="2024-05-01T12:31:00.000Z", attempts=Decimal(1)
    )
    snapshot = copy.deepcopy(store.items)
    late_rejection = record(message(customerId="cust-666"), receive_count=2)

    assert invoke(worker, late_rejection) == {"batchItemFailures": []}

    assert store.items == snapshot  # still CONFIRMED, no reason, no new timestamps
    assert store.attempted[-1]["status"] == "REJECTED" and store.writes == []


def test_rejected_stays_rejected(worker, store, visibility):
    store.items[ORDER_ID] = pending_order(status="REJECTED", statusReason="customer cust-666 is blocked")

    assert invoke(worker, record()) == {"batchItemFailures": []}
    assert store.items[ORDER_ID]["status"] == "REJECTED"
    assert store.items[ORDER_ID]["statusReason"] == "customer cust-666 is blocked"


def test_missing_order_is_a_failure(worker, store, visibility, logs):
    rec = record(message("55555555-5555-4555-8555-555555555555"))

    response = invoke(worker, rec)

    assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert "55555555-5555-4555-8555-555555555555" not in store.items  # the update created nothing
    assert visibility.changes == [(rec["receiptHandle"], 0)]  # permanent: retried at once
    (error,) = [line for line in logs() if line["level"] == "ERROR"]
    assert error["errorType"] == "OrderNotFound"


def test_order_in_an_unknown_state_is_retried(worker, store, visibility):
    store.items[ORDER_ID] = pending_order(status="ON_HOLD")
    rec = record()

    assert invoke(worker, rec) == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert store.items[ORDER_ID]["status"] == "ON_HOLD"


def test_store_errors_fail_the_message(worker, store, visibility, monkeypatch):
    def boom(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(store, "record_decision", boom)
    rec = record(receive_count=3)

    assert invoke(worker, rec) == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert visibility.changes == [(rec["receiptHandle"], 8)]


# --------------------------------------------------------------------------- malformed messages

MALFORMED = [
    ("not-json", "{oops", "body is not valid JSON"),
    ("json-array", "[]", "body must be a JSON object"),
    ("empty", "", "body is empty"),
    ("no-order-id", json.dumps({k: v for k, v in message().items() if k != "orderId"}), "orderId: missing"),
    (
        "float-price",
        json.dumps(message(items=[{"sku": "A", "quantity": 1, "unitPrice": 5.5}], total="5.50")),
        'items[0].unitPrice: must be a decimal string such as "19.99"',
    ),
    (
        "quantity-string",
        json.dumps(message(items=[{"sku": "A", "quantity": "1", "unitPrice": "5.50"}])),
        "items[0].quantity: must be a whole number of at least 1",
    ),
    (
        "quantity-zero",
        json.dumps(message(items=[{"sku": "A", "quantity": 0, "unitPrice": "5.50"}])),
        "items[0].quantity: must be a whole number of at least 1",
    ),
    ("no-items", json.dumps(message(items=[])), "items: must be a non-empty list"),
    ("bad-fault", json.dumps(message(fault="slow")), 'fault: must be null, "transient" or "poison"'),
    ("nan-total", json.dumps(message(total="NaN")), 'total: must be a decimal string such as "19.99"'),
]


@pytest.mark.parametrize(("body", "reason"), [pytest.param(*case[1:], id=case[0]) for case in MALFORMED])
def test_malformed_body_is_a_permanent_failure(worker, store, visibility, logs, body, reason):
    rec = sqs_record(body, receive_count=1)

    response = invoke(worker, rec)

    assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert store.attempted == []
    (error,) = [line for line in logs() if line["level"] == "ERROR"]
    assert error["errorType"] == "PoisonMessage"
    assert reason in error["reason"]
    assert error["bodyPreview"] == body[:500]
    assert error["messageId"] == rec["messageId"]


def test_parse_message_reads_the_contract():
    from order_worker.messages import OrderLine, parse_message

    order = parse_message(json.dumps(message(fault="transient")))

    assert order.order_id == ORDER_ID and order.customer_id == "cust-123"
    assert order.items == (OrderLine("BOOK-001", 2, Decimal("19.99")), OrderLine("PEN_42", 1, Decimal("5.00")))
    assert order.total == Decimal("44.98") and order.currency == "EUR"
    assert order.fault == "transient" and order.customer_name == "Ada Lovelace"
    assert order.source["sequenceNumber"] == "4421584500000000017450439091"


def test_worker_docstring_examples_hold():
    import orderlab_runtime
    from order_worker import errors, faults, messages, rules, store

    # orderlab_runtime: the handler's timestamps are formatted there
    for module in (errors, faults, messages, rules, store, orderlab_runtime):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --------------------------------------------------------------------------- DynamoDB / SQS (botocore Stubber)


def test_dynamo_store_conditional_update_for_confirmed_and_rejected(stubbed_client):
    from order_worker.rules import Decision
    from order_worker.store import DynamoOrderStatusStore

    client, stubber = stubbed_client("dynamodb")
    base_names = {
        "#status": "status",
        "#updatedAt": "updatedAt",
        "#processedAt": "processedAt",
        "#attempts": "attempts",
        "#appliedCount": "appliedCount",
    }
    base_values = {
        ":pending": {"S": "PENDING"},
        ":now": {"S": FIXED_STAMP},
        ":attempts": {"N": "2"},
        ":one": {"N": "1"},
    }
    stubber.add_response(
        "update_item",
        {},
        {
            "TableName": "orders",
            "Key": {"orderId": {"S": ORDER_ID}},
            "UpdateExpression": (
                "SET #status = :decision, #updatedAt = :now, #processedAt = :now, #attempts = :attempts"
                " ADD #appliedCount :one"
            ),
            "ConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": base_names,
            "ExpressionAttributeValues": {":decision": {"S": "CONFIRMED"}, **base_values},
        },
    )
    stubber.add_response(
        "update_item",
        {},
        {
            "TableName": "orders",
            "Key": {"orderId": {"S": ORDER_ID}},
            "UpdateExpression": (
                "SET #status = :decision, #updatedAt = :now, #processedAt = :now, #attempts = :attempts,"
                " #statusReason = :reason ADD #appliedCount :one"
            ),
            "ConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": {**base_names, "#statusReason": "statusReason"},
            "ExpressionAttributeValues": {
                ":decision": {"S": "REJECTED"},
                **base_values,
                ":reason": {"S": "customer cust-666 is blocked"},
            },
        },
    )
    stubber.add_client_error("update_item", service_error_code="ConditionalCheckFailedException", http_status_code=400)

    store = DynamoOrderStatusStore("orders", client)
    assert store.record_decision(ORDER_ID, Decision("CONFIRMED"), timestamp=FIXED_STAMP, attempts=2) is True
    assert (
        store.record_decision(
            ORDER_ID, Decision("REJECTED", "customer cust-666 is blocked"), timestamp=FIXED_STAMP, attempts=2
        )
        is True
    )
    assert store.record_decision(ORDER_ID, Decision("CONFIRMED"), timestamp=FIXED_STAMP, attempts=2) is False


def test_dynamo_store_other_errors_propagate(stubbed_client):
    from botocore.exceptions import ClientError
    from order_worker.rules import Decision
    from order_worker.store import DynamoOrderStatusStore

    client, stubber = stubbed_client("dynamodb")
    stubber.add_client_error(
        "update_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
    )

    with pytest.raises(ClientError):
        DynamoOrderStatusStore("orders", client).record_decision(
            ORDER_ID, Decision("CONFIRMED"), timestamp=FIXED_STAMP, attempts=1
        )


def test_dynamo_store_get_is_consistent_and_deserializes(stubbed_client):
    from order_worker.store import DynamoOrderStatusStore

    client, stubber = stubbed_client("dynamodb")
    expected = {"TableName": "orders", "Key": {"orderId": {"S": ORDER_ID}}, "ConsistentRead": True}
    stubber.add_response(
        "get_item",
        {"Item": {"orderId": {"S": ORDER_ID}, "status": {"S": "CONFIRMED"}, "attempts": {"N": "2"}}},
        expected,
    )
    stubber.add_response("get_item", {}, expected)

    store = DynamoOrderStatusStore("orders", client)
    assert store.get(ORDER_ID) == {"orderId": ORDER_ID, "status": "CONFIRMED", "attempts": Decimal(2)}
    assert store.get(ORDER_ID) is None


def test_sqs_visibility_calls_change_message_visibility(stubbed_client):
    from order_worker.visibility import SqsMessageVisibility

    client, stubber = stubbed_client("sqs")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
    stubber.add_response(
        "change_message_visibility", {}, {"QueueUrl": url, "ReceiptHandle": "AQEB-handle", "VisibilityTimeout": 8}
    )

    SqsMessageVisibility(url, client).change_visibility("AQEB-handle", 8)


def test_defaults_are_aws_built_lazily(worker, handler_client, default_dependency):
    from order_worker.store import DynamoOrderStatusStore
    from order_worker.visibility import SqsMessageVisibility

    dynamodb, sqs = handler_client("dynamodb", object()), handler_client("sqs", object())
    built_store = default_dependency(worker.get_store, worker.set_store)
    built_visibility = default_dependency(worker.get_visibility, worker.set_visibility)

    assert isinstance(built_store, DynamoOrderStatusStore) and built_store._client is dynamodb
    assert built_store.table_name == os.environ["ORDERS_TABLE"]
    assert isinstance(built_visibility, SqsMessageVisibility) and built_visibility._client is sqs
    assert built_visibility.queue_url == os.environ["ORDER_QUEUE_URL"]


# --------------------------------------------------------------------------- the zip layout


def test_zip_layout_works_standalone(lambda_bundle, run_standalone):
    """Only the stdlib, the runtime's boto3 and what requirements.txt installs are available."""
    bundle = lambda_bundle(ORDER_WORKER_ROOT)
    top = {path.name for path in bundle.iterdir()}
    assert {"order_worker", "aws_lambda_powertools", "typing_extensions.py", "jmespath"} <= top
    assert not {"boto3", "botocore"} & top, "the runtime provides boto3; do not ship it"

    event = sqs_event([record(message()), record(message(fault="poison"))])
    code = (
        "import json, types, sys\n"
        "assert not any('site-packages' in p for p in sys.path), sys.path\n"
        "from order_worker import handler\n"
        "event = json.loads(sys.argv[3])\n"
        "class Store:\n"
        "    status = {}\n"
        "    def record_decision(self, order_id, decision, *, timestamp, attempts):\n"
        "        self.status[order_id] = decision.status; return True\n"
        "    def get(self, order_id): return None\n"
        "class Visibility:\n"
        "    changes = []\n"
        "    def change_visibility(self, handle, timeout): self.changes.append(timeout)\n"
        "store, visibility = Store(), Visibility()\n"
        "handler.set_store(store); handler.set_visibility(visibility)\n"
        "ctx = types.SimpleNamespace(function_name='order-worker', memory_limit_in_mb=256,\n"
        "    invoked_function_arn='arn:aws:lambda:us-east-1:123456789012:function:order-worker',\n"
        "    aws_request_id='req-1')\n"
        "response = handler.lambda_handler(event, ctx)\n"
        "poisoned = event['Records'][1]['messageId']\n"
        "assert response == {'batchItemFailures': [{'itemIdentifier': poisoned}]}, response\n"
        "assert list(store.status.values()) == ['CONFIRMED'] and visibility.changes == [0]\n"
        "import boto3; assert 'lambda-runtime' in boto3.__file__, boto3.__file__\n"
        "assert 'pydantic' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {"ORDERS_TABLE": "orders", "ORDER_QUEUE_URL": "https://sqs.example/q"}
    result = run_standalone(bundle, code, env, extra_args=[json.dumps(event)])

    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_failure_note_never_touches_a_final_order(worker, store, visibility):
    store.items[ORDER_ID]["status"] = "CONFIRMED"
    assert store.record_failure(ORDER_ID, error="x", attempts=1, timestamp="t") is False
    assert "failedAttempts" not in store.items[ORDER_ID]


def test_failure_update_is_conditional_on_pending():
    from order_worker.store import failure_update

    params = failure_update("orders", ORDER_ID, error="E" * 900, attempts=3, timestamp="2024-05-01T12:00:00.000Z")
    assert params["ConditionExpression"] == "#status = :pending"
    assert params["ExpressionAttributeValues"][":attempts"] == {"N": "3"}
    assert len(params["ExpressionAttributeValues"][":error"]["S"]) == 500
    assert "#status = :" not in params["UpdateExpression"]  # the status itself is never set
