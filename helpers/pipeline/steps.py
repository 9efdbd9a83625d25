"""The steps of the series, each with how to tell it is in place and done correctly: a registry.

One :class:`StepCheck` per step (its number, notebook and title come from the catalog):
``status(lab)`` is read-only and returns at least ``{"ready": bool, "missing": [sentences]}``;
``verify(lab, status)`` (optional) returns ``[(ok, what, hint), …]`` — what "done correctly" means
beyond "it exists". The same entries serve ``require_step`` (:mod:`helpers.learn.prerequisites`),
``orderlab grade`` and the class report (:mod:`helpers.teach.grade`). Another step registers
itself with one call::

    register_step(StepCheck("07", "07_load_and_chaos.ipynb", "load and chaos", status=chaos_status))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from helpers.aws.sqs import queue_counts
from helpers.core.lab import Lab
from helpers.pipeline import catalog
from helpers.pipeline.step1 import ROUTES
from helpers.pipeline.step2 import STREAM_VIEW_TYPE
from helpers.pipeline.step3 import ORDER_WORKER_TIMEOUT
from helpers.pipeline.step4 import routing_status
from helpers.pipeline.step5 import pipeline_status
from helpers.pipeline.step6 import alerting_status

__all__ = ["STEPS", "StepCheck", "Verdict", "pipeline_status_cache", "register_step", "step_status"]

Verdict = tuple[bool, str, str]  # (ok, what, hint) — the shape of helpers.learn.checks.Checklist results


@dataclass(frozen=True)
class StepCheck:
    """One gradeable step of the series."""

    step: str  # "01"
    notebook: str  # "01_order_ingestion.ipynb"
    title: str  # "order ingestion"
    status: Callable[[Lab], dict[str, Any]]  # read-only: {"ready": bool, "missing": [...], ...}
    verify: Callable[[Lab, dict[str, Any]], list[Verdict]] | None = None


STEPS: dict[str, StepCheck] = {}


def register_step(check: StepCheck) -> StepCheck:
    """Add (or replace) a step in the registry; steps are graded in the order of their numbers."""
    if len(check.step) != 2 or not check.step.isdigit():
        raise ValueError(f"a step is two digits, e.g. '04'; got {check.step!r}")
    STEPS[check.step] = check
    return check


def step_status(lab: Lab, step: str) -> dict[str, Any]:
    """The registered step's ``status(lab)``; ``KeyError`` naming the known steps if there is none."""
    try:
        check = STEPS[step]
    except KeyError:
        raise KeyError(
            f"no step {step!r} is registered in helpers.pipeline.steps (known: {', '.join(sorted(STEPS))})"
        ) from None
    return check.status(lab)


# During one grading pass pipeline_status (steps 1-3 and 5 at once) is asked once, not once per step.
_PIPELINE: ContextVar[dict[tuple[str, str], dict[str, Any]] | None] = ContextVar("_PIPELINE", default=None)


@contextmanager
def pipeline_status_cache() -> Iterator[None]:
    """Within this block, :func:`pipeline_status` is asked once per prefix and target."""
    token = _PIPELINE.set({})
    try:
        yield
    finally:
        _PIPELINE.reset(token)


def _pipeline(lab: Lab) -> dict[str, Any]:
    memo = _PIPELINE.get()
    if memo is None:
        return pipeline_status(lab)
    key = (lab.prefix, lab.target.describe())
    if key not in memo:
        memo[key] = pipeline_status(lab)
    return memo[key]


def _ingestion(lab: Lab) -> dict[str, Any]:
    return _pipeline(lab)["steps"]["01"]


def _verify_ingestion(lab: Lab, status: dict[str, Any]) -> list[Verdict]:
    api = status["api"]
    return [
        (
            set(ROUTES) <= set(api.get("routes", [])),
            f"the HTTP API has the routes {', '.join(ROUTES)}",
            "run step 3 of 01_order_ingestion again",
        ),
        (str(api.get("orders_url") or "").endswith("/orders"), "the API has an address for /orders", ""),
    ]


def _verify_streams(lab: Lab, status: dict[str, Any]) -> list[Verdict]:
    mapping = lab.client("lambda").get_event_source_mapping(UUID=status["mapping"]["uuid"])
    on_failure = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    table = lab.client("dynamodb").describe_table(TableName=lab.name(catalog.ORDERS_COMPONENT))["Table"]
    return [
        (
            (table.get("StreamSpecification") or {}).get("StreamViewType") == STREAM_VIEW_TYPE,
            f"the orders table streams {STREAM_VIEW_TYPE}",
            "run step 1 of 02_dynamodb_streams again",
        ),
        (
            on_failure == status["stream_failures"]["arn"],
            "failed stream batches go to the stream-failures queue",
            "run step 3 of 02_dynamodb_streams again",
        ),
        (bool(mapping.get("BisectBatchOnFunctionError")), "a failing stream batch is bisected", ""),
    ]


def _verify_workers(lab: Lab, status: dict[str, Any]) -> list[Verdict]:
    mapping = lab.client("lambda").get_event_source_mapping(UUID=status["mapping"]["uuid"])
    attributes = lab.client("sqs").get_queue_attributes(
        QueueUrl=status["queue"]["url"], AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    return [
        (
            "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
            "the worker reports partial batch failures",
            "run step 2 of 03_sqs_workers again",
        ),
        (
            int(attributes.get("VisibilityTimeout", 0)) >= 6 * ORDER_WORKER_TIMEOUT,
            f"the queue's visibility timeout is at least 6× the worker's timeout ({6 * ORDER_WORKER_TIMEOUT} s)",
            "AWS recommends it for Lambda consumers; run step 1 of 03_sqs_workers again",
        ),
    ]


def _verify_dlq(lab: Lab, status: dict[str, Any]) -> list[Verdict]:
    count = status.get("max_receive_count")
    dlq = status["dlq"]
    return [
        (
            count is not None and 1 <= int(count) <= 10,
            f"the order queue redrives after a few receives (maxReceiveCount {count})",
            "run step 1 of 05_dead_letter_queue again",
        ),
        (
            queue_counts(lab, dlq["url"]).visible == 0,
            f"no message is waiting in the dead-letter queue {dlq['name']}",
            "redrive it (step 4 of 05_dead_letter_queue) after the fix",
        ),
    ]


def _registered(
    number: str,
    status: Callable[[Lab], dict[str, Any]],
    verify: Callable[[Lab, dict[str, Any]], list[Verdict]] | None = None,
) -> StepCheck:
    declared = catalog.step(number)
    return register_step(StepCheck(declared.number, declared.notebook, declared.title, status, verify))


_registered("01", _ingestion, _verify_ingestion)
_registered("02", lambda lab: _pipeline(lab)["steps"]["02"], _verify_streams)
_registered("03", lambda lab: _pipeline(lab)["steps"]["03"], _verify_workers)
_registered("04", routing_status)
_registered("05", lambda lab: _pipeline(lab)["steps"]["05"], _verify_dlq)
_registered("06", alerting_status)
