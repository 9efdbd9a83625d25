"""Pure business rules: does an order get CONFIRMED or REJECTED, and why.

Settings come from the function's environment (defaults in brackets):
``MAX_QUANTITY_PER_ITEM`` [100], ``MAX_ORDER_TOTAL`` [10000], ``BLOCKED_CUSTOMERS``
[``cust-666``, comma-separated], ``DISCONTINUED_SKUS`` [none, comma-separated]::

    >>> from order_worker.messages import parse_message
    >>> rules = rules_from_env({"MAX_QUANTITY_PER_ITEM": "5"})
    >>> order = parse_message('{"orderId": "o-1", "customerId": "c-1", "currency": "EUR", "total": "60.00",'
    ...                       ' "items": [{"sku": "PEN", "quantity": 12, "unitPrice": "5.00"}]}')
    >>> evaluate(order, rules)
    Decision(status='REJECTED', reason='quantity 12 of PEN exceeds the limit of 5')
    >>> evaluate(order, Rules())
    Decision(status='CONFIRMED', reason=None)

The rules are checked in this order and the first one broken is the reason:
the total must equal the sum of ``quantity * unitPrice`` (exact Decimal), the customer must
not be blocked, no SKU may be discontinued, no line may exceed the quantity limit, and the
total must not exceed the order limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

from order_worker.messages import OrderMessage
from order_worker.settings import whole_number

__all__ = ["CONFIRMED", "FINAL_STATUSES", "PENDING", "REJECTED", "Decision", "Rules", "evaluate", "rules_from_env"]

PENDING = "PENDING"
"""Status of an order the worker has not decided yet (set by create_order)."""
CONFIRMED: Final = "CONFIRMED"
REJECTED: Final = "REJECTED"
FINAL_STATUSES = frozenset({CONFIRMED, REJECTED})
"""Statuses an order never leaves."""

Status = Literal["CONFIRMED", "REJECTED"]


@dataclass(frozen=True)
class Rules:
    """The business rules' settings (the defaults are the lab's)."""

    max_quantity_per_item: int = 100
    max_order_total: Decimal = Decimal(10000)
    blocked_customers: frozenset[str] = field(default_factory=lambda: frozenset({"cust-666"}))
    discontinued_skus: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Decision:
    """The outcome for one order: ``reason`` is set for REJECTED only."""

    status: Status
    reason: str | None = None


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def rules_from_env(env: Mapping[str, str]) -> Rules:
    """Read the rules' settings from an environment mapping (e.g. ``os.environ``).

    An unset variable takes its default; an empty ``BLOCKED_CUSTOMERS`` blocks nobody.
    A malformed value raises ``ValueError`` naming the variable (the function then fails at
    cold start instead of deciding orders with a wrong rule).

    >>> sorted(rules_from_env({"BLOCKED_CUSTOMERS": "a, b,,", "DISCONTINUED_SKUS": "OLD-1"}).blocked_customers)
    ['a', 'b']
    >>> rules_from_env({"MAX_ORDER_TOTAL": "lots"})
    Traceback (most recent call last):
    ...
    ValueError: MAX_ORDER_TOTAL must be a number >= 0, got 'lots'
    """
    defaults = Rules()
    max_quantity = whole_number(env, "MAX_QUANTITY_PER_ITEM", defaults.max_quantity_per_item, minimum=1)
    raw_total = env.get("MAX_ORDER_TOTAL", "").strip()
    max_total = defaults.max_order_total
    if raw_total:
        try:
            max_total = Decimal(raw_total)
        except InvalidOperation:
            max_total = Decimal(-1)
        if not max_total.is_finite() or max_total < 0:
            raise ValueError(f"MAX_ORDER_TOTAL must be a number >= 0, got {raw_total!r}")

    blocked = env.get("BLOCKED_CUSTOMERS")
    discontinued = env.get("DISCONTINUED_SKUS")
    return Rules(
        max_quantity_per_item=max_quantity,
        max_order_total=max_total,
        blocked_customers=defaults.blocked_customers if blocked is None else _csv(blocked),
        discontinued_skus=defaults.discontinued_skus if discontinued is None else _csv(discontinued),
    )


def evaluate(order: OrderMessage, rules: Rules) -> Decision:
    """Decide an order: CONFIRMED, or REJECTED with a short human-readable reason.

    >>> from order_worker.messages import parse_message
    >>> order = parse_message('{"orderId": "o-1", "customerId": "cust-666", "currency": "EUR", "total": "1.00",'
    ...                       ' "items": [{"sku": "PEN", "quantity": 1, "unitPrice": "1"}]}')
    >>> evaluate(order, Rules()).reason
    'customer cust-666 is blocked'
    """
    computed = sum((line.unit_price * line.quantity for line in order.items), Decimal(0))
    if computed != order.total:
        return Decision(REJECTED, "total does not match items")
    if order.customer_id in rules.blocked_customers:
        return Decision(REJECTED, f"customer {order.customer_id} is blocked")
    for line in order.items:
        if line.sku in rules.discontinued_skus:
            return Decision(REJECTED, f"SKU {line.sku} is discontinued")
    for line in order.items:
        if line.quantity > rules.max_quantity_per_item:
            return Decision(
                REJECTED, f"quantity {line.quantity} of {line.sku} exceeds the limit of {rules.max_quantity_per_item}"
            )
    if order.total > rules.max_order_total:
        return Decision(REJECTED, f"total {order.total} exceeds the limit of {rules.max_order_total:f}")
    return Decision(CONFIRMED)
