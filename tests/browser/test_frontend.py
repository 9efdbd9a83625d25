"""The order page (frontend/) in a real headless Chromium, against the real local API and pipeline.

Deploys steps 1-3 and 5 (``deploy_pipeline``) so orders reach CONFIRMED / REJECTED, publishes the
page with ``publish_frontend`` on a free port (served by a page process of its own; the API's CORS
origin follows it), then drives the page through chromedriver: a valid order reaches CONFIRMED (a
double click makes one order), client-side validation stops a bad order before it is sent (with the
rules of the served ``openapi.json``), the API's 400 is shown next to the fields (``?novalidate=1``),
an XSS attempt is displayed as text, a REJECTED order shows its reason, a copy of the page on another origin is
refused by CORS, and — with step 4 deployed last — a high-value order shows its priority. Every
wait is bounded; a screenshot of each state goes to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudtest import free_port

from helpers import Lab
from helpers.learn.demo import count_items
from helpers.learn.frontend import (
    CONFIG_FILE,
    FRONTEND_DIR,
    OPENAPI_FILE,
    FrontendServer,
    config_js,
    deploy_frontend_s3,
    frontend_bucket_name,
    origin_of,
    serve_frontend,
)
from helpers.learn.page import page_status, publish_frontend, stop_page
from helpers.pipeline.openapi import DOCUMENT_PATH
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.step5 import PipelineStack, deploy_pipeline

pytestmark = [pytest.mark.cloud, pytest.mark.browser, pytest.mark.long]

FINAL_TIMEOUT = 30  # seconds for an order to reach its final status on the page
XSS_NAME = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(lab: Lab, site_port: int) -> PipelineStack:
    return deploy_pipeline(lab, cors_allow_origins=[f"http://127.0.0.1:{site_port}"])


@pytest.fixture(scope="module")
def site(lab: Lab, stack: PipelineStack, site_port: int) -> Iterator[str]:
    url = publish_frontend(lab, stack.api.endpoint_url, port=site_port)
    yield url
    stop_page(lab.prefix)


@pytest.fixture(scope="module")
def other_origin(lab: Lab, stack: PipelineStack, site: str) -> Iterator[FrontendServer]:
    """The same page and config on another port: an origin the API does not allow."""
    server = serve_frontend(lab, stack.api.endpoint_url, port=free_port())
    yield server
    server.stop()


class Page:
    """The order page, driven through Selenium; every wait is bounded."""

    def __init__(self, driver: Any, artifacts: Path) -> None:
        from selenium.webdriver.common.by import By

        self.driver = driver
        self.artifacts = artifacts
        self.By = By

    def open(self, url: str, *, clear_storage: bool = True) -> Page:
        self.driver.set_window_size(1100, 900)
        self.driver.get(url)
        if clear_storage:
            self.driver.execute_script("window.localStorage.clear()")
            self.driver.get(url)
        self.wait(
            lambda d: d.execute_script("return document.documentElement.dataset.ready === 'true'"),
            what="the page to start",
        )
        return self

    def wait(self, condition: Any, *, timeout: float = 10, what: str = "the page") -> Any:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException as error:
            self.shot(f"timeout-{uuid.uuid4().hex[:6]}")
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; "
                f"status area: {self.text('status-detail')!r}, banner: {self.text('form-message')!r}"
            ) from error

    def el(self, element_id: str) -> Any:
        return self.driver.find_element(self.By.ID, element_id)

    def text(self, element_id: str) -> str:
        return (
            self.driver.execute_script(
                "const e = document.getElementById(arguments[0]); return e ? e.textContent : null", element_id
            )
            or ""
        )

    def type(self, element: Any, value: str) -> None:
        element.clear()
        if value:
            element.send_keys(value)

    def rows(self) -> list[Any]:
        return self.driver.find_elements(self.By.CSS_SELECTOR, "#item-rows tr.item-row")

    def fill(
        self,
        *,
        customer_id: str = "cust-001",
        name: str = "Ada Lovelace",
        email: str = "",
        items: list[tuple[str, str, str]] = (("BOOK-1", "2", "12.50"),),
        fault: str = "",
    ) -> Page:
        self.type(self.el("customer-id"), customer_id)
        self.type(self.el("customer-name"), name)
        self.type(self.el("customer-email"), email)
        while len(self.rows()) < len(items):
            self.el("add-item").click()
        for row, (sku, quantity, price) in zip(self.rows(), items, strict=False):
            self.type(row.find_element(self.By.CSS_SELECTOR, ".item-sku"), sku)
            self.type(row.find_element(self.By.CSS_SELECTOR, ".item-quantity"), quantity)
            self.type(row.find_element(self.By.CSS_SELECTOR, ".item-price"), price)
        if fault:
            self.driver.execute_script("document.querySelector('details.lab-options').open = true")
            from selenium.webdriver.support.ui import Select

            Select(self.el("fault")).select_by_value(fault)
        return self

    def submit(self) -> None:
        self.el("submit").click()

    def status(self) -> str:
        return (
            self.driver.execute_script(
                "const e = document.getElementById('order-status'); "
                "return e && !document.getElementById('current-order').hidden ? e.dataset.status : ''"
            )
            or ""
        )

    def wait_status(self, wanted: str, *, timeout: float = FINAL_TIMEOUT) -> None:
        self.wait(lambda d: self.status() == wanted, timeout=timeout, what=f"status {wanted}")

    def wait_banner(self, kind: str, *, contains: str = "", timeout: float = FINAL_TIMEOUT) -> str:
        def ready(_: Any) -> bool:
            banner = self.el("form-message")
            return (
                banner.get_attribute("data-kind") == kind
                and banner.is_displayed()
                and contains in self.text("form-message")
            )

        self.wait(ready, timeout=timeout, what=f"a {kind} banner containing {contains!r}")
        return self.text("form-message")

    def order_requests(self) -> list[str]:
        """POST/GET /orders requests the page made (resource timing entries)."""
        return self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/orders'))"
        )

    def field_error(self, selector: str) -> str:
        return (
            self.driver.execute_script(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", selector
            )
            or ""
        )

    def shot(self, name: str) -> Path:
        from helpers.learn.browser import save_screenshot

        return save_screenshot(self.driver, self.artifacts / f"{name}.png", full_page=True)


@pytest.fixture
def page(driver: Any, artifacts: Path) -> Page:
    return Page(driver, artifacts)


def table_count(lab: Lab, stack: PipelineStack) -> int:
    return count_items(lab, stack.table.name)


# ------------------------------------------------------------------------------------- publishing (no browser)


def test_config_js_is_generated_not_committed() -> None:
    assert not (FRONTEND_DIR / CONFIG_FILE).exists(), "config.js is generated at publish time, never kept in frontend/"
    index = (FRONTEND_DIR / "index.html").read_text()
    assert '<script src="config.js"></script>' in index and "execute-api" not in index
    text = config_js("http://127.0.0.1:4599/_aws/execute-api/abc/", prefix="t1")
    payload = json.loads(text.split("window.ORDERLAB_CONFIG = ", 1)[1].rstrip().rstrip(";"))
    assert payload == {"apiUrl": "http://127.0.0.1:4599/_aws/execute-api/abc", "prefix": "t1"}
    assert "<" not in config_js("http://x.test/", note="</script>")
    with pytest.raises(ValueError):
        config_js("javascript:alert(1)")


def test_local_server_serves_a_copy_and_is_idempotent(
    lab: Lab, stack: PipelineStack, site: str, site_port: int
) -> None:
    again = serve_frontend(lab, stack.api.endpoint_url, port=site_port)
    page_process = page_status(lab.prefix)
    assert page_process is not None and page_process.pid != os.getpid() and page_process.url == site
    assert again.url == site and not again.owned, "the page process's server is reused, not replaced"
    assert not again.root.is_relative_to(FRONTEND_DIR), "config.js goes into a served copy, not frontend/"
    config = requests.get(f"{site}config.js", timeout=5)
    assert config.status_code == 200 and stack.api.endpoint_url in config.text
    assert config.headers["Cache-Control"] == "no-store"
    assert requests.get(site, timeout=5).text == (FRONTEND_DIR / "index.html").read_text()
    assert requests.get(f"{site}no-such-file", timeout=5).status_code == 404

    # The API's OpenAPI document next to the page: the kept one, with this API as its server.
    served = requests.get(f"{site}{OPENAPI_FILE}", timeout=5)
    assert served.status_code == 200 and served.headers["Content-Type"] == "application/json"
    document = served.json()
    assert document.pop("servers") == [{"url": stack.api.endpoint_url}]
    assert document == json.loads(DOCUMENT_PATH.read_text())

    # The API allows exactly the page's origin.
    api = stack.api.endpoint_url
    allowed = requests.options(
        f"{api}/orders",
        timeout=5,
        headers={
            "Origin": origin_of(site),
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert allowed.headers.get("Access-Control-Allow-Origin") == origin_of(site), allowed.headers
    refused = requests.options(
        f"{api}/orders", timeout=5, headers={"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in refused.headers

    # A port held by another program is refused with a clear message.
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError, match="used by another program"):
            serve_frontend(lab, api, port=busy.getsockname()[1])


def test_s3_website_deploys_tagged_and_cleanup_removes_it(cloud: Any) -> None:
    """The aws path (S3 static website), exercised against the local cloud's S3; cleanup empties and deletes it."""
    from helpers.ops.cleanup import destroy_lab
    from helpers.ops.discovery import find_lab_resources

    other = Lab.connect(prefix=f"s3{uuid.uuid4().hex[:6]}")
    api_url = "https://abc123.execute-api.us-east-1.amazonaws.com"
    try:
        url = deploy_frontend_s3(other, api_url)
        assert deploy_frontend_s3(other, api_url) == url  # converges
        bucket = frontend_bucket_name(other)
        s3 = other.client("s3")
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
        assert tags == other.tags
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
        assert keys == ["app.js", "config.js", "index.html", "openapi.json", "style.css"]
        config = s3.get_object(Bucket=bucket, Key="config.js")
        assert api_url in config["Body"].read().decode() and config["ContentType"].startswith("text/javascript")
        document = s3.get_object(Bucket=bucket, Key="openapi.json")
        assert json.loads(document["Body"].read())["servers"] == [{"url": api_url}]
        assert document["ContentType"] == "application/json"
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert [(st["Effect"], st["Action"], st["Resource"]) for st in policy["Statement"]] == [
            ("Allow", "s3:GetObject", f"arn:aws:s3:::{bucket}/*")
        ]
        assert s3.get_bucket_website(Bucket=bucket)["IndexDocument"] == {"Suffix": "index.html"}
        assert "Order Pipeline Lab" in requests.get(url, timeout=5).text
        assert ("s3", "bucket", bucket) in [(r.service, r.kind, r.name) for r in find_lab_resources(other)]
    finally:
        report = destroy_lab(other)
    assert report.ok, report.summary()
    assert find_lab_resources(other) == []


