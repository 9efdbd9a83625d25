"""Pipe records and their state transitions; keeps one :class:`~.runtime.PipeRuntime` per running pipe."""

from __future__ import annotations

import threading
import time
import uuid

from ministack.core import responses as _responses
from ministack.services import dynamodb as _ddb
from ministack.services import pipes as _pipes_module
from ministack.services import sqs as _sqs

from localcloud.services.pipes.models import (
    CREATING,
    DELETED,
    DELETING,
    FAILED_AFTER,
    RUNNING,
    STARTING,
    STOP_JOIN_SECONDS,
    STOPPING,
    TRANSITION_SECONDS,
    TRANSITIONAL,
    UPDATING,
    settled_state,
    source_kind,
)
from localcloud.services.pipes.runtime import PipeRuntime, scoped

_lock = threading.RLock()
_runtimes: dict[str, PipeRuntime] = {}
_tokens: dict[str, int] = {}


def _scope_of(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 else (_responses.get_account_id(), _responses.get_region())


def _runtime_for(record: dict) -> PipeRuntime:
    uid = record.setdefault("_orderlab_id", uuid.uuid4().hex)
    runtime = _runtimes.get(uid)
    if runtime is None:
        account_id, region = _scope_of(record["Arn"])
        runtime = _runtimes[uid] = PipeRuntime(uid, account_id, region, record["Name"], record["Arn"])
    return runtime


def wake_all() -> None:
    """Wake every pipe thread (new records or messages may be there)."""
    for runtime in list(_runtimes.values()):
        runtime.wake.set()


def _source_problem(record: dict) -> str | None:
    """Why the pipe's source cannot be read (CREATE_FAILED etc.), or None."""
    source = record.get("Source", "")
    account_id, region = _scope_of(record["Arn"])
    with scoped(account_id, region):
        if source_kind(source) == "sqs":
            return None if _sqs._queue_by_arn(source) is not None else f"Queue not found: {source}."
        parsed = _pipes_module._dynamodb_stream_source(source)
        table = _ddb._tables.get(parsed[1]) if parsed else None
        if table and table.get("LatestStreamArn") == source:
            return None
    return "Stream not found. To resume processing please delete the pipe and create a new one."


def _schedule(record: dict) -> None:
    """Settle the record's transitional state after TRANSITION_SECONDS."""
    uid = record.setdefault("_orderlab_id", uuid.uuid4().hex)
    token = _tokens[uid] = _tokens.get(uid, 0) + 1
    account_id, region = _scope_of(record["Arn"])
    timer = threading.Timer(TRANSITION_SECONDS, _settle, args=(account_id, region, record["Name"], uid, token))
    timer.daemon = True
    timer.start()


def _settle(account_id: str, region: str, name: str, uid: str, token: int) -> None:
    def current() -> dict | None:
        record = _pipes_module._pipes.get_scoped(account_id, region, name)
        ok = record is not None and record.get("_orderlab_id") == uid and _tokens.get(uid) == token
        return record if ok else None

    with _lock:
        record = current()
        runtime = _runtimes.get(uid)
    if record is None:
        return
    if record["CurrentState"] in (STOPPING, UPDATING, DELETING) and runtime is not None:
        runtime.join(STOP_JOIN_SECONDS)  # the batch in flight finishes first
    with _lock:
        record = current()
        if record is None:
            return
        state = record["CurrentState"]
        final = settled_state(state, record.get("DesiredState", RUNNING))
        if final == DELETED:
            _pipes_module._pipes.pop_scoped(account_id, region, name, None)
            _pipes_module._positions.pop_scoped(account_id, region, record["Arn"], None)
            _runtimes.pop(uid, None)
            _tokens.pop(uid, None)
            return
        problem = _source_problem(record) if state in (CREATING, UPDATING, STARTING) else None
        record["StateReason"] = problem or ""
        record["CurrentState"] = FAILED_AFTER[state] if problem else final
        record["LastModifiedTime"] = int(time.time())
        if record["CurrentState"] == RUNNING:
            _runtime_for(record).start()


def sync_runtimes() -> None:
    """Replaces MiniStack's ``_ensure_poller``: a thread for every RUNNING pipe, a timer for every
    transitional one (pipes made by CloudFormation or restored from persisted state)."""
    with _lock:
        for _key, record in list(_pipes_module._pipes.all_items()):
            if record.get("CurrentState") == RUNNING:
                _runtime_for(record).start()
            elif record.get("CurrentState") in TRANSITIONAL and record.get("_orderlab_id") not in _tokens:
                _schedule(record)
        live = {r.get("_orderlab_id") for r in _pipes_module._pipes.all_values()}
        for uid in [u for u in _runtimes if u not in live and not _runtimes[u].alive()]:
            _runtimes.pop(uid, None)
