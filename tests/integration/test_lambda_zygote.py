"""Execution environments forked from a zygote on a real local cloud (localcloud/lambda_zygote.py):
chaos kills the environments and never the zygote, a killed zygote comes back, and a stop
leaves no process behind.
"""

from __future__ import annotations

import json
import signal
import textwrap
import threading
from pathlib import Path

import psutil
import pytest
from cloudtest import external_target, free_port

from helpers import Lab
from helpers.core.target import resolve_target
from helpers.core.waiters import wait_until
from helpers.load.chaos import kill_lambda_workers, lambda_workers, server_process

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(external_target() is not None, reason="a behaviour of the local cloud"),
]

HANDLER = """
import os, time
import botocore.session  # a library: imported once, in the zygote

INIT_PID = os.getpid()  # the init phase: in every environment


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "init_pid": INIT_PID}
"""


def _zygotes(port: int) -> list[psutil.Process]:
    from localcloud.lambda_zygote import is_zygote_cmdline

    return [p for p in server_process(port).children(recursive=True) if is_zygote_cmdline(p.cmdline())]


def _invoke(lab: Lab, name: str, event: dict) -> dict:
    reply = lab.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert "FunctionError" not in reply, reply["Payload"].read()
    return json.loads(reply["Payload"].read())


def _server_log(port: int) -> str:
    from localcloud import paths

    return paths.log_file(port).read_text(errors="replace")


def test_environments_fork_from_a_zygote_chaos_leaves_alone_and_stop_leaves_nothing(tmp_path: Path) -> None:
    import localcloud
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    port = free_port()
    localcloud.reset(port)
    localcloud.start(port, persist=False)
    seen: set[int] = set()
    try:
        lab = Lab(resolve_target("endpoint", endpoint_url=f"http://127.0.0.1:{port}"), prefix="zyg")
        (tmp_path / "probe.py").write_text(textwrap.dedent(HANDLER))
        role = ensure_lambda_role(lab, "zygote", statements=[])
        name = deploy_function(
            lab, tmp_path, component="zygote", handler="probe.handler", role_arn=role, environment={}
        ).name
        first = _invoke(lab, name, {})
        zygote = wait_until(lambda: _zygotes(port), timeout=60, what="the function's zygote")[0]
        wait_until(
            lambda: f"Lambda zygote for {name}: pid {zygote.pid}," in _server_log(port),
            timeout=60,
            what="the zygote's imports",
        )
        seen |= {first["pid"], zygote.pid}

        # Chaos kills the environments, never the zygote.
        kill = kill_lambda_workers(port, name)
        assert first["pid"] in kill.pids and zygote.pid not in kill.pids
        assert zygote.is_running()
        wait_until(
            lambda: not {w.pid for w in lambda_workers(port, name)} & set(kill.pids),
            timeout=10,
            what="the killed environment to die",
        )  # a request racing the kill fails like one in flight
        replaced = _invoke(lab, name, {})
        assert replaced["pid"] not in kill.pids and replaced["init_pid"] == replaced["pid"]
        assert replaced["pid"] in {w.pid for w in lambda_workers(port, name)}
        assert psutil.Process(replaced["pid"]).ppid() == server_process(port).pid
        assert f"Lambda {name}: new execution environment (forked from its zygote)" in _server_log(port)
        seen.add(replaced["pid"])

        # A killed zygote comes back; the environments forked from it live on.
        zygote.send_signal(signal.SIGKILL)
        again = wait_until(lambda: [z for z in _zygotes(port) if z.pid != zygote.pid], timeout=60, what="a new zygote")[
            0
        ]
        seen.add(again.pid)
        wait_until(
            lambda: f"Lambda zygote for {name}: pid {again.pid}," in _server_log(port),
            timeout=60,
            what="the new zygote's imports",
        )
        assert psutil.pid_exists(replaced["pid"])
        busy = threading.Thread(target=_invoke, args=(lab, name, {"sleep": 2}))
        busy.start()
        wait_until(lambda: len(lambda_workers(port, name)) >= 1, timeout=10, what="an environment")
        scaled = _invoke(lab, name, {})  # while the first is busy: may need an environment of its own
        busy.join()
        seen |= {scaled["pid"], *(w.pid for w in lambda_workers(port, name))}
    finally:
        localcloud.stop(port)
        localcloud.reset(port)
    left = [pid for pid in seen if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left after the stop: {left}"
