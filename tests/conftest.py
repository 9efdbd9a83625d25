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

import classrun  # noqa: E402
import seriesrun  # noqa: E402
from cloudtest import SESSION_MARKER, external_target, free_port  # noqa: E402

# Every process this session starts (local clouds, their Lambda workers, notebook kernels)
# inherits this marker, so the final check below sees only this session's processes.
os.environ[SESSION_MARKER] = uuid.uuid4().hex


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--enforce-iam",
        action="store_true",
        default=False,
        help="start the local cloud with IAM policy enforcement (same as ORDERLAB_ENFORCE_IAM=1): "
        "every call a Lambda function makes is checked against its execution role",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--enforce-iam"):
        os.environ["ORDERLAB_ENFORCE_IAM"] = "1"  # read by localcloud.start; notebook kernels inherit it


# Runs that take minutes and mostly wait: each starts in the background when collection is done
# (if a selected test needs it) and the tests that read it go last, so the others run meanwhile.
BACKGROUND_RUNS = {"series_run": seriesrun, "class_run": classrun}
BACKGROUND_RUNS_KEY = pytest.StashKey[dict]()


def _background_runs_needed(item: pytest.Item) -> list[str]:
    return [name for name in BACKGROUND_RUNS if name in getattr(item, "fixturenames", ())]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that reads a background run is a notebooks test (``-m "not notebooks"`` leaves the runs
    out), and goes last."""
    items.sort(key=lambda item: bool(_background_runs_needed(item)))  # stable: each group keeps its order
    for item in items:
        if _background_runs_needed(item):
            item.add_marker(pytest.mark.notebooks)
            item.add_marker(pytest.mark.timeout(seriesrun.RUN_TIMEOUT + 60))  # the first reader waits for the run


def pytest_collection_finish(session: pytest.Session) -> None:
    runs = session.config.stash.setdefault(BACKGROUND_RUNS_KEY, {})
    if session.config.option.collectonly or external_target():
        return  # on another target each test runs what it needs itself
    wanted = {name for item in session.items for name in _background_runs_needed(item)}
    for name in sorted(wanted):
        runs[name] = BACKGROUND_RUNS[name].start(session.config._tmp_path_factory.mktemp(name))  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session) -> None:
    for name, run in session.config.stash.get(BACKGROUND_RUNS_KEY, {}).items():
        if (
            run.returncode is None
        ):  # never read (interrupted, or its tests failed early): it may not outlive the session
            BACKGROUND_RUNS[name].stop(run)


def _background_run(request: pytest.FixtureRequest, name: str):
    runs = request.config.stash.setdefault(BACKGROUND_RUNS_KEY, {})
    if name not in runs:  # not started at collection (e.g. another target): start it now
        runs[name] = BACKGROUND_RUNS[name].start(request.config._tmp_path_factory.mktemp(name))  # type: ignore[attr-defined]
    return BACKGROUND_RUNS[name].finish(runs[name])


@pytest.fixture(scope="session")
def series_run(request: pytest.FixtureRequest) -> seriesrun.SeriesRun:
    """The notebook series, run once for the session by ``orderlab run`` (tests/seriesrun.py)."""
    return _background_run(request, "series_run")


@pytest.fixture(scope="session")
def class_run(request: pytest.FixtureRequest) -> classrun.ClassRun:
    """``orderlab class`` for three learners on a cloud of its own (tests/classrun.py)."""
    return _background_run(request, "class_run")


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
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.pid in report.killed and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
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
