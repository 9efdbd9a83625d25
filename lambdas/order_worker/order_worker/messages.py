"""Pure parsing of an order message (the body the stream processor puts on the order queue).

Contract (JSON object; money as exact decimal strings, never floats)::

    {"orderId": "…", "customerId": "cust-123", "customerName": "Ada Lovelace",
     "items": [{"sku": "BOOK-001", "quantity": 2, "unitPrice": "19.99"}],
     "total": "39.98", "currency": "EUR", "createdAt": "2024-05-01T12:30:45.678Z",
     "fault": null, "source": {"eventID": "…", "sequenceNumber": "…", "approximateCreationDateTime": 1714566645.0}}

Required: ``orderId``, ``customerId``, ``items`` (1+ lines of ``sku``, ``quantity`` a JSON
integer >= 1, ``unitPrice`` a decimal string >= 0), ``total`` (decimal string), ``currency``.
Optional: ``customerName``, ``createdAt`` (strings), ``fault`` (null, ``"transient"`` or
``"poison"``), ``source`` (an object). Other keys are ignored.

>>> order = parse_message('{"orderId": "o-1", "customerId": "c-1", "currency": "EUR", "total": "10.00",'
...                       ' "items": [{"sku": "PEN", "quantity": 2, "unitPrice": "5.00"}]}')
>>> order.order_id, order.total, order.items[0].unit_price, order.fault
('o-1', Decimal('10.00'), Decimal('5.00'), None)
>>> parse_message('{"orderId": "o-1", "items": []}')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
...
order_worker.errors.PoisonMessage: malformed order message: customerId: missing; items: must be a non-empty list;
    total: missing; currency: missing
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from order_worker.errors import PoisonMessage

__all__ = ["FAULTS", "OrderLine", "OrderMessage", "PoisonMessage", "parse_message"]

FAULTS = ("transient", "poison")
"""Values of ``fault`` that inject a failure (lab fault injection)."""

_DECIMAL_RE = re.compile(r"[0-9]{1,20}(\.[0-9]{1,10})?")


@dataclass(frozen=True)
class OrderLine:
    """One order line: ``unit_price`` is an exact Decimal."""

    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class OrderMessage:
    """A parsed order message."""

    order_id: str
    customer_id: str
    items: tuple[OrderLine, ...]
    total: Decimal
    currency: str
    customer_name: str | None = None
    created_at: str | None = None
    fault: str | None = None
    source: dict[str, Any] = field(default_factory=dict, compare=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_message(body: str | None) -> OrderMessage:
    """Parse and check an order message body; raise :class:`PoisonMessage` naming every problem.

    >>> parse_message("not json")
    Traceback (most recent call last):
    ...
    order_worker.errors.PoisonMessage: malformed order message: body is not valid JSON
    """
    if not body:
        raise PoisonMessage("body is empty")
    try:
        document = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise PoisonMessage("body is not valid JSON") from None
    if not isinstance(document, dict):
        raise PoisonMessage("body must be a JSON object")

    problems: list[str] = []
    order_id = _text(document, "orderId", problems)
    customer_id = _text(document, "customerId", problems)
    customer_name = _text(document, "customerName", problems, required=False)
    items = _lines(document.get("items"), problems)
    total = _decimal(document, "total", problems)
    currency = _text(document, "currency", problems)
    created_at = _text(document, "createdAt", problems, required=False)
    fault = document.get("fault")
    if fault is not None and fault not in FAULTS:
        problems.append('fault: must be null, "transient" or "poison"')
    source = document.get("source")
    if source is not None and not isinstance(source, dict):
        problems.append("source: must be an object")
    if problems:
        raise PoisonMessage("; ".join(problems))
    return OrderMessage(
        order_id=order_id or "",
        customer_id=customer_id or "",
        items=tuple(items),
        total=total if total is not None else Decimal(0),
        currency=currency or "",
        customer_name=customer_name,
        created_at=created_at,
        fault=fault,
        source=dict(source or {}),
    )


def _text(
    document: Mapping[str, Any], name: str, problems: list[str], *, where: str | None = None, required: bool = True
) -> str | None:
    where = where or name
    value = document.get(name)
    if value is None:
        if required:
            problems.append(f"{where}: missing")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: must be a non-empty string")
        return None
    return value


def _decimal(
    document: Mapping[str, Any], name: str, problems: list[str], *, where: str | None = None
) -> Decimal | None:
    where = where or name
    value = document.get(name)
    if value is None:
        problems.append(f"{where}: missing")
        return None
    if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value):
        problems.append(f'{where}: must be a decimal string such as "19.99"')
        return None
    return Decimal(value)


def _lines(value: Any, problems: list[str]) -> list[OrderLine]:
    if not isinstance(value, list) or not value:
        problems.append("items: must be a non-empty list")
        return []
    lines: list[OrderLine] = []
    for index, line in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(line, dict):
            problems.append(f"{where}: must be an object")
            continue
        sku = _text(line, "sku", problems, where=f"{where}.sku")
        unit_price = _decimal(line, "unitPrice", problems, where=f"{where}.unitPrice")
        quantity = line.get("quantity")
        if quantity is None:
            problems.append(f"{where}.quantity: missing")
            quantity = None
        elif isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            problems.append(f"{where}.quantity: must be a whole number of at least 1")
            quantity = None
        if sku is not None and unit_price is not None and quantity is not None:
            lines.append(OrderLine(sku=sku, quantity=quantity, unit_price=unit_price))
    return lines
