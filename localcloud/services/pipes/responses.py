"""The Pipes API (REST-JSON): CreatePipe, DescribePipe, UpdatePipe, StartPipe, StopPipe, DeletePipe."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ministack.core import responses as _responses
from ministack.services import pipes as _pipes_module

from localcloud.services.eventbridge.patterns import InvalidEventPattern
from localcloud.services.pipes.lifecycle import _lock, _runtimes, _schedule
from localcloud.services.pipes.models import (
    _NAME,
    _ROLE_ARN,
    CREATING,
    DELETED,
    DELETING,
    RUNNING,
    STOPPED,
    UPDATABLE_FIELDS,
    UPDATING,
    PipeConflict,
    begin_transition,
    compile_filters,
    configuration_error,
    merge_update,
)


def _response(status: int, body: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict, bytes]:
    return (
        status,
        {"Content-Type": "application/json", "x-amzn-errortype": code},
        json.dumps({"__type": code, "message": message, **extra}).encode(),
    )


def _validation(message: str) -> tuple[int, dict, bytes]:
    return _error(400, "ValidationException", message)


def _not_found(name: str) -> tuple[int, dict, bytes]:
    return _error(404, "NotFoundException", f"Pipe {name} does not exist.")


def _conflict(name: str, state: str, operation: str) -> tuple[int, dict, bytes]:
    return _error(
        409,
        "ConflictException",
        f"Pipe {name} is {state}: {operation} is possible once it is RUNNING or STOPPED.",
        resourceId=name,
        resourceType="pipe",
    )


def _lifecycle(record: dict, **override: Any) -> dict:
    body = {key: record.get(key) for key in ("Arn", "Name", "DesiredState", "CurrentState")}
    body.update(
        CreationTime=int(record.get("CreationTime", 0)),
        LastModifiedTime=int(record.get("LastModifiedTime", record.get("CreationTime", 0))),
    )
    body.update(override)
    return body


def describe(record: dict) -> dict:
    """DescribePipe's answer for a record."""
    body = _lifecycle(record)
    body.update(
        Description=record.get("Description", ""),
        StateReason=record.get("StateReason", ""),
        Source=record.get("Source", ""),
        Target=record.get("Target", ""),
        RoleArn=record.get("RoleArn", ""),
        Tags=record.get("Tags") or {},
    )
    for key in ("SourceParameters", "Enrichment", "EnrichmentParameters", "TargetParameters"):
        if record.get(key):
            body[key] = record[key]
    return body


def _request_errors(body: Mapping[str, Any], *, creating: bool) -> str | None:
    role = body.get("RoleArn")
    if not role:
        return (
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        )
    if not isinstance(role, str) or not _ROLE_ARN.match(role):
        return (
            f"1 validation error detected: Value '{role}' at 'roleArn' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {_ROLE_ARN.pattern.strip('^$')}"
        )
    if creating:
        for key in ("Source", "Target"):
            if not body.get(key):
                return (
                    f"1 validation error detected: Value null at '{key[0].lower() + key[1:]}' failed to satisfy "
                    "constraint: Member must not be null"
                )
    desired = body.get("DesiredState")
    if desired is not None and desired not in (RUNNING, STOPPED):
        return (
            f"1 validation error detected: Value '{desired}' at 'desiredState' failed to satisfy constraint: "
            "Member must satisfy enum value set: [RUNNING, STOPPED]"
        )
    if len(str(body.get("Description") or "")) > 512:
        return (
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            "Member must have length less than or equal to 512"
        )
    return None


def _check_configuration(record_like: Mapping[str, Any]) -> tuple[int, dict, bytes] | None:
    try:
        _pipes_module.check_same_region(
            *(a for a in (record_like.get("Source"), record_like.get("Target"), record_like.get("Enrichment")) if a)
        )
        _pipes_module.check_target_supported(record_like.get("Target") or "")
    except ValueError as error:
        return _validation(str(error))
    problem = configuration_error(
        record_like.get("Source", ""),
        record_like.get("Target", ""),
        record_like.get("Enrichment"),
        record_like.get("SourceParameters") or {},
        record_like.get("TargetParameters") or {},
        record_like.get("EnrichmentParameters") or {},
    )
    if problem:
        return _validation(problem)
    try:
        compile_filters(record_like.get("SourceParameters") or {})
    except InvalidEventPattern as error:
        return _validation(str(error))
    return None


