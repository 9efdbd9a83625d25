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
