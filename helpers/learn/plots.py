"""Inline plots for the notebooks (matplotlib).

>>> fig = latency_plot([12.0, 9.5, 11.2], title="POST /orders")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def latency_plot(latencies_ms: Sequence[float], *, title: str):
    """Histogram of request latencies with p50/p95 marked."""
    values = np.asarray(list(latencies_ms), dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#4c72b0", alpha=0.85)
    for q, style in ((50, "--"), (95, ":")):
        value = float(np.percentile(values, q))
        ax.axvline(value, color="black", linestyle=style, label=f"p{q} = {value:.1f} ms")
    ax.set(title=title, xlabel="latency (ms)", ylabel="requests")
    ax.legend()
    fig.tight_layout()
    return fig


def status_counts_plot(orders: pd.DataFrame, *, title: str = "Orders by status"):
    """Bar chart of how many orders are in each status."""
    counts = orders["status"].value_counts().sort_index() if not orders.empty else pd.Series(dtype=int)
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar(counts.index.astype(str), counts.values, color="#55a868")
    for x, y in enumerate(counts.values):
        ax.text(x, y, str(int(y)), ha="center", va="bottom")
    ax.set(title=title, ylabel="orders")
    fig.tight_layout()
    return fig


def queue_timeline_plot(samples: pd.DataFrame, *, title: str = "Queue depth over time"):
    """Visible and in-flight messages per queue over time (from ``tracking.sample_queue_counts``)."""
    fig, ax = plt.subplots(figsize=(8, 3))
    if not samples.empty:
        for label, group in samples.groupby("label", sort=False):
            ax.plot(group["t"], group["visible"], label=f"{label}: visible")
            ax.plot(group["t"], group["in_flight"], linestyle="--", label=f"{label}: in flight")
    ax.set(title=title, xlabel="seconds", ylabel="messages")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return fig


def status_timeline_plot(events: pd.DataFrame, *, title: str = "Order status over time"):
    """One row per order: when it was created and when it reached its final status."""
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.35 * len(events) + 1)))
    colours = {"CONFIRMED": "#1a7f37", "REJECTED": "#cf222e", "PENDING": "#9a6700"}
    for row, item in enumerate(events.itertuples()):
        ax.plot([item.created_s, item.final_s], [row, row], color=colours.get(item.status, "grey"), linewidth=4)
        ax.text(item.final_s, row, f"  {item.status}", va="center", fontsize="small")
    ax.set_yticks(range(len(events)), [str(label) for label in events["label"]])
    ax.set(title=title, xlabel="seconds since the first order")
    fig.tight_layout()
    return fig


def routing_plot(frame: pd.DataFrame, threshold: float, *, title: str = "Which orders the pipe routed"):
    """Each order's total (log scale), coloured by whether it reached the high-value queue, and the threshold."""
    fig, ax = plt.subplots(figsize=(8, max(2.2, 0.32 * len(frame) + 1)))
    for row, item in enumerate(frame.itertuples()):
        colour = "#8250df" if item.routed else "#8c959f"
        ax.barh(row, item.total, color=colour)
        label = f"  {item.priority} ({item.customerTier})" if item.routed else "  not routed"
        ax.text(item.total, row, label, va="center", fontsize="small")
    ax.axvline(float(threshold), color="black", linestyle="--", label=f"threshold {float(threshold):g}")
    ax.set_yticks(range(len(frame)), [f"{o[:8]}…" for o in frame["orderId"]])
    ax.set_xscale("log")
    ax.set(title=title, xlabel="order total (log scale)")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


# -- step 6: CloudWatch metrics and alarm states --------------------------------------------------

ALARM_STATE_COLOURS = {"OK": "#1a7f37", "ALARM": "#cf222e", "INSUFFICIENT_DATA": "#8c959f"}


