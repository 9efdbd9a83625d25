"""The local cloud's Lambda worker pool when an execution environment dies (services/awslambda/runtime.py,
services/awslambda/service.py): real worker processes, killed for real, no server.

Each scenario runs in a fresh interpreter (``python this_file <scenario>``) so that MiniStack and
the patches are imported there, never into the test process.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

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


def _zip(files: dict[str, str]) -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return code.getvalue()


def test_code_is_extracted_once_per_content_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("ORDERLAB_HOME", str(tmp_path))
    first, second = _zip({"handler.py": "A = 1\n"}), _zip({"handler.py": "A = 2\n"})
    with ThreadPoolExecutor(4) as pool:  # environments of one function starting together
        dirs = set(pool.map(lambda _: code_cache.code_dir(first, port=1), range(8)))
    (shared,) = dirs
    assert Path(shared, "handler.py").read_text() == "A = 1\n"
    other = code_cache.code_dir(second, port=1)
    assert other != shared and Path(other, "handler.py").read_text() == "A = 2\n"
    assert [p.name for p in code_cache.code_root(1).iterdir() if p.name.startswith(".")] == [], "a staging dir was left"
    code_cache.reset(1)
    assert not code_cache.code_root(1).exists()


@pytest.mark.parametrize("scenario", ["crash_in_flight", "failed_init_ends_only_its_environment"])
def test_a_dead_environment(scenario: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, __file__, scenario, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ORDERLAB_HOME": str(tmp_path / "home"), "LOG_LEVEL": "WARNING"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


# ------------------------------------------------------------------ scenarios (in their own interpreter)


def _setup(tmp: Path, init_sleep: float) -> tuple[Any, dict[str, Any]]:
    from localcloud import patches

    patches.apply_all()
    from ministack.services import lambda_svc

    config = {
        "FunctionName": FUNCTION,
        "Runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Handler": "handler.handler",
        "Timeout": 60,
        "MemorySize": 128,
        "Environment": {"Variables": {"INIT_SLEEP": str(init_sleep)}},
        "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{FUNCTION}",
    }
    return lambda_svc, {"config": config, "code_zip": _zip({"handler.py": HANDLER})}


def _workers() -> list[int]:
    import psutil

    return [
        p.pid
        for p in psutil.Process().children()
        if any(f"ministack-lambda-{FUNCTION}-" in part for part in p.cmdline())
    ]


def _wait(condition, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _in_thread(
    lambda_svc: Any, func: dict[str, Any], event: dict[str, Any], request_id: str
) -> tuple[threading.Thread, list]:
    box: list = []
    thread = threading.Thread(target=lambda: box.append(lambda_svc._execute_function_warm(func, event, request_id)))
    thread.start()
    return thread, box


def crash_in_flight(tmp: Path) -> None:
    """The invocation on a killed environment fails at once with Runtime.ExitError; the next one
    gets a new environment."""
    lambda_svc, func = _setup(tmp, init_sleep=0)
    first = lambda_svc._execute_function_warm(func, {}, "warm")["body"]["pid"]
    mark = tmp / "in-handler"
    thread, box = _in_thread(lambda_svc, func, {"sleep": 50, "mark": str(mark)}, "doomed")
    _wait(mark.exists, "the invocation to reach the handler")
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
    busy, busy_box = _in_thread(lambda_svc, func, {"sleep": 3, "mark": str(mark)}, "busy")
    _wait(mark.exists, "the first environment to serve its request")
    (busy_pid,) = _workers()
    starting, starting_box = _in_thread(lambda_svc, func, {}, "starting")
    new_pid = _wait(lambda: [pid for pid in _workers() if pid != busy_pid], "a second environment to start")[0]
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
