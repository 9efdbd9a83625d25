"""Lambda event source mappings (ESMs): a queue or a DynamoDB stream feeding a function.

>>> mapping = ensure_event_source_mapping(                                  # doctest: +SKIP
...     lab, function_name=worker.name, source_arn=queues.queue.arn, batch_size=10,
...     maximum_batching_window_seconds=0,
... )
>>> mapping.uuid, mapping.state, mapping.created, mapping.updated          # doctest: +SKIP
('6f1c…', 'Enabled', True, ())
>>> disable_event_source_mapping(lab, mapping.uuid).state                  # doctest: +SKIP
'Disabled'

One mapping per (function, source): found with ``ListEventSourceMappings`` (paginated), created
if missing, updated with only the settings that differ, and waited for (bounded) until it is
``Enabled`` (or ``Disabled``). Settings passed as ``None`` are not managed (the service's
default or the current value stays). ``StartingPosition`` only matters when a stream mapping
is created: it cannot be changed later.

``maximum_concurrency`` (queues only) caps how many concurrent invocations the mapping runs
(``ScalingConfig.MaximumConcurrency``, 2..1000); without it an SQS mapping scales up to
1,000 concurrent invocations (and the function's reserved concurrency, if any, throttles it),
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html,
https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html.
``maximum_concurrency=NO_CONCURRENCY_CAP`` (0) removes a cap (``ScalingConfig={}``).

On AWS, a mapping created right after its role changed can be refused until IAM propagates
("the function execution role does not have permissions..."): that error is retried (bounded).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from botocore.exceptions import ClientError

from helpers.aws.common import Ensured, error_code, error_message, partition, retry_on, tags_missing
from helpers.core.waiters import WaitFailed, wait_until

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "NO_CONCURRENCY_CAP",
    "MappingInfo",
    "MappingSettings",
    "delete_event_source_mapping",
    "disable_event_source_mapping",
    "dynamodb_stream_statement",
    "dynamodb_stream_statements",
    "enable_event_source_mapping",
    "ensure_event_source_mapping",
    "find_event_source_mappings",
    "get_event_source_mapping",
    "mapping_diff",
    "set_event_source_mapping_enabled",
]

StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
BUSY_STATES = ("Creating", "Enabling", "Disabling", "Updating")
ROLE_PROPAGATION_TIMEOUT = 120.0
# How long a mapping may sit in the other steady state right after a change before that counts as final.
STEADY_STATE_GRACE = 5.0
# maximum_concurrency=NO_CONCURRENCY_CAP removes ScalingConfig.MaximumConcurrency (ScalingConfig={}).
NO_CONCURRENCY_CAP = 0
MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY = 2, 1000


@dataclass(frozen=True)
class MappingInfo(Ensured):
    """An event source mapping. ``created``/``updated`` say what this call changed (``updated``: setting names)."""

    uuid: str
    state: str
    function_arn: str
    source_arn: str
    arn: str = ""
    batch_size: int | None = None
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency (None: no cap)
    state_transition_reason: str = ""
    last_processing_result: str = ""

    @property
    def enabled(self) -> bool:
        return self.state == "Enabled"


def _is_stream(source_arn: str) -> bool:
    return ":dynamodb:" in source_arn or ":kinesis:" in source_arn


def _info(mapping: dict[str, Any], *, created: bool = False, updated: Iterable[str] = ()) -> MappingInfo:
    return MappingInfo(
        uuid=mapping["UUID"],
        state=mapping.get("State", ""),
        function_arn=mapping.get("FunctionArn", ""),
        source_arn=mapping.get("EventSourceArn", ""),
        arn=mapping.get("EventSourceMappingArn", ""),
        batch_size=mapping.get("BatchSize"),
        maximum_concurrency=(mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        state_transition_reason=str(mapping.get("StateTransitionReason", "")),
        last_processing_result=str(mapping.get("LastProcessingResult", "")),
        created=created,
        updated=tuple(sorted(updated)),
    )


def _mapping_arn(lab: Lab, mapping: dict[str, Any]) -> str:
    return mapping.get("EventSourceMappingArn") or (
        f"arn:{partition(lab.region)}:lambda:{lab.region}:{lab.account_id}:event-source-mapping:{mapping['UUID']}"
    )


class MappingSettings(TypedDict, total=False):
    """The optional keywords of :func:`wanted_settings`, which :func:`ensure_event_source_mapping` passes on."""

    maximum_batching_window_seconds: int | None
    function_response_types: Iterable[str]
    bisect_batch_on_function_error: bool | None
    maximum_retry_attempts: int | None
    maximum_record_age_in_seconds: int | None
    on_failure_destination_arn: str | None
    maximum_concurrency: int | None


def wanted_settings(
    *,
    batch_size: int,
    maximum_batching_window_seconds: int | None = None,
    function_response_types: Iterable[str] = ("ReportBatchItemFailures",),
    bisect_batch_on_function_error: bool | None = None,
    maximum_retry_attempts: int | None = None,
    maximum_record_age_in_seconds: int | None = None,
    on_failure_destination_arn: str | None = None,
    maximum_concurrency: int | None = None,
) -> dict[str, Any]:
    """The mapping settings to manage, in the API's shape (None = not managed, left out).

    >>> wanted_settings(batch_size=10, maximum_retry_attempts=2,  # doctest: +NORMALIZE_WHITESPACE
    ...                 on_failure_destination_arn="arn:aws:sqs:r:1:q")
    {'BatchSize': 10, 'FunctionResponseTypes': ['ReportBatchItemFailures'], 'MaximumRetryAttempts': 2,
     'DestinationConfig': {'OnFailure': {'Destination': 'arn:aws:sqs:r:1:q'}}}
    >>> wanted_settings(batch_size=10, maximum_concurrency=5)["ScalingConfig"]
    {'MaximumConcurrency': 5}
    >>> wanted_settings(batch_size=10, maximum_concurrency=NO_CONCURRENCY_CAP)["ScalingConfig"]
    {}
    """
    if not 1 <= batch_size <= 10_000:
        raise ValueError(f"batch_size must be 1-10000, got {batch_size}")
    if (
        maximum_concurrency is not None
        and maximum_concurrency != NO_CONCURRENCY_CAP
        and (
            isinstance(maximum_concurrency, bool)
            or not isinstance(maximum_concurrency, int)
            or not MIN_MAXIMUM_CONCURRENCY <= maximum_concurrency <= MAX_MAXIMUM_CONCURRENCY
        )
    ):
        raise ValueError(
            f"maximum_concurrency must be {MIN_MAXIMUM_CONCURRENCY}-{MAX_MAXIMUM_CONCURRENCY} "
            f"(or NO_CONCURRENCY_CAP to remove the cap), got {maximum_concurrency!r}"
        )
    settings: dict[str, Any] = {"BatchSize": batch_size, "FunctionResponseTypes": sorted(set(function_response_types))}
    if maximum_batching_window_seconds is not None:
        settings["MaximumBatchingWindowInSeconds"] = maximum_batching_window_seconds
    if bisect_batch_on_function_error is not None:
        settings["BisectBatchOnFunctionError"] = bisect_batch_on_function_error
    if maximum_retry_attempts is not None:
        settings["MaximumRetryAttempts"] = maximum_retry_attempts
    if maximum_record_age_in_seconds is not None:
        settings["MaximumRecordAgeInSeconds"] = maximum_record_age_in_seconds
    if on_failure_destination_arn is not None:
        settings["DestinationConfig"] = {"OnFailure": {"Destination": on_failure_destination_arn}}
    if maximum_concurrency is not None:
        settings["ScalingConfig"] = (
            {} if maximum_concurrency == NO_CONCURRENCY_CAP else {"MaximumConcurrency": maximum_concurrency}
        )
    return settings


def mapping_diff(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``wanted`` that differ from GetEventSourceMapping's ``current``.

    >>> mapping_diff({"BatchSize": 10, "FunctionResponseTypes": ["ReportBatchItemFailures"],
    ...               "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": "arn:a"}}},
    ...              {"BatchSize": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"],
    ...               "DestinationConfig": {"OnFailure": {"Destination": "arn:a"}}})
    {'BatchSize': 5}
    >>> mapping_diff({"ScalingConfig": {}}, {"ScalingConfig": {"MaximumConcurrency": 5}})
    {'ScalingConfig': {'MaximumConcurrency': 5}}
    """
    diff: dict[str, Any] = {}
    for key, value in wanted.items():
        if key == "FunctionResponseTypes":
            same = sorted(current.get(key) or []) == sorted(value)
        elif key == "DestinationConfig":
            same = ((current.get(key) or {}).get("OnFailure") or {}).get("Destination") == value["OnFailure"][
                "Destination"
            ]
        elif key == "ScalingConfig":  # no ScalingConfig, {} and no MaximumConcurrency all mean "no cap"
            same = (current.get(key) or {}).get("MaximumConcurrency") == value.get("MaximumConcurrency")
        else:
            same = current.get(key) == value
        if not same:
            diff[key] = value
    return diff