# ------------------------------------------------------------------------------------- in the browser


def test_valid_order_reaches_confirmed_and_a_double_click_makes_one_order(
    lab: Lab, stack: PipelineStack, site: str, page: Page
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    page.open(site)
    page.fill(
        customer_id="cust-001",
        name="Ada Lovelace",
        email="ada@example.com",
        items=[("BOOK-1", "2", "12.50"), ("PEN-7", "3", "1.99")],
    )
    assert page.text("order-total") == "USD 30.97"  # the live total
    page.shot("01-form-filled")

    before = table_count(lab, stack)
    ActionChains(page.driver).double_click(page.el("submit")).perform()
    page.wait_banner("success")
    page.wait_status("CONFIRMED")
    page.shot("02-order-confirmed")

    assert table_count(lab, stack) == before + 1, "a double click must create exactly one order"
    order_id = page.text("order-id")
    assert OrdersApi(stack.api.endpoint_url).get(order_id).json["status"] == "CONFIRMED"
    assert page.text("order-amount") == "USD 30.97"
    assert not page.el("status-reason").is_displayed()
    recent = page.driver.find_elements(page.By.CSS_SELECTOR, "#recent-orders li.recent-order")
    assert len(recent) == 1 and "CONFIRMED" in recent[0].text and recent[0].get_attribute("data-order-id") == order_id

    # The recent list survives a reload (localStorage) with the latest status.
    page.open(site, clear_storage=False)
    page.wait(lambda d: "CONFIRMED" in page.text("recent-orders"), what="the remembered order")


def test_client_side_validation_blocks_bad_input_before_sending(
    lab: Lab, stack: PipelineStack, site: str, page: Page
) -> None:
    page.open(site)
    page.fill(
        customer_id="bad id!",
        name="   ",
        email="not-an-email",
        items=[("", "0", "1.999"), ("PEN 7", "1001", "100000.01")],
    )
    before = table_count(lab, stack)
    page.submit()
    banner = page.wait_banner("error", contains="nothing was sent")
    page.shot("03-client-validation")

    assert "letters, digits" in page.text("customer-id-error")
    assert "name" in page.text("customer-name-error")
    assert "name@example.com" in page.text("customer-email-error")
    assert "SKU" in page.field_error("#item-rows tr:nth-child(1) .item-sku-error")
    assert "1 to 1000" in page.field_error("#item-rows tr:nth-child(1) .item-quantity-error")
    assert "2 decimals" in page.field_error("#item-rows tr:nth-child(1) .item-price-error")
    assert "1 to 1000" in page.field_error("#item-rows tr:nth-child(2) .item-quantity-error")
    assert "100000.00" in page.field_error("#item-rows tr:nth-child(2) .item-price-error")
    assert "items[1].unitPrice" in banner
    assert page.el("customer-id").get_attribute("aria-invalid") == "true"
    assert page.order_requests() == [], "nothing may be sent when the client-side checks fail"
    assert table_count(lab, stack) == before


def test_the_page_takes_its_rules_from_the_served_openapi_document(
    lab: Lab, stack: PipelineStack, site: str, site_port: int, page: Page
) -> None:
    """Tighter limits in the served document change the page's checks and hints; without the document
    the page says so and sends nothing."""
    root = serve_frontend(lab, stack.api.endpoint_url, port=site_port).root
    served = root / OPENAPI_FILE
    document = json.loads(served.read_text())
    schemas = document["components"]["schemas"]
    schemas["OrderLine"]["properties"]["quantity"]["maximum"] = 5
    schemas["CreateOrderRequest"]["properties"]["items"]["maxItems"] = 2
    try:
        served.write_text(json.dumps(document))
        page.open(site)
        assert "1-2 items" in page.text("items-hint") and "from 1 to 5" in page.text("items-hint")
        page.fill(items=[("BOOK-1", "6", "1.00"), ("PEN-7", "5", "1.00")])
        assert not page.el("add-item").is_enabled(), "at most 2 items, as the document now says"
        page.submit()
        page.wait_banner("error", contains="nothing was sent")
        assert "from 1 to 5" in page.field_error("#item-rows tr:nth-child(1) .item-quantity-error")
        assert page.field_error("#item-rows tr:nth-child(2) .item-quantity-error") == ""
        assert page.order_requests() == []

        served.unlink()
        page.open(site)
        assert "cannot read the API's description" in page.text("config-error")
        assert not page.el("submit").is_enabled()
        page.shot("04b-no-openapi-document")
    finally:
        serve_frontend(lab, stack.api.endpoint_url, port=site_port)  # the published document again
    assert json.loads(served.read_text()) == {
        **json.loads(DOCUMENT_PATH.read_text()),
        "servers": [{"url": stack.api.endpoint_url}],
    }


def test_api_400_is_shown_next_to_the_fields_and_nothing_is_written(
    lab: Lab, stack: PipelineStack, site: str, page: Page
) -> None:
    page.open(f"{site}?novalidate=1")
    page.fill(customer_id="bad id!", name="Ada", items=[("BOOK-1", "0", "1.999"), ("PEN-7", "2.5", "5")])
    before = table_count(lab, stack)
    page.submit()
    banner = page.wait_banner("error", contains="HTTP 400")
    page.shot("04-api-400")

    # The API's own messages, next to the inputs the 400 body names.
    assert "String should match pattern" in page.text("customer-id-error")
    assert page.el("customer-id-error").get_attribute("data-source") == "api"
    assert "greater than 0" in page.field_error("#item-rows tr:nth-child(1) .item-quantity-error")
    assert "decimal places" in page.field_error("#item-rows tr:nth-child(1) .item-price-error")
    assert "integer" in page.field_error("#item-rows tr:nth-child(2) .item-quantity-error")
    for field in ("customer.id", "items[0].quantity", "items[0].unitPrice", "items[1].quantity"):
        assert field in banner
    assert any(url.endswith("/orders") for url in page.order_requests()), "the order went to the API"
    assert table_count(lab, stack) == before


def test_script_in_a_field_is_displayed_as_text(lab: Lab, stack: PipelineStack, site: str, page: Page) -> None:
    page.open(site)
    page.fill(customer_id="cust-xss", name=XSS_NAME, items=[("BOOK-1", "1", "9.99")])
    page.submit()
    page.wait_status("CONFIRMED")
    page.shot("05-xss-shown-as-text")

    assert page.text("order-customer") == XSS_NAME
    assert page.driver.execute_script("return typeof window.__xss") == "undefined"
    assert page.driver.execute_script("return document.querySelectorAll('img, #recent-orders script').length") == 0
    names = [e.text for e in page.driver.find_elements(page.By.CSS_SELECTOR, "#recent-orders .recent-name")]
    assert (
        names
        and page.driver.execute_script("return document.querySelector('#recent-orders .recent-name').textContent")
        == XSS_NAME
    )
    assert OrdersApi(stack.api.endpoint_url).get(page.text("order-id")).json["customer"]["name"] == XSS_NAME

    page.open(site, clear_storage=False)  # re-rendered from localStorage
    page.wait(lambda d: page.text("recent-orders").count("<script>") == 1, what="the remembered XSS order")
    assert page.driver.execute_script("return typeof window.__xss") == "undefined"
    assert page.driver.execute_script("return document.querySelectorAll('img').length") == 0


def test_rejected_order_shows_its_reason(lab: Lab, stack: PipelineStack, site: str, page: Page) -> None:
    page.open(site)
    # Valid for the API (quantity <= 1000) but over the worker's per-item limit (100 by default).
    page.fill(customer_id="cust-002", name="Bulk Buyer", items=[("BOOK-1", "500", "2.00")])
    page.submit()
    page.wait_status("REJECTED")
    page.wait(lambda d: page.el("status-reason").is_displayed(), what="the rejection reason")
    page.shot("06-order-rejected")

    reason = page.text("status-reason")
    assert "quantity 500 of BOOK-1 exceeds the limit of 100" in reason
    assert OrdersApi(stack.api.endpoint_url).get(page.text("order-id")).json["statusReason"] in reason
    assert "exceeds the limit" in page.text("recent-orders")


def test_polling_is_bounded_and_says_so(lab: Lab, stack: PipelineStack, site: str, page: Page) -> None:
    # A transient fault keeps the order PENDING for a few seconds (the worker retries with backoff).
    page.open(f"{site}?polltries=2&pollms=200")
    page.fill(customer_id="cust-003", name="Patient Customer", fault="transient")
    page.submit()
    page.wait(lambda d: page.el("status-detail").get_attribute("data-state") == "timeout", what="the timeout message")
    page.shot("07-status-poll-timeout")
    assert "Timed out: still PENDING after 2 checks" in page.text("status-detail")
    assert page.el("check-again").is_displayed()


def test_page_on_another_origin_is_refused_by_cors(
    lab: Lab, stack: PipelineStack, other_origin: FrontendServer, page: Page
) -> None:
    assert requests.get(f"{other_origin.url}config.js", timeout=5).text.count(stack.api.endpoint_url) == 1
    page.open(other_origin.url)
    page.fill(customer_id="cust-004", name="Elsewhere")
    before = table_count(lab, stack)
    page.submit()
    banner = page.wait_banner("error", contains="Network error")
    page.shot("08-cors-blocked-other-origin")

    assert "CORS" in banner and other_origin.origin in banner
    assert page.status() == ""
    time.sleep(0.5)  # nothing arrives late either
    assert table_count(lab, stack) == before


def test_high_value_order_shows_its_priority(lab: Lab, stack: PipelineStack, site: str, page: Page) -> None:
    """Step 4 on top (last: it changes create_order); the page follows a high-value order until its priority mark."""
    from helpers.pipeline.step4 import deploy_high_value_routing

    deploy_high_value_routing(lab, threshold=1000, p1_total=5000)
    page.open(site)
    page.fill(customer_id="cust-hv-1", name="Big Spender", items=[("LAPTOP-9", "3", "2000.00")])
    page.submit()
    page.wait_status("CONFIRMED")
    page.wait(
        lambda d: page.el("status-detail").get_attribute("data-state") == "final",
        timeout=FINAL_TIMEOUT,
        what="the high-value order to be final with its priority",
    )
    page.shot("09-high-value-priority")

    assert page.el("order-priority").is_displayed()
    assert page.el("order-priority").get_attribute("data-priority") == "P1"
    assert page.text("order-priority").startswith("P1")
    stored = OrdersApi(stack.api.endpoint_url).get(page.text("order-id")).json
    assert stored["valueTier"] == "HIGH" and stored["priority"] == "P1"
    assert "P1" in page.text("recent-orders")

    page.open(site)  # a small order: no priority row at all
    page.fill(customer_id="cust-hv-2", name="Small Spender", items=[("PEN-7", "1", "1.99")])
    page.submit()
    page.wait_status("CONFIRMED")
    page.wait(lambda d: page.el("status-detail").get_attribute("data-state") == "final", what="the final status")
    assert not page.el("order-priority").is_displayed()
