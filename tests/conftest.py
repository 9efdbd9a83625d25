"""Shared fixtures: one local cloud for the whole test session, on a port of its own.

By default the tests start the local cloud on a free port (so a learner's cloud on 4599
is never touched) and stop it at the end, checking that no process is left behind.
To run the same tests against another target (the conformance suite is written for it):

    ORDERLAB_TARGET=aws AWS_PROFILE=... pytest tests/conformance      # a real account
    ORDERLAB_TARGET=endpoint AWS_ENDPOINT_URL=http://127.0.0.1:4566 pytest tests/conformance
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import psutil
import pytest

import localcloud

REPO_ROOT = Path(__file__).resolve().parent.parent
for lambda_dir in sorted((REPO_ROOT / "lambdas").glob("*/")):
    if str(lambda_dir) not in sys.path:
        sys.path.insert(0, str(lambda_dir))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from cloudtest import SESSION_MARKER, external_target, free_port  # noqa: E402

# Every process this session starts (local clouds, their Lambda workers, notebook kernels)
# inherits this marker, so the final check below sees only this session's processes.
os.environ[SESSION_MARKER] = uuid.uuid4().hex


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--enforce-iam", action="store_true", default=False,
                     help="start the local cloud with IAM policy enforcement (same as ORDERLAB_ENFORCE_IAM=1): "
                          "every call a Lambda function makes is checked against its execution role")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--enforce-iam"):
        os.environ["ORDERLAB_ENFORCE_IAM"] = "1"  # read by localcloud.start; notebook kernels inherit it


def _local_cloud_pids() -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = proc.info.get("cmdline") or []
            is_cloud = "localcloud.server" in cmdline or localcloud.lambda_worker_function(cmdline) is not None
            if is_cloud and proc.environ().get(SESSION_MARKER) == os.environ[SESSION_MARKER]:
                pids.add(proc.pid)
        except (psutil.Error, OSError):
            continue
    return pids


@pytest.fixture(scope="session", autouse=True)
def no_local_cloud_left_behind():
    """After the whole session, no local cloud or Lambda worker process started by it remains."""
    yield
    left = _local_cloud_pids()
    assert not left, f"local cloud processes left running after the tests: {sorted(left)}"


@pytest.fixture(scope="session")
def cloud():
    """The local cloud for this session (None when the tests target another cloud).

    A clean slate: the cloud keeps its state across restarts (localcloud/persistence.py), so
    whatever an earlier session left on this port is deleted before the start, and after the stop.
    """
    if external_target():
        yield None
        return
    import localcloud

    port = int(os.environ.get("ORDERLAB_TEST_PORT") or free_port())
    os.environ["ORDERLAB_PORT"] = str(port)  # Lab.connect, notebooks' kernels and the CLI inherit it
    localcloud.reset(port)
    status = localcloud.start(port)
    yield status
    report = localcloud.stop(port)
    localcloud.reset(port)
    assert report.stopped, "the local cloud was not running at the end of the session"
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.pid in report.killed and p.is_running()
                 and p.status() != psutil.STATUS_ZOMBIE]
    assert not leftovers, f"processes left after stopping the local cloud: {leftovers}"


@pytest.fixture(scope="session")
def lab(cloud):
    """A Lab with a unique prefix on the session's target; everything it made is deleted after."""
    from helpers import Lab

    lab = Lab.connect(prefix=f"t{uuid.uuid4().hex[:8]}")
    yield lab
    try:
        from helpers.ops.cleanup import destroy_lab
    except ImportError:
        return
    report = destroy_lab(lab)
    assert not report.remaining, f"cleanup left resources behind: {report.remaining}"
