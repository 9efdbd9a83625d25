"""The local cloud's patch layer refuses to run where its fixes would silently not apply."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

from localcloud import patches, runtimes
from localcloud.patches import PatchError
from localcloud.services.awslambda import runtime as lambda_runtime


def test_refuses_another_ministack_version(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9")
    with pytest.raises(PatchError, match=r"written for MiniStack 1\.5\.33, but 9\.9\.9"):
        patches.check_version()


def test_pinned_version_is_the_one_pyproject_installs():
    assert importlib.metadata.version("ministack") == patches.PINNED_MINISTACK


def test_replace_once_fails_when_the_original_moved():
    with pytest.raises(PatchError, match="found it 0 times"):
        patches.replace_once("abc", "xyz", "q", what="demo")
    with pytest.raises(PatchError, match="found it 2 times"):
        patches.replace_once("xx", "x", "q", what="demo")


def test_worker_script_patch_applies_to_the_pinned_ministack():
    from ministack.core import lambda_runtime as lr

    script = lambda_runtime.build_worker_script(lr._PYTHON_WORKER_SCRIPT)
    compile(script, "_worker.py", "exec")
    assert "_orderlab_sandbox(init)" in script and "_orderlab_end_of_invocation()" in script


def test_worker_script_patch_fails_loudly_on_changed_source():
    with pytest.raises(PatchError):
        lambda_runtime.build_worker_script("import sys, json, importlib, traceback, os, time\nrun()\n")


def test_init_failure_message_round_trips_the_aws_error():
    err = {"errorMessage": "Unable to import module 'h': No module named 'x'", "errorType": "Runtime.ImportModuleError"}
    message = "Worker init failed: " + lambda_runtime.INIT_ERROR_TAG + json.dumps(err)
    assert lambda_runtime.aws_error_from_init_failure(message) == err
    assert lambda_runtime.aws_error_from_init_failure("Worker init failed: boom") is None


def test_python_version_of_runtime():
    assert runtimes.python_version_of("python3.11") == "3.11"
    assert runtimes.python_version_of("nodejs20.x") is None


def test_interpreter_for_the_running_version_is_that_version():
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = runtimes.interpreter_for(runtime)
    assert interpreter is not None
    out = subprocess.run([interpreter, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert out.stdout.strip() == str(tuple(sys.version_info[:2]))


def test_unavailable_runtime_message_names_what_exists():
    assert runtimes.interpreter_for("python3.99") is None
    message = runtimes.unavailable_message("python3.99")
    assert "python3.99" in message and "Runtimes available here" in message


def test_isolated_launcher_hides_site_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLAB_HOME", str(tmp_path))
    launcher = runtimes.launcher_for(f"python{sys.version_info.major}.{sys.version_info.minor}")
    probe = "import importlib.util, sys; print(importlib.util.find_spec('ministack') is None)"
    out = subprocess.run([launcher, "-c", probe], capture_output=True, text=True, env={"PYTHONPATH": sys.path[-1]})
    assert out.stdout.strip() == "True", out.stderr


def test_sdk_dir_holds_boto3_and_not_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLAB_HOME", str(tmp_path))
    runtimes.sdk_dir.cache_clear()
    try:
        sdk = runtimes.sdk_dir()
    finally:
        runtimes.sdk_dir.cache_clear()
    names = {p.name for p in __import__("pathlib").Path(sdk).iterdir()}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"} <= names
    assert not names & {"ministack", "pandas", "pydantic", "psutil"}


def test_cached_threads_run_a_nested_task_without_waiting_and_reuse_finished_threads():
    """A task that waits on a task it submitted (an invocation calling back into the server) must
    not deadlock: a new thread is started whenever no idle one is free."""
    import threading
    import time

    pool = patches.CachedThreads(idle_seconds=5.0, name="test-cached")
    inner_ran, outer_done = threading.Event(), threading.Event()

    def outer() -> None:
        pool.submit(inner_ran.set)
        assert inner_ran.wait(5)
        outer_done.set()

    pool.submit(outer)
    assert outer_done.wait(5)
    time.sleep(0.1)
    named = lambda: [t for t in threading.enumerate() if t.name == "test-cached"]  # noqa: E731
    started = len(named())
    done = [threading.Event() for _ in range(started)]
    for event in done:
        pool.submit(event.set)
    assert all(event.wait(5) for event in done)
    assert len(named()) == started, "idle threads are re-used, none started"


def test_cached_threads_exit_when_idle():
    import threading
    import time

    pool = patches.CachedThreads(idle_seconds=0.05, name="test-idle")
    ran = threading.Event()
    pool.submit(ran.set)
    assert ran.wait(5)
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name == "test-idle"]


def test_patch_source_changes_the_code_in_place_once(monkeypatch):
    import types

    module = types.ModuleType("orderlab_probe_module")
    exec("def greet(name):\n    return 'hello ' + name\n", module.__dict__)
    module.__file__ = "<probe>"
    monkeypatch.setitem(sys.modules, module.__name__, module)
    greet = module.greet
    alias = greet  # what `from module import greet` elsewhere holds
    monkeypatch.setattr(patches.inspect, "getsource", lambda fn: "def greet(name):\n    return 'hello ' + name\n")
    patches.patch_source(greet, [("'hello '", "'hi '")], what="probe greeting")
    patches.patch_source(greet, [("'hello '", "'hi '")], what="probe greeting")  # applied once
    assert alias("you") == "hi you"
    with pytest.raises(PatchError):
        patches.patch_source(greet, [("'absent'", "'x'")], what="another probe")
