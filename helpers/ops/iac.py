"""Deploy the pipeline's SAM template as a CloudFormation stack, and delete it again.

>>> result = deploy_stack(lab)                                   # doctest: +SKIP
>>> result.stack_name, result.outputs["ApiUrl"]                  # doctest: +SKIP
('alice-order-pipeline', 'http://127.0.0.1:4599/_aws/execute-api/0c00ffa6')
>>> delete_stack(lab).sweep.clean                                # doctest: +SKIP
True

What ``sam deploy`` does, with the lab's own parts: each function is packaged by the lab's packaging
(the same zip a notebook deploys), uploaded to the artifacts bucket ``<prefix>-artifacts-<account>-<region>``
(tagged, so the cleanup sweep finds it), the template's ``CodeUri`` pointed at it; then a change set
(CREATE or UPDATE) is created, shown, executed, and waited for with boto3's waiters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, WaiterError

from helpers.aws.common import error_code, error_message
from helpers.aws.packaging import build_lambda_package
from helpers.aws.runtime import lambda_runtime, python_version
from helpers.core.naming import tag_list
from helpers.pipeline.template import pipeline_template, render_template, stack_name

if TYPE_CHECKING:
    from helpers.core.lab import Lab
    from helpers.ops.discovery import Sweep

__all__ = [
    "CAPABILITIES",
    "StackChange",
    "StackDeletion",
    "StackDeployment",
    "artifacts_bucket",
    "delete_stack",
    "deploy_stack",
    "stack_outputs",
]

# Named IAM roles (one per function and for the pipe) and the SAM transform: AWS refuses the stack without both.
CAPABILITIES = ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
WAITER_CONFIG: dict[str, float] = {"Delay": 2, "MaxAttempts": 450}
# The local cloud finishes a change set or a stack in well under a second: polling every 2 s (a
# pace AWS's API is comfortable with) made each of notebook 08's seven waits last 2 s.
LOCAL_WAITER_CONFIG: dict[str, float] = {"Delay": 0.25, "MaxAttempts": 3600}


def waiter_config(lab: Lab) -> dict[str, float]:
    """How often, and how long, to poll CloudFormation on ``lab``'s target (the same 15 minutes at most)."""
    return LOCAL_WAITER_CONFIG if lab.target.is_local else WAITER_CONFIG


Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackChange:
    """One row of a change set: what CloudFormation will do to which resource."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "logical id": self.logical_id,
            "type": self.resource_type,
            "replacement": self.replacement or "",
        }


@dataclass(frozen=True)
class StackDeployment:
    """What :func:`deploy_stack` did: the change set's changes (empty: nothing to change) and the outputs."""

    stack_name: str
    change_set_type: str
    changes: list[StackChange]
    outputs: dict[str, str]
    status: str


@dataclass(frozen=True)
class StackDeletion:
    """What :func:`delete_stack` did, and the cleanup sweep that proves nothing of the prefix remains."""

    stack_name: str
    deleted: bool
    sweep: Sweep
    leftovers_deleted: list[str] = field(default_factory=list)


def artifacts_bucket(lab: Lab) -> str:
    """The bucket the function zips are uploaded to (S3 names are global: account and region in it)."""
    return lab.name(f"artifacts-{lab.account_id}-{lab.region}")[:63]


def _ensure_bucket(lab: Lab, name: str) -> None:
    s3 = lab.client("s3")
    try:
        s3.head_bucket(Bucket=name)
        return
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    arguments: dict[str, Any] = {"Bucket": name}
    if lab.region != "us-east-1":
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": lab.region}
    s3.create_bucket(**arguments)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(lab.tags)})


