"""Persistence of decisions: the :class:`OrderStatusStore` protocol and its DynamoDB implementation.

A decision is written only while the order is ``PENDING`` (a conditional update), so a retry
or a duplicate message never applies twice and never moves an order backwards. The same
atomic update adds 1 to the order's ``appliedCount``: the decision's side effect, counted, so
anyone can verify afterwards that it was applied exactly once (the load-and-chaos ledger,
``helpers/load/ledger.py``, checks ``appliedCount == 1`` on every decided order)::

    import boto3
    store = DynamoOrderStatusStore("orders", boto3.client("dynamodb"))
    if not store.record_decision("o-1", Decision("CONFIRMED"), timestamp="2024-05-01T12:00:00.000Z", attempts=1):
        current = store.get("o-1")  # None: no such order; else already decided
"""

from __future__ import annotations

from typing import Any, Protocol

import orderlab_runtime

from order_worker.rules import PENDING, REJECTED, Decision

__all__ = ["APPLIED_COUNT", "DynamoOrderStatusStore", "OrderStatusStore", "decision_update", "failure_update"]

APPLIED_COUNT = "appliedCount"
"""Attribute counting how many times a decision was applied to the order (1 when all is well)."""


class OrderStatusStore(Protocol):
    """Where order statuses live."""

    def record_decision(self, order_id: str, decision: Decision, *, timestamp: str, attempts: int) -> bool:
        """Write ``decision`` if the order exists and is PENDING; return False otherwise."""
        ...

    def get(self, order_id: str) -> dict[str, Any] | None:
        """Return the order (numbers as Decimal), or None if there is none."""
        ...

    def record_failure(self, order_id: str, *, error: str, attempts: int, timestamp: str) -> bool:
        """Note a failed attempt on a PENDING order (for people: why, and how many times)."""
        ...


def decision_update(
    table_name: str, order_id: str, decision: Decision, *, timestamp: str, attempts: int
) -> dict[str, Any]:
    """Return the ``UpdateItem`` parameters that record ``decision`` on a PENDING order.

    ``statusReason`` is set for REJECTED only; ``updatedAt`` and ``processedAt`` are both
    ``timestamp``; ``attempts`` is the message's receive count. ``ADD #appliedCount :one``
    counts the application in the same atomic, conditional write (``ADD`` starts a missing
    number at 0:
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html#Expressions.UpdateExpressions.ADD),
    so a second application, if the condition ever let one through, would show as 2.

    >>> params = decision_update("orders", "o-1", Decision("CONFIRMED"), timestamp="2024-05-01T12:00:00.000Z",
    ...                          attempts=2)
    >>> params["UpdateExpression"], params["ConditionExpression"]  # doctest: +NORMALIZE_WHITESPACE
    ('SET #status = :decision, #updatedAt = :now, #processedAt = :now, #attempts = :attempts
      ADD #appliedCount :one', '#status = :pending')
    """
    names = {
        "#status": "status",
        "#updatedAt": "updatedAt",
        "#processedAt": "processedAt",
        "#attempts": "attempts",
        "#appliedCount": APPLIED_COUNT,
    }
    values: dict[str, Any] = {
        ":decision": {"S": decision.status},
        ":pending": {"S": PENDING},
        ":now": {"S": timestamp},
        ":attempts": {"N": str(int(attempts))},
        ":one": {"N": "1"},
    }
    expression = "SET #status = :decision, #updatedAt = :now, #processedAt = :now, #attempts = :attempts"
    if decision.status == REJECTED:
        names["#statusReason"] = "statusReason"
        values[":reason"] = {"S": decision.reason or "rejected"}
        expression += ", #statusReason = :reason"
    expression += " ADD #appliedCount :one"
    return {
        "TableName": table_name,
        "Key": {"orderId": {"S": order_id}},
        "UpdateExpression": expression,
        "ConditionExpression": "#status = :pending",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def failure_update(table_name: str, order_id: str, *, error: str, attempts: int, timestamp: str) -> dict[str, Any]:
    """Return the ``UpdateItem`` parameters that note a failed attempt on a PENDING order.

    ``failedAttempts`` is the receive count of the failed message (set, not added, so a
    repeated note is harmless); the status is never touched.

    >>> failure_update("orders", "o-1", error="PoisonOrder: boom", attempts=3, timestamp="t")["UpdateExpression"]
    'SET #failedAttempts = :attempts, #lastError = :error, #lastFailedAt = :now'
    """
    return {
        "TableName": table_name,
        "Key": {"orderId": {"S": order_id}},
        "UpdateExpression": "SET #failedAttempts = :attempts, #lastError = :error, #lastFailedAt = :now",
        "ConditionExpression": "#status = :pending",
        "ExpressionAttributeNames": {
            "#status": "status",
            "#failedAttempts": "failedAttempts",
            "#lastError": "lastError",
            "#lastFailedAt": "lastFailedAt",
        },
        "ExpressionAttributeValues": {
            ":attempts": {"N": str(int(attempts))},
            ":error": {"S": error[:500]},
            ":now": {"S": timestamp},
            ":pending": {"S": PENDING},
        },
    }


class DynamoOrderStatusStore:
    """:class:`OrderStatusStore` backed by the orders table (partition key ``orderId``, S).

    ``client`` is a low-level ``boto3.client("dynamodb")``. The condition ``#status = :pending``
    also fails for a missing order, so an update never creates an item. Reads are strongly
    consistent, so the check after a failed condition sees the write that won.
    """

    def __init__(self, table_name: str, client: Any) -> None:
        if not table_name:
            raise ValueError("table_name is required")
        self.table_name = table_name
        self._client = client

    def record_decision(self, order_id: str, decision: Decision, *, timestamp: str, attempts: int) -> bool:
        """Conditionally update the order; return False if it is missing or not PENDING."""
        try:
            self._client.update_item(
                **decision_update(self.table_name, order_id, decision, timestamp=timestamp, attempts=attempts)
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_failure(self, order_id: str, *, error: str, attempts: int, timestamp: str) -> bool:
        """Conditionally note a failed attempt; return False if the order is missing or final."""
        try:
            self._client.update_item(
                **failure_update(self.table_name, order_id, error=error, attempts=attempts, timestamp=timestamp)
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        """Return the order (strongly consistent read), or None."""
        return orderlab_runtime.get_item(self._client, self.table_name, {"orderId": order_id})
