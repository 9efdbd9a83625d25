"""A small client for the lab's order API (the HTTP API in front of create_order).

>>> api = OrdersApi("http://127.0.0.1:4599/_aws/execute-api/abc123")      # doctest: +SKIP
>>> reply = api.create({"customer": {"id": "c-1", "name": "Ada"},
...                     "items": [{"sku": "BOOK-1", "quantity": 2, "unitPrice": 12.5}]})  # doctest: +SKIP
>>> reply.status, reply.json["status"]                                    # doctest: +SKIP
(201, 'PENDING')
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from helpers.pipeline.step1 import ingestion_status


@dataclass(frozen=True)
class ApiReply:
    """One HTTP exchange with the API: what was sent, what came back, how long it took."""

    method: str
    url: str
    status: int
    json: Any
    headers: Mapping[str, str] = field(repr=False)  # case-insensitive, as HTTP
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_message(self) -> str:
        if isinstance(self.json, dict):
            return str(self.json.get("message", ""))
        return ""


class OrdersApi:
    """POST /orders and GET /orders/{id} with a keep-alive session."""

    @classmethod
    def for_lab(cls, lab, **kwargs: Any) -> OrdersApi:
        """The client for this lab's deployed API (step 1 must be deployed)."""
        url = ingestion_status(lab)["api"].get("orders_url")
        if not url:
            raise RuntimeError(
                f"The order API of prefix {lab.prefix!r} is not deployed: run 01_order_ingestion.ipynb first"
            )
        return cls(url.removesuffix("/orders"), **kwargs)

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _send(self, method: str, path: str, **kwargs: Any) -> ApiReply:
        url = f"{self.base_url}{path}"
        started = time.perf_counter()
        resp = self._http.request(method, url, timeout=self.timeout, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        return ApiReply(method, url, resp.status_code, body, resp.headers, elapsed)

    def create(
        self,
        order: Any,
        *,
        idempotency_key: str | None = None,
        raw_body: str | bytes | None = None,
        content_type: str = "application/json",
    ) -> ApiReply:
        """POST an order (a dict), or ``raw_body`` as is, to show what the API does with bad input."""
        headers = {"Content-Type": content_type}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        data = raw_body if raw_body is not None else json.dumps(order)
        return self._send("POST", "/orders", data=data, headers=headers)

    def get(self, order_id: str) -> ApiReply:
        return self._send("GET", f"/orders/{order_id}")
