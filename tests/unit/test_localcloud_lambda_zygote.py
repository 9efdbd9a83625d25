"""Execution environments forked from a zygote (localcloud/lambda_zygote.py): real worker
processes, killed for real, no server.

Each scenario runs in a fresh interpreter (``python this_file <scenario>``) so that MiniStack and
the patches are imported there, never into the test process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from lambda_scenarios import function_under_test, in_thread, run_scenario, wait_for

FUNCTION = "zygote-probe"
# A library vendored in the zip under the name of one the runtime SDK also has (jmespath):
# the zip's copy must be the one imported, in the zygote as in every environment.
VENDORED = {
    "jmespath/__init__.py": "VENDORED = True\n",
    "jmespath-9.9.9.dist-info/RECORD": "jmespath/__init__.py,,\njmespath-9.9.9.dist-info/RECORD,,\n",
    "jmespath-9.9.9.dist-info/METADATA": "Metadata-Version: 2.1\nName: jmespath\nVersion: 9.9.9\n",
}
HANDLER = """
import os, sys, time
import jmespath
import boto3
import botocore.loaders
import botocore.session

# The init phase: runs once in every execution environment.
with open(os.environ["INIT_LOG"], "a") as log:
    log.write("%d\\n" % os.getpid())
INIT_PID = os.getpid()


