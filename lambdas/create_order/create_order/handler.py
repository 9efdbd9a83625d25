"""Lambda entry point for ``POST /orders`` and ``GET /orders/{orderId}`` (HTTP API, payload 2.0).

Handler setting: ``create_order.handler.lambda_handler``. Environment:

- ``ORDERS_TABLE`` (required): DynamoDB table name; the function fails at cold start without it.
- ``HIGH_VALUE_THRESHOLD`` (optional, default 1000): orders whose total is at least this get
  ``valueTier`` ``HIGH``, the others ``STANDARD``.
- ``POWERTOOLS_LOG_LEVEL`` (optional): Powertools log level, ``INFO`` by default.
- ``POWERTOOLS_METRICS_NAMESPACE`` (optional): namespace of the business metrics,
  ``OrderPipelineLab`` by default.

Business metrics (CloudWatch embedded metric format, one JSON line per invocation in the
function's log, dimension ``service=orders``): ``OrdersAccepted`` for every new order and
``HighValueOrders`` for those with ``valueTier`` ``HIGH``. A replayed request counts nothing.

The routes stay thin: validation, ids and shapes live in :mod:`create_order.orders`,
persistence behind :class:`create_order.store.OrderStore`; settings, the DynamoDB client and
timestamps come from ``orderlab_runtime``, the module every handler shares (``lambdas/_shared/``,
copied into each zip). Tests swap the store::

    from create_order import handler
    handler.set_store(my_in_memory_store)
    handler.lambda_handler(event, context)
    handler.set_store(None)  # back to DynamoDB, built lazily
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import orderlab_runtime
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from create_order import orders
from create_order.store import DynamoOrderStore, OrderStore

__all__ = ["app", "get_store", "lambda_handler", "logger", "metrics", "set_store"]

TABLE_NAME = orderlab_runtime.required_env("ORDERS_TABLE", "the DynamoDB orders table name")
# Orders at or above this total get valueTier HIGH (step 4 routes them); a bad value fails the cold start.
HIGH_VALUE_THRESHOLD = orders.parse_threshold(os.environ.get("HIGH_VALUE_THRESHOLD"))

logger = Logger(service="orders")
# EMF: CloudWatch turns the JSON line Powertools prints into metrics, no PutMetricData call
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format.html).
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "OrderPipelineLab"
metrics = Metrics(namespace=METRICS_NAMESPACE, service="orders")
# GET requests and refused orders publish no metric: that is expected, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")
app = APIGatewayHttpResolver()

# Tests inject an in-memory store with set_store; set_store(None) goes back to DynamoDB, built lazily.
_store = orderlab_runtime.Dependency[OrderStore](
    lambda: DynamoOrderStore(TABLE_NAME, orderlab_runtime.client("dynamodb"))
)
get_store, set_store = _store.get, _store.set


def _json(status_code: int, body: Mapping[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers or {},
    )


def _created(item: dict[str, Any], *, replayed: bool) -> Response:
    headers = {"Location": f"/orders/{item['orderId']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(201, orders.created_response(item), headers)


@app.post("/orders")
def create_order() -> Response:
    """Validate, then conditionally write a new order; replay or refuse a reused key."""
    event = app.current_event
    parsed = orders.parse_create_order(
        event.body,
        event.headers,
        is_base64_encoded=bool(event.is_base64_encoded),
    )
    key = parsed.idempotency_key
    order_id = orders.derive_order_id(parsed.request.customer.id, key)
    logger.append_keys(orderId=order_id)
    item = orders.build_order_item(
        parsed.request,
        order_id=order_id,
        created_at=orderlab_runtime.timestamp_now(),
        idempotency_key=key,
        high_value_threshold=HIGH_VALUE_THRESHOLD,
    )

    store = get_store()
    if store.put_new(item):
        logger.info(
            "Order created",
            extra={"total": str(item["total"]), "itemCount": item["itemCount"], "valueTier": item.get("valueTier")},
        )
        metrics.add_metric(name="OrdersAccepted", unit=MetricUnit.Count, value=1)
        # Metadata, not a dimension: the order id is searchable in the EMF log line without creating
        # one metric per order (every dimension value is a separate, billed metric).
        metrics.add_metadata(key="orderId", value=order_id)
        if item.get("valueTier") == "HIGH":
            metrics.add_metric(name="HighValueOrders", unit=MetricUnit.Count, value=1)
        return _created(item, replayed=False)

    existing = store.get(order_id)
    if key is None or existing is None:
        # A random uuid4 collided, or the order vanished between put and get: not the client's fault.
        raise RuntimeError(f"Order {order_id} already exists but could not be replayed")
    if existing.get("requestHash") != item["requestHash"]:
        logger.info("Idempotency key reused with a different request")
        raise orders.IdempotencyConflict(key)
    logger.info("Idempotent replay of an existing order")
    return _created(existing, replayed=True)


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    """Return one order, 404 if unknown."""
    canonical_id = orders.parse_order_id(order_id)
    logger.append_keys(orderId=canonical_id)
    item = get_store().get(canonical_id)
    if item is None:
        return _json(404, {"message": f"Order {canonical_id} not found"})
    return _json(200, orders.to_api(item))


@app.exception_handler(orders.ValidationFailure)
def _invalid_request(failure: orders.ValidationFailure) -> Response:
    logger.info("Rejected invalid request", extra={"errors": failure.errors})
    return _json(400, failure.to_body())


@app.exception_handler(orders.IdempotencyConflict)
def _idempotency_conflict(conflict: orders.IdempotencyConflict) -> Response:
    return _json(422, conflict.to_body())


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: route the HTTP API event."""
    return app.resolve(event, context)
