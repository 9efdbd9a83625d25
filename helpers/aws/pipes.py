"""EventBridge Pipes: create or converge a pipe, start/stop it, and wait for its state.

>>> pipe = ensure_pipe(lab, "high-value-pipe", source_arn=stream_arn, target_arn=queue.arn,   # doctest: +SKIP
...                    role_arn=role_arn, filter_patterns=[HIGH_VALUE_PATTERN], enrichment_arn=enricher.arn)
>>> pipe.state                                                                               # doctest: +SKIP
'RUNNING'
>>> stop_pipe(lab, pipe.name).state                                                          # doctest: +SKIP
'STOPPED'

A pipe's state moves through CREATING / STARTING / STOPPING / UPDATING before it settles
(https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_DescribePipe.html); boto3 has no
waiter for pipes, so :func:`wait_pipe_state` polls DescribePipe, bounded. Re-running :func:`ensure_pipe`
changes nothing that is already as asked (the source of a pipe cannot change: a different source is an
error naming the pipe to delete).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, paginate, retry_on, tags_missing
from helpers.core.waiters import WaitFailed, wait_until

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "PipeConflict",
    "PipeInfo",
    "PipeSettings",
    "delete_pipe",
    "describe_pipe",
    "ensure_pipe",
    "find_pipes",
    "pipe_arn",
    "pipe_definition",
    "start_pipe",
    "stop_pipe",
    "wait_pipe_state",
]

SETTLED = {"RUNNING", "STOPPED"}
FAILED = {
    "CREATE_FAILED",
    "UPDATE_FAILED",
    "START_FAILED",
    "STOP_FAILED",
    "CREATE_ROLLBACK_FAILED",
    "DELETE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_FAILED",
}
DEFAULT_TIMEOUT = 180.0
_ROLE_NOT_READY = ("role", "assume", "not authorized", "cannot be assumed")


class PipeConflict(RuntimeError):
    """A pipe of that name exists but cannot be converged (other source, or another lab's)."""


@dataclass(frozen=True)
class PipeInfo:
    name: str
    arn: str
    state: str
    source: str
    target: str
    enrichment: str | None
    created: bool = False
    updated: tuple[str, ...] = ()


def pipe_arn(lab: Lab, name: str) -> str:
    """The ARN a pipe of that name has (or will have) in the lab's account and region."""
    return f"arn:aws:pipes:{lab.region}:{lab.account_id}:pipe/{name}"


def describe_pipe(lab: Lab, name: str) -> dict[str, Any] | None:
    """DescribePipe, or None when there is no such pipe."""
    try:
        return lab.client("pipes").describe_pipe(Name=name)
    except ClientError as error:
        if error_code(error) in ("NotFoundException", "ResourceNotFoundException"):
            return None
        raise


def find_pipes(lab: Lab, component: str | None = None) -> list[dict[str, Any]]:
    """The lab's pipes (ListPipes by name prefix), or the one of ``component``."""
    prefix = lab.name(component) if component else f"{lab.prefix}-"
    found = paginate(lab.client("pipes"), "list_pipes", "Pipes", NamePrefix=prefix)
    return [p for p in found if component is None or p["Name"] == prefix]


def wait_pipe_state(
    lab: Lab,
    name: str,
    *,
    want: str | Iterable[str] = SETTLED,
    timeout: float = DEFAULT_TIMEOUT,
    seen: list[str] | None = None,
) -> dict[str, Any]:
    """Poll DescribePipe until ``CurrentState`` is one of ``want``; fail fast on a ``*_FAILED`` state.

    ``seen`` (optional) collects each state observed, in order, without repeats: e.g.
    ``['STOPPING', 'STOPPED']``.
    """
    wanted = {want} if isinstance(want, str) else set(want)

    def settled() -> dict[str, Any] | None:
        pipe = describe_pipe(lab, name)
        if pipe is None:
            raise WaitFailed(f"Pipe {name} does not exist (deleted while waiting for {sorted(wanted)})")
        state = pipe.get("CurrentState")
        if seen is not None and state is not None and (not seen or seen[-1] != state):
            seen.append(state)
        if state in wanted:
            return pipe
        if state in FAILED:
            raise WaitFailed(f"Pipe {name} is {state}: {pipe.get('StateReason') or 'no reason given'}")
        return None

    return wait_until(
        settled,
        timeout=timeout,
        interval=0.1,
        max_interval=2.0,
        what=f"pipe {name} to be {' or '.join(sorted(wanted))}",
    )


def _filter_criteria(patterns: Iterable[dict[str, Any] | str]) -> dict[str, Any]:
    filters = [
        {"Pattern": p if isinstance(p, str) else json.dumps(p, separators=(",", ":"), sort_keys=True)} for p in patterns
    ]
    return {"Filters": filters}


def _source_parameters(
    source_arn: str,
    *,
    filter_patterns: list[Any],
    batch_size: int,
    batching_window: int,
    maximum_retry_attempts: int | None,
    dead_letter_arn: str | None,
    starting_position: str,
) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if filter_patterns:
        parameters["FilterCriteria"] = _filter_criteria(filter_patterns)
    if ":dynamodb:" in source_arn:
        stream: dict[str, Any] = {
            "BatchSize": batch_size,
            "MaximumBatchingWindowInSeconds": batching_window,
            "StartingPosition": starting_position,
        }
        if maximum_retry_attempts is not None:
            stream["MaximumRetryAttempts"] = maximum_retry_attempts
        if dead_letter_arn:
            stream["DeadLetterConfig"] = {"Arn": dead_letter_arn}
        parameters["DynamoDBStreamParameters"] = stream
    elif ":sqs:" in source_arn:
        parameters["SqsQueueParameters"] = {"BatchSize": batch_size, "MaximumBatchingWindowInSeconds": batching_window}
    else:
        raise ValueError(f"Unsupported pipe source {source_arn!r}: use a DynamoDB stream or an SQS queue")
    return parameters


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, str) and value.startswith("{"):
        try:  # filter patterns: compare as JSON, not as text
            return _canonical(json.loads(value))
        except ValueError:
            return value
    return value


