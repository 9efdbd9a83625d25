"""The order API's OpenAPI 3.1 document, generated from create_order's own pydantic models.

>>> document = build_document()
>>> sorted(document["paths"]), document["openapi"]
(['/orders', '/orders/{orderId}'], '3.1.0')
>>> document["components"]["schemas"]["OrderLine"]["properties"]["quantity"]["maximum"]
1000

The request schema is ``CreateOrderRequest.model_json_schema()``; the answers are the handler's own
shapes (``CreatedOrder``, ``OrderView``, ``ErrorBody``, ``MessageBody`` in
``lambdas/create_order/create_order/orders.py``); the paths are :data:`helpers.pipeline.step1.ROUTES`. So a
rule changes in one place, the handler, and the document follows. It is kept as
``frontend/openapi.json``: the order page reads its client-side rules from it and the page server
serves it next to the page (with the API's URL as its server, :func:`document_for`). After changing
the handler's models, regenerate it (a unit test fails until you do)::

    .venv/bin/python -m helpers.pipeline.openapi            # rewrites frontend/openapi.json
    .venv/bin/python -m helpers.pipeline.openapi --check    # exit 1 if it is stale
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from types import ModuleType
from typing import Any, Literal

from helpers.aws.apigateway import DEFAULT_THROTTLING_BURST_LIMIT, DEFAULT_THROTTLING_RATE_LIMIT
from helpers.aws.packaging import REPO_ROOT
from helpers.pipeline.step1 import CREATE_ORDER_DIR, ROUTES

__all__ = ["DOCUMENT_PATH", "OPENAPI_VERSION", "build_document", "document_for", "main", "render"]

DOCUMENT_PATH = REPO_ROOT / "frontend" / "openapi.json"
OPENAPI_VERSION = "3.1.0"  # JSON Schema 2020-12, the dialect pydantic writes
REGENERATE = ".venv/bin/python -m helpers.pipeline.openapi"
_REF = "#/components/schemas/{model}"
_JSON = "application/json"


def _orders() -> ModuleType:
    """create_order's pure module, imported from its Lambda folder (it has no side effects)."""
    if str(CREATE_ORDER_DIR) not in sys.path:
        sys.path.append(str(CREATE_ORDER_DIR))
    return importlib.import_module("create_order.orders")


def _schemas(orders: ModuleType) -> dict[str, Any]:
    """components.schemas: the request model (validation mode) and the answers (serialization mode)."""
    from pydantic import TypeAdapter

    shapes: dict[str, tuple[Literal["validation", "serialization"], Any]] = {
        "CreateOrderRequest": ("validation", orders.CreateOrderRequest),
        "CreatedOrder": ("serialization", orders.CreatedOrder),
        "OrderView": ("serialization", orders.OrderView),
        "ErrorBody": ("serialization", orders.ErrorBody),
        "MessageBody": ("serialization", orders.MessageBody),
    }
    top, definitions = TypeAdapter.json_schemas(
        [(name, mode, TypeAdapter(shape)) for name, (mode, shape) in shapes.items()], ref_template=_REF
    )
    schemas = dict(definitions.get("$defs", {}))
    for (name, _mode), schema in top.items():
        if "$ref" not in schema:  # a model that is already a definition comes back as a $ref to it
            schemas[name] = schema
    return dict(sorted(schemas.items()))


