"""Grading's pure parts (no cloud): the step registry, how a step's status and verifications become a
grade, one pipeline_status per grading pass, and the prerequisites check that shares the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from helpers.learn.prerequisites import NOTEBOOKS, PrerequisiteMissing, require_step
from helpers.pipeline import steps
from helpers.teach.grade import STEPS, GradeReport, StepCheck, grade_lab, grade_step, register_step


@dataclass(frozen=True)
class FakeTarget:
    is_local: bool = True

    def describe(self) -> str:
        return "a fake cloud"


@dataclass
class FakeLab:
    """Just what grading reads from a Lab when the status functions are fakes."""

    prefix: str = "alice"
    target: FakeTarget = field(default_factory=FakeTarget)
    sts_fails: bool = False

    def client(self, service: str) -> Any:
        lab = self

        class Sts:
            def get_caller_identity(self) -> dict[str, str]:
                if lab.sts_fails:
                    raise ConnectionError("connection refused")
                return {"Account": "000000000000"}

        assert service == "sts", f"grading a fake step must not call {service}"
        return Sts()


@pytest.fixture
def registry():
    """Restore the real registry after a test registers fake steps."""
    saved = dict(STEPS)
    yield STEPS
    STEPS.clear()
    STEPS.update(saved)


def test_the_series_steps_are_registered_with_their_notebooks() -> None:
    series = {
        "01": "01_order_ingestion.ipynb",
        "02": "02_dynamodb_streams.ipynb",
        "03": "03_sqs_workers.ipynb",
        "04": "04_high_value_pipes.ipynb",
        "05": "05_dead_letter_queue.ipynb",
    }
    assert {step: STEPS[step].notebook for step in series} == series
    assert NOTEBOOKS["00"] == "00_setup.ipynb" and NOTEBOOKS["03"] == "03_sqs_workers.ipynb"
    with pytest.raises(ValueError, match="two digits"):
        register_step(StepCheck("4", "x.ipynb", "x", lambda lab: {}))


def test_a_step_is_done_only_when_ready_and_every_verification_passes() -> None:
    lab = FakeLab()
    ready = StepCheck(
        "91",
        "91.ipynb",
        "ready",
        lambda lab: {"ready": True, "missing": []},
        lambda lab, status: [(True, "a", ""), (True, "b", "")],
    )
    wrong = StepCheck(
        "92",
        "92.ipynb",
        "misconfigured",
        lambda lab: {"ready": True, "missing": []},
        lambda lab, status: [(True, "a", ""), (False, "the DLQ is empty", "redrive it")],
    )
    missing = StepCheck(
        "93",
        "93.ipynb",
        "missing",
        lambda lab: {"ready": False, "missing": ["queue q"]},
        lambda lab, status: pytest.fail("verify must not run when the step is not deployed"),
    )

    def broken_status(lab: Any) -> dict[str, Any]:
        raise RuntimeError("AccessDenied")

    broken = StepCheck("94", "94.ipynb", "broken", broken_status)

    assert grade_step(lab, ready).done
    graded = grade_step(lab, wrong)
    assert not graded.done and graded.problems == ["the DLQ is empty (redrive it)"]
    graded = grade_step(lab, missing)
    assert not graded.done and graded.problems == ["missing queue q"]
    graded = grade_step(lab, broken)
    assert not graded.done and graded.error == "could not inspect: RuntimeError: AccessDenied"


def test_grade_lab_reports_the_chosen_steps_in_order(registry: dict) -> None:
    register_step(StepCheck("97", "97.ipynb", "later", lambda lab: {"ready": False, "missing": ["pipe p"]}))
    register_step(StepCheck("96", "96.ipynb", "earlier", lambda lab: {"ready": True, "missing": []}))
    report = grade_lab(FakeLab(), ["97", "96"])
    assert isinstance(report, GradeReport)
    assert [s.step for s in report.steps] == ["96", "97"] and report.done == ["96"]
    data = report.to_dict()
    assert data["prefix"] == "alice" and data["done"] == ["96"]
    assert data["steps"][1]["problems"] == ["missing pipe p"]
    summary = report.summary()
    assert "1/2 steps done correctly" in summary and "✘ 97 later — missing pipe p" in summary
    with pytest.raises(KeyError, match="unknown step"):
        grade_lab(FakeLab(), ["98"])


def test_by_default_only_steps_whose_notebook_exists_are_graded(registry: dict) -> None:
    register_step(StepCheck("99", "99_not_written_yet.ipynb", "future", lambda lab: {"ready": True, "missing": []}))
    for step in list(STEPS):
        if step != "99":
            STEPS[step] = StepCheck(
                step, STEPS[step].notebook, STEPS[step].title, lambda lab: {"ready": True, "missing": []}
            )
    graded = [s.step for s in grade_lab(FakeLab()).steps]
    assert "99" not in graded and "01" in graded


def test_one_pipeline_status_per_grading_pass(monkeypatch: pytest.MonkeyPatch, registry: dict) -> None:
    calls = []

    def fake_pipeline_status(lab: Any) -> dict[str, Any]:
        calls.append(lab.prefix)
        return {"steps": {s: {"ready": False, "missing": [f"part of step {s}"]} for s in ("01", "02", "03", "05")}}

    monkeypatch.setattr(steps, "pipeline_status", fake_pipeline_status)
    report = grade_lab(FakeLab(), ["01", "02", "03", "05"])
    assert calls == ["alice"], "steps 01, 02, 03 and 05 share one pipeline_status per pass"
    assert [s.missing for s in report.steps] == [[f"part of step {s}"] for s in ("01", "02", "03", "05")]
    grade_lab(FakeLab(prefix="bob"), ["02", "03"])
    assert calls == ["alice", "bob"]
    steps._pipeline(FakeLab())  # outside a pass: not cached
    assert calls == ["alice", "bob", "alice"]


def test_require_step_names_the_notebook_to_run(registry: dict) -> None:
    register_step(StepCheck("95", "95_pipes.ipynb", "pipes", lambda lab: {"ready": False, "missing": ["pipe p"]}))
    with pytest.raises(PrerequisiteMissing) as raised:
        require_step(FakeLab(), "95")
    message = str(raised.value)
    assert "Run 95_pipes.ipynb (prefix 'alice' on a fake cloud)" in message and "Missing: pipe p." in message
    assert raised.value._render_traceback_() == message.splitlines()  # Jupyter shows this, no stack trace

    register_step(StepCheck("95", "95_pipes.ipynb", "pipes", lambda lab: {"ready": True, "missing": []}))
    require_step(FakeLab(), "95")

    with pytest.raises(PrerequisiteMissing, match="orderlab cloud start"):
        require_step(FakeLab(sts_fails=True), "00")
    with pytest.raises(KeyError, match="unknown step"):
        require_step(FakeLab(), "42")
