"""Tables for notebooks: DynamoDB items and API replies as pandas DataFrames.

>>> orders_frame(lab, "orderlab-orders").head()     # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pandas as pd
from boto3.dynamodb.types import TypeDeserializer

from helpers.pipeline.orders_api import ApiReply

ORDER_COLUMNS = ["orderId", "status", "customerId", "itemCount", "total", "currency", "createdAt", "updatedAt"]
_deserialize = TypeDeserializer().deserialize


def scan_items(lab, table_name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Every item of a table (paginated Scan), as plain Python values."""
    items: list[dict[str, Any]] = []
    paginator = lab.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=table_name, ConsistentRead=True):
        for raw in page.get("Items", []):
            items.append({k: _deserialize(v) for k, v in raw.items()})
            if limit and len(items) >= limit:
                return items
    return items


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def orders_frame(lab, table_name: str) -> pd.DataFrame:
    """The orders table as a DataFrame, newest first, one row per order."""
    rows = []
    for item in scan_items(lab, table_name):
        customer = item.get("customer") or {}
        rows.append(
            {
                "orderId": item.get("orderId"),
                "status": item.get("status"),
                "customerId": customer.get("id"),
                "itemCount": _plain(item.get("itemCount")),
                "total": _plain(item.get("total")),
                "currency": item.get("currency"),
                "createdAt": item.get("createdAt"),
                "updatedAt": item.get("updatedAt"),
            }
        )
    frame = pd.DataFrame(rows, columns=ORDER_COLUMNS)
    if not frame.empty:
        frame = frame.sort_values("createdAt", ascending=False, ignore_index=True)
    return frame


def replies_frame(replies: Iterable[ApiReply], labels: Iterable[str] | None = None) -> pd.DataFrame:
    """API replies side by side: status, message and the fields the API named."""
    rows = []
    names: Iterable[str | None] = labels or itertools.repeat(None)
    for index, (reply, label) in enumerate(zip(replies, names, strict=False)):
        body = reply.json if isinstance(reply.json, dict) else {}
        fields = ", ".join(e.get("field", "") for e in body.get("errors", []) if isinstance(e, dict))
        rows.append(
            {
                "case": label or f"#{index + 1}",
                "status": reply.status,
                "fields named": fields,
                "message": body.get("message", ""),
            }
        )
    return pd.DataFrame(rows)