def _json_response(description: str, schema: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": _REF.format(model=schema)}}}, **extra}


def _responses(orders: ModuleType) -> dict[str, Any]:
    """components.responses shared by both operations: what API Gateway itself may answer."""
    retry = f"Retrying with the same `{orders.IDEMPOTENCY_HEADER}` is safe."
    return {
        "Throttled": _json_response(
            "Too Many Requests: API Gateway's stage throttle (the lab sets "
            f"{DEFAULT_THROTTLING_RATE_LIMIT:g} requests/s, burst {DEFAULT_THROTTLING_BURST_LIMIT}); the function "
            "did not run. The local cloud stores the throttle but does not enforce it. " + retry,
            "MessageBody",
        ),
        "InternalError": _json_response(
            "Internal Server Error: the function failed (an unexpected error such as a DynamoDB failure, or a "
            'timeout); API Gateway answers `{"message": "Internal Server Error"}` and never the error itself. ' + retry,
            "MessageBody",
        ),
        "Unavailable": _json_response(
            "Service Unavailable: the API cannot take the request now (the local cloud answers it while it "
            "restarts, with `Retry-After`). " + retry,
            "MessageBody",
            headers={"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}},
        ),
    }


def _create_order(orders: ModuleType) -> dict[str, Any]:
    key = orders.IDEMPOTENCY_HEADER
    return {
        "operationId": "createOrder",
        "summary": "Place an order",
        "description": (
            "Validates the order, computes its total server-side and stores it with status `PENDING`. "
            f"Without `{key}` every call creates a new order. With it, a retry of the same request "
            "returns the first answer again and writes nothing; the same key with a different request "
            "is a `422`. A refused request writes nothing."
        ),
        "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
        "requestBody": {
            "required": True,
            "description": (
                f"At most {orders.MAX_BODY_BYTES} bytes. Unknown fields (`total` included) are refused; "
                'numbers must be JSON numbers (`"2"`, `2.0` and `true` are not a quantity).'
            ),
            "x-max-body-bytes": orders.MAX_BODY_BYTES,
            "content": {
                _JSON: {
                    "schema": {"$ref": _REF.format(model="CreateOrderRequest")},
                    "example": {
                        "customer": {"id": "cust-123", "name": "Ada Lovelace", "email": "ada@example.com"},
                        "items": [
                            {"sku": "BOOK-001", "quantity": 2, "unitPrice": 19.99},
                            {"sku": "PEN_42", "quantity": 1, "unitPrice": 5.0},
                        ],
                        "currency": "EUR",
                    },
                }
            },
        },
        "responses": {
            "201": _json_response(
                "Created. Also the answer to a retry (same key, same request): the first body again, with "
                "`Idempotent-Replayed: true`, and nothing written.",
                "CreatedOrder",
                headers={
                    "Location": {"description": "`/orders/{orderId}`", "schema": {"type": "string"}},
                    "Idempotent-Replayed": {
                        "description": "`true` on an idempotent replay, absent otherwise",
                        "schema": {"type": "string", "enum": ["true"]},
                    },
                },
                links={
                    "GetOrder": {
                        "operationId": "getOrder",
                        "parameters": {"orderId": "$response.body#/orderId"},
                        "description": "Follow the order's status",
                    }
                },
            ),
            "400": _json_response(
                "Invalid request; nothing is written. `errors` lists every problem; each `field` is a path into "
                "the body (`customer.id`, `items[1].unitPrice`, or an unknown field's name), `body` (missing, not "
                f"UTF-8 JSON, not an object, larger than {orders.MAX_BODY_BYTES} bytes) or `{key}`.",
                "ErrorBody",
            ),
            "422": _json_response(
                f"`{key}` was already used with a different request; nothing is written. The error's `field` is "
                f"`{key}`: send a new key for a new order.",
                "ErrorBody",
            ),
            "429": {"$ref": "#/components/responses/Throttled"},
            "500": {"$ref": "#/components/responses/InternalError"},
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }


def _get_order() -> dict[str, Any]:
    return {
        "operationId": "getOrder",
        "summary": "Read an order and its current status",
        "parameters": [{"$ref": "#/components/parameters/OrderId"}],
        "responses": {
            "200": _json_response("The order. Attributes added by later pipeline steps pass through.", "OrderView"),
            "400": _json_response("`orderId` is not a UUID; the error's `field` is `orderId`.", "ErrorBody"),
            "404": _json_response("No such order (or no such route).", "MessageBody"),
            "429": {"$ref": "#/components/responses/Throttled"},
            "500": {"$ref": "#/components/responses/InternalError"},
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }


def build_document() -> dict[str, Any]:
    """The OpenAPI document of the order API, without ``servers`` (each deployment has its own URL)."""
    from importlib.metadata import version

    orders = _orders()
    operations = {"POST /orders": _create_order(orders), "GET /orders/{orderId}": _get_order()}
    if set(operations) != set(ROUTES):
        raise RuntimeError(f"The document describes {sorted(operations)} but the API has the routes {sorted(ROUTES)}")
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        method, path = route.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = operations[route]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Order Pipeline Lab: order API",
            "version": version("orderlab"),
            "description": (
                "Step 1 of the lab's order pipeline: an API Gateway HTTP API in front of the create_order "
                "Lambda function. Generated from the handler's models by `helpers.pipeline.openapi`; do not edit."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(orders),
            "parameters": {
                "IdempotencyKey": {
                    "name": orders.IDEMPOTENCY_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Makes the request safe to retry: the same key and request give the same order.",
                    "schema": {"type": "string", "pattern": orders.IDEMPOTENCY_KEY_PATTERN},
                },
                "OrderId": {
                    "name": "orderId",
                    "in": "path",
                    "required": True,
                    "description": "The `orderId` of the `201` answer (a UUID; either case).",
                    "schema": {"type": "string", "pattern": orders.ORDER_ID_PATTERN},
                },
            },
            "responses": _responses(orders),
        },
    }


def document_for(api_url: str) -> dict[str, Any]:
    """The kept document with ``servers`` set to one deployment's base URL (what the page server serves).

    >>> document_for("http://127.0.0.1:4599/_aws/execute-api/abc/")["servers"]
    [{'url': 'http://127.0.0.1:4599/_aws/execute-api/abc'}]
    """
    document = copy.deepcopy(json.loads(DOCUMENT_PATH.read_text(encoding="utf-8")))
    document["servers"] = [{"url": api_url.rstrip("/").removesuffix("/orders")}]
    return document


def render(document: dict[str, Any]) -> str:
    """The document as kept in the repository: indented JSON with a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.pipeline.openapi [--check]``: (re)write ``frontend/openapi.json``, or check it is fresh."""
    import argparse

    parser = argparse.ArgumentParser(description="Generate the order API's OpenAPI document from its handler's models.")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the kept file is stale")
    args = parser.parse_args(argv)
    fresh = render(build_document())
    kept = DOCUMENT_PATH.read_text(encoding="utf-8") if DOCUMENT_PATH.exists() else ""
    relative = DOCUMENT_PATH.relative_to(REPO_ROOT)
    if args.check:
        if kept != fresh:
            print(f"{relative} is stale: regenerate it with `{REGENERATE}`", file=sys.stderr)
            return 1
        print(f"{relative} is up to date")
        return 0
    if kept != fresh:
        DOCUMENT_PATH.write_text(fresh, encoding="utf-8")
        print(f"wrote {relative}")
    else:
        print(f"{relative} was already up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
