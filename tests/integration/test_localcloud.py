"""The local cloud process: start/stop/status as learners, notebooks and CI use it.

These tests start clouds of their own on spare ports (not the session's cloud), and reset them
after (stopped, saved state deleted). State across restarts: test_persistence.py.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import zipfile

import boto3
import psutil
import pytest
from cloudtest import external_target, free_port

import localcloud
from helpers.aws.runtime import lambda_runtime

pytestmark = [
    pytest.mark.slow,  # each test starts and stops a local cloud of its own
    pytest.mark.long,
    pytest.mark.skipif(external_target() is not None, reason="the local cloud itself is under test"),
]


@pytest.fixture
def port():
    port = free_port()
    yield port
    localcloud.reset(port)


def _lambda_client(port: int):
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _deploy_sleeper(port: int, name: str = "sleeper") -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "app.py", "import time\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n    return 'ok'\n"
        )
    iam = boto3.client(
        "iam",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:  # CreateFunction refuses a role that does not exist (as AWS does, when IAM is enforced)
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    client = _lambda_client(port)
    client.create_function(
        FunctionName=name,
        Runtime=lambda_runtime(),
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
        Timeout=30,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def test_start_is_idempotent_and_binds_loopback_only(port):
    first = localcloud.start(port)
    second = localcloud.start(port)
    assert first.healthy and second.healthy
    assert first.pid == second.pid
    listening = [
        c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)


def test_concurrent_starts_make_one_process(port):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", f"import localcloud; print(localcloud.start({port}).pid)"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(pids) == 1 and pids != {""}


def test_cloud_outlives_the_process_that_started_it(port):
    subprocess.run([sys.executable, "-c", f"import localcloud; localcloud.start({port})"], check=True, timeout=120)
    status = localcloud.status(port)
    assert status.running and status.healthy


def _cloud_cli(action: str, port: int, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``orderlab cloud <action> --port <port>`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "helpers.teach.cli", "cloud", action, "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_start_prints_the_endpoint_last_and_status_reports_it(port):
    started = _cloud_cli("start", port, timeout=120)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().splitlines()[-1] == f"http://127.0.0.1:{port}"
    status = _cloud_cli("status", port)
    assert status.returncode == 0 and "running, healthy" in status.stdout
    stop = _cloud_cli("stop", port)
    assert "stopped" in stop.stdout
    after = _cloud_cli("status", port)
    assert after.returncode == 3 and "stopped" in after.stdout


def test_port_taken_by_another_program_is_a_clear_error(port):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(localcloud.LocalCloudError, match=rf"Port {port} is already in use.*ORDERLAB_PORT"):
            localcloud.start(port)
    assert not localcloud.status(port).running


def test_stop_when_not_running_is_a_no_op(port):
    assert localcloud.stop(port).stopped is False


def test_stop_under_load_is_clean_and_leaves_no_lambda_worker(port):
    # In-memory: the stop signals server and workers at once (a persistent cloud's graceful stop would first
    # let these 20 s invocations finish; test_chaos.py restarts one under load).
    localcloud.start(port, persist=False)
    _deploy_sleeper(port)
    client = _lambda_client(port)
    client.invoke(FunctionName="sleeper", Payload=b'{"s": 0}')

    def busy():
        try:
            _lambda_client(port).invoke(FunctionName="sleeper", Payload=json.dumps({"s": 20}).encode())
        except Exception:
            pass  # the cloud goes away under it: that is the point

    callers = [threading.Thread(target=busy, daemon=True) for _ in range(4)]
    for caller in callers:
        caller.start()
    status = localcloud.status(port)
    deadline = __import__("time").monotonic() + 30
    while status.lambda_workers < 2 and __import__("time").monotonic() < deadline:
        status = localcloud.status(port)
    assert status.lambda_workers >= 2, "expected warm Lambda workers to be running"

    # A generous grace: the suite runs the notebook series beside this test, and a busy machine may
    # take more than the default 5 s to reap; what must hold is that SIGTERM alone stops everything.
    report = localcloud.stop(port, grace=20)
    assert report.stopped
    assert not report.forced, "the server needed SIGKILL: it did not exit on SIGTERM within the grace period"
    survivors = [
        pid for pid in report.killed if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert survivors == []
    assert not localcloud.status(port).running


def test_startup_failure_is_a_clear_error_with_the_log(port, tmp_path, monkeypatch):
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'localcloud: MiniStack 9.9.9 is not the pinned version' >&2\nexit 3\n")
    fake_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_python))
    with pytest.raises(
        localcloud.LocalCloudError, match=r"exited during startup \(code 3\)(.|\n)*not the pinned version"
    ):
        localcloud.start(port)
    assert not localcloud.status(port).running