def find_event_source_mappings(lab: Lab, function_name: str, source_arn: str | None = None) -> list[dict[str, Any]]:
    """The mappings of function ``function_name`` (from ``source_arn`` only, if given), oldest first."""
    lam = lab.client("lambda")
    params: dict[str, Any] = {"FunctionName": function_name}
    if source_arn:
        params["EventSourceArn"] = source_arn
    mappings: list[dict[str, Any]] = []
    try:
        for page in lam.get_paginator("list_event_source_mappings").paginate(**params):
            mappings.extend(page.get("EventSourceMappings", []))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return []
        raise
    function_arn_suffix = f":function:{function_name}"
    mappings = [
        m
        for m in mappings
        if (not source_arn or m.get("EventSourceArn") == source_arn)
        and (m.get("FunctionArn", "").endswith(function_arn_suffix) or function_name.startswith("arn:"))
    ]
    return sorted(mappings, key=lambda m: str(m.get("LastModified", "")))


def get_event_source_mapping(lab: Lab, uuid: str) -> dict[str, Any] | None:
    """GetEventSourceMapping's response, or None when the mapping does not exist."""
    try:
        return dict(lab.client("lambda").get_event_source_mapping(UUID=uuid))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _wait_settled(
    lab: Lab, uuid: str, *, want: str | None, timeout: float, grace: float | None = None
) -> dict[str, Any]:
    """Wait until the mapping is out of its transitional states (and in state ``want``, if given).

    A mapping that settles in the other steady state (e.g. ``Disabled`` when ``Enabled`` was
    asked) fails the wait once ``grace`` seconds have passed (it will not change by itself).
    """
    started = time.monotonic()
    grace = STEADY_STATE_GRACE if grace is None else grace

    def check() -> dict[str, Any] | None:
        mapping = get_event_source_mapping(lab, uuid)
        if mapping is None:
            raise WaitFailed(
                f"Event source mapping {uuid} disappeared while waiting for it to become {want or 'settled'}"
            )
        state = mapping.get("State")
        if state in BUSY_STATES:
            return None
        if want and state != want:
            if time.monotonic() - started < grace:
                return None
            raise WaitFailed(
                f"Event source mapping {uuid} is {state}, not {want} "
                f"(reason: {mapping.get('StateTransitionReason')!r}; "
                f"last processing result: {mapping.get('LastProcessingResult')!r})"
            )
        return mapping

    return wait_until(
        check,
        timeout=timeout,
        interval=0.5,
        max_interval=3,
        what=f"event source mapping {uuid} to become {want or 'settled'}",
    )


