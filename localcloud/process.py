"""Start, stop and inspect the local cloud process (pid file, log, health, process group)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from localcloud import code_cache, lambda_zygote, paths
from localcloud.server import EDITION, ENFORCE_IAM_ENV, enforce_iam_requested

DEFAULT_PORT = 4599
HEALTH_PATH = "/_ministack/health"


class LocalCloudError(RuntimeError):
    """The local cloud could not be started or stopped; the message says what to do."""


@dataclass(frozen=True)
class CloudStatus:
    """What :func:`status` found on a port."""

    port: int
    running: bool
    healthy: bool = False
    pid: int | None = None
    version: str | None = None
    lambda_workers: int = 0
    log_file: str = ""
    # True when the cloud evaluates IAM policies (``--enforce-iam``); None when unknown (not answering).
    iam_enforced: bool | None = None
    # True when it keeps its state across restarts (the default); None when not running.
    persistent: bool | None = None
    # What the start did that the user should know, e.g. "recovered from a crash: state as of ...".
    note: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        if not self.running:
            return f"local cloud: stopped (port {self.port})"
        state = "healthy" if self.healthy else "NOT answering"
        iam = {True: ", IAM enforced", False: "", None: ""}[self.iam_enforced]
        kept = {True: ", state kept across restarts", False: ", state in memory only", None: ""}[self.persistent]
        return (
            f"local cloud: running, {state}, pid {self.pid}, MiniStack {self.version or '?'}, "
            f"{self.lambda_workers} Lambda worker(s){iam}{kept}, log {self.log_file}"
        )


@dataclass(frozen=True)
class StopReport:
    port: int
    stopped: bool
    seconds: float = 0.0
    killed: list[int] = field(default_factory=list)
    forced: bool = False


@dataclass(frozen=True)
class ResetReport:
    """What :func:`reset` did: stopped the cloud (if it ran) and deleted the port's saved state."""

    port: int
    stopped: bool
    files_removed: int
    state_dir: str

    def describe(self) -> str:
        stopped = "stopped, " if self.stopped else ""
        return (
            f"local cloud on port {self.port}: {stopped}saved state deleted ({self.files_removed} file(s) in "
            f"{self.state_dir}); the next start is a clean slate"
        )


def _port(port: int | None) -> int:
    if port is not None:
        return int(port)
    return int(os.environ.get("ORDERLAB_PORT", DEFAULT_PORT))


def _read_pid(port: int) -> int | None:
    try:
        return int(paths.pid_file(port).read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


# MiniStack runs each execution environment from tempfile.mkdtemp(prefix=f"ministack-lambda-{name}-").
_WORKER_DIR = re.compile(r"/ministack-lambda-(?P<function>[A-Za-z0-9_-]+?)-[A-Za-z0-9_]{8}(?:/|$)")


def lambda_worker_function(cmdline: Iterable[str]) -> str | None:
    """The Lambda function a local cloud worker process runs, from its command line (None: not a worker).

    >>> lambda_worker_function(["/usr/bin/python3", "/tmp/ministack-lambda-alice-order-worker-k2j_9x1a/_worker.py"])
    'alice-order-worker'
    >>> lambda_worker_function(["python", "-m", "localcloud.server"]) is None
    True
    """
    for part in cmdline:
        match = _WORKER_DIR.search(part)
        if match:
            return match.group("function")
    return None


def _is_lambda_worker(pid: int) -> bool:
    """A Lambda execution environment or a zygote the environments are forked from."""
    cmdline = _cmdline(pid)
    return lambda_worker_function(cmdline) is not None or lambda_zygote.is_zygote_cmdline(cmdline)


def _is_our_server(pid: int, port: int) -> bool:
    cmdline = _cmdline(pid)
    return "localcloud.server" in cmdline and str(port) in cmdline


def _health(port: int, timeout: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _port_owner(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline())[:120]})"
    except (psutil.Error, OSError):
        pass
    return "another program"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _group_members(pgid: int) -> list[psutil.Process]:
    """Processes still in the server's process group (orphaned workers included)."""
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def status(port: int | None = None) -> CloudStatus:
    """Is the local cloud running on ``port``, healthy, and how many Lambda workers has it?"""
    port = _port(port)
    pid = _read_pid(port)
    if pid is None or not _is_our_server(pid, port):
        return CloudStatus(port, running=False, log_file=str(paths.log_file(port)))
    health = _health(port)
    healthy = health is not None and health.get("edition") == EDITION
    workers = len([p for p in _descendants(pid) if not lambda_zygote.is_zygote_cmdline(_cmdline(p.pid))])
    return CloudStatus(
        port,
        running=True,
        healthy=healthy,
        pid=pid,
        version=(health or {}).get("version"),
        lambda_workers=workers,
        log_file=str(paths.log_file(port)),
        iam_enforced=(health.get("auth") == "enabled") if health else None,
        persistent="--no-persist" not in _cmdline(pid),
    )


