"""Pure logic of the high-value consumer: parse a routed message, build the priority mark.

The mark only *adds* attributes (``priority``, ``customerTier``, ``priorityMarkedAt``) and never touches
``status``: the order worker's own conditional update (PENDING → CONFIRMED | REJECTED) and this one commute,
so whichever runs first, the order ends decided *and* marked. The update is conditional on the order existing
and not being marked yet, so a redelivered message changes nothing.

>>> message = parse_message('{"orderId": "o-1", "priority": "P1", "customerTier": "VIP", "total": "6200.00"}')
>>> params = mark_update("a-orders", message, timestamp="2024-05-01T12:00:00.000Z")
>>> params["ConditionExpression"]
'attribute_exists(#orderId) AND attribute_not_exists(#priority)'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["InvalidMessage", "RoutedOrder", "mark_update", "parse_message"]

PRIORITIES = ("P1", "P2")
TIERS = ("VIP", "STANDARD")


class InvalidMessage(ValueError):
    """A message that can never be handled (retrying it cannot help): it goes to the DLQ."""


@dataclass(frozen=True)
class RoutedOrder:
    order_id: str
    priority: str
    customer_tier: str
    total: str | None = None


def parse_message(body: str) -> RoutedOrder:
    """Parse the enriched message the pipe sent (see lambdas/high_value_enricher).

    >>> parse_message('{"orderId": "o-1", "priority": "P9", "customerTier": "VIP"}')
    Traceback (most recent call last):
    ...
    high_value.marking.InvalidMessage: priority must be one of ('P1', 'P2'), got 'P9'
    """
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        raise InvalidMessage(f"body is not JSON: {str(body)[:200]!r}") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"body must be a JSON object, got {type(data).__name__}")
    order_id = data.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidMessage(f"orderId must be a non-empty string, got {order_id!r}")
    priority, tier = data.get("priority"), data.get("customerTier")
    if priority not in PRIORITIES:
        raise InvalidMessage(f"priority must be one of {PRIORITIES}, got {priority!r}")
    if tier not in TIERS:
        raise InvalidMessage(f"customerTier must be one of {TIERS}, got {tier!r}")
    total = data.get("total")
    return RoutedOrder(order_id, priority, tier, str(total) if total is not None else None)


def mark_update(table_name: str, order: RoutedOrder, *, timestamp: str) -> dict[str, Any]:
    """The ``UpdateItem`` parameters that mark ``order`` for priority handling, once."""
    return {
        "TableName": table_name,
        "Key": {"orderId": {"S": order.order_id}},
        "UpdateExpression": "SET #priority = :priority, #customerTier = :tier, #markedAt = :now",
        "ConditionExpression": "attribute_exists(#orderId) AND attribute_not_exists(#priority)",
        "ExpressionAttributeNames": {
            "#orderId": "orderId",
            "#priority": "priority",
            "#customerTier": "customerTier",
            "#markedAt": "priorityMarkedAt",
        },
        "ExpressionAttributeValues": {
            ":priority": {"S": order.priority},
            ":tier": {"S": order.customer_tier},
            ":now": {"S": timestamp},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