def create_pipe(name: str, body: Mapping[str, Any]) -> tuple[int, dict, bytes]:
    if not _NAME.match(name):
        return _validation(
            f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )
    error = _request_errors(body, creating=True)
    if error:
        return _validation(error)
    wanted = {
        key: copy.deepcopy(body[key])
        for key in ("Source", "Target", "Enrichment", "SourceParameters", "EnrichmentParameters", "TargetParameters")
        if body.get(key)
    }
    problem = _check_configuration(wanted)
    if problem:
        return problem
    with _lock:
        if name in _pipes_module._pipes:
            return _error(
                409, "ConflictException", f"Pipe {name} already exists.", resourceId=name, resourceType="pipe"
            )
        now = int(time.time())
        stream = (wanted.get("SourceParameters") or {}).get("DynamoDBStreamParameters") or {}
        record = {
            "Name": name,
            "Arn": f"arn:aws:pipes:{_responses.get_region()}:{_responses.get_account_id()}:pipe/{name}",
            "RoleArn": body["RoleArn"],
            "Description": body.get("Description") or "",
            "DesiredState": body.get("DesiredState") or RUNNING,
            "CurrentState": CREATING,
            "StateReason": "",
            "StartingPosition": stream.get("StartingPosition", "LATEST"),
            "Tags": dict(body.get("Tags") or {}),
            "CreationTime": now,
            "LastModifiedTime": now,
            "_orderlab_id": uuid.uuid4().hex,
            "_orderlab_version": 1,
            **wanted,
        }
        _pipes_module._pipes[name] = record
        # LATEST is anchored now, not when the thread first polls: what is written after
        # CreatePipe answered is delivered, whatever the scheduling.
        _pipes_module._positions[record["Arn"]] = _pipes_module._initial_position(record)
        _schedule(record)
        return _response(200, _lifecycle(record))


def describe_pipe(name: str) -> tuple[int, dict, bytes]:
    record = _pipes_module._pipes.get(name)
    return _not_found(name) if record is None else _response(200, describe(record))


def update_pipe(name: str, body: Mapping[str, Any]) -> tuple[int, dict, bytes]:
    error = _request_errors(body, creating=False)
    if error:
        return _validation(error)
    with _lock:
        record = _pipes_module._pipes.get(name)
        if record is None:
            return _not_found(name)
        merged = merge_update(record, body)
        merged["Source"] = record["Source"]
        problem = _check_configuration(merged)
        if problem:
            return problem
        try:
            begin_transition(record["CurrentState"], "update")
        except PipeConflict:
            return _conflict(name, record["CurrentState"], "UpdatePipe")
        for key in UPDATABLE_FIELDS:
            if key in merged:
                record[key] = merged[key]
            else:
                record.pop(key, None)
        record["DesiredState"] = body.get("DesiredState") or record.get("DesiredState") or RUNNING
        record["CurrentState"], record["StateReason"] = UPDATING, ""
        record["_orderlab_version"] = int(record.get("_orderlab_version", 0)) + 1
        record["LastModifiedTime"] = int(time.time())
        _schedule(record)
        return _response(200, _lifecycle(record))


def set_state(name: str, action: str) -> tuple[int, dict, bytes]:
    """StartPipe / StopPipe / DeletePipe."""
    with _lock:
        record = _pipes_module._pipes.get(name)
        if record is None:
            return _not_found(name)
        try:
            state = begin_transition(record["CurrentState"], action)
        except PipeConflict:
            return _conflict(name, record["CurrentState"], {"start": "StartPipe", "stop": "StopPipe"}[action])
        if action != "delete":
            record["DesiredState"] = RUNNING if action == "start" else STOPPED
        if state is not None:
            record["CurrentState"], record["StateReason"] = state, ""
            record["LastModifiedTime"] = int(time.time())
            _schedule(record)
        runtime = _runtimes.get(record.get("_orderlab_id", ""))
        if runtime is not None:
            runtime.wake.set()  # an idle thread of a stopping or deleted pipe ends at once
        if action == "delete":
            return _response(200, _lifecycle(record, DesiredState=DELETED, CurrentState=DELETING))
        return _response(200, _lifecycle(record))


def route(method: str, path: str, body: Mapping[str, Any]) -> tuple[int, dict, bytes] | None:
    """This module's answer to a Pipes request, or None to let MiniStack answer (ListPipes, tags)."""
    from urllib.parse import unquote

    if not path.startswith("/v1/pipes/"):
        return None
    rest = path[len("/v1/pipes/") :]
    for suffix, action in (("/start", "start"), ("/stop", "stop")):
        if rest.endswith(suffix) and method == "POST":
            return set_state(unquote(rest[: -len(suffix)]), action)
    name = unquote(rest)
    if not name or "/" in name:
        return None
    if method == "POST":
        return create_pipe(name, body)
    if method == "GET":
        return describe_pipe(name)
    if method == "PUT":
        return update_pipe(name, body)
    if method == "DELETE":
        return set_state(name, "delete")
    return None
