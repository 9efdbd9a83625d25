"""A graceful restart of the local cloud that keeps its state: nothing lost, nothing run twice.

MiniStack 1.5.33 has state persistence (``ministack/core/persistence.py``): with
``PERSIST_STATE=1`` every service's ``get_state()`` is written to ``STATE_DIR`` when the
server shuts down (ASGI lifespan) and read back when it starts. The local cloud turns it on
with ``python -m localcloud.server --persist`` (:func:`localcloud.start` ``persist=True``);
the state lives in ``~/.orderlab/cloud-<port>/state/``. Measured on the pinned version with
the order pipeline under load, two things were missing for a restart that loses nothing:

1. **DynamoDB stream records are not saved, but the stream positions of the event source
   mappings are** (``lambda_svc.get_state`` saves ``dynamodb_stream_positions``;
   ``dynamodb.get_state`` leaves out ``_stream_records``). After a restart a mapping's
   position N points past an empty stream: the records not yet read at shutdown are gone,
   and the next N records written are skipped — every order created after the restart
   stays PENDING. AWS keeps stream records for 24 hours whatever happens to the service
   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html), so here
   the records (with the trim counts, the closed streams and the sequence counter) are saved
   inside DynamoDB's state and restored with it.
2. **The snapshot is taken while functions still run.** On SIGTERM the HTTP server stops
   listening at once, so an invocation in flight (an API request's create_order, a mapping's
   batch) can no longer reach DynamoDB or SQS: measured, the create_order invocations in
   flight hung until their 10 s timeout and the stop took 12.6 s; a batch half done at the
   snapshot is finished in memory after it, or killed with the workers. :func:`quiesce` runs
   first (``localcloud.server`` calls it on SIGTERM, HTTP still up): new work entering the
   cloud — API Gateway ``execute-api`` requests and Lambda ``Invoke`` calls — is answered
   ``503`` with ``Retry-After`` (clients retry after the restart, with the same
   Idempotency-Key), the event source mappings take no new batch, and the invocations in
   flight finish while their functions can still call the cloud (bounded by ``timeout``).
   Then the server stops and MiniStack saves a snapshot nothing is changing.

What is still not kept (in memory only, not needed by the pipeline's at-least-once
contract): the stream mappings' retry counters (a failing batch starts its retries afresh),
SQS message move tasks in progress, receipt handles' association with a running batch (an
SQS batch killed by a timeout comes back after its visibility timeout, as on AWS).

>>> report = restart(4599)                       # doctest: +SKIP
>>> report.stop_seconds, report.start_seconds    # doctest: +SKIP
(2.1, 0.9)
"""
from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud import log_store, paths, stream_store

__all__ = [
    "PERSIST_ENV",
    "RestartReport",
    "STREAMS_KEY",
    "clear_state",
    "configure_environment",
    "install",
    "quiesce",
    "restart",
    "state_dir",
]

logger = logging.getLogger("localcloud.persistence")

PERSIST_ENV = "ORDERLAB_PERSIST"
"""``1`` in the environment of ``localcloud.server`` = ``--persist``."""
STREAMS_KEY = "orderlab_stream_records"
"""Key of the stream records inside the saved DynamoDB state (MiniStack ignores unknown keys)."""
DEFAULT_QUIESCE_SECONDS = 20.0
"""Longest wait for the invocations in flight (the pipeline's functions time out after 5-10 s)."""

_paused = threading.Event()
_closing = threading.Event()
_pass_lock = threading.Lock()
_installed = False
_EXECUTE_API_HOST = re.compile(r"^[0-9a-z]+\.execute-api\.")
_INVOKE_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/functions/[^/]+/invocations")


def state_dir(port: int) -> Path:
    """Where the local cloud on ``port`` keeps its state between runs."""
    return paths.cloud_dir(port) / "state"


def clear_state(port: int) -> int:
    """Forget the saved state of the cloud on ``port`` (it must be stopped); returns the files removed."""
    import shutil

    directory = state_dir(port)
    count = sum(1 for p in directory.rglob("*") if p.is_file()) if directory.exists() else 0
    shutil.rmtree(directory, ignore_errors=True)
    return count


def configure_environment(environ: dict[str, str] | Any, port: int) -> None:
    """Turn MiniStack's persistence on (it reads these at import): ``PERSIST_STATE``, ``STATE_DIR``."""
    directory = state_dir(port)
    directory.mkdir(parents=True, exist_ok=True)
    environ["PERSIST_STATE"] = "1"
    environ["STATE_DIR"] = str(directory)


