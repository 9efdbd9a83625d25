"""Grade a learner: inspect one prefix's deployed resources and say which steps are done correctly.

A registry of steps (:data:`STEPS`), one :class:`StepCheck` each: ``status(lab)`` is read-only and
returns at least ``{"ready": bool, "missing": [sentences]}``; ``verify(lab, status)`` (optional)
returns ``[(ok, what, hint), …]`` — what "done correctly" means beyond "it exists". The same
entries serve ``require_step`` (helpers/learn/prerequisites.py), ``orderlab grade`` and the class report.
A new step registers itself with one call at the bottom of this module::

    register_step(StepCheck("06", "06_alarms_alerts.ipynb", "alarms and alerts", status=alerts_status))

>>> report = grade_lab(Lab.connect(prefix="alice"))          # doctest: +SKIP
>>> print(report.summary())                                   # doctest: +SKIP
grade of prefix 'alice' on local cloud …: 4/5 steps done correctly
  ✔ 01 order ingestion
  ✘ 05 dead-letter queue — missing SQS queue alice-order-dlq (the dead-letter queue)
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = ["STEPS", "GradeReport", "StepCheck", "StepGrade", "grade_lab", "register_step", "step_status"]

Verdict = tuple[bool, str, str]  # (ok, what, hint) — the shape of helpers.learn.checks.Checklist results


@dataclass(frozen=True)
class StepCheck:
    """One gradeable step of the series."""

    step: str                                   # "01"
    notebook: str                               # "01_order_ingestion.ipynb"
    title: str                                  # "order ingestion"
    status: Callable[["Lab"], dict[str, Any]]   # read-only: {"ready": bool, "missing": [...], ...}
    verify: Callable[["Lab", dict[str, Any]], list[Verdict]] | None = None


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
        return {"prefix": self.prefix, "target": self.target, "seconds": round(self.seconds, 2),
                "done": self.done, "steps": [asdict(s) | {"problems": s.problems} for s in self.steps]}

    def summary(self) -> str:
        lines = [f"grade of prefix {self.prefix!r} on {self.target}: {len(self.done)}/{len(self.steps)} steps done correctly"]
        for s in self.steps:
            lines.append(f"  {'✔' if s.done else '✘'} {s.step} {s.title}" + ("" if s.done else f" — {'; '.join(s.problems)}"))
        return "\n".join(lines)


STEPS: dict[str, StepCheck] = {}


def register_step(check: StepCheck) -> StepCheck:
    """Add (or replace) a step in the registry; steps are graded in the order of their numbers."""
    if len(check.step) != 2 or not check.step.isdigit():
        raise ValueError(f"a step is two digits, e.g. '04'; got {check.step!r}")
    STEPS[check.step] = check
    return check


def step_status(lab: "Lab", step: str) -> dict[str, Any]:
    """The registered step's ``status(lab)``; ``KeyError`` naming the known steps if there is none."""
    try:
        check = STEPS[step]
    except KeyError:
        raise KeyError(f"no step {step!r} is registered in helpers.teach.grade (known: {', '.join(sorted(STEPS))})") from None
    return check.status(lab)


def _notebook_exists(check: StepCheck) -> bool:
    from helpers.teach.runner import NOTEBOOKS_DIR

    return (NOTEBOOKS_DIR / check.notebook).exists()


def grade_step(lab: "Lab", check: StepCheck) -> StepGrade:
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


def grade_lab(lab: "Lab", steps: Iterable[str] | None = None) -> GradeReport:
    """Grade ``steps`` (default: every registered step whose notebook exists) for ``lab``'s prefix.

    Read-only: it lists and describes resources, it never creates or changes any.
    """
    started = time.monotonic()
    wanted = sorted(STEPS) if steps is None else sorted(steps)
    checks = [STEPS[s] for s in wanted if s in STEPS and (steps is not None or _notebook_exists(STEPS[s]))]
    unknown = [s for s in wanted if s not in STEPS]
    if unknown:
        raise KeyError(f"unknown step(s) {unknown}; registered: {sorted(STEPS)}")
    with _pipeline_cache():
        grades = [grade_step(lab, check) for check in checks]
    return GradeReport(lab.prefix, lab.target.describe(), grades, time.monotonic() - started)


# ---------------------------------------------------------------------------------------------
# The steps of the series
# ---------------------------------------------------------------------------------------------

# During one grading pass pipeline_status (steps 1-3 and 5 at once) is asked once, not once per step.
_PIPELINE: ContextVar[dict[tuple[str, str], dict[str, Any]] | None] = ContextVar("_PIPELINE", default=None)


@contextmanager
def _pipeline_cache() -> Iterator[None]:
    token = _PIPELINE.set({})
    try:
        yield
    finally:
        _PIPELINE.reset(token)