def _is_role_not_ready(error: ClientError) -> bool:
    """IAM has not propagated the execution role's new permissions to Lambda yet (real AWS)."""
    message = error_message(error).lower()
    return error_code(error) == "InvalidParameterValueException" and (
        "permission" in message or "ensure the role can perform" in message or "cannot be assumed" in message
    )


def _call_with_role_retry(call: Any, what: str) -> Any:
    return retry_on(
        call,
        should_retry=_is_role_not_ready,
        timeout=ROLE_PROPAGATION_TIMEOUT,
        what=f"{what} (IAM role propagation)",
        first_delay=2.0,
    )


def ensure_event_source_mapping(
    lab: Lab,
    *,
    function_name: str,
    source_arn: str,
    batch_size: int,
    starting_position: StartingPosition | None = None,
    enabled: bool = True,
    timeout: float = 120,
    **settings: Unpack[MappingSettings],
) -> MappingInfo:
    """Create or converge the one mapping from ``source_arn`` to ``function_name``; wait until it settles.

    ``starting_position`` is required for a stream source (DynamoDB/Kinesis) and refused for a queue;
    ``maximum_concurrency`` (2..1000, or NO_CONCURRENCY_CAP) is for a queue only.
    ``settings``: :class:`MappingSettings`, the mapping settings :func:`wanted_settings` manages.
    Duplicate mappings for the same pair (left by an interrupted run) are deleted, the oldest is kept.

    >>> ensure_event_source_mapping(  # doctest: +SKIP
    ...     lab, function_name=fn.name, source_arn=table.stream_arn, batch_size=10,
    ...     starting_position="TRIM_HORIZON", bisect_batch_on_function_error=True, maximum_retry_attempts=2,
    ...     maximum_record_age_in_seconds=3600, on_failure_destination_arn=failures.arn)
    """
    stream = _is_stream(source_arn)
    if stream and starting_position is None:
        raise ValueError(f"A stream source ({source_arn}) needs starting_position (TRIM_HORIZON or LATEST)")
    if not stream and starting_position is not None:
        raise ValueError(f"starting_position applies to streams only, not to {source_arn}")
    if stream and settings.get("maximum_concurrency") is not None:
        raise ValueError(f"maximum_concurrency applies to Amazon SQS sources only, not to {source_arn}")
    lam = lab.client("lambda")
    wanted = wanted_settings(batch_size=batch_size, **settings)
    want_state = "Enabled" if enabled else "Disabled"
    existing = find_event_source_mappings(lab, function_name, source_arn)
    existing = [m for m in existing if m.get("State") != "Deleting"]

    if not existing:
        params: dict[str, Any] = {
            "FunctionName": function_name,
            "EventSourceArn": source_arn,
            "Enabled": enabled,
            "Tags": lab.tags,
            **wanted,
        }
        if not params["FunctionResponseTypes"]:
            del params["FunctionResponseTypes"]
        if params.get("ScalingConfig") == {}:
            del params["ScalingConfig"]  # no cap is what a new mapping has anyway
        if starting_position is not None:
            params["StartingPosition"] = starting_position
        try:
            mapping = _call_with_role_retry(
                lambda: lam.create_event_source_mapping(**params),
                f"CreateEventSourceMapping {function_name} <- {source_arn}",
            )
        except ClientError as error:
            if error_code(error) != "ResourceConflictException":
                raise
            existing = find_event_source_mappings(lab, function_name, source_arn)  # created meanwhile
            if not existing:
                raise
        else:
            settled = _wait_settled(lab, mapping["UUID"], want=want_state, timeout=timeout)
            return _info(settled, created=True)

    keep, extras = existing[0], existing[1:]
    for extra in extras:
        delete_event_source_mapping(lab, extra["UUID"], timeout=timeout)
    current = keep
    if current.get("State") in BUSY_STATES:
        current = _wait_settled(lab, keep["UUID"], want=None, timeout=timeout)
    diff = mapping_diff(current, wanted)
    if current.get("State") not in (want_state,):
        diff["Enabled"] = enabled
    if diff:
        _call_with_role_retry(
            lambda: lam.update_event_source_mapping(UUID=keep["UUID"], **diff),
            f"UpdateEventSourceMapping {keep['UUID']}",
        )
    settled = _wait_settled(lab, keep["UUID"], want=want_state, timeout=timeout)
    _ensure_tags(lab, settled)
    return _info(settled, updated=diff)


