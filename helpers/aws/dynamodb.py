"""The orders table: DynamoDB, on demand, keyed by ``orderId``.

>>> table = ensure_orders_table(lab)          # doctest: +SKIP
>>> table.name, table.arn                    # doctest: +SKIP
('alice-orders', 'arn:aws:dynamodb:us-east-1:123456789012:table/alice-orders')

Calling it again converges: no second table, tags put back if someone removed them,
on-demand billing restored if it was switched. A table that exists with another key schema
is an error (a key schema cannot be changed in place): the message says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, tags_missing
from helpers.core.naming import tag_list
from helpers.core.waiters import wait_table_active, wait_table_deleted

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "ORDERS_KEY",
    "TableInfo",
    "TableSchemaMismatch",
    "describe_table",
    "ensure_orders_table",
    "orders_table_parameters",
]

ORDERS_KEY = "orderId"
StreamViewType = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]


class TableSchemaMismatch(RuntimeError):
    """A table of that name exists with a key schema other than the one the lab needs."""


@dataclass(frozen=True)
class TableInfo:
    """A DynamoDB table of the lab. ``stream_arn`` is set once Streams are enabled (step 02)."""

    name: str
    arn: str
    status: str = "ACTIVE"
    stream_arn: str | None = None


def describe_table(lab: Lab, name: str) -> dict[str, Any] | None:
    """DescribeTable's ``Table``, or None when the table does not exist."""
    try:
        return lab.client("dynamodb").describe_table(TableName=name)["Table"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _table_tags(ddb: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn):
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return tags


def _key_schema_of(table: dict[str, Any]) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    return [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?")) for k in table["KeySchema"]]


def _info(table: dict[str, Any]) -> TableInfo:
    streaming = table.get("StreamSpecification", {}).get("StreamEnabled")
    return TableInfo(
        table["TableName"],
        table["TableArn"],
        table.get("TableStatus", "ACTIVE"),
        table.get("LatestStreamArn") if streaming else None,
    )


def orders_table_parameters(name: str, *, stream_view_type: StreamViewType | None = None) -> dict[str, Any]:
    """CreateTable's parameters for the orders table (without tags): on demand, hash key ``orderId`` (S).

    >>> orders_table_parameters("a-orders", stream_view_type="NEW_AND_OLD_IMAGES")["StreamSpecification"]
    {'StreamEnabled': True, 'StreamViewType': 'NEW_AND_OLD_IMAGES'}
    """
    params: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": ORDERS_KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": ORDERS_KEY, "KeyType": "HASH"}],
    }
    if stream_view_type:
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream_view_type}
    return params


def ensure_orders_table(
    lab: Lab,
    name: str | None = None,
    *,
    stream_view_type: StreamViewType | None = None,
    timeout: float = 300,
) -> TableInfo:
    """Create the orders table if needed (PAY_PER_REQUEST, hash key ``orderId`` S, tagged); wait ACTIVE.

    ``name`` defaults to ``lab.name("orders")``. ``stream_view_type`` turns DynamoDB Streams on
    with that view (step 02); None leaves the stream setting as it is.

    >>> ensure_orders_table(lab, stream_view_type="NEW_AND_OLD_IMAGES").stream_arn   # doctest: +SKIP
    'arn:aws:dynamodb:us-east-1:123456789012:table/alice-orders/stream/2024-...'
    """
    name = name or lab.name("orders")
    ddb = lab.client("dynamodb")
    wanted_schema = [(ORDERS_KEY, "HASH", "S")]
    table = describe_table(lab, name)

    if table is not None and table["TableStatus"] == "DELETING":
        wait_table_deleted(ddb, name, timeout=timeout)
        table = None
    if table is None:
        params = {**orders_table_parameters(name, stream_view_type=stream_view_type), "Tags": tag_list(lab.tags)}
        try:
            ddb.create_table(**params)
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":  # created meanwhile by another run
                raise
        wait_table_active(ddb, name, timeout=timeout)
        table = describe_table(lab, name)
        assert table is not None
    elif table["TableStatus"] != "ACTIVE":
        wait_table_active(ddb, name, timeout=timeout)
        table = describe_table(lab, name) or table

    schema = _key_schema_of(table)
    if schema != wanted_schema:
        raise TableSchemaMismatch(
            f"DynamoDB table {name} exists with key schema {schema}, but the lab needs "
            f"{wanted_schema} (hash key {ORDERS_KEY!r}, type S). A key schema cannot be changed: "
            f"delete the table (or run cleanup for prefix {lab.prefix!r}) and run this again, "
            "or pass another table name."
        )

    update: dict[str, Any] = {}
    if table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") != "PAY_PER_REQUEST":
        update["BillingMode"] = "PAY_PER_REQUEST"
    stream = table.get("StreamSpecification") or {}
    if stream_view_type and (not stream.get("StreamEnabled") or stream.get("StreamViewType") != stream_view_type):
        if stream.get("StreamEnabled"):
            # The view type of an enabled stream cannot be changed in one step: disable first.
            ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
            wait_table_active(ddb, name, timeout=timeout)
        update["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream_view_type}
    if update:
        ddb.update_table(TableName=name, **update)
        wait_table_active(ddb, name, timeout=timeout)
        table = describe_table(lab, name) or table

    missing = tags_missing(_table_tags(ddb, table["TableArn"]), lab.tags)
    if missing:
        ddb.tag_resource(ResourceArn=table["TableArn"], Tags=tag_list(missing))
    return _info(table)
