"""The ``orderlab`` command as the README documents it: run (the main job) and clean."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import nbformat
import pytest
from cloudtest import external_target, free_port

import localcloud
from helpers.teach.runner import series

pytestmark = pytest.mark.skipif(external_target() is not None, reason="the main job runs on the local default")


def _orderlab(*args: str, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers.teach.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_run_executes_the_series_prints_a_summary_and_stops_the_cloud_it_started(series_run):
    """The session's one series run is ``orderlab run`` (tests/seriesrun.py), on a port of its own."""
    assert series_run.returncode == 0, series_run.failure()
    summary = series_run.stdout.splitlines()
    names = [p.name for p in series()]
    for name in names:
        assert any(line.startswith(name) and " ok " in line for line in summary), series_run.stdout
        executed = nbformat.read(series_run.notebook(name), as_version=4)
        assert executed.metadata["papermill"]["parameters"]["target"] == "local"
    assert any(line.startswith("total") and f"{len(names)}/{len(names)} ok" in line for line in summary)
    assert series_run.cloud_left_running is False, "orderlab run left the local cloud it started running"


@pytest.mark.slow  # starts and stops a local cloud of its own
def test_run_fails_with_a_summary_when_a_notebook_fails(tmp_path):
    port = free_port()
    env = dict(os.environ, ORDERLAB_PORT=str(port))
    try:
        proc = _orderlab("run", "--output", str(tmp_path / "out"), "-p", "prefix", "Not_A_Valid_Prefix", env=env)
    finally:
        leftover = localcloud.stop(port)
        localcloud.reset(port)
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "Invalid prefix" in proc.stdout
    assert any(line.startswith("total") and f"0/{len(series())} ok" in line for line in proc.stdout.splitlines())
    assert leftover.stopped is False, "orderlab run left the local cloud it started running"


def test_clean_deletes_a_prefix_and_reports_nothing_remains(cloud):
    from helpers.aws import ensure_orders_table

    prefix = f"cl{uuid.uuid4().hex[:6]}"
    from helpers import Lab

    other = Lab.connect(prefix=prefix)
    ensure_orders_table(other, other.name("orders"))
    proc = _orderlab("clean", "--prefix", prefix, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"deleted dynamodb table {prefix}-orders" in proc.stdout
    assert "Nothing remains." in proc.stdout
