"""The local cloud keeps its state: across a stop and start, a reboot, and (minus a few seconds) a crash.

Details: docs/local-cloud-services.md, `localcloud/persistence.py`.

>>> report = restart(4599)                       # doctest: +SKIP
>>> report.stop_seconds, report.start_seconds    # doctest: +SKIP
(2.1, 0.9)
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud import paths, snapshots
from localcloud.services.logs import store as log_store

__all__ = [
    "PERSIST_ENV",
    "SNAPSHOT_SECONDS",
    "STATS_PATH",
    "STREAMS_KEY",
    "RestartReport",
    "clear_state",
    "configure_environment",
    "crash_report",
    "install",
    "persist_requested",
    "quiesce",
    "restart",
    "snapshot_stats",
    "state_dir",
]

logger = logging.getLogger("localcloud.persistence")

PERSIST_ENV = "ORDERLAB_PERSIST"
"""``0`` (or false/no/off) in the environment turns persistence off; anything else leaves it on."""
STREAMS_KEY = "orderlab_stream_records"
"""Key of the stream records inside the saved DynamoDB state (MiniStack ignores unknown keys)."""
DEFAULT_QUIESCE_SECONDS = 20.0
"""Longest wait for the invocations in flight (the pipeline's functions time out after 5-10 s)."""
SNAPSHOT_SECONDS = 2.0
"""A crash loses at most about this much (plus the time to write one snapshot)."""
RECHECK_SECONDS = 30.0
"""Idle but for background work (alarm evaluations): a snapshot is still compared this often."""

_paused = threading.Event()
_closing = threading.Event()
_pass_lock = threading.Lock()
_installed = False
_changes = 0  # requests and mapping passes that did work: a snapshot is due when it moved
_loaded: dict[str, Any] | None = None
_snapshotter: Snapshotter | None = None
_EXECUTE_API_HOST = re.compile(r"^[0-9a-z]+\.execute-api\.")
_INVOKE_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/functions/[^/]+/invocations")
_QUIET_PATHS = ("/_ministack/health", "/_ministack/ready")
STATS_PATH = "/_orderlab/persistence"
"""GET: the last snapshot's figures (:func:`snapshot_stats`)."""
# Positions first (mappings, pipes), then what they point into: a record or message read after
# the positions were captured is then read again after a restore, never skipped.
_CAPTURE_ORDER = ("lambda", "pipes", "sqs", "dynamodb")


def persist_requested(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """True unless ``ORDERLAB_PERSIST`` says 0/false/no/off: persistence is the default."""
    value = str((os.environ if environ is None else environ).get(PERSIST_ENV, "")).strip().lower()
    return value not in ("0", "false", "no", "off")


def state_dir(port: int) -> Path:
    """Where the local cloud on ``port`` keeps its state between runs."""
    return paths.cloud_dir(port) / "state"


def clear_state(port: int) -> int:
    """Forget the saved state (and the mailbox) of the cloud on ``port`` (it must be stopped); the files removed."""
    count = 0
    for directory in (state_dir(port), paths.cloud_dir(port) / "mailbox"):
        count += sum(1 for p in directory.rglob("*") if p.is_file()) if directory.exists() else 0
        shutil.rmtree(directory, ignore_errors=True)
    return count


def crash_report(port: int, *, alive: bool = False) -> snapshots.CrashReport | None:
    """What the next start recovers when the last server on ``port`` crashed (None: it stopped gracefully)."""
    return snapshots.crash_report(state_dir(port), alive=alive)


def configure_environment(environ: dict[str, str] | Any, port: int) -> None:
    """Turn MiniStack's persistence on (it reads these at import): ``PERSIST_STATE``, ``STATE_DIR``."""
    directory = state_dir(port)
    directory.mkdir(parents=True, exist_ok=True)
    environ["PERSIST_STATE"] = "1"
    environ["STATE_DIR"] = str(directory)


# ------------------------------------------------------------------ stream records in the snapshot


def _stream_state(dynamodb: Any) -> dict[str, Any]:
    """The module's stream bookkeeping (records stay compact: the snapshot is a pickle)."""
    return {
        "records": dynamodb._stream_records,
        "trimmed": dynamodb._stream_trimmed,
        "closed": dynamodb._closed_streams,
        "sequence": dynamodb._stream_seq_counter,
    }


def _restore_streams(dynamodb: Any, saved: dict[str, Any]) -> int:
    """Put saved stream records back; return how many records were restored."""
    from localcloud.services.dynamodb.stream_store import CompactRecords

    restored = 0
    for name in ("records", "trimmed", "closed"):
        source = saved.get(name)
        target = getattr(
            dynamodb, {"records": "_stream_records", "trimmed": "_stream_trimmed", "closed": "_closed_streams"}[name]
        )
        if source is None:
            continue
        for key, value in getattr(source, "_data", {}).items():
            if name == "records" and isinstance(value, list):  # a JSON state of an earlier version
                value = CompactRecords(value)
            target._data[key] = value
            if name == "records":
                restored += len(value)
    with dynamodb._stream_seq_lock:
        dynamodb._stream_seq_counter = max(dynamodb._stream_seq_counter, int(saved.get("sequence") or 0))
    return restored


def _with_streams(original: Callable[[], dict[str, Any]], dynamodb: Any) -> Callable[[], dict[str, Any]]:
    def get_state() -> dict[str, Any]:
        state = original()
        # A copy, like MiniStack's own get_state (compact records copy as their list of blobs).
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


def _compacting_log_events(original: Callable[[Any], Any], cloudwatch_logs: Any) -> Callable[[Any], Any]:
    """Restored log events stored compactly (a JSON state of an earlier version has plain lists)."""

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
        global _changes
        if _paused.is_set():
            return False
        with _pass_lock:
            if _paused.is_set():
                return False
            worked = original()
        if worked:
            _changes += 1
        return worked

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
    """ASGI middleware: counts requests (a snapshot is due); while closing, new work is answered 503."""
    body = json.dumps({"message": "Service Unavailable: the local cloud is restarting, retry"}).encode()

    async def gate(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        global _changes
        if scope.get("type") == "http":
            if _closing.is_set() and _new_work(scope):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"retry-after", b"1"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            if scope.get("path") == STATS_PATH:
                stats = json.dumps(snapshot_stats()).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(stats)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": stats})
                return
            if not scope.get("path", "").startswith(_QUIET_PATHS):
                _changes += 1
        await app(scope, receive, send)

    gate.__orderlab_persistence__ = True  # type: ignore[attr-defined]
    return gate


# ------------------------------------------------------------------ snapshots


def _directory() -> Path:
    return Path(os.environ["STATE_DIR"])


def _retrying(get_state: Callable[[], Any]) -> Any:
    """``get_state()``; a background thread (a mapping's batch) resizing a dict mid-copy makes it try again."""
    for attempt in range(5):
        try:
            return get_state()
        except RuntimeError as exc:  # "dictionary changed size during iteration"
            if attempt == 4:
                raise
            logger.debug("Persistence: state changed while copied (%s), again", exc)
    return None


def _capture() -> dict[str, Any]:
    """Every loaded service's state, in :data:`_CAPTURE_ORDER` first (in the snapshot process, or at shutdown)."""
    import ministack.app as ministack_app

    getters = ministack_app._build_persistence_save_dict()
    ordered = [k for k in _CAPTURE_ORDER if k in getters] + [k for k in getters if k not in _CAPTURE_ORDER]
    states: dict[str, Any] = {}
    for key in ordered:
        try:
            state = _retrying(getters[key])
        except Exception as exc:  # one service failing must not cost the others their snapshot
            logger.error("Persistence: could not capture %s: %s", key, exc)
            state = _loaded.get(key) if _loaded else None  # keep what was saved before, if anything
        if state is not None:
            states[key] = state
    return states


_blob_refs: set[str] | None = None


def _deferred_prune(referenced: set[str]) -> None:
    """Lambda code blobs are pruned after the snapshot naming them is on disk, not while it is written."""
    global _blob_refs
    _blob_refs = set(referenced)


def _captured() -> tuple[dict[str, Any], set[str] | None]:
    """:func:`_capture` and the code blobs its Lambda state names."""
    states = _capture()
    return states, _blob_refs


@dataclass
class SnapshotStats:
    """The last snapshot: how long the event loop was held, pickling and writing, its size."""

    count: int = 0
    taken_at: float = 0.0
    pause_ms: float = 0.0
    pickle_ms: float = 0.0
    write_ms: float = 0.0
    size: int = 0
    max_pause_ms: float = 0.0
    skipped_unchanged: int = 0


_stats = SnapshotStats()


def snapshot_stats() -> dict[str, float | int]:
    """The server's snapshot figures (also in its log and at :data:`STATS_PATH`)."""
    return dict(_stats.__dict__)


def _save(states: dict[str, Any], blobs: set[str] | None, taken_at: float, prune: Callable[[set[str]], None]) -> None:
    """Pickle and write the last snapshot, in the server (at shutdown: nothing else runs)."""
    started = time.perf_counter()
    payload = pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)
    pickled = time.perf_counter()
    digest = hashlib.blake2b(payload, digest_size=16).hexdigest()
    info = snapshots.write(_directory(), states, taken_at=taken_at, payload=payload, digest=digest)
    if blobs is not None:
        prune(blobs)
    _stats.count += 1
    _stats.taken_at, _stats.size = taken_at, info.size
    _stats.pickle_ms = round((pickled - started) * 1000, 1)
    _stats.write_ms = round((time.perf_counter() - pickled) * 1000, 1)


class Snapshotter(threading.Thread):
    """Every :data:`SNAPSHOT_SECONDS`: the marker touched; when something changed, a snapshot written.

    The snapshot is taken by a forked copy of the server (as Redis does): the event loop is held
    only for the ``fork()``; the child has the whole state as of that instant, to itself, and
    copies, pickles and writes it on another core, then exits. See docs/local-cloud.md.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, prune: Callable[[set[str]], None], interval: float = SNAPSHOT_SECONDS
    ) -> None:
        super().__init__(name="orderlab-snapshots", daemon=True)
        self.loop, self.prune, self.interval = loop, prune, interval
        self.finished = threading.Event()
        self.child: int | None = None
        self._seen = -1  # the first tick takes one: its digest lets idle ticks confirm the time
        self._checked = time.monotonic()
        self._digest: bytes | None = None

    def run(self) -> None:
        while not self.finished.wait(self.interval):
            snapshots.touch_marker(_directory())
            now = time.time()
            due = _changes != self._seen or time.monotonic() - self._checked >= RECHECK_SECONDS
            if _closing.is_set():
                continue
            if not due:
                if self._digest is not None:  # no request since: the snapshot is still the state
                    snapshots.confirm(_directory(), now, self._digest.hex())
                continue
            try:
                self.snapshot()
            except Exception as exc:
                logger.error("Persistence: periodic snapshot failed: %s", exc)

    def snapshot(self) -> None:
        seen = _changes
        # No mapping pass mid-way (they move messages and positions from their own threads).
        locked = _pass_lock.acquire(timeout=self.interval)
        try:
            future = asyncio.run_coroutine_threadsafe(_fork_on_loop(self.prune, self._digest), self.loop)
            pid, reader, pause = future.result(timeout=60)
        finally:
            if locked:
                _pass_lock.release()
        self.child = pid
        try:
            report = _child_report(pid, reader, timeout=SNAPSHOT_CHILD_TIMEOUT)
        finally:
            self.child = None
        if "error" in report:
            raise RuntimeError(f"the snapshot process failed: {report['error']}")
        self._digest = bytes.fromhex(report["digest"])
        self._seen, self._checked = seen, time.monotonic()
        _stats.pause_ms = round(pause * 1000, 1)
        _stats.max_pause_ms = max(_stats.max_pause_ms, _stats.pause_ms)
        _stats.taken_at = report["taken_at"]
        if report.get("unchanged"):
            _stats.skipped_unchanged += 1
            return
        _stats.count += 1
        _stats.size, _stats.pickle_ms, _stats.write_ms = report["size"], report["pickle_ms"], report["write_ms"]
        if _stats.count % 30 == 1:
            logger.info(
                "Persistence: snapshot %d: %.1f MB, loop held %.1f ms (fork), pickled in %.1f ms, "
                "written in %.1f ms (in the snapshot process)",
                _stats.count,
                _stats.size / 1e6,
                _stats.pause_ms,
                _stats.pickle_ms,
                _stats.write_ms,
            )

    def stop(self) -> None:
        """No more snapshots; one being written by a child is abandoned (the final one follows)."""
        self.finished.set()
        child = self.child
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.join(timeout=10)


SNAPSHOT_CHILD_TIMEOUT = 120.0
"""Longest a snapshot process may take (10,000 orders: well under a second)."""
_PURE_COPY_MODULES = ("dynamodb", "sqs", "sns", "cloudwatch", "cloudwatch_logs", "pipes", "apigateway", "iam")
"""Services whose ``get_state`` only deep-copies (never changes its copy): in the snapshot process,
alone with its memory, they skip the copy."""


class _NoCopy:
    """``copy`` for a module in the snapshot process: deepcopy is the object itself."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(_copy_module, name)


_copy_module = copy


async def _fork_on_loop(prune: Callable[[set[str]], None], last: bytes | None) -> tuple[int, int, float]:
    """Fork on the event loop (no request half-handled in the child's memory); the child's pid and pipe."""
    return _fork(prune, last)


def _fork(prune: Callable[[set[str]], None], last: bytes | None) -> tuple[int, int, float]:
    reader, writer = os.pipe()
    taken_at, started = time.time(), time.perf_counter()
    with warnings.catch_warnings():
        # Python 3.12+ warns on fork() with threads running; the child only pickles and writes,
        # taking no lock another thread could hold (bounded by SNAPSHOT_CHILD_TIMEOUT regardless).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the snapshot process: never returns
        _child_main(writer, reader, prune, last, taken_at)
    pause = time.perf_counter() - started
    os.close(writer)
    return pid, reader, pause


def _child_main(
    writer: int, reader: int, prune: Callable[[set[str]], None], last: bytes | None, taken_at: float
) -> None:
    """The snapshot process: alone (no other thread), it captures, pickles, writes, reports, exits."""
    code = 1
    try:
        import gc
        import sys

        gc.disable()  # the objects live only until the exit
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the server's asyncio handlers are not ours
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        _die_with_parent()
        os.closerange(3, writer)  # the server's sockets (its port) must not be held open here
        os.closerange(writer + 1, 1 << 16)
        for name in _PURE_COPY_MODULES:
            module = sys.modules.get(f"ministack.services.{name}")
            if module is not None and getattr(module, "copy", None) is _copy_module:
                module.copy = _NoCopy()  # type: ignore[attr-defined]  # ModuleType declares no attributes to set
        globals()["copy"] = _NoCopy()  # _with_streams' copy of the stream records
        started = time.perf_counter()
        states, blobs = _captured()
        payload = pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)
        pickled = time.perf_counter()
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        report: dict[str, Any] = {"digest": digest.hex(), "taken_at": taken_at}
        if digest == last:
            snapshots.confirm(_directory(), taken_at, digest.hex())
            report["unchanged"] = True
        else:
            info = snapshots.write(_directory(), states, taken_at=taken_at, payload=payload, digest=digest.hex())
            if blobs is not None:
                prune(blobs)
            report.update(
                size=info.size,
                pickle_ms=round((pickled - started) * 1000, 1),
                write_ms=round((time.perf_counter() - pickled) * 1000, 1),
            )
        os.write(writer, json.dumps(report).encode())
        code = 0
    except BaseException as exc:
        try:
            os.write(writer, json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}).encode())
        except OSError:
            pass
    finally:
        os._exit(code)


