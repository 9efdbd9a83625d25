"""The orders themselves: a plausible order to send, and reading stored orders back from the table.

>>> random_order(random.Random(7))["customer"]["id"]
'cust-019'
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from helpers.core.lab import Lab

__all__ = ["FINAL_STATUSES", "get_order", "get_orders", "plain_item", "random_order"]

FINAL_STATUSES = ("CONFIRMED", "REJECTED")
_deserializer = TypeDeserializer()


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (attribute-value form) as plain Python (numbers are Decimal)."""
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def get_order(lab: Lab, table_name: str, order_id: str) -> dict[str, Any] | None:
    """The stored order (strongly consistent read), as plain Python, or None."""
    item = (
        lab.client("dynamodb")
        .get_item(TableName=table_name, Key={"orderId": {"S": order_id}}, ConsistentRead=True)
        .get("Item")
    )
    return plain_item(item) if item else None


def _batch_get(lab: Lab, table_name: str, order_ids: list[str]) -> dict[str, dict[str, Any]]:
    """BatchGetItem (consistent) in chunks of 100, retrying unprocessed keys a bounded number of times."""
    ddb = lab.client("dynamodb")
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(order_ids), 100):
        keys = [{"orderId": {"S": order_id}} for order_id in order_ids[start : start + 100]]
        request: dict[str, Any] = {table_name: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(8):
            reply = ddb.batch_get_item(RequestItems=request)
            for item in reply.get("Responses", {}).get(table_name, []):
                plain = plain_item(item)
                found[plain["orderId"]] = plain
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
    return found


def get_orders(lab: Lab, table_name: str, order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored orders of ``order_ids`` that exist (consistent BatchGetItem), as ``{orderId: item}``."""
    return _batch_get(lab, table_name, list(dict.fromkeys(order_ids)))


def random_order(rng: random.Random) -> dict[str, Any]:
    """A plausible order: 1-3 items, small quantities, prices with cents."""
    items = [
        {
            "sku": f"SKU-{rng.randint(1, 40):03d}",
            "quantity": rng.randint(1, 5),
            "unitPrice": round(rng.uniform(1, 120), 2),
        }
        for _ in range(rng.randint(1, 3))
    ]
    customer = rng.randint(1, 20)
    return {"customer": {"id": f"cust-{customer:03d}", "name": f"Customer {customer}"}, "items": items}