@contextmanager
def _lock(port: int) -> Iterator[None]:
    """Serialise start/stop on one port across processes (two starts = one server)."""
    directory = paths.cloud_dir(port)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(port: int, lines: int = 25) -> str:
    try:
        return "\n".join(paths.log_file(port).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_enforcement(current: CloudStatus, enforce_iam: bool) -> CloudStatus:
    """A running cloud that does not evaluate IAM must not pass for one that does."""
    if enforce_iam and current.iam_enforced is False:
        raise LocalCloudError(
            f"IAM enforcement was asked for ({ENFORCE_IAM_ENV}=1 or enforce_iam=True), but the local cloud "
            f"already running on port {current.port} (pid {current.pid}) does not enforce IAM. Stop it first "
            f"(orderlab cloud stop), then start again."
        )
    return current


def start(
    port: int | None = None, *, timeout: float = 60.0, enforce_iam: bool | None = None, persist: bool | None = None
) -> CloudStatus:
    """Start the local cloud on ``port`` (default ``ORDERLAB_PORT`` or 4599) and wait until healthy.

    Idempotent: when it already runs, returns its status without starting another.
    Raises :class:`LocalCloudError` when the port is taken by another program or the
    process fails to come up (with the end of its log).

    ``enforce_iam`` (default: ``ORDERLAB_ENFORCE_IAM``) starts it with IAM policy evaluation on
    (see :mod:`localcloud.server`); asking for it while a non-enforcing cloud runs on the port
    is refused rather than silently ignored.

    >>> start(4610, enforce_iam=True).iam_enforced            # doctest: +SKIP
    True

    ``persist`` (default: on unless ``ORDERLAB_PERSIST=0``) keeps the cloud's state across a stop
    and start, a reboot, and a crash minus its last seconds (:mod:`localcloud.persistence`, in
    ``~/.orderlab/cloud-<port>/state/``; :func:`reset` forgets it); it only applies when this call
    starts the process. After a crash the returned status's ``note`` says what was recovered.
    """
    from localcloud import persistence

    port = _port(port)
    persist = persistence.persist_requested() if persist is None else bool(persist)
    enforce = enforce_iam_requested() if enforce_iam is None else bool(enforce_iam)
    with _lock(port):
        current = status(port)
        if current.running and current.healthy:
            return _check_enforcement(current, enforce)
        if current.running:  # ours but not answering yet: wait for it rather than start another
            return _check_enforcement(_wait_healthy(port, current.pid, timeout), enforce)
        _reap_orphans(port)
        paths.pid_file(port).unlink(missing_ok=True)
        if _port_in_use(port):
            raise LocalCloudError(
                f"Port {port} is already in use by {_port_owner(port)}. Stop that program, or use "
                f"another port for the lab: ORDERLAB_PORT=4600 (in the shell that starts Jupyter "
                f"or runs orderlab)."
            )
        log_path = paths.log_file(port)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHONPATH"))}
        env["PYTHONUNBUFFERED"] = "1"
        env[ENFORCE_IAM_ENV] = "1" if enforce else "0"  # the server reads it too: say what was decided here
        env["ORDERLAB_PERSIST"] = "1" if persist else "0"
        crash = persistence.crash_report(port) if persist else None
        # Run from the directory holding localcloud/, so `-m localcloud.server` always resolves.
        source_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = source_root
        with open(log_path, "ab") as log:
            log.write(
                f"\n--- starting local cloud on 127.0.0.1:{port} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ---\n".encode()
            )
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "localcloud.server",
                    "--port",
                    str(port),
                    *(["--enforce-iam"] if enforce else []),
                    *([] if persist else ["--no-persist"]),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=source_root,
                env=env,
                start_new_session=True,  # own session: survives the kernel/shell that started it
            )
        paths.pid_file(port).write_text(f"{proc.pid}\n")
        started = _wait_healthy(port, proc.pid, timeout, proc)
        return replace(started, note=crash.describe()) if crash else started


