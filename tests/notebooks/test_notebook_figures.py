"""Every plot of the session's series run shows its claim, read from the figure data each plot's
output carries (``helpers.learn.plots.show`` attaches ``figure_data`` to the PNG's metadata):
real samples of the local cloud, taken while the orders flowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from helpers.learn.plots import FIGURE_METADATA_KEY
from helpers.pipeline.palette import SERIES_COLOURS, series_key

pytestmark = pytest.mark.notebooks

FIGURES = {
    "01_order_ingestion": ["01-order-ing-26", "01-order-ing-27"],
    "02_dynamodb_streams": ["02-dynamodb--15"],
    "03_sqs_workers": ["03-sqs-worke-08", "03-sqs-worke-13", "03-sqs-worke-15"],
    "04_high_value_pipes": ["step3-fire"],
    "05_dead_letter_queue": ["05-dead-lett-07"],
    "06_alerts_observability": ["ddf0b5ed", "e1748001", "5c0b27ec", "50e03059", "5f400bfa", "cf63939d"],
    "07_load_and_chaos": ["0eb83042"],
}
COUNT_LABELS = ("messages", "invocations", "errors", "receives", "orders")


def figures_of(path: Path) -> dict[str, list[dict[str, Any]]]:
    """``{cell id: [figure data, ...]}`` of an executed notebook."""
    found: dict[str, list[dict[str, Any]]] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            data = output.get("metadata", {}).get(FIGURE_METADATA_KEY, {}).get("figure")
            if data is not None:
                found.setdefault(cell.id, []).append(data)
    return found


def figure(series_run, notebook: str, cell_id: str) -> dict[str, Any]:
    assert series_run.returncode == 0, series_run.failure()
    shown = figures_of(series_run.notebook(f"{notebook}.ipynb")).get(cell_id)
    assert shown, f"{notebook} cell {cell_id} showed no figure (or without its figure data)"
    return shown[0]


def line(panel: dict[str, Any], label: str) -> dict[str, Any]:
    matches = [candidate for candidate in panel["lines"] if candidate["label"] == label]
    assert matches, f"no line {label!r} in {[candidate['label'] for candidate in panel['lines']]}"
    return matches[0]


def levels(values: list[float | None]) -> list[float]:
    """The distinct values in order of appearance, repeats collapsed: [0, 0, 1, 1, 0] -> [0, 1, 0]."""
    out: list[float] = []
    for value in values:
        if value is not None and (not out or out[-1] != value):
            out.append(value)
    return out


@pytest.mark.parametrize("notebook", sorted(FIGURES))
def test_every_plot_has_its_legend_outside_integer_counts_and_the_series_colours(series_run, notebook):
    assert series_run.returncode == 0, series_run.failure()
    shown = figures_of(series_run.notebook(f"{notebook}.ipynb"))
    missing = sorted(set(FIGURES[notebook]) - set(shown))
    assert not missing, f"cells that no longer show their figure (with its data): {missing}"
    for cell_id, figures in shown.items():
        for panel in (panel for data in figures for panel in data["axes"]):
            where = f"{notebook} {cell_id} {panel['title'] or panel['ylabel']!r}"
            if panel["legend"]:
                assert panel["legend"]["outside"], f"{where}: the legend covers the data"
            if any(word in panel["ylabel"].lower() for word in COUNT_LABELS) and panel["lines"]:
                assert panel["integer_y"], f"{where}: a count on a fractional axis"
            for drawn in panel["lines"]:
                key = series_key(drawn["label"])
                if key and "(no data)" not in drawn["label"]:
                    assert drawn["colour"] == SERIES_COLOURS[key], f"{where}: {drawn['label']} not in its colour"


def test_02_the_queue_depth_rises_by_the_burst_and_stays_while_no_worker_exists(series_run):
    (panel,) = figure(series_run, "02_dynamodb_streams", "02-dynamodb--15")["axes"]
    depth = line(panel, "order-queue: visible")["y"]

    assert depth[-1] - depth[0] >= 20, depth  # the 20 orders arrived while it sampled
    assert depth == sorted(depth), f"nothing consumes order-queue in 02, yet its depth fell: {depth}"
    assert depth[1] < depth[-1], f"the sampling began after the burst: {depth}"
    assert [mark["text"] for mark in panel["marks"]][:2] == ["burst starts", "last order accepted"]


def test_03_the_waiting_orders_drain_once_the_worker_exists(series_run):
    (panel,) = figure(series_run, "03_sqs_workers", "03-sqs-worke-08")["axes"]
    waiting = [
        v + f
        for v, f in zip(
            line(panel, "order-queue: visible")["y"], line(panel, "order-queue: in flight")["y"], strict=True
        )
    ]

    peak = waiting.index(max(waiting))
    assert max(waiting) >= 20, waiting  # 02's burst waits there
    assert waiting[peak:] == sorted(waiting[peak:], reverse=True) and waiting[-1] < max(waiting), waiting


def test_03_the_transient_failure_shows_each_attempt_in_flight_until_confirmed(series_run):
    upper, lower = figure(series_run, "03_sqs_workers", "03-sqs-worke-13")["axes"]
    receives = line(lower, "receives")["y"]
    in_flight = line(upper, "order-queue: in flight")["y"]

    assert levels(receives) == [0, 1, 2, 3], receives  # two failures, then the attempt that confirms it
    assert 1 in in_flight and in_flight[-1] == 0, in_flight
    assert "CONFIRMED" in [mark["text"] for mark in upper["marks"]]


@pytest.mark.parametrize(
    ("notebook", "cell_id"), [("05_dead_letter_queue", "05-dead-lett-07"), ("06_alerts_observability", "ddf0b5ed")]
)
def test_a_poison_order_is_retried_then_lands_in_the_dlq(series_run, notebook, cell_id):
    upper, lower = figure(series_run, notebook, cell_id)["axes"]
    receives = line(lower, "receives")["y"]
    dlq = line(upper, "order-dlq: visible")["y"]

    assert levels(receives)[0] == 0 and max(receives) == 3, receives  # maxReceiveCount receives
    assert levels(dlq) == [0, 1], dlq
    first_in_dlq = dlq.index(1)
    assert receives[first_in_dlq] == 3, "the DLQ filled before the last receive"


def test_06_the_dlq_metric_fills_after_the_poison_order_and_empties_after_the_redrive(series_run):
    (panel,) = figure(series_run, "06_alerts_observability", "5c0b27ec")["axes"]
    dlq = line(panel, "DLQ")
    marks = {mark["text"]: mark["x"] for mark in panel["marks"]}
    points = list(zip(dlq["x"], dlq["y"], strict=True))
    filled = next(x for x, y in points if y >= 1)
    emptied = next((x for x, y in points if x > filled and y == 0), None)

    assert filled > marks["poison order"]
    assert emptied is None or emptied > marks["redrive"], "the DLQ is drawn empty before the redrive"


def test_06_a_panel_without_errors_says_so_and_each_function_keeps_its_colour(series_run):
    calls, errors, duration = figure(series_run, "06_alerts_observability", "50e03059")["axes"]

    assert errors["lines"] or errors["texts"] == ["no errors in this window"]
    for panel in (calls, errors, duration):
        for drawn in panel["lines"]:
            assert drawn["colour"] == SERIES_COLOURS[series_key(drawn["label"])], drawn["label"]