def _packaged_template(lab: Lab, template: dict[str, Any], runtime: str, say: Progress) -> dict[str, Any]:
    """``template`` with each function's ``CodeUri`` replaced by its uploaded zip (what ``sam package`` does)."""
    from helpers.core.paths import REPO_ROOT
    from helpers.core.workspace import deploy_source

    packaged = copy.deepcopy(template)
    bucket = artifacts_bucket(lab)
    _ensure_bucket(lab, bucket)
    s3 = lab.client("s3")
    for logical, resource in packaged["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        # The prefix's own copy of a handler (helpers.core.workspace), as for the SDK deploys.
        directory = deploy_source(lab.prefix, (REPO_ROOT / "infra" / properties["CodeUri"]).resolve())
        package = build_lambda_package(
            directory, python_version=python_version(runtime), architecture=properties["Architectures"][0]
        )
        key = f"{directory.name}/{package.inputs_hash or package.sha256_b64.replace('/', '_')}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=package.read_bytes())
        say(f"packaged {logical}: s3://{bucket}/{key} ({package.size / 2**20:.1f} MiB)")
        properties["CodeUri"] = {"Bucket": bucket, "Key": key}
    return packaged


def _stack_status(cloudformation: Any, name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def stack_outputs(lab: Lab, name: str) -> dict[str, str]:
    """The stack's outputs, ``{OutputKey: OutputValue}``."""
    stack = lab.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _changes(cloudformation: Any, name: str, change_set: str) -> list[StackChange]:
    changes: list[StackChange] = []
    for page in cloudformation.get_paginator("describe_change_set").paginate(StackName=name, ChangeSetName=change_set):
        for change in page.get("Changes", []):
            detail = change.get("ResourceChange", {})
            changes.append(
                StackChange(
                    detail.get("Action", ""),
                    detail.get("LogicalResourceId", ""),
                    detail.get("ResourceType", ""),
                    detail.get("Replacement"),
                )
            )
    return changes


def deploy_stack(
    lab: Lab,
    *,
    high_value_threshold: Decimal | int | str | None = None,
    max_receive_count: int | None = None,
    alert_email: str | None = None,
    review: Callable[[list[StackChange]], bool] | None = None,
    progress: Progress | None = None,
) -> StackDeployment:
    """Create or update stack ``<prefix>-order-pipeline`` from the pipeline's template through a change set.

    Parameters left None keep the template's defaults (on an update: the stack's current values are
    replaced by the defaults, as ``sam deploy`` does). ``review`` sees the change set before it is
    executed and may refuse it (return False: the change set is deleted, nothing changes).
    """
    say = progress or (lambda message: None)
    runtime = lambda_runtime()
    name = stack_name(lab.prefix)
    cloudformation = lab.client("cloudformation")
    template = _packaged_template(lab, pipeline_template(runtime=runtime), runtime, say)
    parameters = {"Prefix": lab.prefix}
    if high_value_threshold is not None:
        parameters["HighValueThreshold"] = str(high_value_threshold)
    if max_receive_count is not None:
        parameters["MaxReceiveCount"] = str(max_receive_count)
    if alert_email is not None:
        parameters["AlertEmail"] = alert_email

    status = _stack_status(cloudformation, name)
    if status == "ROLLBACK_COMPLETE":  # a failed first create: AWS only allows deleting it
        say(f"stack {name} is ROLLBACK_COMPLETE (its creation failed): deleting it first")
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=waiter_config(lab))
        status = None
    change_set_type = "CREATE" if status is None else "UPDATE"
    change_set = f"{name}-{change_set_type.lower()}"
    try:
        cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
    except ClientError:
        pass  # none left from an interrupted run
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType=change_set_type,
        TemplateBody=render_template(template),
        Capabilities=CAPABILITIES,
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Tags=tag_list(lab.tags),
        Description=f"orderlab iac deploy --prefix {lab.prefix}",
    )
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig=waiter_config(lab)
        )
    except WaiterError:
        described = cloudformation.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = described.get("StatusReason", "")
        if described.get("Status") == "FAILED" and ("didn't contain changes" in reason or "No updates" in reason):
            cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
            say(f"stack {name}: no changes")
            return StackDeployment(name, change_set_type, [], stack_outputs(lab, name), status or "")
        raise RuntimeError(f"change set {change_set} of stack {name} failed: {reason}") from None
    changes = _changes(cloudformation, name, change_set)
    if review is not None and not review(changes):
        cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
        say(f"change set {change_set} not executed (refused)")
        return StackDeployment(name, change_set_type, changes, {}, status or "")
    say(f"executing {change_set_type} change set of stack {name}: {len(changes)} change(s)")
    cloudformation.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_create_complete" if change_set_type == "CREATE" else "stack_update_complete"
    try:
        cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig=waiter_config(lab))
    except WaiterError:
        raise RuntimeError(f"stack {name} did not complete: {_failure_reasons(cloudformation, name)}") from None
    return StackDeployment(
        name, change_set_type, changes, stack_outputs(lab, name), _stack_status(cloudformation, name) or ""
    )


