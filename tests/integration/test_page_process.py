"""``orderlab page start|stop|status``: the order page in a process of its own that outlives its starter.

Real processes throughout: the CLI runs as a subprocess and exits; the page it started keeps
serving (in a session of its own); a second start keeps the same process; stop and ``orderlab
clean`` leave nothing running, no state file and no served copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests
from cloudtest import external_target, own_prefix

from helpers import Lab
from helpers.learn.page import page_status, stop_page
from helpers.pipeline.step1 import deploy_ingestion

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(external_target() is not None, reason="the page process serves a local or endpoint API"),
]


def _orderlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers.teach.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def learner(lab: Lab):
    with own_prefix(lab, "pg") as other:
        yield other
        stop_page(other.prefix)


def test_page_outlives_its_starter_restarts_idempotently_and_stops_cleanly(learner: Lab) -> None:
    missing = _orderlab("page", "start", "--prefix", learner.prefix)
    assert missing.returncode == 1 and "run notebook 01" in missing.stderr, missing

    api = deploy_ingestion(learner).api
    started = _orderlab("page", "start", "--prefix", learner.prefix)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    running = page_status(learner.prefix)
    assert running is not None and running.url == url
    # The CLI process has exited; the page process lives on, in a session of its own.
    assert psutil.pid_exists(running.pid) and os.getsid(running.pid) != os.getsid(0)
    config = requests.get(f"{url}config.js", timeout=5)
    assert config.ok and api.endpoint_url in config.text and learner.prefix in config.text
    assert "Order Pipeline Lab" in requests.get(url, timeout=5).text
    cors = learner.client("apigatewayv2").get_api(ApiId=api.api_id)["CorsConfiguration"]
    assert cors["AllowOrigins"] == [url.rstrip("/")]

    again = _orderlab("page", "start", "--prefix", learner.prefix)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == url
    assert page_status(learner.prefix).pid == running.pid, "a second start keeps the running page"

    status = _orderlab("page", "status", "--prefix", learner.prefix)
    assert status.returncode == 0 and str(running.pid) in status.stdout

    stopped = _orderlab("page", "stop", "--prefix", learner.prefix)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not psutil.pid_exists(running.pid) or psutil.Process(running.pid).status() == psutil.STATUS_ZOMBIE
    assert page_status(learner.prefix) is None and not Path(running.root).exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    after = _orderlab("page", "status", "--prefix", learner.prefix)
    assert after.returncode == 3 and "not running" in after.stdout
    assert "was not running" in _orderlab("page", "stop", "--prefix", learner.prefix).stdout


def test_clean_stops_the_prefix_page(learner: Lab) -> None:
    deploy_ingestion(learner)
    assert _orderlab("page", "start", "--prefix", learner.prefix).returncode == 0
    pid = page_status(learner.prefix).pid
    cleaned = _orderlab("clean", "--prefix", learner.prefix)
    assert "Stopped the order page" in cleaned.stdout, cleaned.stdout + cleaned.stderr
    assert page_status(learner.prefix) is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
