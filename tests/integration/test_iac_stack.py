"""`orderlab iac deploy|delete`: the exported template deployed as a stack passes the lab's own step checks and
behaves like the hand-built pipeline.

A fresh prefix: the stack's pipeline is built beside whatever the session's other tests deployed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from cloudtest import external_target

from helpers import Lab
from helpers.core.naming import tag_list
from helpers.ops.discovery import sweep
from helpers.ops.iac import observe_pipeline, stack_outputs
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.template import OUTPUTS, stack_name
from helpers.teach.grade import grade_lab

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.long,
    pytest.mark.skipif(external_target() is not None, reason="deploys on the local cloud"),
]


def orderlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers.teach.cli", "iac", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_deploy_route_orders_then_delete_leaves_nothing(cloud) -> None:
    lab = Lab.connect(prefix=f"iac{uuid.uuid4().hex[:6]}")
    deployed = orderlab("deploy", "--prefix", lab.prefix)
    try:
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        assert f"stack {stack_name(lab.prefix)}: CREATE_COMPLETE" in deployed.stdout
        outputs = stack_outputs(lab, stack_name(lab.prefix))
        assert set(outputs) == set(OUTPUTS)
        for key in OUTPUTS:
            assert f"{key} = {outputs[key]}" in deployed.stdout

        listed = [r for r in sweep(lab).remaining if r.service == "cloudformation"]
        assert [r.name for r in listed] == [stack_name(lab.prefix)], "the cleanup sweep sees the stack"
        grade = grade_lab(lab)
        assert grade.done == ["01", "02", "03", "04", "05", "06"], grade.summary()

        assert OrdersApi.for_lab(lab).base_url == outputs["ApiUrl"].rstrip("/"), "ApiUrl is the stack's orders API"
        behaviour = observe_pipeline(lab, timeout=60, alarm_timeout=120)
        assert behaviour.standard_status == "CONFIRMED", behaviour
        assert behaviour.high_value_priority in ("P1", "P2"), behaviour
        assert behaviour.poison_in_dlq and behaviour.dlq_alarm_state == "ALARM" and behaviour.alert_received, behaviour
    finally:
        deleted = orderlab("delete", "--prefix", lab.prefix)
    assert deleted.returncode == 0, deleted.stdout[-3000:] + deleted.stderr[-3000:]
    assert f"nothing of prefix {lab.prefix!r} remains" in deleted.stdout
    assert sweep(lab).clean
    stacks = lab.client("cloudformation").list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])
    assert stack_name(lab.prefix) not in [s["StackName"] for s in stacks["StackSummaries"]]


def test_the_labs_cleanup_deletes_a_stack_of_its_prefix(cloud) -> None:
    from helpers.ops.cleanup import destroy_lab

    lab = Lab.connect(prefix=f"iac{uuid.uuid4().hex[:6]}")
    cloudformation = lab.client("cloudformation")
    topic = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": lab.name("stack-topic")}}
    cloudformation.create_stack(
        StackName=stack_name(lab.prefix),
        Tags=tag_list(lab.tags),
        TemplateBody=json.dumps({"Resources": {"Topic": topic}}),
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=stack_name(lab.prefix), WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    report = destroy_lab(lab)
    assert [r.name for r in report.deleted if r.service == "cloudformation"] == [stack_name(lab.prefix)]
    assert not report.remaining and sweep(lab).clean