def _failure_reasons(cloudformation: Any, name: str) -> str:
    """The stack events that say why it failed (most recent first)."""
    try:
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError as error:
        return error_message(error)
    reasons = [
        f"{e['LogicalResourceId']} {e['ResourceStatus']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e.get("ResourceStatus", "").endswith("FAILED")
    ]
    return "; ".join(reasons[:5]) or "no failed resource reported"


def delete_stack(lab: Lab, *, progress: Progress | None = None) -> StackDeletion:
    """Delete stack ``<prefix>-order-pipeline`` and the artifacts bucket, then sweep the prefix.

    What the stack does not own and the lab tagged with the prefix (the artifacts bucket, a log group a
    late invocation re-created) is removed by the lab's cleanup; the returned sweep says what remains.
    """
    from helpers.ops.cleanup import destroy_lab
    from helpers.ops.discovery import sweep

    say = progress or (lambda message: None)
    name = stack_name(lab.prefix)
    cloudformation = lab.client("cloudformation")
    deleted = False
    if _stack_status(cloudformation, name) is not None:
        cloudformation.delete_stack(StackName=name)
        try:
            cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=waiter_config(lab))
        except WaiterError:
            raise RuntimeError(f"stack {name} was not deleted: {_failure_reasons(cloudformation, name)}") from None
        deleted = True
        say(f"stack {name} deleted")
    report = destroy_lab(lab, progress=say)
    return StackDeletion(name, deleted, sweep(lab), [str(r) for r in report.deleted])


@dataclass(frozen=True)
class PipelineBehaviour:
    """What a pipeline did with three orders: one standard, one high-value, one poison."""

    prefix: str
    standard_status: str
    high_value_priority: str | None
    poison_in_dlq: bool
    dlq_alarm_state: str
    alert_received: bool
    note: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "standard order": self.standard_status,
            "high-value order: priority mark": self.high_value_priority or "(not routed)",
            "poison order in the DLQ": self.poison_in_dlq,
            "DLQ alarm": self.dlq_alarm_state,
            "ALARM alert in alert-inbox": self.alert_received,
            "note": self.note,
        }


