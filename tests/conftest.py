"""Shared fixtures: one local cloud for the whole test session, on a port of its own.

By default the tests start the local cloud on a free port (so a learner's cloud on 4599
is never touched) and stop it at the end, checking that no process is left behind.
To run the same tests against another target (the conformance suite is written for it):

    ORDERLAB_TARGET=aws AWS_PROFILE=... pytest tests/conformance      # a real account
    ORDERLAB_TARGET=endpoint AWS_ENDPOINT_URL=http://127.0.0.1:4566 pytest tests/conformance
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import uuid
from pathlib import Path
from typing import Any

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
# inherits this marker, so the final check below sees only this session's processes. With
# pytest-xdist each worker adds its name to the controller's: ``<session>:gw0``.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    os.environ[SESSION_MARKER] = f"{os.environ[SESSION_MARKER].split(':')[0]}:{WORKER}"
else:
    os.environ[SESSION_MARKER] = uuid.uuid4().hex


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--enforce-iam",
        action="store_true",
        default=False,
        help="start the local cloud with IAM policy enforcement (same as ORDERLAB_ENFORCE_IAM=1): "
        "every call a Lambda function makes is checked against its execution role",
    )


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin: the session's temporary folder exists then
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--enforce-iam"):
        os.environ["ORDERLAB_ENFORCE_IAM"] = "1"  # read by localcloud.start; notebook kernels inherit it
    if not WORKER:
        # The local clouds' files (logs, state, code caches) go to the session's temporary folder, which
        # pytest prunes, not to ~/.orderlab; xdist workers and background runs inherit it.
        os.environ["ORDERLAB_HOME"] = str(_shared_dir(config) / "orderlab-home")


# Runs that take minutes and mostly wait: each starts in the background when collection is done
# (if a selected test needs it) and the tests that read it go last, so the others run meanwhile.
BACKGROUND_RUNS = {"series_run": seriesrun, "class_run": classrun}
BACKGROUND_RUNS_KEY = pytest.StashKey[dict]()
# pytest-xdist: the node ids of the tests that read a background run (written by the workers at
# collection, read by the controller's scheduler: they all go to one worker, after everything else).
READERS_FILE = "background-readers.json"


def _background_runs_needed(item: pytest.Item) -> list[str]:
    return [name for name in BACKGROUND_RUNS if name in getattr(item, "fixturenames", ())]


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


def _shared_dir(config: pytest.Config) -> Path:
    """The session's temporary folder, the same for the controller and every xdist worker."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if WORKER else base


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that reads a background run is a notebooks test (``-m "not notebooks"`` leaves the runs
    out), and goes last; the files marked ``long`` go first, so the workers end together."""
    for item in items:
        # schemathesis gives each API operation's test the same node id (its name alone says which);
        # xdist tells tests apart by node id, so one of them would never run
        if item.nodeid.endswith(f"::{item.originalname}") and item.name != item.originalname:  # type: ignore[attr-defined]
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(f"{item.nodeid.rpartition('::')[0]}::{item.name}")
    # stable: each group keeps its order, and a file's tests stay together (its module fixtures are made once);
    # long files go first within their folder only: a folder may rely on the ones before it (the integration
    # tests that clean up the session's lab delete the conformance tests' session-scoped probes)
    long_files = {item.path for item in items if item.get_closest_marker("long")}
    folders: dict[Path, int] = {}
    for item in items:
        folders.setdefault(item.path.parent, len(folders))
    items.sort(
        key=lambda item: (
            bool(_background_runs_needed(item)),
            folders[item.path.parent],
            item.path not in long_files,
        )
    )
    for item in items:
        if _background_runs_needed(item):
            item.add_marker(pytest.mark.notebooks)
            item.add_marker(pytest.mark.timeout(seriesrun.RUN_TIMEOUT + 60))  # the first reader waits for the run
    if WORKER:  # before the worker sends its collection to the controller's scheduler
        readers = [item.nodeid for item in items if _background_runs_needed(item)]
        _write_atomically(_shared_dir(config) / READERS_FILE, json.dumps(readers))


def pytest_collection_finish(session: pytest.Session) -> None:
    runs = session.config.stash.setdefault(BACKGROUND_RUNS_KEY, {})
    if session.config.option.collectonly or external_target():
        return  # on another target each test runs what it needs itself
    readers = [item for item in session.items if _background_runs_needed(item)]
    wanted = {name for item in readers for name in _background_runs_needed(item)}
    if not WORKER:
        for name in sorted(wanted):
            runs[name] = BACKGROUND_RUNS[name].start(session.config._tmp_path_factory.mktemp(name))  # type: ignore[attr-defined]
        return
    shared = _shared_dir(session.config)
    for name in sorted(wanted):
        try:
            (shared / name).mkdir()  # the first worker here starts the run; the others find it below
        except FileExistsError:
            continue
        runs[name] = BACKGROUND_RUNS[name].start(shared / name)
        _write_atomically(shared / f"{name}.pickle", pickle.dumps(runs[name]))


def _write_atomically(path: Path, data: str | bytes) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data.encode() if isinstance(data, str) else data)
    temporary.replace(path)


def _started_elsewhere(config: pytest.Config, name: str):
    """The run another xdist worker started (its description, pickled), or None."""
    path = _shared_dir(config) / f"{name}.pickle"
    if not (_shared_dir(config) / name).is_dir():
        return None
    from helpers.core.waiters import wait_until

    wait_until(path.is_file, timeout=120, interval=0.2, what=f"the {name} another worker started")
    return pickle.loads(path.read_bytes())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, except that the tests reading a background run form one unit, scheduled last."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    readers_file = _shared_dir(config) / READERS_FILE
    # collection order (pytest_collection_modifyitems), not the files with most tests first: the files
    # marked long first, the readers' unit last, the many quick unit tests fill the gaps at the end
    config.option.loadscopereorder = False

    class ReadersLast(LoadFileScheduling):
        readers: set[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.readers is None:
                self.readers = set(json.loads(readers_file.read_text())) if readers_file.is_file() else set()
            return "background runs" if nodeid in self.readers else super()._split_scope(nodeid)

    return ReadersLast(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if WORKER:
        return  # a run may outlive the worker that started it: the controller ends it below
    for name, run in session.config.stash.get(BACKGROUND_RUNS_KEY, {}).items():
        if (
            run.returncode is None
        ):  # never read (interrupted, or its tests failed early): it may not outlive the session
            BACKGROUND_RUNS[name].stop(run)
    if _is_xdist_controller(session.config):
        for name in BACKGROUND_RUNS:  # whether read or not: stopping a stopped run and its cloud changes nothing
            path = _shared_dir(session.config) / f"{name}.pickle"
            if path.is_file():
                BACKGROUND_RUNS[name].stop(pickle.loads(path.read_bytes()))
        left = _local_cloud_pids()
        if left:
            session.config.get_terminal_writer().line(
                f"local cloud processes left running after the tests: {sorted(left)}", red=True
            )
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _background_run(request: pytest.FixtureRequest, name: str):
    runs = request.config.stash.setdefault(BACKGROUND_RUNS_KEY, {})
    if name not in runs and WORKER and not external_target():
        started = _started_elsewhere(request.config, name)
        if started is not None:
            runs[name] = started
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


def _this_session(marker: str) -> bool:
    """A process of this pytest process (an xdist worker: its own), or of its background runs."""
    mine = os.environ[SESSION_MARKER]
    return marker == mine if WORKER else marker.split(":")[0] == mine


def _local_cloud_pids() -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = proc.info.get("cmdline") or []
            is_cloud = "localcloud.server" in cmdline or localcloud.lambda_worker_function(cmdline) is not None
            if is_cloud and _this_session(proc.environ().get(SESSION_MARKER, "")):
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

    fixed = os.environ.get("ORDERLAB_TEST_PORT")
    port = int(fixed) + int((WORKER or "gw0")[2:]) if fixed else free_port()  # xdist: one port per worker
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