def handler(event, context):
    if event.get("mark"):
        open(event["mark"], "w").close()
    time.sleep(event.get("sleep", 0))
    sdk_data = []
    if event.get("client"):  # what the environment's first client finds loaded, then the client itself
        sdk_data = sorted({key[1] for key in botocore.loaders.create_loader()._cache if key[0] == "load_service_model"})
        dynamodb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        assert dynamodb.meta.service_model.service_name == "dynamodb"
    return {"sdk_data": sdk_data, "pid": os.getpid(), "init_pid": INIT_PID,
            "vendored": getattr(jmespath, "VENDORED", False),
            "jmespath_file": jmespath.__file__, "botocore_file": botocore.session.__file__,
            "setting": os.environ.get("SETTING"), "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            "preloaded": "botocore.session" in sys.modules}
"""


pytestmark = pytest.mark.long  # each scenario a fresh interpreter with MiniStack, real workers

SPARE_SCENARIOS = {"spare_serves_the_next_request", "killed_environments_are_started_again_ahead"}


SCENARIOS = [
    "forks_after_first_init",
    "killed_environment_is_replaced_by_a_fork",
    "zygote_reappears_after_a_kill",
    "off_switch_starts_normally",
    "spare_serves_the_next_request",
    "killed_environments_are_started_again_ahead",
]
# Scenarios run at once: each mostly waits (handlers that sleep, environments starting), so two
# together take little longer than one.
SCENARIOS_AT_ONCE = 2


def _run(scenario: str, tmp_path: Path) -> None:
    run_scenario(
        __file__,
        scenario,
        tmp_path,
        timeout=180,
        ORDERLAB_LAMBDA_ZYGOTE="0" if scenario.startswith("off") else "1",
        # The scenarios that count forks run without the spare environment (it is a fork too).
        ORDERLAB_LAMBDA_SPARE="1" if scenario in SPARE_SCENARIOS else "0",
    )


@pytest.fixture(scope="module")
def scenario_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[None]]]:
    """The session's selected scenarios, started with the first of them, SCENARIOS_AT_ONCE at a time;
    each in a fresh interpreter and a folder of its own (nothing shared: its own ORDERLAB_HOME)."""
    selected = [
        item.callspec.params["scenario"]
        for item in request.session.items
        if item.module is request.module and item.originalname == "test_zygote"  # type: ignore[attr-defined]
    ]
    with ThreadPoolExecutor(SCENARIOS_AT_ONCE) as pool:
        yield {scenario: pool.submit(_run, scenario, tmp_path_factory.mktemp(scenario)) for scenario in selected}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_zygote(scenario: str, scenario_runs: dict[str, Future[None]]) -> None:
    scenario_runs[scenario].result()  # re-raises the scenario's failure, with its output


def test_zygote_command_line_is_not_an_environment() -> None:
    from localcloud import lambda_worker_function as function_of
    from localcloud import lambda_zygote

    zygote = [
        "/usr/bin/python3.11",
        "-I",
        "-S",
        "-B",
        "/root/.orderlab/cloud-4599/lambda-zygotes/orderlab-lambda-zygote.py",
        " " * 8,
    ]
    assert function_of(zygote) is None, "chaos must never kill a zygote"
    assert lambda_zygote.is_zygote_cmdline(zygote)
    assert not lambda_zygote.is_zygote_cmdline(["python", "/tmp/ministack-lambda-f-abcdefgh/_worker.py"])


# ------------------------------------------------------------------ scenarios (in their own interpreter)


def _setup(tmp: Path, setting: str = "one") -> tuple[Any, dict[str, Any]]:
    environment = {"INIT_LOG": str(tmp / "inits.log"), "SETTING": setting}
    return function_under_test(FUNCTION, {"handler.py": HANDLER, **VENDORED}, environment)


def _invoke(lambda_svc: Any, func: dict[str, Any], event: dict[str, Any], request_id: str) -> dict[str, Any]:
    result = lambda_svc._execute_function_warm(func, event, request_id)
    assert not result.get("error"), result
    return result["body"]


def _wait(condition, what: str, timeout: float = 60.0) -> Any:
    return wait_for(condition, what, timeout)


def _ready_zygote() -> Any:
    from localcloud import lambda_zygote

    return _wait(lambda: next((z for z in lambda_zygote.zygotes() if z.ready), None), "a ready zygote")


def _inits(tmp: Path) -> list[int]:
    path = tmp / "inits.log"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _two_at_once(lambda_svc: Any, func: dict[str, Any], tmp: Path, tag: str) -> list[dict[str, Any]]:
    """Two invocations in flight together: the second needs an environment of its own."""
    mark = tmp / f"{tag}.mark"
    first, first_box = in_thread(lambda_svc, func, {"mark": str(mark), "sleep": 2}, f"{tag}-1")
    _wait(mark.exists, "the first invocation in its handler")
    second = _invoke(lambda_svc, func, {}, f"{tag}-2")
    first.join()
    assert not first_box[0].get("error"), first_box
    return [first_box[0]["body"], second]


def _parent_and_cmdline(pid: int) -> tuple[int, list[str]]:
    import psutil

    proc = psutil.Process(pid)
    return proc.ppid(), [part for part in proc.cmdline() if part]


def forks_after_first_init(tmp: Path) -> None:
    """The first environment starts normally; later ones are forks of the zygote, each running
    the function's init, importing the zip's vendored library, with the function's variables."""
    from localcloud import lambda_worker_function as function_of

    lambda_svc, func = _setup(tmp)
    first = _invoke(lambda_svc, func, {}, "r1")
    zygote = _ready_zygote()
    assert zygote.forks == 0
    assert function_of(_parent_and_cmdline(zygote.proc.pid)[1]) is None, "a zygote must not look like an environment"
    _, forked = _two_at_once(lambda_svc, func, tmp, "scale")
    assert zygote.forks == 1, "the second environment was not forked"
    assert forked["pid"] != first["pid"] and forked["init_pid"] == forked["pid"]
    assert _inits(tmp) == [first["pid"], forked["pid"]], "each environment runs its own init"
    for body in (first, forked):
        assert body["vendored"] is True and body["jmespath_file"].startswith(str(Path(tmp, "home"))), body
        assert "/sdk/" in body["botocore_file"], body  # the runtime's SDK, not the lab's site-packages
        assert body["setting"] == "one"
    assert forked["stream"] and forked["stream"] != first["stream"], "a log stream per environment"
    parent, cmdline = _parent_and_cmdline(forked["pid"])
    assert parent == os.getpid(), "a forked environment is a child of the server"
    assert function_of(cmdline) == FUNCTION, cmdline
    assert cmdline[-1].endswith("/_worker.py") and "-I" in cmdline

    # A configuration change keeps the zygote (same code); the new variables reach the environment.
    func["config"] = {
        **func["config"],
        "Environment": {"Variables": {**func["config"]["Environment"]["Variables"], "SETTING": "two"}},
    }
    from ministack.core import lambda_runtime as lr

    lr.invalidate_worker(FUNCTION, qualifier="$LATEST")
    changed = _invoke(lambda_svc, func, {}, "r-changed")
    assert changed["setting"] == "two" and zygote.forks == 2 and zygote.ready


def killed_environment_is_replaced_by_a_fork(tmp: Path) -> None:
    """A killed environment: its invocation fails with Runtime.ExitError at once; the next
    invocation gets a forked environment, with its init and an Init Duration."""
    from localcloud.services.awslambda import runtime as lambda_runtime

    lambda_svc, func = _setup(tmp)
    first = _invoke(lambda_svc, func, {}, "r1")
    zygote = _ready_zygote()
    _, forked = _two_at_once(lambda_svc, func, tmp, "scale")
    mark = tmp / "busy.mark"
    thread, box = in_thread(lambda_svc, func, {"mark": str(mark), "sleep": 30}, "r-killed")
    _wait(mark.exists, "an invocation in its handler")
    busy = [pid for pid in (first["pid"], forked["pid"]) if _is_sleeping_in_handler(pid)]
    victim = busy[0] if busy else first["pid"]
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=20)
    assert not thread.is_alive(), "the invocation on the killed environment waited"
    if box[0].get("error"):
        assert box[0]["body"]["errorType"] == "Runtime.ExitError", box
        assert box[0]["body"]["errorMessage"].endswith("signal: killed")
    forks = zygote.forks
    bodies = _two_at_once(lambda_svc, func, tmp, "after")
    replacement = next(b for b in bodies if b["pid"] not in (first["pid"], forked["pid"]))
    assert zygote.forks == forks + 1
    assert replacement["init_pid"] == replacement["pid"] and replacement["pid"] in _inits(tmp)
    assert lambda_runtime.serving_environment.get() is not None


