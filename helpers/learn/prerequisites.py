"""'Before this' checks: a notebook run out of order says what to run, not a stack trace.

>>> require_step(lab, "02")     # raises PrerequisiteMissing naming the notebook to run  # doctest: +SKIP
✔ step 02 (02_dynamodb_streams.ipynb) is in place for prefix 'alice'

The steps and how to tell whether one is in place come from the registry in :mod:`helpers.pipeline.steps`
(the same entries ``orderlab grade`` reports), so a new step (04, 06, …) registered there is
checked here too. ``require_step(lab, "00")`` checks only that the target answers.
"""

from __future__ import annotations

from helpers.core.errors import FriendlyError
from helpers.core.lab import Lab
from helpers.learn import exercises  # noqa: F401 - registers the %%solution cell magic in the notebook's kernel
from helpers.pipeline.steps import STEPS, step_status

__all__ = ["NOTEBOOKS", "PrerequisiteMissing", "require_step"]


class PrerequisiteMissing(FriendlyError, RuntimeError):
    """An earlier step of the series has not been run (on this target and prefix).

    Jupyter shows only its message (which notebook to run, with which prefix, what is missing).
    """


def _notebooks() -> dict[str, str]:
    return {"00": "00_setup.ipynb", **{step: check.notebook for step, check in STEPS.items()}}


NOTEBOOKS = _notebooks()


def _target_answers(lab: Lab) -> list[str]:
    try:
        lab.client("sts").get_caller_identity()
    except Exception as error:  # any failure here means the same thing to a learner: no cloud
        hint = (
            "start it with `orderlab cloud start` (or run 00_setup.ipynb)"
            if lab.target.is_local
            else "check your credentials/profile and region"
        )
        return [f"an answer from {lab.target.describe()} ({type(error).__name__}: {error}); {hint}"]
    return []


def require_step(lab: Lab, step: str) -> None:
    """Raise :class:`PrerequisiteMissing` unless ``step`` is deployed for this lab's prefix."""
    if step == "00":
        missing = _target_answers(lab)
        notebook = "00_setup.ipynb"
    else:
        if step not in STEPS:
            raise KeyError(f"unknown step {step!r}; known: {', '.join(sorted(STEPS))}")
        notebook = STEPS[step].notebook
        missing = _target_answers(lab) or list(step_status(lab, step).get("missing", []))
    if missing:
        raise PrerequisiteMissing(
            f"⛔ This notebook needs step {step} first. Run {notebook} (prefix {lab.prefix!r} on "
            f"{lab.target.describe()}), then run this cell again.\n"
            f"   Missing: {'; '.join(missing)}."
        )
    print(f"✔ step {step} ({notebook}) is in place for prefix {lab.prefix!r}")
