"""The snapshot file and the crash marker (localcloud/snapshots.py): atomic, readable, reported."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from localcloud import snapshots
from localcloud.persistence import persist_requested
from localcloud.services.dynamodb.stream_store import CompactRecords


def test_a_snapshot_round_trips_with_compact_records_and_its_header_reads_alone(tmp_path: Path) -> None:
    records = CompactRecords([{"eventName": "INSERT", "n": i} for i in range(3)])
    info = snapshots.write(tmp_path, {"dynamodb": {"records": records}, "sqs": {"queues": {}}}, taken_at=123.5)

    header = snapshots.read_info(tmp_path)
    assert header is not None and header.taken_at == 123.5 and header.services == ("dynamodb", "sqs")
    assert header.size == info.size == (tmp_path / snapshots.SNAPSHOT).stat().st_size
    _, states = snapshots.read(tmp_path)
    assert isinstance(states["dynamodb"]["records"], CompactRecords) and states["dynamodb"]["records"] == records
    assert [p.name for p in tmp_path.iterdir()] == [snapshots.SNAPSHOT]  # no temporary file left


def test_a_write_that_fails_midway_leaves_the_previous_snapshot_whole(tmp_path: Path, monkeypatch) -> None:
    snapshots.write(tmp_path, {"sqs": {"queues": {"q": 1}}}, taken_at=1.0)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        snapshots.write(tmp_path, {"sqs": {"queues": {"q": 2}}}, taken_at=2.0)
    monkeypatch.undo()
    info, states = snapshots.read(tmp_path)
    assert (info.taken_at, states) == (1.0, {"sqs": {"queues": {"q": 1}}})
    assert [p.name for p in tmp_path.iterdir()] == [snapshots.SNAPSHOT]


def test_a_crash_is_reported_with_the_snapshot_time_and_a_graceful_stop_is_not(tmp_path: Path) -> None:
    assert snapshots.crash_report(tmp_path) is None  # never ran
    snapshots.mark_running(tmp_path, pid=4242)
    snapshots.write(tmp_path, {}, taken_at=time.time() - 5)
    snapshots.touch_marker(tmp_path)

    report = snapshots.crash_report(tmp_path)
    assert report is not None and report.pid == 4242 and 4 <= report.lost_seconds <= 7
    stamp = time.strftime("%H:%M:%S", time.localtime(report.snapshot_at))
    assert report.describe() == (
        f"recovered from a crash: state as of {stamp} ({report.lost_seconds:.0f} s "
        "before the crash); changes after it are lost"
    )
    assert snapshots.crash_report(tmp_path, alive=True) is None
    snapshots.mark_stopped(tmp_path)
    assert snapshots.crash_report(tmp_path) is None


def test_a_crash_before_any_snapshot_says_the_cloud_starts_empty(tmp_path: Path) -> None:
    snapshots.mark_running(tmp_path, pid=7)
    report = snapshots.crash_report(tmp_path)
    assert report is not None and report.snapshot_at is None and "starting empty" in report.describe()


@pytest.mark.parametrize(
    ("value", "on"),
    [(None, True), ("", True), ("1", True), ("0", False), ("off", False), ("false", False), ("yes", True)],
)
def test_persistence_is_on_unless_turned_off(value: str | None, on: bool) -> None:
    assert persist_requested({} if value is None else {"ORDERLAB_PERSIST": value}) is on


def test_an_unchanged_state_confirmed_later_moves_the_snapshot_time_until_the_next_write(tmp_path: Path) -> None:
    snapshots.write(tmp_path, {"sqs": {}}, taken_at=10.0, digest="d1")
    snapshots.confirm(tmp_path, 25.0, "d1")
    assert snapshots.read_info(tmp_path).taken_at == 25.0
    snapshots.confirm(tmp_path, 30.0, "another state")  # not this snapshot's: ignored
    assert snapshots.read_info(tmp_path).taken_at == 10.0
    snapshots.write(tmp_path, {"sqs": {"q": 1}}, taken_at=40.0, digest="d2")
    assert snapshots.read_info(tmp_path).taken_at == 40.0 and not (tmp_path / snapshots.CONFIRMED).exists()