def _is_sleeping_in_handler(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_SLEEPING
    except psutil.Error:
        return False


def zygote_reappears_after_a_kill(tmp: Path) -> None:
    """A killed zygote is started again; meanwhile environments start normally; its forks live on."""
    lambda_svc, func = _setup(tmp)
    _invoke(lambda_svc, func, {}, "r1")
    zygote = _ready_zygote()
    _, forked = _two_at_once(lambda_svc, func, tmp, "scale")
    old_pid = zygote.proc.pid
    os.kill(old_pid, signal.SIGKILL)
    _wait(lambda: zygote.ready and zygote.proc.pid != old_pid, "the zygote started again")
    assert _is_alive(forked["pid"]), "a zygote's death must not end its environments"
    forks = zygote.forks
    mark = tmp / "again.mark"
    thread, _box = in_thread(lambda_svc, func, {"mark": str(mark), "sleep": 2}, "again-1")
    _wait(mark.exists, "an invocation in its handler")
    second, _box2 = in_thread(lambda_svc, func, {"mark": str(tmp / "again2.mark"), "sleep": 2}, "again-2")
    _wait((tmp / "again2.mark").exists, "a second invocation in its handler")
    third = _invoke(lambda_svc, func, {}, "again-3")
    thread.join()
    second.join()
    assert zygote.forks == forks + 1 and third["init_pid"] == third["pid"]
    from ministack.core import lambda_runtime as lr

    lr.reset()
    _wait(lambda: not _is_alive(zygote.proc.pid), "the zygote to end with the pool")


def _is_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def off_switch_starts_normally(tmp: Path) -> None:
    """ORDERLAB_LAMBDA_ZYGOTE=0: no zygote, every environment starts from its launcher."""
    from localcloud import lambda_zygote

    lambda_svc, func = _setup(tmp)
    _invoke(lambda_svc, func, {}, "r1")
    bodies = _two_at_once(lambda_svc, func, tmp, "scale")
    assert len({b["pid"] for b in bodies}) == 2 and not lambda_zygote.zygotes()
    assert len(_inits(tmp)) == 2


def _served(lambda_svc: Any, func: dict[str, Any], event: dict[str, Any], request_id: str) -> tuple[dict, Any]:
    """One invocation: its body, and the environment that served it (its Init Duration if a cold start)."""
    from localcloud.services.awslambda import runtime as lambda_runtime

    body = _invoke(lambda_svc, func, event, request_id)
    return body, lambda_runtime.serving_environment.get()


def spare_serves_the_next_request(tmp: Path) -> None:
    """With a zygote, a request that finds every environment busy takes one started ahead: its init
    ran before the request came, its first invocation still reports it (Init Duration, a cold start),
    and its first client finds the SDK's data for the code's services loaded (in the zygote)."""
    lambda_svc, func = _setup(tmp)
    first, started = _served(lambda_svc, func, {"client": True}, "r1")
    assert started.init_ms is not None and started.init_in_invocation, "the first environment is a cold start"
    assert first["sdk_data"] == [], "the first environment loads the SDK data itself"
    zygote = _ready_zygote()
    assert "dynamodb" in zygote.sdk_data, zygote.sdk_data
    mark = tmp / "busy.mark"
    busy, busy_box = in_thread(lambda_svc, func, {"mark": str(mark), "sleep": 2}, "r-busy")
    _wait(mark.exists, "an invocation in its handler")
    ahead = _wait(lambda: _inits(tmp)[1:], "the spare environment's init")  # started while r-busy runs
    spare, cold = _served(lambda_svc, func, {"client": True}, "r-spare")
    busy.join()
    assert not busy_box[0].get("error"), busy_box
    assert spare["pid"] not in (first["pid"], busy_box[0]["body"]["pid"]) and spare["init_pid"] == spare["pid"]
    assert spare["pid"] in ahead, "the request ran no init: the spare had run it before the request came"
    assert cold.init_ms is not None and not cold.init_in_invocation, "its first invocation is still a cold start"
    assert spare["sdk_data"] == ["dynamodb"], spare


def killed_environments_are_started_again_ahead(tmp: Path) -> None:
    """Every environment killed: the next request starts one, and another is started beside it, so
    the request after does not start one of its own."""
    from ministack.core import lambda_runtime as lr

    lambda_svc, func = _setup(tmp)
    _invoke(lambda_svc, func, {}, "r1")
    _ready_zygote()
    _two_at_once(lambda_svc, func, tmp, "scale")
    _wait(lambda: len(_inits(tmp)) >= 3, "the spare beside the two busy environments")
    with lr._lock:
        pids = [w._proc.pid for entries in lr._workers.values() for w in entries if w._proc is not None]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    _wait(lambda: not any(_is_alive(pid) for pid in pids), "the environments to die")
    before = len(_inits(tmp))
    mark = tmp / "after.mark"
    thread, box = in_thread(lambda_svc, func, {"mark": str(mark), "sleep": 2}, "after-1")
    _wait(mark.exists, "the first request after the kill in its handler")
    # The first request's environment and one more: a killed one started again, or the spare beside it.
    _wait(lambda: len(_inits(tmp)[before:]) >= 2, "an environment started beside the first request's")
    started_before_the_second = _inits(tmp)[before:]
    second = _invoke(lambda_svc, func, {}, "after-2")
    thread.join()
    assert not box[0].get("error"), box
    assert second["pid"] not in pids and second["pid"] != box[0]["body"]["pid"]
    assert second["pid"] in started_before_the_second, (
        f"the second request ran an init of its own: {second['pid']} was not started before it came "
        f"({started_before_the_second})"
    )


if __name__ == "__main__":
    globals()[sys.argv[1]](Path(sys.argv[2]))
    from ministack.core import lambda_runtime as lr

    lr.reset()  # every environment and zygote ended and reaped before this "server" exits
    print(json.dumps({"ok": sys.argv[1]}))
