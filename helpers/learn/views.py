"""Tables for notebooks: DynamoDB items and API replies as pandas DataFrames.

>>> orders_frame(lab, "orderlab-orders").head()     # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
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


# -- readable tables and listings ------------------------------------------------------------------


def short_name(value: Any) -> Any:
    """The readable end of an ARN or a URL (the rest goes in a tooltip); anything else unchanged.

    >>> short_name("arn:aws:sqs:us-east-1:000000000000:alice-order-dlq")
    'alice-order-dlq'
    >>> short_name("http://127.0.0.1:4599/000000000000/alice-order-queue")
    'alice-order-queue'
    >>> short_name("arn:aws:lambda:us-east-1:000000000000:function:alice-create-order")
    'alice-create-order'
    """
    if not isinstance(value, str):
        return value
    if value.startswith("arn:"):
        return value.split(":", 6)[-1].rsplit("/", 1)[-1].rsplit(":", 1)[-1] or value
    if value.startswith(("http://", "https://")) and value.rstrip("/").count("/") > 2:
        return value.rstrip("/").rsplit("/", 1)[-1]
    return value


class Table:
    """A table without index or dtype noise; ARNs and URLs shown by their short name, the full value in a
    tooltip (HTML ``title``); empty cells blank, all-empty columns dropped.

    >>> print(Table.of_mapping({"State": "Enabled", "BatchSize": 10}))
      setting   value
        State Enabled
    BatchSize      10
    """

    def __init__(self, rows: pd.DataFrame | Iterable[dict[str, Any]], *, columns: Iterable[str] | None = None) -> None:
        frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=columns)
        frame = frame.reset_index(drop=True)
        frame = frame.astype(object).where(frame.notna(), "")
        keep = [c for c in frame.columns if (frame[c].astype(str) != "").any()] if len(frame) else list(frame.columns)
        self.frame = frame[keep]

    @classmethod
    def of_mapping(cls, mapping: dict[str, Any], *, key: str = "setting", value: str = "value") -> Table:
        return cls([{key: k, value: _cell_text(v)} for k, v in mapping.items()])

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        if self.frame.empty:
            return "(no rows)"
        return self.frame.map(lambda v: _cell_text(short_name(v))).to_string(index=False)

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in self.frame.columns)
        body = []
        for row in self.frame.itertuples(index=False):
            cells = []
            for value in row:
                text, shown = _cell_text(value), _cell_text(short_name(value))
                title = f" title='{html.escape(text, quote=True)}'" if shown != text else ""
                style = "text-align:left" + (";text-decoration:underline dotted" if title else "")
                cells.append(f"<td{title} style='{style}'>{html.escape(shown)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        note = (
            "<caption style='caption-side:bottom;font-size:smaller'>"
            "hover a dotted name for its full ARN or URL</caption>"
            if any(_cell_text(short_name(v)) != _cell_text(v) for v in self.frame.to_numpy().ravel())
            else ""
        )
        return (
            f"<table class='orderlab-table'>{note}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


def _cell_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        import json

        return json.dumps(value, default=str)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%H:%M:%S.%f")[:-3]
    return "" if value is None else str(value)


class SourceListing:
    """A source file folded under a one-line summary (HTML ``<details>``): long listings stay out of the way.

    >>> SourceListing(Path("lambdas/order_worker/order_worker/rules.py"))   # doctest: +SKIP
    rules.py: 133 lines (lambdas/order_worker/order_worker/rules.py)
    """

    def __init__(self, path: Any, *, summary: str = "") -> None:
        from pathlib import Path

        from helpers.core.paths import REPO_ROOT

        self.path = Path(path)
        self.text = self.path.read_text()
        try:
            self.shown_path = str(self.path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            self.shown_path = str(self.path)
        self.summary = summary

    def __repr__(self) -> str:
        lines = len(self.text.splitlines())
        return f"{self.path.name}: {lines} lines ({self.shown_path}){' — ' + self.summary if self.summary else ''}"

    def _repr_html_(self) -> str:
        import html

        from IPython.display import Code

        code = Code(self.text, language="python")._repr_html_()
        return (
            f"<details><summary><code>{html.escape(self.shown_path)}</code> — "
            f"{len(self.text.splitlines())} lines{': ' + html.escape(self.summary) if self.summary else ''} "
            f"(click to unfold)</summary>{code}</details>"
        )
