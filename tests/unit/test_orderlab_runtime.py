"""Unit tests for orderlab_runtime, the module every Lambda handler shares (lambdas/_shared/)."""

from __future__ import annotations

import doctest
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orderlab_runtime
import pytest

from helpers.aws.packaging import SHARED_MODULES_DIR


def test_docstring_examples_hold():
    result = doctest.testmod(orderlab_runtime, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- settings


def test_required_env_returns_the_stripped_value(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORDERLAB_TEST_SETTING", "  orders  ")
    assert orderlab_runtime.required_env("ORDERLAB_TEST_SETTING", "a table") == "orders"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_required_env_names_the_variable_and_its_meaning(monkeypatch: pytest.MonkeyPatch, value: str | None):
    if value is None:
        monkeypatch.delenv("ORDERLAB_TEST_SETTING", raising=False)
    else:
        monkeypatch.setenv("ORDERLAB_TEST_SETTING", value)
    with pytest.raises(RuntimeError) as caught:
        orderlab_runtime.required_env("ORDERLAB_TEST_SETTING", "the DynamoDB orders table name")
    assert str(caught.value) == (
        "Environment variable ORDERLAB_TEST_SETTING is required (the DynamoDB orders table name) but is not set"
    )


# --------------------------------------------------------------------------- clients


@pytest.fixture
def boto3_client_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every boto3.client(...) call, answered with a new object instead of a client."""
    boto3 = pytest.importorskip("boto3")
    calls: list[str] = []

    def fake_client(service_name: str) -> object:
        calls.append(service_name)
        return object()

    monkeypatch.setattr(boto3, "client", fake_client)
    for service in ("dynamodb", "sqs"):
        orderlab_runtime.set_client(service, None)
    yield calls
    for service in ("dynamodb", "sqs"):
        orderlab_runtime.set_client(service, None)


def test_client_is_created_on_first_use_then_reused(boto3_client_calls: list[str]):
    first = orderlab_runtime.client("dynamodb")
    assert boto3_client_calls == ["dynamodb"]
    assert orderlab_runtime.client("dynamodb") is first
    assert boto3_client_calls == ["dynamodb"]  # once per execution environment, not per call


def test_each_service_has_its_own_client(boto3_client_calls: list[str]):
    dynamodb, sqs = orderlab_runtime.client("dynamodb"), orderlab_runtime.client("sqs")
    assert dynamodb is not sqs and boto3_client_calls == ["dynamodb", "sqs"]


def test_set_client_swaps_and_none_restores_a_real_one(boto3_client_calls: list[str]):
    fake = object()
    orderlab_runtime.set_client("sqs", fake)
    assert orderlab_runtime.client("sqs") is fake and boto3_client_calls == []
    orderlab_runtime.set_client("sqs", None)
    assert orderlab_runtime.client("sqs") is not fake and boto3_client_calls == ["sqs"]


def test_importing_it_needs_only_the_standard_library():
    """The handlers' pure modules and a zip's cold start must not pay for boto3 before it is used."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import orderlab_runtime; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, sorted(sys.modules); print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(SHARED_MODULES_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2024, 5, 1, 14, 30, 5, 123999, tzinfo=UTC), "2024-05-01T14:30:05.123Z"),  # truncated, not rounded
        (datetime(2024, 5, 1, 14, 30, 5, tzinfo=UTC), "2024-05-01T14:30:05.000Z"),
        (datetime(2024, 5, 1, 16, 30, 5, 7000, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T14:30:05.007Z"),
    ],
)
def test_format_timestamp_is_utc_with_milliseconds(moment: datetime, expected: str):
    assert orderlab_runtime.format_timestamp(moment) == expected


def test_format_timestamp_refuses_a_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        orderlab_runtime.format_timestamp(datetime(2024, 1, 1))


def test_utcnow_is_aware_utc():
    before = datetime.now(UTC)
    now = orderlab_runtime.utcnow()
    assert now.utcoffset() == timedelta(0) and before <= now <= datetime.now(UTC)


def test_timestamp_now_reads_the_clock_tests_freeze(freeze_clock: Any):
    freeze_clock(datetime(2024, 5, 1, 12, 31, 2, 345678, tzinfo=UTC))
    assert orderlab_runtime.timestamp_now() == "2024-05-01T12:31:02.345Z"


# --------------------------------------------------------------------------- get_item


def test_get_item_is_consistent_and_deserializes_or_returns_none(stubbed_client: Any):
    client, stubber = stubbed_client("dynamodb")
    expected = {"TableName": "orders", "Key": {"orderId": {"S": "o-1"}}, "ConsistentRead": True}
    stubber.add_response(
        "get_item",
        {
            "Item": {
                "orderId": {"S": "o-1"},
                "total": {"N": "44.98"},
                "itemCount": {"N": "2"},
                "customer": {"M": {"id": {"S": "cust-1"}}},
                "items": {"L": [{"M": {"quantity": {"N": "1"}}}]},
            }
        },
        expected,
    )
    stubber.add_response("get_item", {}, expected)

    item = orderlab_runtime.get_item(client, "orders", {"orderId": "o-1"})
    assert item == {
        "orderId": "o-1",
        "total": Decimal("44.98"),
        "itemCount": Decimal(2),
        "customer": {"id": "cust-1"},
        "items": [{"quantity": Decimal(1)}],
    }
    assert isinstance(item["total"], Decimal)
    assert orderlab_runtime.get_item(client, "orders", {"orderId": "o-1"}) is None


def test_get_item_errors_propagate(stubbed_client: Any):
    from botocore.exceptions import ClientError

    client, stubber = stubbed_client("dynamodb")
    stubber.add_client_error("get_item", service_error_code="ResourceNotFoundException", http_status_code=400)
    with pytest.raises(ClientError):
        orderlab_runtime.get_item(client, "orders", {"orderId": "o-1"})
