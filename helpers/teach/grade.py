"""Grade a learner: inspect one prefix's deployed resources and say which steps are done correctly,
and how each exercise stands (done by the learner / solution applied / not done).

Each step's checks come from the registry in :mod:`helpers.pipeline.steps` (:data:`STEPS`, re-exported
here); each exercise's state from the marks its check and its solution leave on the lab
(:mod:`helpers.learn.progress`): the check cell's own verdict, so the grade and the notebook agree.
``watch_class`` shows every learner sharing one cloud in a table refreshed every few seconds.

>>> report = grade_lab(Lab.connect(prefix="alice"))          # doctest: +SKIP
>>> print(report.summary())                                   # doctest: +SKIP
grade of prefix 'alice' on local cloud …: 4/5 steps done correctly
  ✔ 01 order ingestion
  ✘ 05 dead-letter queue — missing SQS queue alice-order-dlq (the dead-letter queue)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from helpers.core.lab import Lab
from helpers.core.naming import PREFIX_TAG
from helpers.core.paths import NOTEBOOKS_DIR
from helpers.learn.exercises import series_exercises
from helpers.learn.progress import DONE_BY_LEARNER, NOT_DONE, SOLUTION_APPLIED, exercise_marks, exercise_state
from helpers.pipeline.catalog import ORDERS_COMPONENT
from helpers.pipeline.steps import STEPS, StepCheck, Verdict, pipeline_status_cache, register_step, step_status

__all__ = [
    "STEPS",
    "ExerciseGrade",
    "GradeReport",
    "StepCheck",
    "StepGrade",
    "class_prefixes_on",
    "grade_exercises",
    "grade_lab",
    "progress_table",
    "register_step",
    "step_status",
    "watch_class",
]


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
class ExerciseGrade:
    """How one exercise stands for one prefix: ``state`` is done by the learner / solution applied / not done."""

    exercise: str
    title: str
    notebook: str
    state: str
    error: str = ""


_STATE_MARK = {DONE_BY_LEARNER: "✔", SOLUTION_APPLIED: "◆", NOT_DONE: "·"}


@dataclass
class GradeReport:
    prefix: str
    target: str
    steps: list[StepGrade]
    seconds: float = 0.0
    exercises: list[ExerciseGrade] = field(default_factory=list)

    @property
    def done(self) -> list[str]:
        return [s.step for s in self.steps if s.done]

    def exercises_in(self, state: str) -> list[str]:
        return [e.exercise for e in self.exercises if e.state == state]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "target": self.target,
            "seconds": round(self.seconds, 2),
            "done": self.done,
            "steps": [asdict(s) | {"problems": s.problems} for s in self.steps],
            "exercises": [asdict(e) for e in self.exercises],
        }

    def summary(self) -> str:
        lines = [
            f"grade of prefix {self.prefix!r} on {self.target}: {len(self.done)}/{len(self.steps)} steps done correctly"
        ]
        for s in self.steps:
            lines.append(
                f"  {'✔' if s.done else '✘'} {s.step} {s.title}" + ("" if s.done else f" — {'; '.join(s.problems)}")
            )
        if self.exercises:
            lines.append(
                f"exercises: {len(self.exercises_in(DONE_BY_LEARNER))} done by the learner, "
                f"{len(self.exercises_in(SOLUTION_APPLIED))} solution applied, "
                f"{len(self.exercises_in(NOT_DONE))} not done"
            )
            for e in self.exercises:
                lines.append(
                    f"  {_STATE_MARK.get(e.state, '?')} {e.exercise} {e.title} — {e.state}"
                    + (f" ({e.error})" if e.error else "")
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


def grade_exercises(lab: Lab, steps: Iterable[str] | None = None) -> list[ExerciseGrade]:
    """The state of every exercise of the series (of ``steps`` only, if given) for ``lab``'s prefix.

    A solution the lab recorded wins; else the last verdict of the exercise's own check cell.
    Reading the marks fails for all of them at once, reported on each, never raised.
    """
    wanted = set(steps) if steps is not None else None
    exercises = [e for e in series_exercises(NOTEBOOKS_DIR) if wanted is None or e.step in wanted]
    try:
        marks = exercise_marks(lab)
    except Exception as error:  # unreachable cloud, no permission: say so on each exercise
        reason = f"could not read the marks: {type(error).__name__}: {error}"
        return [ExerciseGrade(e.exercise_id, e.title, e.notebook, NOT_DONE, reason) for e in exercises]
    return [ExerciseGrade(e.exercise_id, e.title, e.notebook, exercise_state(marks, e.exercise_id)) for e in exercises]


def grade_lab(lab: Lab, steps: Iterable[str] | None = None, *, exercises: bool = True) -> GradeReport:
    """Grade ``steps`` (default: every registered step whose notebook exists) for ``lab``'s prefix,
    and (``exercises``) the exercises of those steps' notebooks.

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
    exercise_grades = grade_exercises(lab, None if steps is None else wanted) if exercises else []
    return GradeReport(lab.prefix, lab.target.describe(), grades, time.monotonic() - started, exercise_grades)


