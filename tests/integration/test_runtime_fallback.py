"""A runtime this machine has no interpreter for runs on the nearest one, and its log says so.

AWS accepts every runtime of its list; the local cloud does too (see localcloud/runtimes.py), and
writes one line to the function's CloudWatch log at each cold start so the difference is visible.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cloudtest import external_target

from helpers.core.waiters import wait_until
from localcloud import runtimes

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(external_target() is not None, reason="a behaviour of the local cloud"),
]

HANDLER = """
import sys

def handler(event, context):
    return "%d.%d" % sys.version_info[:2]
"""


def test_the_log_names_the_python_that_runs_a_missing_runtime(lab, tmp_path: Path):
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    missing = [r for r in ("python3.14", "python3.13", "python3.12") if runtimes.interpreter_for(r) is None]
    if not missing:
        pytest.skip("this machine has every interpreter the lab supports")
    runtime = missing[0]
    (tmp_path / "which.py").write_text(textwrap.dedent(HANDLER))
    role = ensure_lambda_role(lab, "fallback", statements=[])
    name = deploy_function(
        lab, tmp_path, component="fallback", handler="which.handler", role_arn=role, environment={}, runtime=runtime
    ).name
    ran_on = json.loads(lab.client("lambda").invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    interpreter = runtimes.select_interpreter(runtime)
    assert ran_on == interpreter.version.rsplit(".", 1)[0]

    def note_lines() -> list[str] | None:
        events = lab.client("logs").filter_log_events(
            logGroupName=f"/aws/lambda/{name}", filterPattern='"localcloud: no"'
        )["events"]
        return [e["message"].strip() for e in events] or None

    assert wait_until(note_lines, timeout=30, interval=0.2, what="the cold start's note") == [interpreter.note]
