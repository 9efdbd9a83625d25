"""Notebook 08 observes the hand-built and the stack-built pipeline at once: their waits overlap."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from helpers.ops import iac


@dataclass(frozen=True)
class FakeLab:
    prefix: str


def test_both_pipelines_are_observed_at_once_and_each_answer_keeps_its_name(monkeypatch) -> None:
    both_in_flight = threading.Barrier(2, timeout=30)
    seen: list[str] = []

    def observe(lab: FakeLab, *, timeout: float, alarm_timeout: float) -> str:
        both_in_flight.wait()  # breaks (an error) unless the other observation is running too
        seen.append(lab.prefix)
        return f"{lab.prefix}: {timeout}/{alarm_timeout}"

    monkeypatch.setattr(iac, "observe_pipeline", observe)
    answers = iac.observe_pipelines({"hand-built": FakeLab("alice"), "stack": FakeLab("alice-iac")}, alarm_timeout=5)
    assert answers == {"hand-built": "alice: 90.0/5", "stack": "alice-iac: 90.0/5"}
    assert sorted(seen) == ["alice", "alice-iac"]


def test_a_failed_observation_is_raised(monkeypatch) -> None:
    def observe(lab: FakeLab, *, timeout: float, alarm_timeout: float) -> str:
        raise RuntimeError(f"prefix {lab.prefix!r} has no order-dlq queue")

    monkeypatch.setattr(iac, "observe_pipeline", observe)
    with pytest.raises(RuntimeError, match="no order-dlq"):
        iac.observe_pipelines({"stack": FakeLab("bob-iac")})
