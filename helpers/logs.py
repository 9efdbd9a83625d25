"""Read a function's CloudWatch Logs from a notebook (Powertools writes one JSON object per line).

>>> line = find_json_log(lab, "alice-stream-processor", lambda entry: entry.get("orderId") == order_id)  # doctest: +SKIP
>>> line["message"]                                                                                      # doctest: +SKIP
'Order forwarded to the queue'
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from helpers.waiters import wait_until


def log_group_of(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def json_log_entries(lab, function_name: str, *, contains: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """The function's structured (JSON) log lines, oldest first; ``contains`` filters on a term."""
    logs = lab.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": log_group_of(function_name)}
    if contains:
        kwargs["filterPattern"] = f'"{contains}"'
    entries: list[dict[str, Any]] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
            for event in page.get("events", []):
                text = event.get("message", "").strip()
                if text.startswith("{"):
                    try:
                        entries.append(json.loads(text))
                    except ValueError:
                        continue
            if len(entries) >= limit:
                break
    except logs.exceptions.ResourceNotFoundException:
        return []
    return entries


def find_json_log(lab, function_name: str, predicate: Callable[[dict[str, Any]], bool], *,
                  contains: str | None = None, timeout: float = 30) -> dict[str, Any]:
    """Wait (bounded) for a structured log line of the function that ``predicate`` accepts.

    Log delivery takes a few seconds on AWS; locally it is immediate.
    """
    def lookup() -> dict[str, Any] | None:
        return next((entry for entry in json_log_entries(lab, function_name, contains=contains) if predicate(entry)), None)

    return wait_until(lookup, timeout=timeout, interval=1.0, what=f"a matching log line of {function_name}")