def _differences(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    changed = []
    for key in ("RoleArn", "Target", "Enrichment", "Description"):
        if (current.get(key) or None) != (wanted.get(key) or None):
            changed.append(key)
    for key in ("TargetParameters", "EnrichmentParameters"):
        if _canonical(current.get(key) or {}) != _canonical(wanted.get(key) or {}):
            changed.append(key)
    current_source = dict(current.get("SourceParameters") or {})
    wanted_source = dict(wanted.get("SourceParameters") or {})
    for section in ("DynamoDBStreamParameters",):  # StartingPosition cannot be updated: not a difference
        current_source.setdefault(section, {})
        for parameters in (current_source.get(section), wanted_source.get(section)):
            if isinstance(parameters, dict):
                parameters.pop("StartingPosition", None)
    if _canonical(current_source) != _canonical(wanted_source):
        changed.append("SourceParameters")
    return changed


def _update_source_parameters(wanted: dict[str, Any]) -> dict[str, Any]:
    """UpdatePipe's SourceParameters: the same minus what cannot change (the starting position)."""
    update = json.loads(json.dumps(wanted))
    stream = update.get("DynamoDBStreamParameters")
    if stream:
        stream.pop("StartingPosition", None)
    if "FilterCriteria" not in update:
        update["FilterCriteria"] = {}  # removes a filter that is no longer wanted
    return update


def _is_role_not_ready(error: ClientError) -> bool:
    message = str(error).lower()
    return error_code(error) == "ValidationException" and any(word in message for word in _ROLE_NOT_READY)


class PipeSettings(TypedDict, total=False):
    """The optional keywords of :func:`pipe_definition`, which :func:`ensure_pipe` passes on."""

    filter_patterns: Iterable[dict[str, Any] | str]
    enrichment_arn: str | None
    enrichment_input_template: str | None
    target_input_template: str | None
    batch_size: int
    batching_window_seconds: int
    starting_position: str
    maximum_retry_attempts: int | None
    dead_letter_arn: str | None
    description: str | None


def pipe_definition(
    component: str,
    *,
    source_arn: str,
    target_arn: str,
    role_arn: str,
    filter_patterns: Iterable[dict[str, Any] | str] = (),
    enrichment_arn: str | None = None,
    enrichment_input_template: str | None = None,
    target_input_template: str | None = None,
    batch_size: int = 10,
    batching_window_seconds: int = 0,
    starting_position: str = "LATEST",
    maximum_retry_attempts: int | None = None,
    dead_letter_arn: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """What CreatePipe is given besides the source, name, state and tags (the same shape as a stack's
    ``AWS::Pipes::Pipe`` properties): role, target, source parameters with the filter, enrichment."""
    source_parameters = _source_parameters(
        source_arn,
        filter_patterns=list(filter_patterns),
        batch_size=batch_size,
        batching_window=batching_window_seconds,
        maximum_retry_attempts=maximum_retry_attempts,
        dead_letter_arn=dead_letter_arn,
        starting_position=starting_position,
    )
    wanted: dict[str, Any] = {
        "RoleArn": role_arn,
        "Target": target_arn,
        "SourceParameters": source_parameters,
        "Description": description or f"{component} (order pipeline lab)",
    }
    if enrichment_arn:
        wanted["Enrichment"] = enrichment_arn
        if enrichment_input_template:
            wanted["EnrichmentParameters"] = {"InputTemplate": enrichment_input_template}
    if target_input_template:
        wanted["TargetParameters"] = {"InputTemplate": target_input_template}
    return wanted


def ensure_pipe(
    lab: Lab,
    component: str,
    *,
    source_arn: str,
    target_arn: str,
    role_arn: str,
    desired_state: str = "RUNNING",
    timeout: float = DEFAULT_TIMEOUT,
    **settings: Unpack[PipeSettings],
) -> PipeInfo:
    """Create pipe ``lab.name(component)`` or converge it; wait until it settles; return what it is.

    ``settings``: :class:`PipeSettings` (filter, enrichment, batching, retries; defaults of :func:`pipe_definition`).

    ``desired_state`` RUNNING or STOPPED. A pipe whose source differs cannot be updated (AWS does not
    allow it): :class:`PipeConflict` says to delete it first.
    """
    if desired_state not in SETTLED:
        raise ValueError(f"desired_state must be RUNNING or STOPPED, got {desired_state!r}")
    name = lab.name(component)
    if len(name) > 64:
        raise ValueError(f"Pipe name {name!r} is longer than the 64 characters Pipes allows")
    wanted = pipe_definition(component, source_arn=source_arn, target_arn=target_arn, role_arn=role_arn, **settings)
    client = lab.client("pipes")
    current = describe_pipe(lab, name)
    if current is not None and current.get("CurrentState") not in SETTLED | FAILED:
        current = wait_pipe_state(lab, name, want=SETTLED | FAILED, timeout=timeout)

    if current is None:
        retry_on(
            lambda: client.create_pipe(
                Name=name, Source=source_arn, DesiredState=desired_state, Tags=lab.tags, **wanted
            ),
            should_retry=_is_role_not_ready,
            timeout=60,
            what=f"CreatePipe {name} (IAM role propagation)",
        )
        settled = wait_pipe_state(lab, name, want=desired_state, timeout=timeout)
        return _info(settled, created=True)

    tags = current.get("Tags") or {}
    if tags.get("orderlab:prefix") not in (None, lab.prefix):
        raise PipeConflict(f"Pipe {name} belongs to lab prefix {tags['orderlab:prefix']!r}, not {lab.prefix!r}")
    if current.get("Source") != source_arn:
        raise PipeConflict(
            f"Pipe {name} reads {current.get('Source')}, not {source_arn}: a pipe's source cannot "
            "change; delete the pipe (cleanup, or DeletePipe) and run this again"
        )
    changed = _differences(current, wanted)
    if current.get("DesiredState") != desired_state or current.get("CurrentState") in FAILED:
        changed.append("DesiredState")
    if changed:
        update = {**wanted, "SourceParameters": _update_source_parameters(wanted["SourceParameters"])}
        if "Enrichment" not in wanted and current.get("Enrichment"):
            update["Enrichment"] = ""  # UpdatePipe removes the enrichment when given an empty string
        retry_on(
            lambda: client.update_pipe(Name=name, DesiredState=desired_state, **update),
            should_retry=_is_role_not_ready,
            timeout=60,
            what=f"UpdatePipe {name} (IAM role propagation)",
        )
        current = wait_pipe_state(lab, name, want=desired_state, timeout=timeout)
    missing = tags_missing(tags, lab.tags)
    if missing:
        client.tag_resource(resourceArn=current["Arn"], tags=missing)
    return _info(current, updated=tuple(changed))


def _info(pipe: dict[str, Any], *, created: bool = False, updated: tuple[str, ...] = ()) -> PipeInfo:
    return PipeInfo(
        name=pipe["Name"],
        arn=pipe["Arn"],
        state=pipe.get("CurrentState", ""),
        source=pipe.get("Source", ""),
        target=pipe.get("Target", ""),
        enrichment=pipe.get("Enrichment") or None,
        created=created,
        updated=updated,
    )


def _set_state(lab: Lab, name: str, desired: str, timeout: float, seen: list[str] | None) -> PipeInfo:
    current = describe_pipe(lab, name)
    if current is None:
        raise PipeConflict(f"There is no pipe {name}: run the cell that creates it first")
    if current.get("CurrentState") == desired:
        if seen is not None:
            seen.append(desired)
        return _info(current)
    if current.get("CurrentState") not in SETTLED:
        wait_pipe_state(lab, name, timeout=timeout)
    client = lab.client("pipes")
    (client.stop_pipe if desired == "STOPPED" else client.start_pipe)(Name=name)
    return _info(wait_pipe_state(lab, name, want=desired, timeout=timeout, seen=seen))


def stop_pipe(lab: Lab, name: str, *, timeout: float = DEFAULT_TIMEOUT, seen: list[str] | None = None) -> PipeInfo:
    """StopPipe, then wait through STOPPING to STOPPED (a stopped pipe is already fine)."""
    return _set_state(lab, name, "STOPPED", timeout, seen)


def start_pipe(lab: Lab, name: str, *, timeout: float = DEFAULT_TIMEOUT, seen: list[str] | None = None) -> PipeInfo:
    """StartPipe, then wait through STARTING to RUNNING (a running pipe is already fine)."""
    return _set_state(lab, name, "RUNNING", timeout, seen)


def delete_pipe(lab: Lab, name: str, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """DeletePipe and wait until it is gone; False if there was none."""
    if describe_pipe(lab, name) is None:
        return False
    try:
        lab.client("pipes").delete_pipe(Name=name)
    except ClientError as error:
        if error_code(error) not in ("NotFoundException", "ResourceNotFoundException"):
            raise
    wait_until(
        lambda: describe_pipe(lab, name) is None,
        timeout=timeout,
        interval=0.1,
        max_interval=2.0,
        what=f"pipe {name} to be deleted",
    )
    return True
