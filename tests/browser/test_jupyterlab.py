"""Notebook 01 as a learner meets it: JupyterLab in a real headless Chromium, driven through chromedriver.

JupyterLab starts headless on a free 127.0.0.1 port with a token (``jupyterlab`` fixture), against
the session's local cloud with a prefix of its own. The test opens ``01_order_ingestion.ipynb``,
runs all its cells through JupyterLab (its "Run All Cells" command, as the Run menu does), then
types into the ipywidgets order form, clicks **Place order**, and checks that the reply renders
under the form and that the orders table (re-run) shows the new order — so the widgets really
render and work in JupyterLab, not only in a kernel. The exercises' solution cells are folded, and Run All
applies none of them.
Then it adds cells that start the live pipeline map and send orders while it runs: the map's one
output area is updated in place (the figures and the image change between two reads, and it stays
one output).
Screenshots of each state go to ``test-artifacts/browser/jupyterlab-*.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.cloud, pytest.mark.browser, pytest.mark.long]

NOTEBOOK = "01_order_ingestion.ipynb"
FORM_CELL = "01-order-ing-18"  # OrderForm(orders_api)
ORDERS_CELL = "01-order-ing-27"  # orders_frame(...).head(10)
RUN_ALL_TIMEOUT = 75  # seconds for the whole notebook in the kernel


class LabPage:
    """JupyterLab's page: its app object (``window.jupyterapp``) for state, the DOM for what a learner sees."""

    def __init__(self, driver: Any, artifacts: Path) -> None:
        self.driver = driver
        self.artifacts = artifacts

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, condition: Any, *, timeout: float, what: str) -> Any:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(condition)
        except TimeoutException:
            self.shot("timeout")
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; notebook state: {self.state()}"
            ) from None

    def state(self) -> dict[str, Any]:
        """Kernel status, code cells still without an execution count, and the first error output."""
        return self.js("""
            const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            if (!panel || !panel.content || !panel.sessionContext) return {ready: false};
            const cells = panel.content.widgets.filter(c => c.model.type === 'code');
            let error = null;
            for (const cell of cells) {
              const outputs = cell.model.outputs.toJSON();
              const bad = outputs.find(o => o.output_type === 'error');
              if (bad) { error = {cell: cell.model.id, ename: bad.ename, evalue: bad.evalue}; break; }
            }
            const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
            return {ready: true, path: panel.context.path, kernel: kernel ? kernel.status : null,
                    pending: cells.filter(c => c.model.executionCount === null).map(c => c.model.id),
                    running: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
                    error: error, cells: cells.length};
        """)

    def cell(self, cell_id: str) -> Any:
        """The cell's DOM node (a WebElement), scrolled into view."""
        node = self.js(
            """
            const panel = window.jupyterapp.shell.currentWidget;
            const cell = panel.content.widgets.find(c => c.model.id === arguments[0]);
            if (!cell) return null;
            cell.node.scrollIntoView({block: 'start'});
            return cell.node;""",
            cell_id,
        )
        assert node is not None, f"cell {cell_id} is not in the notebook"
        return node

    def execution_count(self, cell_id: str) -> int | None:
        return self.js(
            """
            const cell = window.jupyterapp.shell.currentWidget.content.widgets.find(c => c.model.id === arguments[0]);
            return cell ? cell.model.executionCount : null;""",
            cell_id,
        )

    def add_cell(self, source: str) -> str:
        """Append a code cell with ``source`` at the end of the notebook; return its id."""
        return self.js(
            """
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = panel.content.widgets.length - 1;
            window.jupyterapp.commands.execute('notebook:insert-cell-below');
            const cell = panel.content.widgets[panel.content.widgets.length - 1];
            cell.model.sharedModel.setSource(arguments[0]);
            return cell.model.id;""",
            source,
        )

    def outputs(self, cell_id: str) -> list[dict[str, Any]]:
        return self.js(
            """
            const cell = window.jupyterapp.shell.currentWidget.content.widgets.find(c => c.model.id === arguments[0]);
            return cell ? cell.model.outputs.toJSON() : [];""",
            cell_id,
        )

    def run_cell(self, cell_id: str) -> None:
        """Select the cell and run it, as Shift+Enter would (JupyterLab's own command)."""
        self.js(
            """
            const panel = window.jupyterapp.shell.currentWidget;
            const index = panel.content.widgets.findIndex(c => c.model.id === arguments[0]);
            panel.content.activeCellIndex = index;
            window.jupyterapp.commands.execute('notebook:run-cell');""",
            cell_id,
        )

    def shot(self, name: str, element: Any = None) -> Path:
        path = self.artifacts / f"jupyterlab-{name}.png"
        if element is not None:
            element.screenshot(str(path))
        else:
            self.driver.save_screenshot(str(path))
        return path


