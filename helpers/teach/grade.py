"""Grade a learner: inspect one prefix's deployed resources and say which steps are done correctly.

Each step's checks come from the registry in :mod:`helpers.pipeline.steps` (:data:`STEPS`, re-exported
here); this module runs them for one prefix and reports.

>>> report = grade_lab(Lab.connect(prefix="alice"))          # doctest: +SKIP
>>> print(report.summary())                                   # doctest: +SKIP
grade of prefix 'alice' on local cloud …: 4/5 steps done correctly
  ✔ 01 order ingestion
  ✘ 05 dead-letter queue — missing SQS queue alice-order-dlq (the dead-letter queue)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from helpers.core.lab import Lab
from helpers.core.paths import NOTEBOOKS_DIR
from helpers.pipeline.steps import STEPS, StepCheck, Verdict, pipeline_status_cache, register_step, step_status

__all__ = ["STEPS", "GradeReport", "StepCheck", "StepGrade", "grade_lab", "register_step", "step_status"]


@dataclass
class StepGrade:
    """How one step stands for one prefix. ``done``: deployed and every verification passed."""

    step: str
    notebook: str
    title: str
    done: bool
    missing: list[str] = field(default_factory=list)
    checks: list[Verdict] = field(default_factory=list)
    error: str = ""

    @property
    def problems(self) -> list[str]:
        """Sentences for a report: what is missing, which verifications failed (with their hint), any error."""
        failed = [f"{what}" + (f" ({hint})" if hint else "") for ok, what, hint in self.checks if not ok]
        return [*(f"missing {m}" for m in self.missing), *failed, *([self.error] if self.error else [])]


@dataclass
class GradeReport:
    prefix: str
    target: str
    steps: list[StepGrade]
    seconds: float = 0.0

    @property
    def done(self) -> list[str]:
        return [s.step for s in self.steps if s.done]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "target": self.target,
            "seconds": round(self.seconds, 2),
            "done": self.done,
            "steps": [asdict(s) | {"problems": s.problems} for s in self.steps],
        }

    def summary(self) -> str:
        lines = [
            f"grade of prefix {self.prefix!r} on {self.target}: {len(self.done)}/{len(self.steps)} steps done correctly"
        ]
        for s in self.steps:
            lines.append(
                f"  {'✔' if s.done else '✘'} {s.step} {s.title}" + ("" if s.done else f" — {'; '.join(s.problems)}")
            )
        return "\n".join(lines)


def _notebook_exists(check: StepCheck) -> bool:
    return (NOTEBOOKS_DIR / check.notebook).exists()


def grade_step(lab: Lab, check: StepCheck) -> StepGrade:
    """Grade one step; an exception while inspecting is reported on the step, never raised."""
    grade = StepGrade(check.step, check.notebook, check.title, done=False)
    try:
        status = check.status(lab)
        grade.missing = list(status.get("missing", []))
        if status.get("ready") and check.verify is not None:
            grade.checks = [(bool(ok), what, hint) for ok, what, hint in check.verify(lab, status)]
        grade.done = bool(status.get("ready")) and all(ok for ok, _, _ in grade.checks)
    except Exception as error:  # one broken step must not hide the others' grades
        grade.error = f"could not inspect: {type(error).__name__}: {error}"
    return grade


def grade_lab(lab: Lab, steps: Iterable[str] | None = None) -> GradeReport:
    """Grade ``steps`` (default: every registered step whose notebook exists) for ``lab``'s prefix.

    Read-only: it lists and describes resources, it never creates or changes any.
    """
    started = time.monotonic()
    wanted = sorted(STEPS) if steps is None else sorted(steps)
    checks = [STEPS[s] for s in wanted if s in STEPS and (steps is not None or _notebook_exists(STEPS[s]))]
    unknown = [s for s in wanted if s not in STEPS]
    if unknown:
        raise KeyError(f"unknown step(s) {unknown}; registered: {sorted(STEPS)}")
    with pipeline_status_cache():
        grades = [grade_step(lab, check) for check in checks]
    return GradeReport(lab.prefix, lab.target.describe(), grades, time.monotonic() - started)