_libc: Any = None


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a kill -9 of the server ends its snapshot process too (no late, older write)."""
    parent = os.getppid()
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent or parent == 1:
        os._exit(1)


def _child_report(pid: int, reader: int, *, timeout: float) -> dict[str, Any]:
    """What the snapshot process reported (bounded); it is reaped either way."""
    import select

    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([reader], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                return {"error": f"no report within {timeout:.0f} s (killed)"}
            chunk = os.read(reader, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(reader)
        os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks) or b'{"error": "the snapshot process died without a report"}')
    except ValueError:
        return {"error": "an unreadable report"}


def _load_state(original: Callable[[str], Any]) -> Callable[[str], Any]:
    """MiniStack's per-service load, served from the snapshot (an earlier version's JSON files otherwise)."""

    def load_state(service: str) -> Any:
        global _loaded
        if _loaded is None:
            _loaded = _read_snapshot()
        if _loaded:
            return _loaded.get(service)
        return original(service)

    return load_state


def _read_snapshot() -> dict[str, Any]:
    directory = _directory()
    if not (directory / snapshots.SNAPSHOT).exists():
        return {}
    try:
        info, states = snapshots.read(directory)
    except Exception as exc:
        kept = directory / f"{snapshots.SNAPSHOT}.unreadable"
        os.replace(directory / snapshots.SNAPSHOT, kept)
        logger.error(
            "Persistence: the snapshot could not be read (%s): starting empty; it was kept as %s "
            "(orderlab cloud reset deletes it)",
            exc,
            kept,
        )
        print(f"localcloud: the saved state could not be read ({exc}); starting empty, kept as {kept}", flush=True)
        return {}
    logger.info(
        "Persistence: loading the snapshot of %s (%.1f MB, MiniStack %s)",
        time.strftime("%H:%M:%S", time.localtime(info.taken_at)),
        info.size / 1e6,
        info.ministack,
    )
    return states


def _loading(original: Callable[[], None], prune: Callable[[set[str]], None]) -> Callable[[], None]:
    """After MiniStack's load (lifespan startup, on the loop): the crash marker, then the snapshot thread."""

    def load_persisted_state() -> None:
        global _snapshotter
        report = snapshots.crash_report(_directory())
        started = time.perf_counter()
        original()
        if report is not None:
            print(f"localcloud: {report.describe()}", flush=True)
        print(f"localcloud: state loaded in {time.perf_counter() - started:.2f} s", flush=True)
        snapshots.mark_running(_directory(), os.getpid())
        _snapshotter = Snapshotter(asyncio.get_running_loop(), prune)
        _snapshotter.start()

    return load_persisted_state


