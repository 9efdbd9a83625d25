"""The lab's order form (ipywidgets): the same form in every notebook.

It posts through the real HTTP API and shows the reply. Every step can add its own
switches (e.g. "fail transiently", "poison") as extra fields of the order. For headless
runs the form is driven from code — ``fill()`` then ``submit()`` — exactly as a click does.

>>> form = OrderForm(api)                                   # doctest: +SKIP
>>> form                                                    # renders in Jupyter  # doctest: +SKIP
>>> form.fill(customer_id="c-1", name="Ada", items=[("BOOK-1", 2, 12.5)])  # doctest: +SKIP
>>> form.submit().status                                    # doctest: +SKIP
201
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

import ipywidgets as w
from IPython.display import HTML, display

from helpers.pipeline.orders_api import ApiReply, OrdersApi


class _ItemRow:
    def __init__(self, sku: str = "", quantity: int = 1, unit_price: float = 0.0, on_remove=None) -> None:
        self.sku = w.Text(value=sku, placeholder="SKU e.g. BOOK-1", layout=w.Layout(width="12em"))
        self.quantity = w.BoundedIntText(value=quantity, min=-1000, max=100000, layout=w.Layout(width="7em"))
        self.unit_price = w.BoundedFloatText(
            value=unit_price, min=-1e6, max=1e6, step=0.01, layout=w.Layout(width="9em")
        )
        self.remove = w.Button(description="✕", tooltip="remove this item", layout=w.Layout(width="3em"))
        if on_remove:
            self.remove.on_click(lambda _: on_remove(self))
        self.box = w.HBox([self.sku, self.quantity, self.unit_price, self.remove])

    def as_dict(self) -> dict[str, Any]:
        return {"sku": self.sku.value, "quantity": self.quantity.value, "unitPrice": round(self.unit_price.value, 2)}


class OrderForm:
    """An order form that posts to the API; ``replies`` keeps every reply it got."""

    def __init__(self, api: OrdersApi, *, extra_fields: dict[str, w.ValueWidget] | None = None) -> None:
        self.api = api
        self.replies: list[ApiReply] = []
        self.customer_id = w.Text(value="cust-001", description="Customer id")
        self.name = w.Text(value="Ada Lovelace", description="Name")
        self.email = w.Text(value="", description="Email", placeholder="optional")
        self.idempotency = w.Checkbox(value=True, description="Send an Idempotency-Key (safe retries)")
        self.extra_fields = dict(extra_fields or {})
        self.rows: list[_ItemRow] = []
        self.rows_box = w.VBox()
        self.total = w.HTML()
        self.add_button = w.Button(description="Add item", icon="plus")
        self.add_button.on_click(lambda _: self.add_item())
        self.submit_button = w.Button(description="Place order", button_style="primary", icon="shopping-cart")
        self.submit_button.on_click(lambda _: self.submit())
        self.retry_button = w.Button(description="Retry last POST", tooltip="send the same request again")
        self.retry_button.on_click(lambda _: self.retry())
        self.output = w.Output(layout=w.Layout(border="1px solid #ddd", padding="4px", min_height="3em"))
        self._last: tuple[dict[str, Any], str | None] | None = None
        self.add_item("BOOK-1", 2, 12.50)
        header = w.HTML("<b>Items</b> (SKU · quantity · unit price)")
        self.widget = w.VBox(
            [
                w.HTML("<h4>New order</h4>"),
                self.customer_id,
                self.name,
                self.email,
                header,
                self.rows_box,
                w.HBox([self.add_button, self.total]),
                *self.extra_fields.values(),
                self.idempotency,
                w.HBox([self.submit_button, self.retry_button]),
                self.output,
            ]
        )

    def _ipython_display_(self) -> None:
        display(self.widget)

    # -- editing ---------------------------------------------------------
    def add_item(self, sku: str = "", quantity: int = 1, unit_price: float = 0.0) -> None:
        row = _ItemRow(sku, quantity, unit_price, on_remove=self.remove_item)
        for field_widget in (row.sku, row.quantity, row.unit_price):
            field_widget.observe(lambda _: self._update_total(), names="value")
        self.rows.append(row)
        self._refresh_rows()

    def remove_item(self, row: _ItemRow) -> None:
        self.rows.remove(row)
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        self.rows_box.children = [r.box for r in self.rows]
        self._update_total()

    def _update_total(self) -> None:
        total = sum(r.quantity.value * r.unit_price.value for r in self.rows)
        self.total.value = f"&nbsp;&nbsp;Total (computed again by the server): <b>{total:,.2f}</b>"

    def fill(
        self, *, customer_id: str, name: str, items: Iterable[tuple[str, int, float]], email: str = "", **extra: Any
    ) -> OrderForm:
        """Set every field from code (what a learner does by typing)."""
        self.customer_id.value, self.name.value, self.email.value = customer_id, name, email
        self.rows = []
        for sku, quantity, price in items:
            self.add_item(sku, quantity, price)
        for key, value in extra.items():
            self.extra_fields[key].value = value
        return self

    def order(self) -> dict[str, Any]:
        """The order the form would send now."""
        customer = {"id": self.customer_id.value, "name": self.name.value}
        if self.email.value:
            customer["email"] = self.email.value
        order: dict[str, Any] = {"customer": customer, "items": [r.as_dict() for r in self.rows]}
        for key, widget in self.extra_fields.items():
            if widget.value not in (None, "", False):
                order[key] = widget.value
        return order

    # -- sending ---------------------------------------------------------
    def submit(self) -> ApiReply:
        """POST the order through the API and show the reply under the form."""
        order = self.order()
        key = str(uuid.uuid4()) if self.idempotency.value else None
        self._last = (order, key)
        return self._send(order, key)

    def retry(self) -> ApiReply | None:
        """Send the last request again (same Idempotency-Key): the API must not create a second order."""
        if self._last is None:
            self._show(text="Nothing to retry yet: place an order first.")
            return None
        return self._send(*self._last)

    def _send(self, order: dict[str, Any], key: str | None) -> ApiReply:
        try:
            reply = self.api.create(order, idempotency_key=key)
        except Exception as exc:  # network trouble: say so in the form, keep the kernel alive
            self._show(text=f"Could not reach the API at {self.api.base_url}: {exc}")
            raise
        self.replies.append(reply)
        self._show(html=render_reply(reply))
        return reply

    def _show(self, *, text: str = "", html: str = "") -> None:
        """Replace what the form's output area shows.

        The widget's state is set directly instead of capturing output with ``with self.output:``,
        which makes headless runs (nbclient) send widget messages back to the kernel mid-cell.
        """
        self.output.outputs = ()
        if html:
            self.output.append_display_data(HTML(html))
        if text:
            self.output.append_stdout(text + "\n")


def render_reply(reply: ApiReply) -> str:
    """An API reply as a small HTML block (green for 2xx, red otherwise); text is escaped."""
    import html

    colour = "#1a7f37" if reply.ok else "#cf222e"
    body = json.dumps(reply.json, indent=2) if not isinstance(reply.json, str) else reply.json
    replay = " · replayed (Idempotency-Key)" if reply.headers.get("Idempotent-Replayed") == "true" else ""
    return (
        f"<div style='color:{colour}'><b>HTTP {reply.status}</b> in {reply.elapsed_ms:.0f} ms{replay}</div>"
        f"<pre style='margin:0'>{html.escape(body)}</pre>"
    )


def fault_selector(value: str = "") -> w.Dropdown:
    """The lab's fault-injection switch, an extra field of the order form (steps 3 and 5).

    ``transient``: the worker fails a few times, then succeeds (retries at work);
    ``poison``: the worker always fails (the order ends in the dead-letter queue).
    """
    return w.Dropdown(
        options=[("none", ""), ("fail transiently", "transient"), ("poison (always fails)", "poison")],
        value=value,
        description="Fault",
    )