def observe_pipeline(lab: Lab, *, timeout: float = 90.0, alarm_timeout: float = 90.0) -> PipelineBehaviour:
    """Send a standard, a high-value and a poison order through ``lab``'s API and see what the pipeline does.

    The same calls for a hand-built pipeline and a stack-built one (the names are the prefix's either way):
    the standard order should end CONFIRMED, the high-value one be routed and marked, the poison one reach
    the DLQ, the DLQ alarm fire and its alert arrive. A DLQ alarm already in ALARM (messages waited there
    before) sends no new alert: the note says so.
    """
    from helpers.aws.sqs import find_queue_url
    from helpers.core.waiters import WaitTimeout, wait_until
    from helpers.ops.observability import AlertInbox, alarm_state, utcnow, wait_for_alarm_state
    from helpers.ops.tracking import dlq_frame, wait_for_final_status
    from helpers.pipeline.catalog import ALARMS, ALERT_INBOX_COMPONENT, ORDER_DLQ_COMPONENT, ORDERS_COMPONENT
    from helpers.pipeline.orders_api import OrdersApi
    from helpers.pipeline.step1 import DEFAULT_HIGH_VALUE_THRESHOLD, current_threshold
    from helpers.pipeline.step4 import wait_for_marks

    api = OrdersApi.for_lab(lab)
    table = lab.name(ORDERS_COMPONENT)
    dlq_url = find_queue_url(lab, lab.name(ORDER_DLQ_COMPONENT))
    inbox_url = find_queue_url(lab, lab.name(ALERT_INBOX_COMPONENT))
    if dlq_url is None or inbox_url is None:
        raise RuntimeError(f"prefix {lab.prefix!r} has no {ORDER_DLQ_COMPONENT} or {ALERT_INBOX_COMPONENT} queue")
    dlq_alarm = lab.name(next(alarm.component for alarm in ALARMS if alarm.key == "dlq"))
    threshold = current_threshold(lab) or DEFAULT_HIGH_VALUE_THRESHOLD
    customer = {"id": "cust-iac", "name": "Stack Check"}

    def order(total: Any, **extra: Any) -> dict[str, Any]:
        return {"customer": customer, "items": [{"sku": "IAC-1", "quantity": 1, "unitPrice": float(total)}], **extra}

    inbox = AlertInbox(lab, inbox_url)
    inbox.poll(wait_seconds=0)  # earlier alerts are not this check's
    already = alarm_state(lab, dlq_alarm).get("StateValue") == "ALARM"
    poison_at = utcnow()
    standard = api.create(order(20))
    high = api.create(order(threshold + 100))
    poison = api.create(order(30, fault="poison"))
    for reply in (standard, high, poison):
        if reply.status != 201:
            raise RuntimeError(f"POST /orders answered {reply.status}: {reply.json}")
    status = wait_for_final_status(lab, table, standard.json["orderId"], timeout=timeout)["status"]
    try:
        marked = wait_for_marks(lab, table, [high.json["orderId"]], timeout=timeout)[high.json["orderId"]]
        priority = marked.get("priority")
    except WaitTimeout:
        priority = None
    poison_id = poison.json["orderId"]
    try:
        in_dlq = bool(
            wait_until(
                lambda: poison_id in set(dlq_frame(lab, dlq_url)["orderId"]),
                timeout=timeout,
                interval=0.5,
                what=f"order {poison_id} to reach the DLQ",
            )
        )
    except WaitTimeout:
        in_dlq = False
    try:
        state = wait_for_alarm_state(lab, dlq_alarm, "ALARM", timeout=alarm_timeout)["StateValue"]
    except WaitTimeout:
        state = alarm_state(lab, dlq_alarm).get("StateValue", "?")
    received = False
    if not already:
        try:
            received = bool(inbox.wait_for(dlq_alarm, "ALARM", timeout=alarm_timeout, since=poison_at))
        except WaitTimeout:
            received = False
    return PipelineBehaviour(
        lab.prefix,
        status,
        priority,
        in_dlq,
        state,
        received,
        note="the DLQ alarm was in ALARM already: no new alert" if already else "",
    )


def observe_pipelines(
    labs: Mapping[str, Lab], *, timeout: float = 90.0, alarm_timeout: float = 90.0
) -> dict[str, PipelineBehaviour]:
    """:func:`observe_pipeline` on several pipelines at once, e.g. ``{"hand-built": lab, "stack": stack_lab}``.

    Most of one observation is waiting (the poison order's retries, the alarm's period, the alert):
    the pipelines are independent, so their waits overlap instead of adding up.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(labs)), thread_name_prefix="observe-pipeline") as pool:
        running = {
            name: pool.submit(observe_pipeline, lab, timeout=timeout, alarm_timeout=alarm_timeout)
            for name, lab in labs.items()
        }
        return {name: future.result() for name, future in running.items()}