def _saving_last(prune: Callable[[set[str]], None]) -> Callable[[dict[str, Any]], None]:
    """MiniStack's save on shutdown: the last snapshot (the same atomic file), then the marker removed."""

    def save_all(_services: dict[str, Any]) -> None:
        if _snapshotter is not None:
            _snapshotter.stop()
        taken_at = time.time()
        # The same snapshot process: no deep copies (a copy of 10,000 orders' state takes seconds).
        pid, reader, _ = _fork(prune, None)
        report = _child_report(pid, reader, timeout=SNAPSHOT_CHILD_TIMEOUT)
        if "error" in report:
            logger.error("Persistence: the last snapshot's process failed (%s); writing it here", report["error"])
            _save(*_captured(), taken_at, prune)
        else:
            _stats.size = report["size"]
        snapshots.mark_stopped(_directory())
        logger.info("Persistence: final snapshot written (%.1f MB)", _stats.size / 1e6)

    return save_all


def install() -> None:
    """Patch the running MiniStack (after :func:`localcloud.patches.apply_all`): snapshots, stream records
    in them, poll passes that :func:`quiesce` can stop. Idempotent."""
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
    for name in ("load_state", "save_all", "_load_persisted_state", "_build_persistence_save_dict"):
        if not hasattr(ministack_app, name):
            raise RuntimeError(f"ministack.app has no {name}: re-check localcloud/persistence.py")
    dynamodb.get_state = _with_streams(dynamodb.get_state, dynamodb)
    dynamodb.load_persisted_state = _restoring_streams(dynamodb.load_persisted_state, dynamodb)
    cloudwatch_logs.load_persisted_state = _compacting_log_events(cloudwatch_logs.load_persisted_state, cloudwatch_logs)
    global _libc
    try:
        import ctypes
        import ctypes.util

        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        _libc = None
    prune = lambda_svc._prune_orphan_code_blobs
    lambda_svc._prune_orphan_code_blobs = _deferred_prune
    ministack_app.load_state = _load_state(ministack_app.load_state)
    ministack_app._load_persisted_state = _loading(ministack_app._load_persisted_state, prune)
    ministack_app.save_all = _saving_last(prune)
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
    logger.info(
        "Persistence: quiesced in %.3f s (%d batch(es), %d invocation(s) still in flight)",
        seconds,
        batches,
        invocations,
    )
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
    if "--no-persist" in psutil.Process(current.pid).cmdline():
        raise process.LocalCloudError(
            f"The local cloud on port {port} runs without persistence: a restart would lose its state. "
            "Start it with localcloud.start(port) (persistence is the default; ORDERLAB_PERSIST=0 turns it off)."
        )
    stopped = process.stop(port, grace=grace, graceful=True)
    files = len(list(state_dir(port).glob(snapshots.SNAPSHOT)))
    started = time.monotonic()
    process.start(port, timeout=timeout, persist=True)
    return RestartReport(port, round(stopped.seconds, 3), round(time.monotonic() - started, 3), stopped.forced, files)
