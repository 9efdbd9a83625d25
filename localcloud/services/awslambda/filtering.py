"""Lambda event filtering (MiniStack ``services/lambda_svc.py``: ``_apply_filter_criteria``, ESM create/update).

What it changes and why: docs/local-cloud-services.md, `localcloud/services/awslambda/filtering.py`.

    from localcloud.services.awslambda.filtering import apply_filter_criteria
    kept = apply_filter_criteria(records, {"FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}})
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from localcloud.patches import PatchError, wrap
from localcloud.services.eventbridge.patterns import EventPattern, InvalidEventPattern, compile_pattern

logger = logging.getLogger("localcloud.esm")

INVALID_FILTER_MESSAGE = "Invalid filter pattern definition."


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def filter_criteria_error(data: dict) -> str | None:
    """The InvalidParameterValueException message for the request's FilterCriteria, or None when valid."""
    if "FilterCriteria" not in data or data["FilterCriteria"] is None:
        return None
    criteria = data["FilterCriteria"]
    filters = criteria.get("Filters", []) if isinstance(criteria, dict) else None
    if not isinstance(filters, list):
        return INVALID_FILTER_MESSAGE
    for entry in filters:
        pattern = entry.get("Pattern") if isinstance(entry, dict) else None
        if not isinstance(pattern, str) or not pattern:
            return INVALID_FILTER_MESSAGE
        try:
            compile_pattern(pattern)
        except InvalidEventPattern as error:
            logger.info("refusing FilterCriteria pattern %r: %s", pattern, error.reason)
            return INVALID_FILTER_MESSAGE
    return None


# ---------------------------------------------------------------------------
# Filtering
# ---------------------------------------------------------------------------


def _filters(esm: dict) -> list[EventPattern]:
    """The mapping's compiled filters; ones that do not compile (stored before validation) are skipped."""
    criteria = esm.get("FilterCriteria") or {}
    compiled = []
    for entry in (criteria.get("Filters") or []) if isinstance(criteria, dict) else []:
        pattern = entry.get("Pattern") if isinstance(entry, dict) else None
        if not pattern:
            continue
        try:
            compiled.append(compile_pattern(pattern))
        except InvalidEventPattern as error:
            logger.warning("ESM %s: ignoring an invalid filter pattern: %s", esm.get("UUID"), error)
    return compiled


def _body_format(pattern: dict) -> str | None:
    """``json`` when the filter's ``body`` is an object, ``plain`` when it is a list of values, else None."""
    alternatives = [pattern, *[alt for alt in pattern.get("$or", []) if isinstance(alt, dict)]]
    for alternative in alternatives:
        body = alternative.get("body")
        if isinstance(body, dict):
            return "json"
        if isinstance(body, list):
            return "plain"
    return None


def _sqs_view(record: dict) -> tuple[dict, str]:
    """The SQS record as the filter sees it, and whether its body is ``json`` or ``plain``."""
    view = dict(record)
    body = record.get("body")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, (dict, list)):
            view["body"] = parsed
            return view, "json"
    return view, "plain"


def record_matches(record: dict, filters: list[EventPattern], kinesis_view: Callable[[dict], dict]) -> bool:
    """True when the record satisfies any filter (Lambda ORs them)."""
    if record.get("eventSource") == "aws:sqs" or ("body" in record and "receiptHandle" in record):
        view, body_format = _sqs_view(record)
        for event_pattern in filters:
            wanted = _body_format(event_pattern.source)
            if wanted is not None and wanted != body_format:
                continue  # the body and the filter disagree on JSON: Lambda drops the message
            if event_pattern.matches(view):
                return True
        return False
    view = kinesis_view(record) if isinstance(record.get("kinesis"), dict) else record
    return any(event_pattern.matches(view) for event_pattern in filters)


def apply_filter_criteria(
    records: list[dict],
    esm: dict,
    kinesis_view: Callable[[dict], dict] = lambda record: record,
    drop_sqs: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """The records of a batch that match the mapping's FilterCriteria (all of them without filters).

    ``drop_sqs`` deletes SQS messages dropped next to kept ones; when nothing is kept the caller
    (MiniStack's SQS poll) deletes the whole batch itself.
    """
    filters = _filters(esm)
    if not filters:
        return records
    kept: list[dict] = []
    dropped: list[dict] = []
    for record in records:
        (kept if record_matches(record, filters, kinesis_view) else dropped).append(record)
    if kept and dropped and drop_sqs is not None:
        sqs_dropped = [record for record in dropped if record.get("eventSource") == "aws:sqs"]
        if sqs_dropped:
            drop_sqs(sqs_dropped)
    return kept


def _delete_sqs_records(records: list[dict]) -> None:
    """Delete the messages of filtered-out SQS records (they count as processed)."""
    from ministack.services import sqs

    by_queue: dict[str, set[str]] = {}
    for record in records:
        if record.get("receiptHandle"):
            by_queue.setdefault(record.get("eventSourceARN", ""), set()).add(record["receiptHandle"])
    for arn, handles in by_queue.items():
        with sqs._queues_lock:
            queue = sqs._queue_by_arn(arn)
            if queue is None:
                continue
            queue["messages"] = [m for m in queue["messages"] if m.get("receipt_handle") not in handles]


# ---------------------------------------------------------------------------
# apply()
# ---------------------------------------------------------------------------


def apply() -> None:
    from ministack.services import lambda_svc, sqs

    missing = [
        n
        for n in (
            "_apply_filter_criteria",
            "_kinesis_record_for_match",
            "_create_esm",
            "_update_esm",
            "error_response_json",
        )
        if not hasattr(lambda_svc, n)
    ]
    missing += [f"sqs.{n}" for n in ("_queue_by_arn", "_queues_lock") if not hasattr(sqs, n)]
    if missing:
        raise PatchError(f"cannot patch Lambda event filtering: MiniStack lacks {', '.join(missing)}")

    def make_filter(original: Callable[..., Any]) -> Callable[..., Any]:
        def _apply_filter_criteria(records: list[dict], esm: dict) -> list[dict]:
            return apply_filter_criteria(
                records, esm, kinesis_view=lambda_svc._kinesis_record_for_match, drop_sqs=_delete_sqs_records
            )

        return _apply_filter_criteria

    # MiniStack's pollers and lambda_event_sources look the function up on the module at call time.
    wrap(lambda_svc, "_apply_filter_criteria", make_filter)
