"""The notebooks' plots, read back from the figures: steps on integer axes, one colour per series,
legends outside the data, empty panels that say so, markers after the change they explain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from helpers.learn import plots
from helpers.pipeline.palette import SERIES_COLOURS, colour_of, series_key

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def queue_samples(visible: list[int], in_flight: list[int] | None = None, label: str = "order-queue") -> pd.DataFrame:
    in_flight = in_flight or [0] * len(visible)
    return pd.DataFrame(
        {"t": [0.25 * i for i in range(len(visible))], "label": label, "visible": visible, "in_flight": in_flight}
    )


def lines_by_label(panel: dict) -> dict[str, dict]:
    return {line["label"]: line for line in panel["lines"]}


def test_queue_depth_is_drawn_as_steps_on_an_integer_axis_from_zero_with_the_legend_outside() -> None:
    data = plots.figure_data(plots.queue_timeline_plot(queue_samples([1, 1, 9, 21, 21, 21]), title="burst"))
    (panel,) = data["axes"]
    visible = lines_by_label(panel)["order-queue: visible"]

    assert visible["y"] == [1, 1, 9, 21, 21, 21]
    assert visible["drawstyle"] == "steps-post"
    assert panel["integer_y"] and panel["ylim"][0] == 0 and panel["ylim"][1] > 21
    assert panel["legend"]["outside"]
    assert {line["colour"] for line in panel["lines"]} == {SERIES_COLOURS["order-queue"]}


def test_a_legend_over_the_data_is_reported_as_inside() -> None:
    """The check the notebook tests rely on can fail."""
    fig = plots.queue_timeline_plot(queue_samples([1, 2, 3]), title="x")
    fig.axes[0].legend(loc="upper left")

    assert plots.figure_data(fig)["axes"][0]["legend"]["outside"] is False


def test_each_queue_keeps_its_colour_and_a_sampled_probe_gets_a_panel_of_its_own() -> None:
    frame = pd.concat([queue_samples([0, 0, 0, 0], [0, 1, 1, 0]), queue_samples([0, 0, 0, 1], label="order-dlq")])
    probes = pd.DataFrame({"t": [0, 0.25, 0.5, 0.75], "probe": "receives", "value": [0, 1, 3, 3]})

    class Sampled:  # what queue_timeline_plot reads of a Sampler
        def __init__(self) -> None:
            self.marks = [(0.1, "poison order placed")]

        def queue_frame(self):
            return frame

        def probe_frame(self):
            return probes

    data = plots.figure_data(plots.queue_timeline_plot(Sampled(), title="poison", probes=["receives"]))
    upper, lower = data["axes"]
    colours = {line["label"]: line["colour"] for line in upper["lines"]}

    assert colours["order-queue: visible"] == colours["order-queue: in flight"] == SERIES_COLOURS["order-queue"]
    assert colours["order-dlq: visible"] == SERIES_COLOURS["order-dlq"]
    assert lines_by_label(lower)["receives"]["y"] == [0, 1, 3, 3]
    assert lower["integer_y"] and lower["legend"]["outside"]
    assert [text for text in lower["texts"]] == ["0", "1", "3"]  # each change labelled once
    assert "poison order placed" in upper["texts"]


def test_probe_changes_mark_where_a_value_changes() -> None:
    probes = pd.DataFrame(
        {"t": [0, 1, 2, 3], "probe": "status", "value": ["PENDING", "PENDING", "CONFIRMED", "CONFIRMED"]}
    )

    assert plots.probe_changes(probes, "status") == [(2.0, "status: CONFIRMED")]


def test_a_gauge_point_is_drawn_at_the_end_of_its_period_so_the_dlq_empties_after_the_redrive() -> None:
    """CloudWatch stamps a point with its period's start; the DLQ's 0 of the period holding the
    redrive must not be drawn before the redrive."""
    frame = pd.DataFrame({"timestamp": [at(0), at(5), at(10)], "label": "order-dlq: visible", "value": [0.0, 1.0, 0.0]})
    redrive = at(12)
    data = plots.figure_data(plots.metric_lines_plot(frame, title="DLQ", markers={"redrive": redrive}, period=5))
    (panel,) = data["axes"]
    dlq = lines_by_label(panel)["order-dlq: visible"]
    emptied_at = dlq["x"][dlq["y"].index(0.0, 1)]

    assert emptied_at > matplotlib.dates.date2num(redrive)
    assert dlq["colour"] == SERIES_COLOURS["order-dlq"]
    assert panel["integer_y"] and panel["legend"]["outside"]


def test_a_function_keeps_its_colour_in_every_panel_and_a_panel_without_errors_says_so() -> None:
    frame = pd.DataFrame(
        [
            {"timestamp": at(s), "label": label, "value": value}
            for s, label, value in (
                (0, "order_worker Invocations", 3),
                (5, "order_worker Invocations", 1),
                (0, "order_worker Errors", 0),
                (0, "order_worker Duration", 850.0),
                (0, "create_order Invocations", 2),
                (0, "create_order Errors", 0),
                (0, "create_order Duration", 12.0),
            )
        ]
    )
    calls, errors, duration = plots.figure_data(plots.lambda_metrics_plot(frame))["axes"]

    for panel in (calls, duration):
        colours = {line["label"]: line["colour"] for line in panel["lines"]}
        assert colours == {
            "order_worker": SERIES_COLOURS["order-worker"],
            "create_order": SERIES_COLOURS["create-order"],
        }
    assert errors["lines"] == [] and errors["texts"] == ["no errors in this window"]
    assert calls["integer_y"] and calls["legend"]["outside"]


def test_errors_are_drawn_in_their_functions_colour() -> None:
    frame = pd.DataFrame(
        [
            {"timestamp": at(0), "label": "order_worker Errors", "value": 2.0},
            {"timestamp": at(0), "label": "order_worker Invocations", "value": 2.0},
        ]
    )
    _, errors, _ = plots.figure_data(plots.lambda_metrics_plot(frame))["axes"]

    assert [(line["label"], line["colour"], line["y"]) for line in errors["lines"]] == [
        ("order_worker", SERIES_COLOURS["order-worker"], [2.0])
    ]


def test_a_metric_panel_without_data_says_so() -> None:
    empty = pd.DataFrame(columns=["timestamp", "label", "value"])
    (panel,) = plots.figure_data(plots.metric_lines_plot(empty, title="nothing yet", labels=["OrdersRejected"]))["axes"]

    assert "no data points in this window" in panel["texts"]
    assert panel["legend"]["labels"] == ["OrdersRejected (no data)"]


def test_the_bar_labels_stay_clear_of_the_title() -> None:
    fig = plots.status_counts_plot(pd.DataFrame({"status": ["PENDING"] * 27}))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    label_top = max(t.get_window_extent(renderer).y1 for t in ax.texts)

    assert [t.get_text() for t in ax.texts] == ["27"]
    assert label_top < ax.title.get_window_extent(renderer).y0
    assert label_top < ax.get_window_extent(renderer).y1


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("order_worker Errors", "order-worker"),
        ("alice-order-worker", "order-worker"),
        ("order-queue: in flight", "order-queue"),
        ("order queue", "order-queue"),
        ("order-dlq: visible", "order-dlq"),
        ("DLQ", "order-dlq"),
        ("srb76ae5-stream-processor", "stream-processor"),
        ("high-value-enricher Duration", "high-value-enricher"),
        ("high-value Invocations", "high-value"),
        ("OrdersAccepted", "orders-accepted"),
        ("something else", None),
    ],
)
def test_every_label_of_a_function_or_queue_maps_to_its_one_colour(label: str, key: str | None) -> None:
    assert series_key(label) == key
    assert colour_of(label) == (SERIES_COLOURS[key] if key else colour_of("something else"))


def test_the_palette_gives_each_function_and_queue_a_colour_of_its_own() -> None:
    from helpers.pipeline import catalog

    named = [f.component for f in catalog.FUNCTIONS] + [
        catalog.ORDER_QUEUE_COMPONENT,
        catalog.ORDER_DLQ_COMPONENT,
        catalog.HIGH_VALUE_QUEUE_COMPONENT,
    ]
    assert len({SERIES_COLOURS[name] for name in named}) == len(named)


def test_probe_changes_can_keep_only_the_values_that_matter() -> None:
    probes = pd.DataFrame({"t": [0, 1, 2], "probe": "status", "value": ["not placed", "PENDING", "CONFIRMED"]})

    assert plots.probe_changes(probes, "status", text="{value}", only=("CONFIRMED", "REJECTED")) == [(2.0, "CONFIRMED")]


@pytest.mark.parametrize(
    "module_name", ["helpers.pipeline.palette", "helpers.learn.views", "helpers.ops.logs", "helpers.core.progress"]
)
def test_doctests(module_name: str) -> None:
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(module_name)).failed == 0


def test_a_gauge_at_zero_throughout_says_why_it_may_miss_what_happened() -> None:
    frame = pd.DataFrame({"timestamp": [at(0), at(5)], "label": "order-queue: in flight", "value": [0.0, 0.0]})
    (panel,) = plots.figure_data(plots.metric_lines_plot(frame, title="order-queue", period=5))["axes"]

    assert any(text.startswith("0 at every sample") for text in panel["texts"])
    assert lines_by_label(panel)["order-queue: in flight"]["y"] == [0.0, 0.0]
