"""Tear down one lab prefix, in dependency order, and prove nothing is left.

>>> report = destroy_lab(lab, progress=print)              # doctest: +SKIP
deleted apigateway api alice-orders-api
...
>>> report.ok, report.remaining                            # doctest: +SKIP
(True, [])

Only resources :func:`helpers.ops.discovery.find_lab_resources` attributes to this prefix are
touched (its tag; or, for an untagged Lambda log group, its ``/aws/lambda/<prefix>-`` name),
so another prefix's resources in the same account or local cloud are left alone.
Resources that are already gone or half-created are fine: a missing one counts as deleted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError, WaiterError

from helpers.aws.common import error_code, error_message, paginate
from helpers.aws.lambda_ import waiter_delay
from helpers.core.waiters import (
    WaitFailed,
    WaitTimeout,
    wait_function_updated,
    wait_table_active,
    wait_table_deleted,
    wait_until,
)
from helpers.ops.discovery import LabResource, find_lab_resources
from helpers.pipeline.catalog import DASHBOARD_COMPONENT

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = ["DELETE_ORDER", "CleanupError", "CleanupReport", "destroy_lab"]

Progress = Callable[[str], None]

# Dependents before what they depend on. A stack first: it deletes what it owns in its own order.
DELETE_ORDER: list[tuple[str, str]] = [
    ("cloudformation", "stack"),
    ("pipes", "pipe"),
    ("cloudwatch", "alarm"),
    ("cloudwatch", "dashboard"),
    ("apigateway", "api"),
    ("lambda", "event-source-mapping"),
    ("lambda", "function"),
    ("logs", "log-group"),
    ("sns", "subscription"),
    ("sns", "topic"),
    ("sqs", "queue"),
    ("s3", "bucket"),
    ("iam", "role"),
    ("dynamodb", "table"),
]
_GONE = {
    "ResourceNotFoundException",
    "NotFoundException",
    "NoSuchEntity",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "NotFound",
    "NoSuchBucket",
}


@dataclass(frozen=True)
class CleanupError:
    resource: LabResource
    message: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.message}"


@dataclass
class CleanupReport:
    """What :func:`destroy_lab` deleted, what failed, and what a fresh search still finds."""

    deleted: list[LabResource] = field(default_factory=list)
    errors: list[CleanupError] = field(default_factory=list)
    remaining: list[LabResource] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.remaining

    def summary(self) -> str:
        lines = [f"deleted {len(self.deleted)}, errors {len(self.errors)}, remaining {len(self.remaining)}"]
        lines += [f"  error: {e}" for e in self.errors]
        lines += [f"  remaining: {r} ({r.arn})" for r in self.remaining]
        return "\n".join(lines)


class _Deleter:
    def __init__(self, lab: Lab, timeout: float) -> None:
        self.lab = lab
        self.timeout = timeout
        self.tables_to_wait: list[str] = []
        self.queues_to_wait: list[LabResource] = []

    def delete(self, resource: LabResource) -> None:
        method = getattr(self, f"_{resource.service}_{resource.kind.replace('-', '_')}", None)
        if method is None:
            raise NotImplementedError(f"cleanup does not know how to delete a {resource.service} {resource.kind}")
        method(resource)

    def _cloudformation_stack(self, r: LabResource) -> None:
        client = self.lab.client("cloudformation")
        client.delete_stack(StackName=r.arn)
        delay = 5 if self.lab.target.is_aws else 1
        client.get_waiter("stack_delete_complete").wait(
            StackName=r.arn, WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(self.timeout // delay))}
        )

    def _pipes_pipe(self, r: LabResource) -> None:
        client = self.lab.client("pipes")
        client.delete_pipe(Name=r.name)

        def gone() -> bool:
            try:
                client.describe_pipe(Name=r.name)
            except ClientError as error:
                if error_code(error) in _GONE:
                    return True
                raise
            return False

        wait_until(gone, timeout=self.timeout, interval=1, max_interval=5, what=f"pipe {r.name} to be deleted")

    def _cloudwatch_alarm(self, r: LabResource) -> None:
        self.lab.client("cloudwatch").delete_alarms(AlarmNames=[r.name])

    def _cloudwatch_dashboard(self, r: LabResource) -> None:
        try:
            self.lab.client("cloudwatch").delete_dashboards(DashboardNames=[r.name])
        except ClientError as error:
            if error_code(error) != "DashboardNotFoundError":  # CloudWatch's code for "already gone"
                raise

    def _apigateway_api(self, r: LabResource) -> None:
        self.lab.client("apigatewayv2").delete_api(ApiId=r.detail.get("api_id") or r.arn.rsplit("/", 1)[1])

    def _lambda_event_source_mapping(self, r: LabResource) -> None:
        lam = self.lab.client("lambda")
        uuid = r.detail.get("uuid") or r.name
        busy = ("Creating", "Enabling", "Disabling", "Updating")

        def settled() -> str | None:
            state = lam.get_event_source_mapping(UUID=uuid)["State"]
            return None if state in busy else state

        try:
            lam.delete_event_source_mapping(UUID=uuid)
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":
                raise
            wait_until(
                settled,
                timeout=self.timeout,
                interval=1,
                max_interval=5,
                what=f"event source mapping {uuid} to settle before deletion",
            )
            lam.delete_event_source_mapping(UUID=uuid)

        def gone() -> bool:
            try:
                lam.get_event_source_mapping(UUID=uuid)
            except ClientError as error:
                if error_code(error) in _GONE:
                    return True
                raise
            return False

        wait_until(
            gone, timeout=self.timeout, interval=0.5, max_interval=5, what=f"event source mapping {uuid} to be deleted"
        )

    def _lambda_function(self, r: LabResource) -> None:
        lam = self.lab.client("lambda")
        try:
            lam.delete_function(FunctionName=r.name)
        except ClientError as error:
            if error_code(error) != "ResourceConflictException":
                raise
            # an update is still in progress
            wait_function_updated(lam, r.name, timeout=self.timeout, delay=waiter_delay(self.lab))
            lam.delete_function(FunctionName=r.name)

    def _logs_log_group(self, r: LabResource) -> None:
        self.lab.client("logs").delete_log_group(logGroupName=r.name)

    def _sns_subscription(self, r: LabResource) -> None:
        self.lab.client("sns").unsubscribe(SubscriptionArn=r.arn)

    def _sns_topic(self, r: LabResource) -> None:
        self.lab.client("sns").delete_topic(TopicArn=r.arn)

    def _sqs_queue(self, r: LabResource) -> None:
        sqs = self.lab.client("sqs")
        url = (
            r.detail.get("url")
            or sqs.get_queue_url(QueueName=r.name, QueueOwnerAWSAccountId=r.arn.split(":")[4])["QueueUrl"]
        )
        sqs.delete_queue(QueueUrl=url)
        # AWS: "the deletion process takes up to 60 seconds"; until then the queue can still be listed.
        self.queues_to_wait.append(LabResource(r.service, r.kind, r.name, r.arn, r.owner_evidence, {"url": url}))

    def _s3_bucket(self, r: LabResource) -> None:
        """Empty the bucket (every object, and every version if versioning was ever on), then delete it."""
        s3 = self.lab.client("s3")
        versioned = s3.get_bucket_versioning(Bucket=r.name).get("Status") in ("Enabled", "Suspended")
        if versioned:
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=r.name)
            batches = [
                [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                for page in pages
            ]
        else:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=r.name)
            batches = [[{"Key": o["Key"]} for o in page.get("Contents", [])] for page in pages]
        for batch in batches:
            for start in range(0, len(batch), 1000):
                chunk = batch[start : start + 1000]
                if chunk:  # an object that cannot be deleted makes DeleteBucket fail (BucketNotEmpty): reported
                    s3.delete_objects(Bucket=r.name, Delete={"Objects": chunk, "Quiet": True})
        s3.delete_bucket(Bucket=r.name)

    def _iam_role(self, r: LabResource) -> None:
        iam = self.lab.client("iam")
        for policy in paginate(iam, "list_role_policies", "PolicyNames", RoleName=r.name):
            iam.delete_role_policy(RoleName=r.name, PolicyName=policy)
        for attached in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=r.name):
            iam.detach_role_policy(RoleName=r.name, PolicyArn=attached["PolicyArn"])
        for profile in paginate(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=r.name):
            iam.remove_role_from_instance_profile(RoleName=r.name, InstanceProfileName=profile["InstanceProfileName"])
        iam.delete_role(RoleName=r.name)

    def _dynamodb_table(self, r: LabResource) -> None:
        ddb = self.lab.client("dynamodb")
        table = ddb.describe_table(TableName=r.name)["Table"]
        if table["TableStatus"] == "DELETING":
            self.tables_to_wait.append(r.name)
            return
        if table["TableStatus"] != "ACTIVE":  # CREATING / UPDATING: DeleteTable would be refused
            wait_table_active(ddb, r.name, timeout=self.timeout)
        if table.get("DeletionProtectionEnabled"):
            ddb.update_table(TableName=r.name, DeletionProtectionEnabled=False)
            wait_table_active(ddb, r.name, timeout=self.timeout)
        ddb.delete_table(TableName=r.name)
        self.tables_to_wait.append(r.name)

    def wait_queues(self, on_error: Callable[[LabResource, str], None]) -> None:
        """Wait (bounded) until every deleted queue is really gone, so the final search does not find it."""
        sqs = self.lab.client("sqs")

        def gone(url: str) -> bool:
            try:
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            except ClientError as error:
                if error_code(error) in _GONE:
                    return True
                raise
            return False

        for queue in self.queues_to_wait:
            try:
                wait_until(
                    functools.partial(gone, queue.detail["url"]),
                    timeout=min(self.timeout, 90),
                    interval=1,
                    max_interval=5,
                    what=f"SQS queue {queue.name} to be deleted",
                )
            except (WaitTimeout, WaitFailed, ClientError) as error:
                on_error(queue, str(error))
        self.queues_to_wait.clear()

    def wait_tables(self, on_error: Callable[[str, str], None]) -> None:
        ddb = self.lab.client("dynamodb")
        for name in self.tables_to_wait:
            try:
                wait_table_deleted(ddb, name, timeout=self.timeout)
            except (WaitTimeout, WaitFailed) as error:
                on_error(name, str(error))
        self.tables_to_wait.clear()


def _order(resource: LabResource) -> int:
    try:
        return DELETE_ORDER.index((resource.service, resource.kind))
    except ValueError:
        return len(DELETE_ORDER)


def _is_owned(lab: Lab, resource: LabResource) -> bool:
    """Last guard before deleting: the resource was attributed to this prefix by its tag, by its
    function, or (untagged log group) by its name."""
    if resource.owner_evidence in ("tag", "function", "topic"):  # "topic": a subscription of a lab topic/queue
        return True
    if (resource.service, resource.kind) == ("cloudwatch", "dashboard") and resource.owner_evidence == "name":
        return resource.name == lab.name(DASHBOARD_COMPONENT)  # an endpoint that cannot tag dashboards
    return resource.owner_evidence == "name" and resource.name.startswith(f"/aws/lambda/{lab.prefix}-")


def destroy_lab(lab: Lab, *, progress: Progress | None = None, timeout: float = 300, rounds: int = 2) -> CleanupReport:
    """Delete every resource of ``lab``'s prefix; then search again and report what remains.

    Deletes in :data:`DELETE_ORDER`. A resource already gone counts as deleted; a failure is
    recorded and the rest carries on. Up to ``rounds`` passes (a log group a late invocation
    re-created is caught by the second), then a final :func:`find_lab_resources`.

    >>> report = destroy_lab(lab)            # doctest: +SKIP
    >>> assert report.ok, report.summary()   # doctest: +SKIP
    """
    say = progress or (lambda message: None)
    report = CleanupReport()
    deleter = _Deleter(lab, timeout)
    failed: dict[str, CleanupError] = {}
    deleted: dict[str, LabResource] = {}

    for _ in range(max(1, rounds)):
        found = find_lab_resources(lab)
        if not found:
            break
        for resource in sorted(found, key=_order):
            if not _is_owned(lab, resource):
                continue
            try:
                deleter.delete(resource)
            except ClientError as error:
                if error_code(error) in _GONE:
                    say(f"already gone: {resource}")
                else:
                    message = f"{error_code(error)}: {error_message(error)}"
                    failed[resource.arn] = CleanupError(resource, message)
                    say(f"FAILED to delete {resource}: {message}")
                    continue
            except (NotImplementedError, WaitTimeout, WaitFailed, WaiterError) as error:
                failed[resource.arn] = CleanupError(resource, str(error))
                say(f"FAILED to delete {resource}: {error}")
                continue
            else:
                say(f"deleted {resource}")
            failed.pop(resource.arn, None)
            deleted[resource.arn] = resource

        def table_failed(name: str, message: str) -> None:
            resource = next(r for r in deleted.values() if r.service == "dynamodb" and r.name == name)
            failed[resource.arn] = CleanupError(resource, message)
            say(f"FAILED waiting for table {name}: {message}")

        deleter.wait_tables(table_failed)

        def queue_failed(resource: LabResource, message: str) -> None:
            failed[resource.arn] = CleanupError(resource, message)
            say(f"FAILED waiting for queue {resource.name}: {message}")

        deleter.wait_queues(queue_failed)

    report.deleted = list(deleted.values())
    report.remaining = find_lab_resources(lab)
    remaining_arns = {r.arn for r in report.remaining}
    # An error for something a later pass removed (or that vanished) is no longer an error.
    report.errors = [e for e in failed.values() if e.resource.arn in remaining_arns]
    say(f"cleanup of prefix {lab.prefix!r}: {report.summary()}")
    return report