def metric_lines_plot(
    frame: pd.DataFrame,
    *,
    title: str,
    ylabel: str = "",
    labels: Sequence[str] | None = None,
    markers=None,
    kind: str = "step",
):
    """One line per ``label`` of a metric frame (``timestamp``, ``label``, ``value``: see
    ``helpers.ops.observability.metric_frame``); ``markers`` (``{text: datetime}``) draws labelled vertical lines.

    ``kind="step"`` suits gauges (a queue's depth holds until the next point); ``kind="stem"`` suits
    counts per period (a period without a point had nothing: CloudWatch returns no zero for it).
    """
    _check_kind(kind)
    fig, ax = plt.subplots(figsize=(8, 3))
    wanted = list(labels) if labels is not None else (list(dict.fromkeys(frame["label"])) if not frame.empty else [])
    offsets = _stem_offsets(frame, wanted) if kind == "stem" else {}
    for label in wanted:
        series = frame[frame["label"] == label] if not frame.empty else frame
        if series.empty:
            ax.plot([], [], label=f"{label} (no data)")
            continue
        _draw(ax, series, label, kind, offset=offsets.get(label))
    for text, moment in (markers or {}).items():
        ax.axvline(moment, color="black", linestyle=":", linewidth=1)
        ax.annotate(
            text, (moment, 1), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right", fontsize="x-small"
        )
    ax.set(title=title, xlabel="time (UTC)", ylabel=ylabel)
    ax.xaxis.set_major_formatter(_time_formatter())
    if wanted:
        ax.legend(loc="upper left", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def lambda_metrics_plot(frame: pd.DataFrame, *, title: str = "Lambda: invocations, errors, duration"):
    """Invocations and errors (bars) over average duration (line), per function, from a metric frame
    whose labels end in ``Invocations``, ``Errors`` and ``Duration`` (``observability.lambda_metrics``)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
    if not frame.empty:
        counts = [str(label) for label in dict.fromkeys(frame["label"]) if not str(label).endswith("Duration")]
        offsets = _stem_offsets(frame, counts)
        for label, series in frame.groupby("label", sort=False):
            if str(label).endswith("Duration"):
                bottom.plot(series["timestamp"], series["value"], marker="o", markersize=3, label=label)
            else:
                _draw(
                    top,
                    series,
                    str(label),
                    "stem",
                    colour="#cf222e" if str(label).endswith("Errors") else None,
                    offset=offsets.get(str(label)),
                )
    top.set(title=title, ylabel="count per period")
    bottom.set(xlabel="time (UTC)", ylabel="duration (ms)")
    for ax in (top, bottom):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize="x-small")
    bottom.xaxis.set_major_formatter(_time_formatter())
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def alarm_timeline_plot(intervals: pd.DataFrame, *, title: str = "Alarm states over time", markers=None):
    """One row per alarm, coloured by state (OK green, ALARM red, INSUFFICIENT_DATA grey), from
    ``helpers.ops.observability.state_intervals``; ``markers`` (``{text: datetime}``) as in
    :func:`metric_lines_plot`."""
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch

    alarms = list(dict.fromkeys(intervals["alarm"])) if not intervals.empty else []
    fig, ax = plt.subplots(figsize=(8, max(1.8, 0.45 * len(alarms) + 1.2)))
    for row, alarm in enumerate(alarms):
        for item in intervals[intervals["alarm"] == alarm].itertuples():
            start, end = mdates.date2num(item.start), mdates.date2num(item.end)
            ax.broken_barh(
                [(start, max(end - start, 1e-6))],
                (row - 0.35, 0.7),
                facecolors=ALARM_STATE_COLOURS.get(item.state, "#d0d7de"),
            )
    for text, moment in (markers or {}).items():
        ax.axvline(mdates.date2num(moment), color="black", linestyle=":", linewidth=1)
        ax.annotate(
            text,
            (mdates.date2num(moment), 1),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize="x-small",
        )
    ax.set_yticks(range(len(alarms)), alarms)
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(_time_formatter())
    ax.set(title=title, xlabel="time (UTC)")
    ax.legend(
        handles=[Patch(color=c, label=s) for s, c in ALARM_STATE_COLOURS.items()],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize="small",
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _check_kind(kind: str) -> None:
    if kind not in ("step", "stem"):
        raise ValueError(f"kind must be 'step' or 'stem', got {kind!r}")


def _stem_offsets(frame: pd.DataFrame, labels: Sequence[str]) -> dict[str, pd.Timedelta]:
    """Side-by-side positions for several count series sharing timestamps (like grouped bars):
    each label is shifted by a fraction of the period (the smallest gap between timestamps)."""
    if frame.empty or len(labels) < 2:
        return {}
    stamps = pd.Series(sorted(set(frame["timestamp"])))
    gaps = stamps.diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    period = gaps.min() if not gaps.empty else pd.Timedelta(seconds=60)
    step = period * 0.6 / len(labels)
    return {label: step * (i - (len(labels) - 1) / 2) for i, label in enumerate(labels)}


def _draw(
    ax, series: pd.DataFrame, label: str, kind: str, colour: str | None = None, offset: pd.Timedelta | None = None
) -> None:
    """One metric series: a step line (gauge) or stems from zero (count per period)."""
    if kind == "step":
        ax.step(series["timestamp"], series["value"], where="post", marker="o", markersize=3, label=label, color=colour)
        return
    x = series["timestamp"] + offset if offset is not None else series["timestamp"]
    (line,) = ax.plot(x, series["value"], linestyle="none", marker="o", markersize=4, label=label, color=colour)
    ax.vlines(x, 0, series["value"], colors=line.get_color(), linewidth=2, alpha=0.8)


def _time_formatter():
    import matplotlib.dates as mdates

    return mdates.DateFormatter("%H:%M:%S")
