"""'Before this' checks: a notebook run out of order says what to run, not a stack trace.

>>> require_step(lab, "02")     # raises PrerequisiteMissing naming the notebook to run  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

NOTEBOOKS = {
    "01": "01_order_ingestion.ipynb",
    "02": "02_dynamodb_streams.ipynb",
    "03": "03_sqs_workers.ipynb",
    "05": "05_dead_letter_queue.ipynb",
}


class PrerequisiteMissing(RuntimeError):
    """An earlier step of the series has not been run (on this target and prefix)."""


def _missing_for(lab, step: str) -> list[str]:
    from helpers import stacks

    checks: dict[str, Callable[[Any], dict[str, Any]]] = {"01": stacks.ingestion_status}
    if hasattr(stacks, "pipeline_status"):
        checks.update({"02": lambda lab: stacks.pipeline_status(lab)["steps"]["02"],
                       "03": lambda lab: stacks.pipeline_status(lab)["steps"]["03"],
                       "05": lambda lab: stacks.pipeline_status(lab)["steps"]["05"]})
    status = checks[step](lab)
    return list(status.get("missing", []))


def require_step(lab, step: str) -> None:
    """Raise :class:`PrerequisiteMissing` unless ``step`` is deployed for this lab's prefix."""
    missing = _missing_for(lab, step)
    if missing:
        raise PrerequisiteMissing(
            f"Run {NOTEBOOKS[step]} first (prefix {lab.prefix!r} on {lab.target.describe()}): "
            f"missing {'; '.join(missing)}."
        )
    print(f"✔ step {step} ({NOTEBOOKS[step]}) is in place")