# ---------------------------------------------------------------------------------------------
# A class at a glance: every learner sharing one cloud
# ---------------------------------------------------------------------------------------------


def class_prefixes_on(lab: Lab) -> list[str]:
    """Every learner prefix with an orders table on ``lab``'s cloud (local cloud or AWS account).

    The tagging API lists the prefixes in use; a prefix counts as a learner once its orders table
    exists (a stack's own prefix, e.g. ``alice-iac``, names its table differently).
    """
    from helpers.aws.common import paginate

    tagging = lab.client("resourcegroupstaggingapi")
    in_use = set(paginate(tagging, "get_tag_values", "TagValues", Key=PREFIX_TAG))
    tables = set(paginate(lab.client("dynamodb"), "list_tables", "TableNames"))
    return sorted(p for p in in_use if f"{p}-{ORDERS_COMPONENT}" in tables)


def progress_table(reports: list[GradeReport], *, now: str = "") -> str:
    """A plain-text table: one row per learner, steps done and one column per exercise.

    >>> report = GradeReport("alice", "local", [], exercises=[
    ...     ExerciseGrade("01.1", "Your own order", "01.ipynb", "done by the learner"),
    ...     ExerciseGrade("01.2", "Say no", "01.ipynb", "solution applied"),
    ...     ExerciseGrade("02.1", "Logs", "02.ipynb", "not done")])
    >>> print(progress_table([report]))
    learner  steps  01.1  01.2  02.1  learner  solution  not done
    alice    0/0     ✔     ◆     ·          1         1         1
    ✔ done by the learner   ◆ solution applied   · not done
    """
    exercise_ids = sorted(
        {e.exercise for r in reports for e in r.exercises}, key=lambda i: tuple(map(int, i.split(".")))
    )
    width = max([len("learner"), *(len(r.prefix) for r in reports)])
    head = f"{'learner':<{width}}  steps  " + "  ".join(exercise_ids) + "  learner  solution  not done"
    lines = [*([now] if now else []), head]
    for r in reports:
        states = {e.exercise: e.state for e in r.exercises}
        cells = "  ".join(f"{_STATE_MARK.get(states.get(i, NOT_DONE), '?'):^4}" for i in exercise_ids)
        counts = [len(r.exercises_in(state)) for state in (DONE_BY_LEARNER, SOLUTION_APPLIED, NOT_DONE)]
        steps = f"{len(r.done)}/{len(r.steps)}"
        lines.append(f"{r.prefix:<{width}}  {steps:<5}  {cells}  {counts[0]:>7}  {counts[1]:>8}  {counts[2]:>8}")
    if not reports:
        lines.append("(no learner prefix with an orders table yet)")
    lines.append(
        f"{_STATE_MARK[DONE_BY_LEARNER]} done by the learner   {_STATE_MARK[SOLUTION_APPLIED]} solution applied   "
        f"{_STATE_MARK[NOT_DONE]} not done"
    )
    return "\n".join(lines)


def watch_class(
    connect: Callable[[str | None], Lab],
    prefixes: list[str] | None = None,
    *,
    interval: float = 5.0,
    iterations: int | None = None,
    out: TextIO | None = None,
    clear: bool | None = None,
) -> list[GradeReport]:
    """Print :func:`progress_table` of every learner every ``interval`` s (``iterations`` times, or until Ctrl-C).

    ``connect(prefix)`` gives a prefix's Lab (``connect(None)``: any, to discover the prefixes when
    ``prefixes`` is None, again at every refresh so learners who join appear). Returns the last reports.
    """
    import sys
    from datetime import UTC, datetime

    out = out or sys.stdout
    clear = out.isatty() if clear is None else clear
    reports: list[GradeReport] = []
    count = 0
    try:
        while iterations is None or count < iterations:
            if count:
                time.sleep(interval)
            who = prefixes if prefixes is not None else class_prefixes_on(connect(None))
            reports = [grade_lab(connect(prefix)) for prefix in who]
            stamp = (
                f"class progress at {datetime.now(UTC):%H:%M:%S} UTC — {len(reports)} learner(s), "
                f"refreshed every {interval:g} s (Ctrl-C stops)"
            )
            out.write(("\x1b[2J\x1b[H" if clear else "") + progress_table(reports, now=stamp) + "\n")
            out.flush()
            count += 1
    except KeyboardInterrupt:
        out.write("\nstopped\n")
    return reports