def _ensure_tags(lab: Lab, mapping: dict[str, Any]) -> None:
    lam = lab.client("lambda")
    arn = _mapping_arn(lab, mapping)
    try:
        current = lam.list_tags(Resource=arn).get("Tags", {})
    except ClientError as error:
        if error_code(error) in ("InvalidParameterValueException", "ResourceNotFoundException"):
            return  # an endpoint without ESM tags
        raise
    missing = tags_missing(current, lab.tags)
    if missing:
        lam.tag_resource(Resource=arn, Tags=missing)


def set_event_source_mapping_enabled(lab: Lab, uuid: str, enabled: bool, *, timeout: float = 120) -> MappingInfo:
    """Pause (``enabled=False``) or resume a mapping; wait until it is ``Disabled``/``Enabled``.

    While a queue's mapping is disabled, messages wait in the queue (watch them pile up);
    a stream's mapping keeps its position and resumes where it stopped.
    """
    want = "Enabled" if enabled else "Disabled"
    current = get_event_source_mapping(lab, uuid)
    if current is None:
        raise LookupError(f"Event source mapping {uuid} does not exist")
    if current.get("State") in BUSY_STATES:
        current = _wait_settled(lab, uuid, want=None, timeout=timeout)
    if current.get("State") == want:
        return _info(current)
    lab.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=enabled)
    return _info(_wait_settled(lab, uuid, want=want, timeout=timeout), updated=("Enabled",))


