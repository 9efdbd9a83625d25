"""The local cloud's Lambda worker pool when an execution environment dies (services/awslambda/runtime.py,
services/awslambda/service.py): real worker processes, killed for real, no server.

Each scenario runs in a fresh interpreter (``python this_file <scenario>``) so that MiniStack and
the patches are imported there, never into the test process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from lambda_scenarios import function_under_test, in_thread, run_scenario, wait_for, zip_of

from localcloud import code_cache
from localcloud.services.awslambda import runtime as lambda_runtime

HANDLER = """
import os, time
time.sleep(float(os.environ.get("INIT_SLEEP", "0")))  # the init phase


def handler(event, context):
    if event.get("mark"):
        open(event["mark"], "w").close()  # the invocation is in the handler now
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}
"""
FUNCTION = "pool-probe"


def test_exit_error_is_what_aws_reports_for_a_killed_runtime():
    error = lambda_runtime.exit_error("req-1", -signal.SIGKILL)
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"] == "RequestId: req-1 Error: Runtime exited with error: signal: killed"
    assert lambda_runtime.exit_error("req-2", 3)["errorMessage"].endswith("exit status 3")


def test_code_is_extracted_once_per_content_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("ORDERLAB_HOME", str(tmp_path))
    first, second = zip_of({"handler.py": "A = 1\n"}), zip_of({"handler.py": "A = 2\n"})
    with ThreadPoolExecutor(4) as pool:  # environments of one function starting together
        dirs = set(pool.map(lambda _: code_cache.code_dir(first, port=1), range(8)))
    (shared,) = dirs
    assert Path(shared, "handler.py").read_text() == "A = 1\n"
    other = code_cache.code_dir(second, port=1)
    assert other != shared and Path(other, "handler.py").read_text() == "A = 2\n"
    assert [p.name for p in code_cache.code_root(1).iterdir() if p.name.startswith(".")] == [], "a staging dir was left"
    code_cache.reset(1)
    assert not code_cache.code_root(1).exists()


@pytest.mark.long  # each scenario a fresh interpreter with MiniStack, real workers
@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["crash_in_flight", "failed_init_ends_only_its_environment"])
def test_a_dead_environment(scenario: str, tmp_path: Path) -> None:
    run_scenario(__file__, scenario, tmp_path, timeout=120)


# ------------------------------------------------------------------ scenarios (in their own interpreter)


def _setup(tmp: Path, init_sleep: float) -> tuple[Any, dict[str, Any]]:
    return function_under_test(FUNCTION, {"handler.py": HANDLER}, {"INIT_SLEEP": str(init_sleep)})


def _workers() -> list[int]:
    import psutil

    return [
        p.pid
        for p in psutil.Process().children()
        if any(f"ministack-lambda-{FUNCTION}-" in part for part in p.cmdline())
    ]


def crash_in_flight(tmp: Path) -> None:
    """The invocation on a killed environment fails at once with Runtime.ExitError; the next one
    gets a new environment."""
    lambda_svc, func = _setup(tmp, init_sleep=0)
    first = lambda_svc._execute_function_warm(func, {}, "warm")["body"]["pid"]
    mark = tmp / "in-handler"
    thread, box = in_thread(lambda_svc, func, {"sleep": 50, "mark": str(mark)}, "doomed")
    wait_for(mark.exists, "the invocation to reach the handler", 30.0)
    os.kill(first, signal.SIGKILL)
    thread.join(timeout=20)  # the function's timeout is 60 s: the failure must not wait for it
    assert not thread.is_alive(), "the invocation on the killed environment waited for its timeout"
    result = box[0]
    assert result.get("error") and result["body"]["errorType"] == "Runtime.ExitError", result
    assert result["body"]["errorMessage"] == "RequestId: doomed Error: Runtime exited with error: signal: killed"
    after = lambda_svc._execute_function_warm(func, {}, "next")
    assert not after.get("error") and after["body"]["pid"] != first, after


def failed_init_ends_only_its_environment(tmp: Path) -> None:
    """An environment killed during its init fails its own invocation; the function's other
    environment, busy with another request, finishes it."""
    lambda_svc, func = _setup(tmp, init_sleep=1.0)
    mark = tmp / "busy"
    busy, busy_box = in_thread(lambda_svc, func, {"sleep": 3, "mark": str(mark)}, "busy")
    wait_for(mark.exists, "the first environment to serve its request", 30.0)
    (busy_pid,) = _workers()
    starting, starting_box = in_thread(lambda_svc, func, {}, "starting")
    new_pid = wait_for(lambda: [pid for pid in _workers() if pid != busy_pid], "a second environment to start", 30.0)[0]
    os.kill(new_pid, signal.SIGKILL)  # within its 1 s init
    starting.join(timeout=20)
    busy.join(timeout=20)
    assert starting_box[0]["body"]["errorType"] == "Runtime.ExitError", starting_box
    assert not busy_box[0].get("error") and busy_box[0]["body"]["pid"] == busy_pid, busy_box
    assert busy_pid in _workers(), "the busy environment was ended with the one that failed"


if __name__ == "__main__":
    scenario, tmp_dir = sys.argv[1], Path(sys.argv[2])
    try:
        {
            "crash_in_flight": crash_in_flight,
            "failed_init_ends_only_its_environment": failed_init_ends_only_its_environment,
        }[scenario](tmp_dir)
    finally:
        from ministack.core import lambda_runtime as pool

        pool.reset()  # no worker outlives the scenario
    print(json.dumps({"scenario": scenario, "ok": True}))
