"""Place an order through the real order page (headless Chromium) and keep a screenshot of its final state.

>>> placed = order_through_page(site_url, orders_api, customer_id="cust-001", name="Ada",
...                             items=[("BOOK-1", 2, 12.50)], screenshot_to="confirmed.png")  # doctest: +SKIP
>>> placed.via, placed.status, placed.screenshot                               # doctest: +SKIP
('page', 'CONFIRMED', PosixPath('confirmed.png'))

With Chromium (``helpers.learn.browser``) the form is filled and submitted like a learner would,
and the page itself follows the order (``GET /orders/{id}``) until its final status — and, for a
high-value order, its priority mark. Without it the same order goes through the API
(``orders_api``) and :attr:`PageOrder.note` says so, with the page's URL to open by hand.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.learn.browser import PAGE_POLL_SECONDS, chromium_driver, missing_browser_message, save_screenshot
from helpers.pipeline.orders_api import OrdersApi

__all__ = ["PageOrder", "order_through_page", "show_page_order"]

FINAL = ("CONFIRMED", "REJECTED")


@dataclass(frozen=True)
class PageOrder:
    """One order placed through the page (``via="page"``) or, without a browser, the API (``via="api"``)."""

    order_id: str
    status: str
    reason: str
    priority: str
    detail: str
    via: str
    page_url: str
    screenshot: Path | None = None
    note: str = ""

    def summary(self) -> str:
        facts = [f"order {self.order_id[:8]} is {self.status}"]
        if self.reason:
            facts.append(f"reason: {self.reason}")
        if self.priority:
            facts.append(f"priority {self.priority}")
        how = "placed through the order page in headless Chromium" if self.via == "page" else "placed via the API"
        return f"{'; '.join(facts)} ({how}; the page: {self.page_url})"


def order_through_page(
    page_url: str,
    orders_api: OrdersApi,
    *,
    customer_id: str,
    name: str,
    items: Sequence[tuple[str, int, float]],
    fault: str = "",
    screenshot_to: str | os.PathLike[str] | None = None,
    poll_tries: int = 30,
    timeout: float = 90,
) -> PageOrder:
    """Place one order on the page and wait until the page shows it settled (see the module doc).

    Settled: a final status (and the priority of a high-value order), or the page's own bounded
    polling ending (``poll_tries`` checks, then it says "Timed out: still PENDING").
    """
    problem = missing_browser_message()
    if problem is None:
        return _through_browser(page_url, customer_id, name, items, fault, screenshot_to, poll_tries, timeout)
    return _through_api(page_url, orders_api, customer_id, name, items, fault, timeout, problem)


def _through_browser(
    page_url: str,
    customer_id: str,
    name: str,
    items: Sequence[tuple[str, int, float]],
    fault: str,
    screenshot_to: str | os.PathLike[str] | None,
    poll_tries: int,
    timeout: float,
) -> PageOrder:
    # selenium on use: a browser is optional
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url = f"{page_url}?polltries={poll_tries}"
    with chromium_driver(width=1100, height=900) as driver:
        driver.get(url)
        WebDriverWait(driver, 15, poll_frequency=PAGE_POLL_SECONDS).until(
            lambda d: d.execute_script("return document.documentElement.dataset.ready")
        )
        driver.find_element("id", "customer-id").send_keys(customer_id)
        driver.find_element("id", "customer-name").send_keys(name)
        while len(driver.find_elements("css selector", "#item-rows tr.item-row")) < len(items):
            driver.find_element("id", "add-item").click()
        for row, (sku, quantity, price) in zip(
            driver.find_elements("css selector", "#item-rows tr.item-row"), items, strict=False
        ):
            row.find_element("css selector", ".item-sku").send_keys(sku)
            row.find_element("css selector", ".item-quantity").clear()
            row.find_element("css selector", ".item-quantity").send_keys(str(quantity))
            row.find_element("css selector", ".item-price").send_keys(f"{price:.2f}")
        if fault:
            driver.execute_script("document.querySelector('details.lab-options').open = true")
            Select(driver.find_element("id", "fault")).select_by_value(fault)
        driver.find_element("id", "submit").click()
        settled = "return ['final', 'timeout'].includes(document.getElementById('status-detail').dataset.state)"
        WebDriverWait(driver, timeout, poll_frequency=PAGE_POLL_SECONDS).until(lambda d: d.execute_script(settled))
        facts: dict[str, Any] = driver.execute_script(
            "const t = (id) => document.getElementById(id).textContent;"
            "return {orderId: t('order-id'), status: document.getElementById('order-status').dataset.status,"
            " reason: document.getElementById('status-reason').hidden ? '' : t('status-reason'),"
            " priority: document.getElementById('order-priority').dataset.priority || '',"
            " detail: t('status-detail')}"
        )
        shot = save_screenshot(driver, screenshot_to, full_page=True) if screenshot_to is not None else None
    return PageOrder(
        facts["orderId"],
        facts["status"],
        facts["reason"].removeprefix("Reason: "),
        facts["priority"],
        facts["detail"],
        "page",
        page_url,
        shot,
    )


def _through_api(
    page_url: str,
    orders_api: OrdersApi,
    customer_id: str,
    name: str,
    items: Sequence[tuple[str, int, float]],
    fault: str,
    timeout: float,
    problem: str,
) -> PageOrder:
    order: dict[str, Any] = {
        "customer": {"id": customer_id, "name": name},
        "items": [{"sku": sku, "quantity": quantity, "unitPrice": price} for sku, quantity, price in items],
    }
    if fault:
        order["fault"] = fault
    reply = orders_api.create(order)
    if not reply.ok:
        raise RuntimeError(f"the API refused the order: HTTP {reply.status} {reply.error_message}")
    order_id = str(reply.json["orderId"])
    body: dict[str, Any] = dict(reply.json)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = orders_api.get(order_id).json
        high_value_waiting = body.get("valueTier") == "HIGH" and not body.get("priority")
        if body.get("status") in FINAL and not high_value_waiting:
            break
        time.sleep(0.5)
    note = f"{problem}\nSo this order went through the API instead: open {page_url} to place one on the page yourself."
    return PageOrder(
        order_id,
        str(body.get("status", "")),
        str(body.get("statusReason") or ""),
        str(body.get("priority") or ""),
        "",
        "api",
        page_url,
        None,
        note,
    )


def show_page_order(placed: PageOrder, *, width: int = 800) -> None:
    """In a notebook: the screenshot of the page's final state (or the note saying why there is none),
    then one line of what the page showed."""
    from IPython.display import Image, display

    if placed.screenshot is not None:
        display(Image(filename=str(placed.screenshot), width=width))
    elif placed.note:
        print(placed.note)
    print(placed.summary())
    if placed.detail:
        print(f"the page says: {placed.detail}")