def disable_event_source_mapping(lab: Lab, uuid: str, *, timeout: float = 120) -> MappingInfo:
    """Pause a mapping (see :func:`set_event_source_mapping_enabled`).

    >>> disable_event_source_mapping(lab, stack.worker.mapping.uuid).state      # doctest: +SKIP
    'Disabled'
    """
    return set_event_source_mapping_enabled(lab, uuid, False, timeout=timeout)


def enable_event_source_mapping(lab: Lab, uuid: str, *, timeout: float = 120) -> MappingInfo:
    """Resume a paused mapping (see :func:`set_event_source_mapping_enabled`)."""
    return set_event_source_mapping_enabled(lab, uuid, True, timeout=timeout)


def delete_event_source_mapping(lab: Lab, uuid: str, *, timeout: float = 120) -> None:
    """Delete a mapping and wait (bounded) until it is gone. A missing mapping is fine."""
    lam = lab.client("lambda")
    try:
        lam.delete_event_source_mapping(UUID=uuid)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return
        if error_code(error) != "ResourceInUseException":
            raise
        _wait_settled(lab, uuid, want=None, timeout=timeout)
        lam.delete_event_source_mapping(UUID=uuid)
    wait_until(
        lambda: get_event_source_mapping(lab, uuid) is None,
        timeout=timeout,
        interval=0.5,
        max_interval=5,
        what=f"event source mapping {uuid} to be deleted",
    )


def _check_stream_arn(stream_arn: str) -> str:
    """The table ARN of a DynamoDB stream ARN (``<table arn>/stream/<label>``)."""
    table_arn, sep, label = stream_arn.partition("/stream/")
    if not sep or not label or ":dynamodb:" not in table_arn or ":table/" not in table_arn:
        raise ValueError(f"{stream_arn!r} is not a DynamoDB stream ARN (arn:aws:dynamodb:...:table/<t>/stream/<label>)")
    return table_arn


def dynamodb_stream_statement(stream_arn: str, *, sid: str = "ReadOrdersStream") -> dict[str, Any]:
    """Read one DynamoDB stream: DescribeStream, GetRecords, GetShardIterator on exactly that stream ARN.

    A stream mapping's role also needs ``dynamodb:ListStreams``, which is authorised on the
    table's streams (``<table>/stream/*``): :func:`dynamodb_stream_statements` gives both.

    >>> s = dynamodb_stream_statement("arn:aws:dynamodb:us-east-1:1:table/a-orders/stream/2024-01-01T00:00:00.000")
    >>> s["Action"], s["Resource"]  # doctest: +NORMALIZE_WHITESPACE
    (['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
     ['arn:aws:dynamodb:us-east-1:1:table/a-orders/stream/2024-01-01T00:00:00.000'])
    """
    _check_stream_arn(stream_arn)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
        "Resource": [stream_arn],
    }


def dynamodb_stream_statements(stream_arn: str) -> list[dict[str, Any]]:
    """Everything a DynamoDB stream mapping's role needs (as AWS SAM's ``DynamoDBStreamReadPolicy``):
    read the stream itself, and ``dynamodb:ListStreams`` on that table's streams only.

    >>> [s["Resource"] for s in dynamodb_stream_statements("arn:aws:dynamodb:us-east-1:1:table/a-orders/stream/L")]
    [['arn:aws:dynamodb:us-east-1:1:table/a-orders/stream/L'], ['arn:aws:dynamodb:us-east-1:1:table/a-orders/stream/*']]
    """
    table_arn = _check_stream_arn(stream_arn)
    return [
        dynamodb_stream_statement(stream_arn),
        {
            "Sid": "ListOrdersTableStreams",
            "Effect": "Allow",
            "Action": ["dynamodb:ListStreams"],
            "Resource": [f"{table_arn}/stream/*"],
        },
    ]
