"""A function's log streams: one per execution environment, checked against the AWS contract.

References (AWS documentation followed):
- "Each log stream corresponds to an instance of your function", named
  ``YYYY/MM/DD/[<FunctionVersion>]<InstanceId>``; every invocation that instance serves writes
  to it: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html
- An execution environment serves one invocation at a time; a concurrent request gets another
  environment: https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
- Each invocation's logs start ``START RequestId: <id>``; the REPORT line of an environment's
  first invocation adds ``Init Duration``: https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path

import pytest

from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")
HANDLER = """
import os
import time

def handler(event, context):
    print("serving " + context.aws_request_id)
    time.sleep(float(event.get("sleep", 0)))
    return {"requestId": context.aws_request_id, "pid": os.getpid()}
"""


@pytest.fixture(scope="module")
def sleeper(lab, tmp_path_factory) -> str:
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    source: Path = tmp_path_factory.mktemp("sleeper")
    (source / "sleeper.py").write_text(textwrap.dedent(HANDLER))
    role = ensure_lambda_role(lab, "log-streams", statements=[])
    return deploy_function(
        lab, source, component="log-streams", handler="sleeper.handler", role_arn=role, environment={}, timeout=30
    ).name


def _invoke(lab, name: str, sleep: float = 0) -> dict:
    response = lab.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}).encode())
    return json.loads(response["Payload"].read())


def _line_of(lab, name: str, request_id: str, kind: str) -> dict:
    """The invocation's ``START``/``REPORT`` log event (logs arrive after a delay on AWS)."""
    logs = lab.client("logs")

    def lookup() -> dict | None:
        events = logs.filter_log_events(
            logGroupName=f"/aws/lambda/{name}", filterPattern=f'"{kind} RequestId: {request_id}"'
        )["events"]
        return events[0] if events else None

    return wait_until(lookup, timeout=60, interval=1.0, what=f"the {kind} line of {request_id}")


def _stream_of(lab, name: str, request_id: str) -> str:
    """The log stream holding the invocation's START line."""
    return _line_of(lab, name, request_id, "START")["logStreamName"]


def test_a_warm_environment_writes_every_invocation_to_one_stream(lab, sleeper):
    first, second = _invoke(lab, sleeper), _invoke(lab, sleeper)
    assert first["pid"] == second["pid"], "the second invocation did not reuse the warm environment"
    stream = _stream_of(lab, sleeper, first["requestId"])
    assert STREAM_NAME.match(stream), stream
    assert _stream_of(lab, sleeper, second["requestId"]) == stream
    events = lab.client("logs").get_log_events(
        logGroupName=f"/aws/lambda/{sleeper}", logStreamName=stream, startFromHead=True
    )["events"]
    messages = [e["message"] for e in events]
    for request_id in (first["requestId"], second["requestId"]):
        assert any(m.startswith(f"START RequestId: {request_id}") for m in messages)
        assert any(m.startswith(f"END RequestId: {request_id}") for m in messages)
        assert any(m.startswith(f"REPORT RequestId: {request_id}") for m in messages)


def test_a_concurrent_environment_writes_to_another_stream(lab, sleeper):
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _invoke(lab, sleeper, sleep=2), range(2)))
    assert results[0]["pid"] != results[1]["pid"], "the two concurrent invocations shared one environment"
    streams = {_stream_of(lab, sleeper, r["requestId"]) for r in results}
    assert len(streams) == 2 and all(STREAM_NAME.match(s) for s in streams), streams


def _report_of(lab, name: str, request_id: str) -> str:
    return _line_of(lab, name, request_id, "REPORT")["message"]


def test_a_new_environment_reports_its_init_duration_once(lab, sleeper):
    """The first invocation an environment serves pays its cold start: ``Init Duration`` in REPORT."""
    client = lab.client("lambda")
    # A new configuration is served by new environments.
    client.update_function_configuration(FunctionName=sleeper, Environment={"Variables": {"FRESH": uuid.uuid4().hex}})
    client.get_waiter("function_updated_v2").wait(FunctionName=sleeper)
    first, second = _invoke(lab, sleeper), _invoke(lab, sleeper)
    assert first["pid"] == second["pid"], "the second invocation did not reuse the warm environment"
    assert re.search(r"\tInit Duration: \d+(\.\d+)? ms", _report_of(lab, sleeper, first["requestId"]))
    assert "Init Duration" not in _report_of(lab, sleeper, second["requestId"])


SLOW_INIT_HANDLER = """
import time

time.sleep(1.5)  # init: imports, clients, configuration


def handler(event, context):
    return {"requestId": context.aws_request_id}
"""


def test_a_slow_init_counts_as_init_duration_not_duration(lab, tmp_path):
    """Duration is the handler's time; a cold start's init is reported apart (REPORT's Init Duration)
    and is not in the AWS/Lambda Duration metric either."""
    from datetime import datetime, timedelta

    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    (tmp_path / "slow_init.py").write_text(SLOW_INIT_HANDLER)
    role = ensure_lambda_role(lab, "slow-init", statements=[])
    name = deploy_function(
        lab, tmp_path, component="slow-init", handler="slow_init.handler", role_arn=role, environment={}, timeout=10
    ).name
    since = datetime.now(UTC) - timedelta(minutes=1)
    request_id = _invoke(lab, name)["requestId"]
    report = _report_of(lab, name, request_id)
    duration = float(re.search(r"\tDuration: (\d+(?:\.\d+)?) ms", report).group(1))
    init = float(re.search(r"\tInit Duration: (\d+(?:\.\d+)?) ms", report).group(1))
    assert init >= 1500 and duration < 1000, report

    def duration_metric() -> float | None:
        points = lab.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Duration",
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=since,
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        return max(point["Maximum"] for point in points) if points else None

    assert wait_until(duration_metric, timeout=300, interval=2, what="the Duration metric") < 1000