# ------------------------------------------------------------------ stream records in the snapshot


def _stream_state(dynamodb: Any) -> dict[str, Any]:
    """The module's stream bookkeeping, JSON-ready (MiniStack's encoder handles its scoped dicts)."""
    return {
        "records": _plain_scoped(dynamodb._stream_records, stream_store.plain),
        "trimmed": dynamodb._stream_trimmed,
        "closed": _plain_scoped(dynamodb._closed_streams,
                                lambda closed: {**closed, "records": stream_store.plain(closed.get("records", []))}),
        "sequence": dynamodb._stream_seq_counter,
    }


def _plain_scoped(scoped: Any, convert: Callable[[Any], Any]) -> Any:
    """A copy of a MiniStack scoped dict with ``convert`` applied to each value (compact records -> lists)."""
    result = type(scoped)()
    for key, value in getattr(scoped, "_data", {}).items():
        result._data[key] = convert(value)
    return result


def _restore_streams(dynamodb: Any, saved: dict[str, Any]) -> int:
    """Put saved stream records back; return how many records were restored."""
    restored = 0
    for name in ("records", "trimmed", "closed"):
        source = saved.get(name)
        target = getattr(dynamodb, {"records": "_stream_records", "trimmed": "_stream_trimmed",
                                    "closed": "_closed_streams"}[name])
        if source is None:
            continue
        for key, value in getattr(source, "_data", {}).items():
            target._data[key] = value
            if name == "records":
                restored += len(value)
    with dynamodb._stream_seq_lock:
        dynamodb._stream_seq_counter = max(dynamodb._stream_seq_counter, int(saved.get("sequence") or 0))
    return restored


def _with_streams(original: Callable[[], dict[str, Any]], dynamodb: Any) -> Callable[[], dict[str, Any]]:
    def get_state() -> dict[str, Any]:
        state = original()
        # A copy, like MiniStack's own get_state: the snapshot must not change while it is written.
        state[STREAMS_KEY] = copy.deepcopy(_stream_state(dynamodb))
        return state
    return get_state


def _restoring_streams(original: Callable[[Any], Any], dynamodb: Any) -> Callable[[Any], Any]:
    def load_persisted_state(data: Any) -> Any:
        result = original(data)
        if isinstance(data, dict) and isinstance(data.get(STREAMS_KEY), dict):
            count = _restore_streams(dynamodb, data[STREAMS_KEY])
            logger.info("Persistence: restored %d DynamoDB stream record(s)", count)
        return result
    return load_persisted_state


