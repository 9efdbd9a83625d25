"""Inline plots for the notebooks (matplotlib): each one draws what its cell's text claims.

>>> show(queue_timeline_plot(sampler, title="order-queue while 20 orders arrive"))   # doctest: +SKIP

Shared rules: one colour per function, queue and status across the whole series (:data:`SERIES_COLOURS`,
keyed by the catalog's names), step lines for counts on integer axes, legends outside the data, an
empty panel says so in words. :func:`show` displays a figure with :func:`figure_data` attached to its
output, so the figure-data tests can read what a notebook drew from the executed notebook.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import MaxNLocator

from helpers.pipeline.palette import (
    ALARM_STATE_COLOURS,
    FALLBACK_COLOUR,
    STATUS_COLOURS,
    colour_of,
)

FIGURE_METADATA_KEY = "orderlab"
_FALLBACK = FALLBACK_COLOUR


# -- showing a figure, and what it shows -----------------------------------------------------------


def show(fig: Figure, *, width: int | None = None) -> None:
    """Display ``fig`` as a PNG whose output metadata holds :func:`figure_data`; then close it."""
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    display(
        Image(data=buffer.getvalue(), format="png", width=width),
        metadata={FIGURE_METADATA_KEY: {"figure": figure_data(fig)}},
    )
    plt.close(fig)


def figure_data(fig: Figure) -> dict[str, Any]:
    """What a figure draws, as plain JSON: per panel its title, labels, y limits, whether the y axis is
    integer, texts, marks (vertical event lines: text, x), lines (label, x, y, colour) and legend (labels,
    whether it sits outside the panel). Times are matplotlib date numbers (days)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    panels = []
    for ax in fig.axes:
        lines = [
            {
                "label": str(line.get_label()),
                "x": [_number(v) for v in np.asarray(line.get_xdata(), dtype=object)],
                "y": [_number(v) for v in np.asarray(line.get_ydata(), dtype=object)],
                "colour": _hex(line.get_color()),
                "drawstyle": line.get_drawstyle(),
            }
            for line in ax.get_lines()
            if not str(line.get_label()).startswith("_")
        ]
        legend = ax.get_legend()
        legend_info = None
        if legend is not None:
            box, frame = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
            legend_info = {
                "labels": [t.get_text() for t in legend.get_texts()],
                "outside": bool(not box.overlaps(frame) or box.x0 >= frame.x1 - 1),
            }
        panels.append(
            {
                "title": ax.get_title(),
                "xlabel": ax.get_xlabel(),
                "ylabel": ax.get_ylabel(),
                "ylim": [float(v) for v in ax.get_ylim()],
                "integer_y": isinstance(ax.yaxis.get_major_locator(), MaxNLocator)
                and bool(getattr(ax.yaxis.get_major_locator(), "_integer", False)),
                "texts": [t.get_text() for t in ax.texts],
                "marks": [
                    {"text": t.get_text(), "x": _number(t.xy[0])}
                    for t in ax.texts
                    if isinstance(t, Annotation) and t.get_rotation() == 90
                ],
                "lines": lines,
                "legend": legend_info,
            }
        )
    return {"title": fig.get_suptitle() if hasattr(fig, "get_suptitle") else "", "axes": panels}


def _number(value: Any) -> float | None:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        return float(mdates.date2num(pd.Timestamp(value)))
    try:
        number = float(mdates.date2num(value)) if hasattr(value, "tzinfo") else float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else round(number, 6)


def _hex(colour: Any) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour)


# -- layout helpers --------------------------------------------------------------------------------


def _legend_outside(ax: Axes, **options: Any) -> None:
    """A legend to the right of the panel, never over the data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small", **options)


def _integer_counts(ax: Axes, values: Iterable[float]) -> None:
    """Counts: integer ticks, from 0, with head room so the highest step is not on the frame."""
    numbers = [float(v) for v in values if v is not None and not pd.isna(v)]
    top = max(numbers, default=0.0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1.0, top) * 1.15 + 0.05)


def _say(ax: Axes, text: str) -> None:
    """An empty panel says why, in words, instead of drawing a line at zero."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize="medium", color="#57606a")
    ax.set_yticks([])


