"""The local cloud's state on disk: one snapshot file, replaced atomically, and a crash marker.

Details: docs/local-cloud-services.md, `localcloud/snapshots.py`.

>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> write(d, {"sqs": {"queues": {}}}, taken_at=100.0).size > 0
True
>>> read_info(d).taken_at, read(d)[1]
(100.0, {'sqs': {'queues': {}}})
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIRMED",
    "FORMAT",
    "MARKER",
    "SNAPSHOT",
    "CrashReport",
    "SnapshotInfo",
    "confirm",
    "crash_report",
    "mark_running",
    "mark_stopped",
    "read",
    "read_info",
    "touch_marker",
    "write",
]

FORMAT = 1
SNAPSHOT = "snapshot.pickle"
MARKER = "running.json"
CONFIRMED = "snapshot.confirmed.json"


@dataclass(frozen=True)
class SnapshotInfo:
    """The header of a snapshot: when it was taken, by which MiniStack, its size on disk."""

    taken_at: float
    ministack: str
    services: tuple[str, ...]
    size: int = 0
    format: int = FORMAT
    digest: str = ""


def _ministack_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ministack")
    except PackageNotFoundError:
        return "?"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(
    directory: Path, states: dict[str, Any], *, taken_at: float, payload: bytes | None = None, digest: str = ""
) -> SnapshotInfo:
    """Replace ``directory``/snapshot.pickle atomically with ``states`` (or their pickle, ``payload``)."""
    directory.mkdir(parents=True, exist_ok=True)
    info = SnapshotInfo(taken_at, _ministack_version(), tuple(states), digest=digest)
    body = payload if payload is not None else pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)
    target = directory / SNAPSHOT
    tmp = directory / f".{SNAPSHOT}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as handle:
            pickle.dump(info.__dict__, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the rename makes it the snapshot
        os.replace(tmp, target)
        _fsync_dir(directory)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    (directory / CONFIRMED).unlink(missing_ok=True)
    return SnapshotInfo(**{**info.__dict__, "size": target.stat().st_size})


def confirm(directory: Path, taken_at: float, digest: str) -> None:
    """A later capture found the same state as the snapshot (``digest``): it holds as of ``taken_at``."""
    tmp = directory / f".{CONFIRMED}.tmp"
    tmp.write_text(json.dumps({"taken_at": taken_at, "digest": digest}))
    os.replace(tmp, directory / CONFIRMED)


def read_info(directory: Path) -> SnapshotInfo | None:
    """The header of the snapshot in ``directory`` (None: none there, or unreadable).

    ``taken_at`` is the last moment the state was known to be the snapshot's (see :func:`confirm`).
    """
    path = directory / SNAPSHOT
    try:
        with open(path, "rb") as handle:
            header = pickle.load(handle)
        info = SnapshotInfo(**{**header, "services": tuple(header.get("services", ())), "size": path.stat().st_size})
    except (OSError, pickle.UnpicklingError, EOFError, TypeError, ValueError):
        return None
    try:
        confirmed = json.loads((directory / CONFIRMED).read_text())
    except (OSError, ValueError):
        return info
    if info.digest and confirmed.get("digest") == info.digest:
        info = SnapshotInfo(**{**info.__dict__, "taken_at": max(info.taken_at, float(confirmed["taken_at"]))})
    return info


def read(directory: Path) -> tuple[SnapshotInfo, dict[str, Any]]:
    """The snapshot in ``directory``: its header and every service's state. Raises OSError when absent."""
    path = directory / SNAPSHOT
    with open(path, "rb") as handle:
        header = pickle.load(handle)
        states = pickle.load(handle)
    info = SnapshotInfo(**{**header, "services": tuple(header.get("services", ())), "size": path.stat().st_size})
    return info, states


# ------------------------------------------------------------------ crash marker


def mark_running(directory: Path, pid: int) -> None:
    """Note that server ``pid`` runs on this state (until :func:`mark_stopped`)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{MARKER}.tmp"
    tmp.write_text(json.dumps({"pid": pid, "started_at": time.time()}))
    os.replace(tmp, directory / MARKER)


def touch_marker(directory: Path) -> None:
    """The server is alive now (the marker's mtime is read after a crash)."""
    try:
        os.utime(directory / MARKER)
    except OSError:
        pass


def mark_stopped(directory: Path) -> None:
    """A graceful stop saved everything: no crash to report at the next start."""
    (directory / MARKER).unlink(missing_ok=True)


@dataclass(frozen=True)
class CrashReport:
    """What a start after a crash recovers: the snapshot's time, and the server's last sign of life."""

    pid: int
    last_alive: float
    snapshot_at: float | None

    @property
    def lost_seconds(self) -> float | None:
        """Seconds of changes that may be lost (last sign of life minus the snapshot's time)."""
        return None if self.snapshot_at is None else max(0.0, round(self.last_alive - self.snapshot_at, 1))

    def describe(self) -> str:
        if self.snapshot_at is None:
            return f"recovered from a crash (server pid {self.pid}): no snapshot had been taken yet; starting empty"
        at = time.strftime("%H:%M:%S", time.localtime(self.snapshot_at))
        return (
            f"recovered from a crash: state as of {at} ({self.lost_seconds:.0f} s before the crash); "
            f"changes after it are lost"
        )


def crash_report(directory: Path, *, alive: bool = False) -> CrashReport | None:
    """A report when the last server on this state did not stop gracefully (None: it did, or still runs)."""
    path = directory / MARKER
    if alive:
        return None
    try:
        marker = json.loads(path.read_text())
        last_alive = path.stat().st_mtime
    except (OSError, ValueError):
        return None
    info = read_info(directory)
    return CrashReport(int(marker.get("pid") or 0), last_alive, info.taken_at if info else None)