def _reap_orphans(port: int) -> list[int]:
    """Kill what is left of a server that died without stopping (kill -9, OOM): its Lambda workers.

    They share the dead server's process group; they would exit at the end of their invocation
    (their stdin closed), but meanwhile they would call the cloud that starts next.
    """
    pid = _read_pid(port)
    if pid is None or _is_our_server(pid, port):
        return []
    # Only Lambda workers: the dead server's pid (and so its group id) may have been reused since.
    orphans = [p for p in _group_members(pid) if p.pid != os.getpid() and _is_lambda_worker(p.pid)]
    for proc in orphans:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(orphans, timeout=5)
    return [p.pid for p in orphans]


def _wait_healthy(port: int, pid: int | None, timeout: float, proc: subprocess.Popen | None = None) -> CloudStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            paths.pid_file(port).unlink(missing_ok=True)
            raise LocalCloudError(
                f"The local cloud exited during startup (code {proc.returncode}). End of its log "
                f"({paths.log_file(port)}):\n{_log_tail(port)}"
            )
        health = _health(port, timeout=0.5)
        if health and health.get("edition") == EDITION:
            return status(port)
        time.sleep(0.05)
    raise LocalCloudError(
        f"The local cloud did not become healthy within {timeout:.0f} s on port {port}. "
        f"End of its log ({paths.log_file(port)}):\n{_log_tail(port)}"
    )


def stop(port: int | None = None, *, grace: float | None = None, graceful: bool | None = None) -> StopReport:
    """Stop the local cloud and every Lambda worker it started; leaves nothing.

    SIGTERM to the server's process group (server + workers), ``grace`` seconds (default 5)
    to exit, then SIGKILL for whatever is left. Stopping a cloud that is not running is a no-op.
    ``graceful`` (default: when the cloud keeps its state): SIGTERM to the server alone first and
    up to ``grace`` seconds (default 30) for it to exit, so the invocations in flight finish and
    the last snapshot is written (:mod:`localcloud.persistence`); then the group as above.
    """
    port = _port(port)
    started = time.monotonic()
    with _lock(port):
        pid = _read_pid(port)
        if pid is None or not _is_our_server(pid, port):
            _reap_orphans(port)
            paths.pid_file(port).unlink(missing_ok=True)
            return StopReport(port, stopped=False)
        if graceful is None:
            graceful = "--no-persist" not in _cmdline(pid)
        grace = (30.0 if graceful else 5.0) if grace is None else grace
        doomed = {p.pid: p for p in [psutil.Process(pid), *_descendants(pid), *_group_members(pid)]}
        if graceful:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            psutil.wait_procs([doomed[pid]], timeout=grace)
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _, alive = psutil.wait_procs(list(doomed.values()), timeout=grace)
        forced = False
        leftovers = {p.pid: p for p in alive}
        leftovers.update({p.pid: p for p in _group_members(pid)})
        if leftovers:
            forced = True
            for proc in leftovers.values():
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(list(leftovers.values()), timeout=5)
        paths.pid_file(port).unlink(missing_ok=True)
        return StopReport(port, stopped=True, seconds=time.monotonic() - started, killed=sorted(doomed), forced=forced)


def reset(port: int | None = None) -> ResetReport:
    """A clean slate: stop the cloud on ``port`` if it runs, then delete its saved state and mailbox.

    >>> reset(4610).describe()     # doctest: +SKIP
    'local cloud on port 4610: stopped, saved state deleted (3 file(s) in ...); the next start is a clean slate'
    """
    from localcloud import persistence

    port = _port(port)
    stopped = stop(port).stopped
    with _lock(port):
        removed = persistence.clear_state(port)
        # Extracted function code is derived data, rebuilt on the next invoke: a slate is not clean with it.
        for cache in (code_cache.code_root(port), code_cache.pycache_dir(port)):
            shutil.rmtree(cache, ignore_errors=True)
    return ResetReport(port, stopped, removed, str(persistence.state_dir(port)))
