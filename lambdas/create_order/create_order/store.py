"""Persistence for orders: the :class:`OrderStore` protocol and its DynamoDB implementation.

Items cross this boundary as plain Python data (``str``, ``int``, ``Decimal``, ``dict``,
``list``); DynamoDB's typed JSON (``{"S": ...}``, ``{"N": ...}``) stays inside
:class:`DynamoOrderStore`::

    import boto3
    store = DynamoOrderStore("orders", boto3.client("dynamodb"))
    if not store.put_new({"orderId": "o-1", "total": Decimal("9.99")}):
        existing = store.get("o-1")  # it was already there
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orderlab_runtime

__all__ = ["DynamoOrderStore", "OrderStore"]


class OrderStore(Protocol):
    """Where orders live. Implementations must be safe to call with the same id twice."""

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Store ``item`` unless an order with its ``orderId`` exists; return False if it did."""
        ...

    def get(self, order_id: str) -> dict[str, Any] | None:
        """Return the order with ``order_id`` (numbers as Decimal), or None."""
        ...


class DynamoOrderStore:
    """:class:`OrderStore` backed by a DynamoDB table whose partition key is ``orderId`` (S).

    ``client`` is a low-level ``boto3.client("dynamodb")``. Writes are conditional
    (``attribute_not_exists(orderId)``), so an existing order is never overwritten;
    reads are strongly consistent, so a retry sees the write that beat it.
    """

    def __init__(self, table_name: str, client: Any) -> None:
        # Imported here so that modules importing this one never need boto3 themselves.
        from boto3.dynamodb.types import TypeSerializer

        if not table_name:
            raise ValueError("table_name is required")
        self.table_name = table_name
        self._client = client
        self._serializer = TypeSerializer()

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Conditionally put ``item``; return False if ``orderId`` was already taken."""
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=self._serialize(item),
                ConditionExpression="attribute_not_exists(orderId)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        """Return the item for ``order_id`` (strongly consistent read), or None."""
        return orderlab_runtime.get_item(self._client, self.table_name, {"orderId": order_id})

    def _serialize(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self._serializer.serialize(value) for name, value in item.items()}
