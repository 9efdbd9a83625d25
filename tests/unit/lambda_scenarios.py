"""What the local cloud's Lambda worker-pool tests share (test_localcloud_lambda_runtime.py,
test_localcloud_lambda_zygote.py): each scenario runs in a fresh interpreter (``python <test file>
<scenario> <tmp>``), where MiniStack and the patches are imported, never into the test process.

    run_scenario(__file__, "crash_in_flight", tmp_path, timeout=120)
    lambda_svc, func = function_under_test("pool-probe", HANDLER, {"INIT_SLEEP": "0"})
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def run_scenario(test_file: str, scenario: str, tmp_path: Path, *, timeout: float, **env: str) -> None:
    """Run ``scenario`` of ``test_file`` in its own interpreter, with a home of its own; assert it passed."""
    done = subprocess.run(
        [sys.executable, test_file, scenario, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ORDERLAB_HOME": str(tmp_path / "home"), "LOG_LEVEL": "WARNING", **env},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def zip_of(files: Mapping[str, str]) -> bytes:
    """A deployment package holding ``files`` (name -> text)."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return code.getvalue()


def function_under_test(
    name: str, files: Mapping[str, str], environment: Mapping[str, str]
) -> tuple[Any, dict[str, Any]]:
    """Patch MiniStack (in this scenario's interpreter); ``(lambda_svc, func)`` for a function ``name``
    of the running Python, handler ``handler.handler`` in ``files``."""
    from localcloud import patches

    patches.apply_all()
    from ministack.services import lambda_svc

    config = {
        "FunctionName": name,
        "Runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Handler": "handler.handler",
        "Timeout": 60,
        "MemorySize": 128,
        "Environment": {"Variables": dict(environment)},
        "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
    }
    return lambda_svc, {"config": config, "code_zip": zip_of(files)}


def in_thread(
    lambda_svc: Any, func: dict[str, Any], event: dict[str, Any], request_id: str
) -> tuple[threading.Thread, list]:
    """Invoke in a thread of its own; the result lands in the returned list."""
    box: list = []
    thread = threading.Thread(target=lambda: box.append(lambda_svc._execute_function_warm(func, event, request_id)))
    thread.start()
    return thread, box


def wait_for(condition: Callable[[], Any], what: str, timeout: float) -> Any:
    """Poll ``condition`` until it is truthy (returned); fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")