def _with_plain_log_events(original: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """CloudWatch Logs' snapshot (already a copy) with its compact events as plain lists, for JSON."""
    def get_state() -> dict[str, Any]:
        state = original()
        if isinstance(state, dict) and state.get("log_groups") is not None:
            log_store.plain_groups(state["log_groups"])
        return state
    return get_state


def _compacting_log_events(original: Callable[[Any], Any], cloudwatch_logs: Any) -> Callable[[Any], Any]:
    """Restored log events stored compactly again (MiniStack restores plain lists)."""
    def load_persisted_state(data: Any) -> Any:
        result = original(data)
        with cloudwatch_logs._log_events_lock:
            count = log_store.compact_groups(cloudwatch_logs._log_groups)
        logger.info("Persistence: restored %d CloudWatch Logs event(s)", count)
        return result
    return load_persisted_state


# ------------------------------------------------------------------ quiescing the event source mappings


def _gated(original: Callable[[], bool]) -> Callable[[], bool]:
    """A poll function that takes no new work once :func:`quiesce` began, and whose pass can be awaited."""
    def poll() -> bool:
        if _paused.is_set():
            return False
        with _pass_lock:
            if _paused.is_set():
                return False
            return original()
    poll.__orderlab_persistence__ = True  # type: ignore[attr-defined]
    return poll


def _new_work(scope: dict[str, Any]) -> bool:
    """A request that would start an invocation: API Gateway execute-api, or Lambda Invoke."""
    path = scope.get("path", "")
    if path.startswith("/_aws/execute-api/") or _INVOKE_PATH.match(path):
        return True
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    return bool(_EXECUTE_API_HOST.match(host))


def _refusing_new_work(app: Callable[..., Any]) -> Callable[..., Any]:
    """ASGI middleware: while closing, answer new work 503 (Retry-After: 1); serve everything else."""
    body = json.dumps({"message": "Service Unavailable: the local cloud is restarting, retry"}).encode()

    async def gate(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if _closing.is_set() and scope.get("type") == "http" and _new_work(scope):
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)
    gate.__orderlab_persistence__ = True  # type: ignore[attr-defined]
    return gate


def install() -> None:
    """Patch the running MiniStack (after :func:`localcloud.patches.apply_all`): stream records in the
    snapshot, poll passes that :func:`quiesce` can stop. Idempotent."""
    global _installed
    if _installed:
        return
    import ministack.app as ministack_app
    from ministack.services import cloudwatch_logs, dynamodb, lambda_svc

    if not getattr(ministack_app.app, "__orderlab_persistence__", False):
        ministack_app.app = _refusing_new_work(ministack_app.app)
    for name in ("_poll_sqs", "_poll_kinesis", "_poll_dynamodb_streams"):
        current = getattr(lambda_svc, name)
        if not getattr(current, "__orderlab_persistence__", False):
            setattr(lambda_svc, name, _gated(current))
    for name in ("_stream_records", "_stream_trimmed", "_closed_streams", "_stream_seq_counter", "_stream_seq_lock"):
        if not hasattr(dynamodb, name):
            raise RuntimeError(f"MiniStack's dynamodb module has no {name}: re-check localcloud/persistence.py")
    dynamodb.get_state = _with_streams(dynamodb.get_state, dynamodb)
    dynamodb.load_persisted_state = _restoring_streams(dynamodb.load_persisted_state, dynamodb)
    cloudwatch_logs.get_state = _with_plain_log_events(cloudwatch_logs.get_state)
    cloudwatch_logs.load_persisted_state = _compacting_log_events(cloudwatch_logs.load_persisted_state,
                                                                  cloudwatch_logs)
    _installed = True


def _inflight(lambda_svc: Any) -> int:
    with lambda_svc._esm_inflight_lock:
        return sum(lambda_svc._esm_inflight.values())


def quiesce(timeout: float = DEFAULT_QUIESCE_SECONDS) -> dict[str, float | int]:
    """Refuse new work, stop the event source mappings, let every invocation in flight finish (bounded).

    Called while the HTTP server still serves, so the functions in flight can finish their
    calls. Returns ``{"seconds", "batches_left", "invocations_left"}`` (0 and 0 = a clean snapshot).
    """
    from ministack.core import lambda_runtime
    from ministack.services import lambda_svc

    started = time.monotonic()
    deadline = started + timeout
    _closing.set()
    _paused.set()
    if _pass_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):  # the current poll pass ends
        _pass_lock.release()
    while (_inflight(lambda_svc) or lambda_runtime.workers_in_use()) and time.monotonic() < deadline:
        time.sleep(0.01)
    batches, invocations = _inflight(lambda_svc), lambda_runtime.workers_in_use()
    seconds = round(time.monotonic() - started, 3)
    logger.info("Persistence: quiesced in %.3f s (%d batch(es), %d invocation(s) still in flight)",
                seconds, batches, invocations)
    return {"seconds": seconds, "batches_left": batches, "invocations_left": invocations}


# ------------------------------------------------------------------ restart


@dataclass(frozen=True)
class RestartReport:
    """How a graceful restart went: seconds to stop (quiesce + save) and to start (load)."""

    port: int
    stop_seconds: float
    start_seconds: float
    forced: bool
    state_files: int


def restart(port: int, *, grace: float = 30.0, timeout: float = 60.0) -> RestartReport:
    """Gracefully restart the local cloud on ``port`` with persistence on; its state survives.

    The server alone gets SIGTERM (its Lambda workers finish their batches), quiesces, saves,
    exits; then it starts again from the saved state. ``grace`` bounds the stop.
    """
    import psutil

    from localcloud import process

    current = process.status(port)
    if not current.running or current.pid is None:
        raise process.LocalCloudError(f"No local cloud runs on port {port}: nothing to restart")
    if "--persist" not in psutil.Process(current.pid).cmdline():
        raise process.LocalCloudError(
            f"The local cloud on port {port} runs without persistence: a restart would lose its state. "
            "Start it with localcloud.start(port, persist=True) (or ORDERLAB_PERSIST=1).")
    stopped = process.stop(port, grace=grace, graceful=True)
    files = len(list(state_dir(port).glob("*.json")))
    started = time.monotonic()
    process.start(port, timeout=timeout, persist=True)
    return RestartReport(port, round(stopped.seconds, 3), round(time.monotonic() - started, 3), stopped.forced, files)