def _widget_input(form: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    return form.find_element(
        By.XPATH, f".//div[contains(@class,'widget-inline-hbox')][label[normalize-space()='{label}']]//input"
    )


def _type(element: Any, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(text)
    element.send_keys(Keys.TAB)  # a change event: BoundedIntText syncs on change, Text on every key


def test_notebook_01_runs_in_jupyterlab_and_its_order_form_works(
    jupyterlab: Any, driver: Any, artifacts: Path, cloud: Any
) -> None:
    from selenium.webdriver.common.by import By

    from helpers import Lab
    from helpers.ops.tracking import get_order

    page = LabPage(driver, artifacts)
    driver.set_window_size(1400, 1000)

    # 1. Open the notebook; wait for JupyterLab and the kernel.
    driver.get(jupyterlab.lab_url(NOTEBOOK))
    page.wait(
        lambda d: (page.state().get("path") or "").endswith(NOTEBOOK) and page.state().get("kernel") == "idle",
        timeout=45,
        what=f"JupyterLab to open {NOTEBOOK} with an idle kernel",
    )
    page.shot("01-notebook-open")
    folded = page.js("""
        return window.jupyterapp.shell.currentWidget.content.widgets
          .filter(c => (c.model.getMetadata('tags') || []).includes('solution'))
          .map(c => c.inputHidden);""")
    assert folded and all(folded), f"the exercises' solution cells must be folded in JupyterLab: {folded}"

    # 2. Run all cells through JupyterLab, as Run → Run All Cells does.
    page.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def finished(_: Any) -> bool:
        state = page.state()
        if state.get("error"):
            raise AssertionError(f"a cell failed in JupyterLab: {state['error']}")
        return not state["pending"] and state["running"] == 0 and state["kernel"] == "idle"

    page.wait(finished, timeout=RUN_ALL_TIMEOUT, what="every cell of the notebook to run")
    page.shot("02-all-cells-run")
    # An exercise as a learner sees it after Run All: prompt, their cell, the folded solution that did not
    # apply itself (solutions are off in JupyterLab), and the check's "not done yet" that did not stop the run.
    page.cell("01-ex1-prompt")
    solution_text = page.cell("01-ex1-solution").text
    assert "Solution of exercise 01.1: not applied (solutions are off)" in solution_text, solution_text
    check_text = page.cell("01-ex1-check").text
    assert "Exercise 01.1 · your own order — not done yet" in check_text, check_text
    page.cell("01-ex1-prompt")
    page.shot("02b-exercise-with-folded-solution")

    # 3. The order form is real widgets (not a text fallback): fill it like a learner and click.
    form = page.cell(FORM_CELL)
    assert form.find_elements(By.CSS_SELECTOR, ".jupyter-widgets .widget-text input"), (
        "the OrderForm did not render as ipywidgets in JupyterLab"
    )
    assert "Place order" in form.text
    output = form.find_element(By.CSS_SELECTOR, ".widget-output")
    before = output.text
    _type(_widget_input(form, "Customer id"), "cust-browser")
    _type(_widget_input(form, "Name"), "Browser Learner")
    quantity = form.find_elements(By.CSS_SELECTOR, ".widget-inline-hbox.widget-text input[type='number']")
    assert quantity, "the item row's quantity field is missing"
    _type(quantity[0], "7")  # 7 × BOOK-1 at 12.50 + 3 × PEN-7 at 1.99 (the row the notebook added) = 93.47
    page.shot("03-form-filled", form)
    form.find_element(By.XPATH, ".//button[normalize-space()='Place order']").click()

    page.wait(
        lambda d: output.text != before and "HTTP 201" in output.text and "93.47" in output.text,
        timeout=20,
        what="the API's reply under the form",
    )
    page.shot("04-form-reply", form)
    reply_text = output.find_element(By.TAG_NAME, "pre").text
    reply = json.loads(reply_text)
    order_id = reply["orderId"]
    assert reply["total"] == "93.47", reply

    # The order really went through the API into this learner's table.
    lab = Lab.connect(prefix=jupyterlab.prefix)
    stored = get_order(lab, lab.name("orders"), order_id)
    assert stored is not None and stored["customer"]["id"] == "cust-browser", stored

    # 4. Re-run the orders table cell: the new order is in the rendered DataFrame.
    count = page.execution_count(ORDERS_CELL)
    page.run_cell(ORDERS_CELL)
    page.wait(
        lambda d: (page.execution_count(ORDERS_CELL) or 0) > (count or 0) and page.state()["kernel"] == "idle",
        timeout=20,
        what="the orders table cell to run again",
    )
    table_cell = page.cell(ORDERS_CELL)
    table = table_cell.find_element(By.CSS_SELECTOR, "table.orderlab-table")  # helpers.learn.views.Table
    assert order_id in table.text and "cust-browser" in table.text, table.text[:500]
    assert re.search(r"orderId\s+status\s+customerId", table.find_element(By.TAG_NAME, "thead").text)
    page.shot("05-orders-table", table_cell)

    # 5. The live pipeline map, updated in place while orders flow.
    map_cell = page.add_cell(
        "from helpers.learn.pipeline_map import PipelineMap\n\nlive_map = PipelineMap(lab, interval=0.5).start()"
    )
    page.run_cell(map_cell)

    def map_frame(_: Any = None) -> tuple[str, str] | None:
        frames = [o for o in page.outputs(map_cell) if o.get("output_type") == "display_data"]
        if len(frames) != 1:
            return None
        data = frames[0].get("data", {})
        return (data.get("text/plain", ""), data.get("image/png", "")) if data.get("image/png") else None

    first = page.wait(map_frame, timeout=30, what="the pipeline map's first frame")
    assert first[0].startswith("pipeline map at") and "HTTP API:" in first[0], first[0]
    image_before = page.cell(map_cell).find_element(By.CSS_SELECTOR, ".jp-RenderedImage img").get_attribute("src")
    burst = page.add_cell(
        "from helpers.learn.demo import send_burst\n\nsend_burst(orders_api, 5, seed=11, progress=False);"
    )
    page.run_cell(burst)

    def requests_shown(text: str) -> int:
        found = re.search(r"HTTP API: (\d+) requests", text)
        return int(found.group(1)) if found else -1

    later = page.wait(
        lambda d: (frame := map_frame()) and requests_shown(frame[0]) != requests_shown(first[0]) and frame,
        timeout=60,
        what="the map's figures to change while orders flow",
    )
    page.shot("06-pipeline-map-live", page.cell(map_cell))
    assert later[1] != first[1], "the drawn map changed too"
    assert len(page.outputs(map_cell)) == 1, "the map is updated in place: still one output"
    image_after = page.cell(map_cell).find_element(By.CSS_SELECTOR, ".jp-RenderedImage img").get_attribute("src")
    assert image_after != image_before, "the image JupyterLab shows is the new frame"
    stop = page.add_cell("live_map.stop();")
    page.run_cell(stop)
    page.wait(
        lambda d: page.execution_count(stop) is not None and page.state()["kernel"] == "idle",
        timeout=30,
        what="the map to stop",
    )