def _pipeline(lab: "Lab") -> dict[str, Any]:
    from helpers.pipeline.stacks import pipeline_status

    memo = _PIPELINE.get()
    if memo is None:
        return pipeline_status(lab)
    key = (lab.prefix, lab.target.describe())
    if key not in memo:
        memo[key] = pipeline_status(lab)
    return memo[key]


def _ingestion(lab: "Lab") -> dict[str, Any]:
    return _pipeline(lab)["steps"]["01"]


def _verify_ingestion(lab: "Lab", status: dict[str, Any]) -> list[Verdict]:
    from helpers.pipeline.stacks import ROUTES

    api = status["api"]
    return [
        (set(ROUTES) <= set(api.get("routes", [])), f"the HTTP API has the routes {', '.join(ROUTES)}",
         "run step 3 of 01_order_ingestion again"),
        (str(api.get("orders_url") or "").endswith("/orders"), "the API has an address for /orders", ""),
    ]


def _verify_streams(lab: "Lab", status: dict[str, Any]) -> list[Verdict]:
    from helpers.pipeline.stacks import STREAM_VIEW_TYPE

    mapping = lab.client("lambda").get_event_source_mapping(UUID=status["mapping"]["uuid"])
    on_failure = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    table = lab.client("dynamodb").describe_table(TableName=lab.name("orders"))["Table"]
    return [
        ((table.get("StreamSpecification") or {}).get("StreamViewType") == STREAM_VIEW_TYPE,
         f"the orders table streams {STREAM_VIEW_TYPE}", "run step 1 of 02_dynamodb_streams again"),
        (on_failure == status["stream_failures"]["arn"], "failed stream batches go to the stream-failures queue",
         "run step 3 of 02_dynamodb_streams again"),
        (bool(mapping.get("BisectBatchOnFunctionError")), "a failing stream batch is bisected", ""),
    ]


def _verify_workers(lab: "Lab", status: dict[str, Any]) -> list[Verdict]:
    from helpers.pipeline.stacks import ORDER_WORKER_TIMEOUT

    mapping = lab.client("lambda").get_event_source_mapping(UUID=status["mapping"]["uuid"])
    attributes = lab.client("sqs").get_queue_attributes(
        QueueUrl=status["queue"]["url"], AttributeNames=["VisibilityTimeout"])["Attributes"]
    return [
        ("ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
         "the worker reports partial batch failures", "run step 2 of 03_sqs_workers again"),
        (int(attributes.get("VisibilityTimeout", 0)) >= 6 * ORDER_WORKER_TIMEOUT,
         f"the queue's visibility timeout is at least 6× the worker's timeout ({6 * ORDER_WORKER_TIMEOUT} s)",
         "AWS recommends it for Lambda consumers; run step 1 of 03_sqs_workers again"),
    ]


def _verify_dlq(lab: "Lab", status: dict[str, Any]) -> list[Verdict]:
    from helpers.aws.sqs import queue_counts

    count = status.get("max_receive_count")
    dlq = status["dlq"]
    return [
        (count is not None and 1 <= int(count) <= 10, f"the order queue redrives after a few receives (maxReceiveCount {count})",
         "run step 1 of 05_dead_letter_queue again"),
        (queue_counts(lab, dlq["url"]).visible == 0, f"no message is waiting in the dead-letter queue {dlq['name']}",
         "redrive it (step 4 of 05_dead_letter_queue) after the fix"),
    ]


def _routing(lab: "Lab") -> dict[str, Any]:
    from helpers.pipeline.step4 import routing_status  # step 4's own module (written with notebook 04)

    return routing_status(lab)


def _alerting(lab: "Lab") -> dict[str, Any]:
    from helpers.pipeline.step6 import alerting_status  # step 6's own module (written with notebook 06)

    return alerting_status(lab)


register_step(StepCheck("01", "01_order_ingestion.ipynb", "order ingestion", _ingestion, _verify_ingestion))
register_step(StepCheck("02", "02_dynamodb_streams.ipynb", "DynamoDB Streams",
                        lambda lab: _pipeline(lab)["steps"]["02"], _verify_streams))
register_step(StepCheck("03", "03_sqs_workers.ipynb", "SQS workers",
                        lambda lab: _pipeline(lab)["steps"]["03"], _verify_workers))
register_step(StepCheck("04", "04_high_value_pipes.ipynb", "high-value routing (EventBridge Pipes)", _routing))
register_step(StepCheck("05", "05_dead_letter_queue.ipynb", "dead-letter queue and redrive",
                        lambda lab: _pipeline(lab)["steps"]["05"], _verify_dlq))
register_step(StepCheck("06", "06_alerts_observability.ipynb", "alarms, alerts and observability", _alerting))
