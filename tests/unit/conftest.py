"""Unit-test setup for the create_order Lambda: import path, environment, fakes.

No AWS, no network: the handler gets an in-memory store through ``handler.set_store``.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

_HERE = Path(__file__).resolve().parent
CREATE_ORDER_ROOT = _HERE.parents[1] / "lambdas" / "create_order"

for _path in (CREATE_ORDER_ROOT, _HERE):  # _HERE: `import events` works under any import mode
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# The handler reads this at import (cold start) and refuses to load without it.
os.environ.setdefault("ORDERS_TABLE", "orders-unit-test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")

from helpers.events import FakeLambdaContext


def _like_dynamodb(value: Any) -> Any:
    """Return ``value`` as DynamoDB would hand it back: numbers as normalised Decimals."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")  # as boto3 says
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
        return Decimal(int(number)) if number == number.to_integral_value() else number.normalize()
    if isinstance(value, Mapping):
        return {key: _like_dynamodb(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_like_dynamodb(inner) for inner in value]
    raise TypeError(f"Unsupported type for the fake store: {type(value).__name__}")


class InMemoryOrderStore:
    """An ``OrderStore`` in a dict, with DynamoDB's conditional-put and number semantics."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.put_attempts: list[dict[str, Any]] = []

    def put_new(self, item: Mapping[str, Any]) -> bool:
        self.put_attempts.append(copy.deepcopy(dict(item)))
        order_id = item["orderId"]
        if order_id in self.items:
            return False
        self.items[order_id] = _like_dynamodb(dict(item))
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        stored = self.items.get(order_id)
        return copy.deepcopy(stored) if stored is not None else None


@pytest.fixture
def handler_module() -> Any:
    from create_order import handler

    return handler


@pytest.fixture
def store(handler_module: Any) -> Iterator[InMemoryOrderStore]:
    fake = InMemoryOrderStore()
    handler_module.set_store(fake)
    yield fake
    handler_module.set_store(None)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
