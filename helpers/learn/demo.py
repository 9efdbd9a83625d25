"""Demo data and checks for step 1 (order ingestion), shared by notebooks and tests.

>>> replies = send_burst(api, 25)                           # doctest: +SKIP
>>> check_ingestion(lab, api, table_name).done()            # doctest: +SKIP
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from helpers.core.progress import progress_bar
from helpers.learn.checks import Checklist
from helpers.pipeline.orders import random_order
from helpers.pipeline.orders_api import ApiReply, OrdersApi
from helpers.pipeline.step1 import ingestion_status

VALID_ORDER: dict[str, Any] = {
    "customer": {"id": "cust-001", "name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [{"sku": "BOOK-1", "quantity": 2, "unitPrice": 12.50}, {"sku": "PEN-7", "quantity": 3, "unitPrice": 1.99}],
}
VALID_ORDER_TOTAL = "30.97"


@dataclass(frozen=True)
class BadRequest:
    """One malformed request and the field the API must name in its 400."""

    label: str
    field: str
    order: Any = None
    raw_body: str | None = None
    idempotency_key: str | None = None

    def send(self, api: OrdersApi) -> ApiReply:
        return api.create(self.order, raw_body=self.raw_body, idempotency_key=self.idempotency_key)


def _with_item(**changes: Any) -> dict[str, Any]:
    return {"customer": VALID_ORDER["customer"], "items": [{"sku": "BOOK-1", "quantity": 1, "unitPrice": 5, **changes}]}


BAD_REQUESTS: list[BadRequest] = [
    BadRequest("malformed JSON", "body", raw_body='{"customer": {"id": "c-1",'),
    BadRequest("JSON that is not an object", "body", order=[1, 2, 3]),
    BadRequest("no items", "items", order={"customer": VALID_ORDER["customer"], "items": []}),
    BadRequest("negative quantity", "items[0].quantity", order=_with_item(quantity=-2)),
    BadRequest("quantity as text", "items[0].quantity", order=_with_item(quantity="2")),
    BadRequest("price with 3 decimals", "items[0].unitPrice", order=_with_item(unitPrice=1.999)),
    BadRequest(
        "missing customer id", "customer.id", order={"customer": {"name": "Ada"}, "items": VALID_ORDER["items"]}
    ),
    BadRequest("client-sent total", "total", order={**VALID_ORDER, "total": 0.01}),
    BadRequest(
        "oversized body", "body", order={**VALID_ORDER, "customer": {**VALID_ORDER["customer"], "name": "x" * 20000}}
    ),
    BadRequest("bad Idempotency-Key", "Idempotency-Key", order=VALID_ORDER, idempotency_key="k" * 300),
]


def send_burst(api: OrdersApi, count: int, *, seed: int = 7, progress: bool = True) -> list[ApiReply]:
    """POST ``count`` random orders one after the other (each with its own Idempotency-Key)."""
    rng = random.Random(seed)
    replies = []
    for _ in progress_bar(range(count), desc="POST /orders", disable=not progress):
        replies.append(api.create(random_order(rng), idempotency_key=str(uuid.uuid4())))
    return replies


def count_items(lab, table_name: str) -> int:
    """How many items the table holds (a consistent, paginated Scan with Select=COUNT)."""
    paginator = lab.client("dynamodb").get_paginator("scan")
    return sum(page["Count"] for page in paginator.paginate(TableName=table_name, Select="COUNT", ConsistentRead=True))


def check_ingestion(lab, api: OrdersApi, table_name: str) -> Checklist:
    """Everything step 1 promises, checked end to end through the real API."""
    check = Checklist("Step 1 · order ingestion")
    status = ingestion_status(lab)
    check.expect(
        status["ready"],
        "table, function and HTTP API are deployed",
        hint=f"missing: {', '.join(status['missing'])} — run the cells of steps 1-3 again",
    )
    if not status["ready"]:
        return check

    key = str(uuid.uuid4())
    created = api.create(VALID_ORDER, idempotency_key=key)
    check.expect(
        created.status == 201,
        f"POST /orders with a valid order answers 201 (got {created.status})",
        hint=f"the reply was {created.json!r}; look at the function's log group /aws/lambda/{lab.name('create-order')}",
    )
    if created.status != 201:
        return check
    order_id = created.json["orderId"]
    item = (
        lab.client("dynamodb")
        .get_item(TableName=table_name, Key={"orderId": {"S": order_id}}, ConsistentRead=True)
        .get("Item")
    )
    # Stored PENDING; when steps 2-3 are deployed too, the worker may already have decided it (in ~10 ms).
    stored = (item or {}).get("status", {}).get("S")
    decided_by_worker = stored in ("CONFIRMED", "REJECTED") and "processedAt" in (item or {})
    check.expect(
        stored == "PENDING" or decided_by_worker,
        "the order is stored with status PENDING (or already decided by step 3's worker)",
        hint="the function answered 201 but the item is not in the table: check ORDERS_TABLE"
        if item is None
        else f"it is stored with status {stored!r}",
    )
    check.expect(created.json.get("total") == VALID_ORDER_TOTAL, f"the server computed the total ({VALID_ORDER_TOTAL})")

    before = count_items(lab, table_name)
    replay = api.create(VALID_ORDER, idempotency_key=key)
    check.expect(
        replay.json.get("orderId") == order_id and count_items(lab, table_name) == before,
        "a retried POST with the same Idempotency-Key returns the same order and writes nothing",
    )

    refused = [(bad, bad.send(api)) for bad in BAD_REQUESTS]
    wrong = [
        bad.label
        for bad, reply in refused
        if reply.status != 400 or bad.field not in {e.get("field") for e in reply.json.get("errors", [])}
    ]
    check.expect(
        not wrong,
        f"all {len(BAD_REQUESTS)} bad requests get a 400 naming the field",
        hint=f"these did not: {', '.join(wrong)}",
    )
    check.expect(count_items(lab, table_name) == before, "bad requests wrote nothing")

    fetched = api.get(order_id)
    check.expect(
        fetched.status == 200 and fetched.json.get("orderId") == order_id, "GET /orders/{id} returns the order"
    )
    missing = api.get(str(uuid.uuid4()))
    check.expect(missing.status == 404, "GET of an unknown order answers 404")
    return check
