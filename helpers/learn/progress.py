"""Exercise progress, recorded on the lab itself: which checks passed, which solutions were applied.

Every mark is a tag on the prefix's orders table (the one resource every step after 00 has), so it
works the same on every target, any tool that can read the lab can grade it (``orderlab grade``),
and cleanup removes the marks with the table. One tag per exercise (AWS allows 50 per resource):
``orderlab:exercise:03.1`` = ``solution applied``, ``passed`` or ``not done``, then the UTC time. A
recorded solution stays: a check run after it does not overwrite it.

>>> marks = {"orderlab:exercise:03.1": "solution applied 2026-12-04T15:00:00Z",
...          "orderlab:exercise:03.2": "passed 2026-12-04T15:01:00Z",
...          "orderlab:exercise:04.1": "not done 2026-12-04T15:02:00Z"}
>>> [exercise_state(marks, e) for e in ("03.1", "03.2", "04.1", "04.2")]
['solution applied', 'done by the learner', 'not done', 'not done']
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from botocore.exceptions import ClientError

from helpers.aws.common import error_code
from helpers.core.lab import Lab
from helpers.core.naming import tag_list
from helpers.pipeline.catalog import ORDERS_COMPONENT

__all__ = [
    "DONE_BY_LEARNER",
    "NOT_DONE",
    "SOLUTION_APPLIED",
    "ExerciseState",
    "exercise_marks",
    "exercise_state",
    "record_check",
    "record_solution",
]

MARK_KEY = "orderlab:exercise:"
PASSED = "passed"
ExerciseState = Literal["solution applied", "done by the learner", "not done"]
SOLUTION_APPLIED: Final = "solution applied"
DONE_BY_LEARNER: Final = "done by the learner"
NOT_DONE: Final = "not done"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table_arn(lab: Lab) -> str:
    return str(lab.client("dynamodb").describe_table(TableName=lab.name(ORDERS_COMPONENT))["Table"]["TableArn"])


def _mark(lab: Lab, key: str, value: str) -> None:
    lab.client("dynamodb").tag_resource(ResourceArn=_table_arn(lab), Tags=tag_list({key: f"{value} {_now()}"}))


def record_solution(lab: Lab, exercise_id: str) -> None:
    """Mark on the lab that the solution of ``exercise_id`` was applied (the solution magic calls it)."""
    _mark(lab, MARK_KEY + exercise_id, SOLUTION_APPLIED)


def record_check(lab: Lab, exercise_id: str, passed: bool) -> None:
    """Mark on the lab the verdict of the last run of ``exercise_id``'s check, unless its solution was applied."""
    if exercise_state(exercise_marks(lab), exercise_id) == SOLUTION_APPLIED:
        return
    _mark(lab, MARK_KEY + exercise_id, PASSED if passed else NOT_DONE)


def exercise_marks(lab: Lab) -> dict[str, str]:
    """The progress tags of ``lab``'s orders table (``{}`` when it does not exist yet)."""
    client = lab.client("dynamodb")
    try:
        arn = _table_arn(lab)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return {}
        raise
    tags: dict[str, str] = {}
    token: str | None = None
    while True:
        page = client.list_tags_of_resource(ResourceArn=arn, **({"NextToken": token} if token else {}))
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        token = page.get("NextToken")
        if not token:
            break
    return {k: v for k, v in tags.items() if k.startswith(MARK_KEY)}


def exercise_state(marks: dict[str, str], exercise_id: str) -> ExerciseState:
    """One exercise's state from the marks (:func:`exercise_marks`)."""
    mark = marks.get(MARK_KEY + exercise_id, "")
    if mark.startswith(SOLUTION_APPLIED):
        return SOLUTION_APPLIED
    if mark.startswith(PASSED):
        return DONE_BY_LEARNER
    return NOT_DONE