def _mark(ax: Axes, moment: Any, text: str) -> None:
    """A dotted vertical line at ``moment``, its label written along it near the top."""
    ax.axvline(moment, color="black", linestyle=":", linewidth=1)
    ax.annotate(
        text,
        (moment, 0.98),
        xycoords=("data", "axes fraction"),
        rotation=90,
        va="top",
        ha="right",
        fontsize="x-small",
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )


# -- step 1 ----------------------------------------------------------------------------------------


def latency_plot(latencies_ms: Sequence[float], *, title: str) -> Figure:
    """Histogram of request latencies with p50/p95 marked."""
    values = np.asarray(list(latencies_ms), dtype=float)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.hist(values, bins=min(30, max(5, len(values) // 2)), color=colour_of("create-order"), alpha=0.85)
    for q, style in ((50, "--"), (95, ":")):
        value = float(np.percentile(values, q))
        ax.axvline(value, color="black", linestyle=style, label=f"p{q} = {value:.1f} ms")
    ax.set(title=title, xlabel="latency (ms)", ylabel="requests")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend_outside(ax)
    fig.tight_layout()
    return fig


def status_counts_plot(orders: pd.DataFrame, *, title: str = "Orders by status") -> Figure:
    """Bar chart of how many orders are in each status (each bar labelled, clear of the title)."""
    counts = orders["status"].value_counts().sort_index() if not orders.empty else pd.Series(dtype=int)
    fig, ax = plt.subplots(figsize=(5, 2.8))
    if counts.empty:
        _say(ax, "no orders yet")
    else:
        bars = ax.bar(
            counts.index.astype(str), counts.values, color=[STATUS_COLOURS.get(str(s), _FALLBACK) for s in counts.index]
        )
        ax.bar_label(bars, padding=2)
        _integer_counts(ax, counts.values)
        ax.set_ylim(0, float(counts.max()) * 1.25 + 0.5)
    ax.set(title=title, ylabel="orders")
    fig.tight_layout()
    return fig


# -- queues, sampled while orders flow ------------------------------------------------------------


def queue_timeline_plot(
    samples: Any,
    *,
    title: str = "Queue depth over time",
    marks: Iterable[tuple[float, str]] | None = None,
    probes: Sequence[str] = (),
    probe_label: str = "",
) -> Figure:
    """Visible (solid) and in-flight (dashed) messages per queue, as steps over time.

    ``samples``: a :class:`helpers.ops.sampler.Sampler` (its queues, probes and marks) or a frame of
    ``t``, ``label``, ``visible``, ``in_flight``. ``probes``: probe names drawn in a second panel (steps,
    each change labelled), e.g. the worker's receives of one order. ``marks``: ``(t, text)`` events.
    """
    queue_frame, probe_frame, mark_list = _sampled(samples, marks)
    wanted = [p for p in probes if not probe_frame.empty and p in set(probe_frame["probe"])]
    if wanted:
        fig, (ax, lower) = plt.subplots(2, 1, figsize=(9, 4.6), sharex=True, height_ratios=(3, 2))
    else:
        fig, ax = plt.subplots(figsize=(9, 3.2))
        lower = None
    values: list[float] = []
    for label, group in queue_frame.groupby("label", sort=False):
        colour = colour_of(str(label))
        ax.step(group["t"], group["visible"], where="post", color=colour, label=f"{label}: visible")
        ax.step(group["t"], group["in_flight"], where="post", color=colour, linestyle="--", label=f"{label}: in flight")
        values += list(group["visible"]) + list(group["in_flight"])
    if queue_frame.empty:
        _say(ax, "no samples")
    else:
        _integer_counts(ax, values)
    ax.set(title=title, ylabel="messages")
    for t, text in mark_list:
        _mark(ax, t, text)
    _legend_outside(ax)
    if lower is not None:
        probe_values: list[float] = []
        for name in wanted:
            series = probe_frame[probe_frame["probe"] == name]
            numbers = pd.to_numeric(series["value"], errors="coerce")
            lower.step(series["t"], numbers, where="post", color=colour_of(name), label=name)
            probe_values += list(numbers)
            for t, value in _changes(series["t"], numbers):
                lower.annotate(f"{value:g}", (t, value), textcoords="offset points", xytext=(3, 3), fontsize="small")
        _integer_counts(lower, probe_values)
        lower.set(ylabel=probe_label or ", ".join(wanted))
        for t, _ in mark_list:
            lower.axvline(t, color="black", linestyle=":", linewidth=1)
        _legend_outside(lower)
    (lower or ax).set_xlabel("seconds since the sampling started")
    fig.tight_layout()
    return fig


def _sampled(samples: Any, marks: Iterable[tuple[float, str]] | None) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    if isinstance(samples, pd.DataFrame):
        queue_frame, probe_frame, mark_list = samples, pd.DataFrame(columns=["t", "probe", "value"]), []
    else:
        queue_frame, probe_frame = samples.queue_frame(), samples.probe_frame()
        mark_list = list(samples.marks)
    mark_list += list(marks or [])
    return queue_frame, probe_frame, sorted(mark_list)


def _changes(times: Iterable[float], values: Iterable[float]) -> list[tuple[float, float]]:
    """``(t, value)`` wherever a series takes a new value (its first point included)."""
    changes, last = [], None
    for t, value in zip(times, values, strict=True):
        if pd.isna(value):
            continue
        if value != last:
            changes.append((float(t), float(value)))
            last = value
    return changes


def probe_changes(
    samples: Any, probe: str, *, text: str = "{probe}: {value}", only: Iterable[Any] | None = None
) -> list[tuple[float, str]]:
    """Marks where a sampled probe changes value after its first sample (to one of ``only``, if given), e.g.
    the moment an order's status became final: ``probe_changes(sampler, "status", only=FINAL_STATUSES)``."""
    wanted = set(only) if only is not None else None
    frame = samples.probe_frame() if not isinstance(samples, pd.DataFrame) else samples
    series = frame[frame["probe"] == probe]
    marks, last = [], None
    for t, value in zip(series["t"], series["value"], strict=True):
        if last is not None and value != last and (wanted is None or value in wanted):
            marks.append((float(t), text.format(probe=probe, value=value)))
        last = value
    return marks


def status_timeline_plot(events: pd.DataFrame, *, title: str = "Order status over time") -> Figure:
    """One row per order: when it was created and when it reached its final status."""
    fig, ax = plt.subplots(figsize=(9, max(2.0, 0.35 * len(events) + 1)))
    for row, item in enumerate(events.itertuples()):
        ax.plot(
            [item.created_s, item.final_s], [row, row], color=STATUS_COLOURS.get(item.status, _FALLBACK), linewidth=4
        )
        ax.text(item.final_s, row, f"  {item.status}", va="center", fontsize="small")
    ax.set_yticks(range(len(events)), [str(label) for label in events["label"]])
    if len(events):
        ax.set_xlim(0, float(events["final_s"].max()) * 1.2 + 0.1)
    ax.set(title=title, xlabel="seconds since the first order")
    fig.tight_layout()
    return fig


def routing_plot(frame: pd.DataFrame, threshold: float, *, title: str = "Which orders the pipe routed") -> Figure:
    """Each order's total (log scale), coloured by whether it reached the high-value queue, and the threshold."""
    fig, ax = plt.subplots(figsize=(9, max(2.2, 0.32 * len(frame) + 1)))
    for row, item in enumerate(frame.itertuples()):
        colour = colour_of("high-value-queue") if item.routed else "#8c959f"
        ax.barh(row, item.total, color=colour)
        label = f"  {item.priority} ({item.customerTier})" if item.routed else "  not routed"
        ax.text(item.total, row, label, va="center", fontsize="small")
    ax.axvline(float(threshold), color="black", linestyle="--", label=f"threshold {float(threshold):g}")
    ax.set_yticks(range(len(frame)), [f"{o[:8]}…" for o in frame["orderId"]])
    ax.set_xscale("log")
    if len(frame):
        ax.set_xlim(right=float(frame["total"].max()) * 8)
    ax.set(title=title, xlabel="order total (log scale)")
    _legend_outside(ax)
    fig.tight_layout()
    return fig


# -- step 6: CloudWatch metrics and alarm states --------------------------------------------------


def metric_lines_plot(
    frame: pd.DataFrame,
    *,
    title: str,
    ylabel: str = "",
    labels: Sequence[str] | None = None,
    markers: Mapping[str, Any] | None = None,
    kind: str = "step",
    period: float | None = None,
) -> Figure:
    """One line per ``label`` of a metric frame (``timestamp``, ``label``, ``value``: see
    ``helpers.ops.observability.metric_frame``); ``markers`` (``{text: datetime}``) draws labelled vertical lines.

    ``kind="step"`` suits gauges (a queue's depth): each point is drawn at the *end* of its period, when
    CloudWatch knows it, so a change shows after its cause. ``kind="stem"`` suits counts per period (a
    period without a point had nothing: CloudWatch returns no zero for it).
    """
    _check_kind(kind)
    fig, ax = plt.subplots(figsize=(9, 3))
    wanted = list(labels) if labels is not None else (list(dict.fromkeys(frame["label"])) if not frame.empty else [])
    _metric_panel(ax, frame, wanted, kind=kind, period=period)
    for text, moment in (markers or {}).items():
        _mark(ax, moment, text)
    ax.set(title=title, xlabel="time (UTC)", ylabel=ylabel)
    ax.xaxis.set_major_formatter(_time_formatter())
    _legend_outside(ax)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _metric_panel(ax: Axes, frame: pd.DataFrame, wanted: list[str], *, kind: str, period: float | None) -> None:
    offsets = _stem_offsets(frame, wanted) if kind == "stem" else {}
    shift = pd.Timedelta(seconds=period if period is not None else _period_seconds(frame)) if kind == "step" else None
    values: list[float] = []
    for label in wanted:
        series = frame[frame["label"] == label] if not frame.empty else frame
        if series.empty:
            ax.plot([], [], color=colour_of(label), label=f"{label} (no data)")
            continue
        values += list(series["value"])
        _draw(ax, series, label, kind, colour=colour_of(label), offset=offsets.get(label), shift=shift)
    if not values:
        _say(ax, "no data points in this window")
        return
    _integer_counts(ax, values)
    if max(float(v) for v in values) == 0:
        ax.text(
            0.5,
            0.55,
            "0 at every sample in this window (what comes and goes between two samples never shows)",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize="small",
            color="#57606a",
        )


def lambda_metrics_plot(frame: pd.DataFrame, *, title: str = "Lambda: invocations, errors, duration") -> Figure:
    """Invocations and errors (stems, one panel each) over average duration, per function, from a metric
    frame whose labels end in ``Invocations``, ``Errors`` and ``Duration`` (``observability.lambda_metrics``).
    A function's colour is the same in every panel; a panel without a single error says "no errors"."""
    fig, (calls, errors, duration) = plt.subplots(
        3, 1, figsize=(9, 5.6), sharex=True, height_ratios=(3, 2, 3), constrained_layout=False
    )
    for ax, metric in ((calls, "Invocations"), (errors, "Errors")):
        part = frame[frame["label"].astype(str).str.endswith(metric)] if not frame.empty else frame
        part = part[part["value"] > 0] if metric == "Errors" and not part.empty else part
        labels = list(dict.fromkeys(part["label"])) if not part.empty else []
        offsets = _stem_offsets(part, labels)
        for label in labels:
            _draw(
                ax,
                part[part["label"] == label],
                _function_of(label),
                "stem",
                colour=colour_of(label),
                offset=offsets.get(label),
            )
        if labels:
            _integer_counts(ax, part["value"])
        else:
            _say(ax, "no errors in this window" if metric == "Errors" else "no invocations in this window")
        ax.set(ylabel=metric.lower())
    part = frame[frame["label"].astype(str).str.endswith("Duration")] if not frame.empty else frame
    for label, series in part.groupby("label", sort=False) if not part.empty else []:
        duration.plot(
            series["timestamp"],
            series["value"],
            marker="o",
            markersize=4,
            linestyle="none",
            color=colour_of(str(label)),
            label=_function_of(str(label)),
        )
    if part.empty:
        _say(duration, "no invocations in this window")
    else:
        duration.set_ylim(0, float(part["value"].max()) * 1.2 + 1)
    duration.set(xlabel="time (UTC)", ylabel="avg duration (ms)")
    calls.set_title(title)
    _legend_outside(calls, title="function")
    duration.xaxis.set_major_formatter(_time_formatter())
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _function_of(label: str) -> str:
    return str(label).rsplit(" ", 1)[0] if " " in str(label) else str(label)


def alarm_timeline_plot(
    intervals: pd.DataFrame, *, title: str = "Alarm states over time", markers: Mapping[str, Any] | None = None
) -> Figure:
    """One row per alarm, coloured by state (OK green, ALARM red, INSUFFICIENT_DATA grey), from
    ``helpers.ops.observability.state_intervals``; ``markers`` (``{text: datetime}``) as in
    :func:`metric_lines_plot`."""
    from matplotlib.patches import Patch

    alarms = list(dict.fromkeys(intervals["alarm"])) if not intervals.empty else []
    fig, ax = plt.subplots(figsize=(9, max(1.8, 0.45 * len(alarms) + 1.2)))
    for row, alarm in enumerate(alarms):
        for item in intervals[intervals["alarm"] == alarm].itertuples():
            start, end = mdates.date2num(item.start), mdates.date2num(item.end)
            ax.broken_barh(
                [(start, max(end - start, 1e-6))],
                (row - 0.35, 0.7),
                facecolors=ALARM_STATE_COLOURS.get(item.state, "#d0d7de"),
            )
    for text, moment in (markers or {}).items():
        _mark(ax, mdates.date2num(moment), text)
    ax.set_yticks(range(len(alarms)), alarms)
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(_time_formatter())
    ax.set(title=title, xlabel="time (UTC)")
    ax.legend(
        handles=[Patch(color=c, label=s) for s, c in ALARM_STATE_COLOURS.items()],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize="small",
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _check_kind(kind: str) -> None:
    if kind not in ("step", "stem"):
        raise ValueError(f"kind must be 'step' or 'stem', got {kind!r}")


def _period_seconds(frame: pd.DataFrame) -> float:
    """The smallest gap between a frame's timestamps (its metric period); 60 s when it cannot tell."""
    if frame.empty:
        return 60.0
    stamps = pd.Series(sorted(set(frame["timestamp"])))
    gaps = stamps.diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    return gaps.min().total_seconds() if not gaps.empty else 60.0


def _stem_offsets(frame: pd.DataFrame, labels: Sequence[str]) -> dict[str, pd.Timedelta]:
    """Side-by-side positions for several count series sharing timestamps (like grouped bars):
    each label is shifted by a fraction of the period (the smallest gap between timestamps)."""
    if frame.empty or len(labels) < 2:
        return {}
    step = pd.Timedelta(seconds=_period_seconds(frame)) * 0.6 / len(labels)
    return {label: step * (i - (len(labels) - 1) / 2) for i, label in enumerate(labels)}


def _draw(
    ax: Axes,
    series: pd.DataFrame,
    label: str,
    kind: str,
    colour: str | None = None,
    offset: pd.Timedelta | None = None,
    shift: pd.Timedelta | None = None,
) -> None:
    """One metric series: a step line (gauge, at each period's end) or stems from zero (count per period)."""
    if kind == "step":
        x = series["timestamp"] + shift if shift is not None else series["timestamp"]
        ax.step(x, series["value"], where="post", marker="o", markersize=3, label=label, color=colour)
        return
    x = series["timestamp"] + offset if offset is not None else series["timestamp"]
    (line,) = ax.plot(x, series["value"], linestyle="none", marker="o", markersize=4, label=label, color=colour)
    ax.vlines(x, 0, series["value"], colors=line.get_color(), linewidth=2, alpha=0.8)


def _time_formatter() -> mdates.DateFormatter:
    return mdates.DateFormatter("%H:%M:%S")
