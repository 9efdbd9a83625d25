"""DynamoDB resource-based policies with AWS's revision ids and messages.

>>> revision_conflict("1", "2", "orders")[62:]
'Requested update for policy with revision id 1, but the policy associated to target table orders has revision id 2.'
>>> next_revision("1700000000000", now_ms=1)
'1700000000001'
"""

from __future__ import annotations

import json
import time
from collections.abc import MutableMapping
from typing import Any

NOT_FOUND = "Resource-based policy not found for the provided ResourceArn: "


def next_revision(last: str | None, *, now_ms: int | None = None) -> str:
    """A revision id: a millisecond timestamp, later than ``last`` (AWS's ids compare by time)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if last and last.isdigit():
        now = max(now, int(last) + 1)
    return str(now)


def revision_conflict(expected: str | None, current: str | None, table: str) -> str | None:
    """PolicyNotFoundException's message when ``ExpectedRevisionId`` is not the policy's, else None."""
    if expected is None or expected == current:
        return None
    if expected == "NO_POLICY":
        if current is None:
            return None
        return (
            f"{NOT_FOUND}Requested policy update expecting none to be present for table {table}, "
            f"but a policy exists with revision id {current}."
        )
    return (
        f"{NOT_FOUND}Requested update for policy with revision id {expected}, "
        f"but the policy associated to target table {table} has revision id {current}."
    )


def same_policy(one: str, other: str) -> bool:
    """Putting the policy already in place is a no-op on AWS (same revision id)."""
    try:
        return bool(json.loads(one) == json.loads(other))
    except ValueError:
        return one == other


def put(policies: MutableMapping[str, Any], arn: str, policy: str, table: str, expected: str | None) -> tuple[str, str]:
    """``("ok", revision)`` or ``("conflict", message)``; stores the policy under ``arn``."""
    existing = policies.get(arn)
    current = existing.get("RevisionId") if existing else None
    message = revision_conflict(expected, current, table)
    if message:
        return "conflict", message
    if existing and same_policy(existing.get("Policy", ""), policy):
        return "ok", str(current)
    revision = next_revision(current)
    policies[arn] = {"Policy": policy, "RevisionId": revision}
    return "ok", revision
