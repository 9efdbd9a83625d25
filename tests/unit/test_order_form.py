"""The order form shows each reply in its output area without capturing output (helpers/learn/widgets.py).

Capturing (``with output:``) makes headless runs send widget messages back to the kernel in the
middle of a cell, the trigger of the class-run hang; the form sets the widget's state instead.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from helpers.learn.widgets import OrderForm
from helpers.pipeline.orders_api import ApiReply


class _Api:
    base_url = "http://127.0.0.1:1/_aws/execute-api/demo"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[dict[str, Any], str | None]] = []

    def create(self, order: dict[str, Any], *, idempotency_key: str | None = None) -> ApiReply:
        if self.fail:
            raise requests.ConnectionError("connection refused")
        self.sent.append((order, idempotency_key))
        return ApiReply(
            "POST", f"{self.base_url}/orders", 201, {"orderId": "o-1", "status": "PENDING"}, CaseInsensitiveDict()
        )


def _shown(form: OrderForm) -> str:
    return "".join(str(out.get("data", {}).get("text/html", "")) + out.get("text", "") for out in form.output.outputs)


def test_a_reply_replaces_what_the_form_shows_without_capturing_output() -> None:
    api = _Api()
    form = OrderForm(api).fill(customer_id="c-1", name="Ada", items=[("BOOK-1", 2, 12.5)])

    first = form.submit()
    again = form.retry()

    assert first.status == 201 and again is not None
    assert api.sent[0] == api.sent[1] and api.sent[0][1]  # the retry re-sends the same Idempotency-Key
    assert len(form.output.outputs) == 1 and "HTTP 201" in _shown(form) and "o-1" in _shown(form)
    assert form.output.msg_id == ""  # never switched into capture mode


def test_retry_before_any_order_says_so() -> None:
    form = OrderForm(_Api())

    assert form.retry() is None
    assert "Nothing to retry yet" in _shown(form)


def test_network_trouble_is_shown_in_the_form_and_raised() -> None:
    form = OrderForm(_Api(fail=True))

    with pytest.raises(requests.ConnectionError):
        form.submit()
    assert "Could not reach the API" in _shown(form) and "connection refused" in _shown(form)
