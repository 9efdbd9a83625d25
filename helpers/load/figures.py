"""Notebook 07's figures for the portfolio: the burst, its API latency, the kills, the ledger, the alarm.

>>> figures = chaos_figures(result, ledger, kills, started_at=watch.started_at, alarm_history=history)  # doctest: +SKIP
>>> save_figures(portfolio_dir(lab), CHAOS_FIGURES, figures)  # helpers.ops.figures  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from helpers.load.chaos import Kill
from helpers.load.ledger import Ledger
from helpers.load.traffic import LoadResult

__all__ = ["chaos_figures"]


def chaos_figures(
    result: LoadResult,
    ledger: Ledger,
    kills: Sequence[tuple[str, Kill]],
    *,
    started_at: float,
    alarm_history: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """What the run measured, JSON-friendly; times in seconds since ``started_at`` (epoch s, the burst's start).

    ``kills`` are (label, :class:`~helpers.load.chaos.Kill`) pairs; ``alarm_history`` the DLQ alarm's
    state changes (:func:`helpers.ops.observability.alarm_history_frame`), if step 6 is in place.
    """
    summary = ledger.summary()
    timeline = []
    if alarm_history is not None:
        for row in alarm_history.itertuples(index=False):
            timeline.append(
                {
                    "t_s": round(row.timestamp.timestamp() - started_at, 1),
                    "alarm": row.alarm,
                    "from": row.old_state,
                    "to": row.new_state,
                }
            )
    alert = ledger.alert
    return {
        "orders": len(result.sent),
        "accepted": result.accepted_count,
        "rate_per_s": round(result.rate, 1),
        "api_latency_ms": {k: v for k, v in result.latency_stats().items() if k != "n"},
        "killed_environments": [
            {"function": label, "count": len(kill.pids), "t_s": round(kill.wall_time - started_at, 1)}
            for label, kill in kills
        ],
        "ledger": {
            "accounted": summary["accounted"],
            "accepted": summary["accepted"],
            "accounted_pct": summary["accounted_pct"],
            "outcomes": summary["outcomes"],
            "dlq_orders": summary["dlq_orders"],
            "poison_sent": summary["poison_sent"],
            "applied_twice": summary["applied_twice"],
        },
        "alarm": None
        if alert is None
        else {"name": alert.alarm_name, "fired": alert.alarm_fired, "alert_arrived": alert.alert_arrived},
        "alarm_timeline": timeline,
    }
