"""CloudWatch Logs export tasks to S3: CreateExportTask, DescribeExportTasks and CancelExportTask
answered as AWS answers them.

Expected answers as recorded against real AWS by moto's ``aws_verified`` tests
(tests/test_logs/test_export_tasks.py in github.com/getmoto/moto) and the documentation:
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateExportTask.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3ExportTasks.html (the bucket policy; the
objects are ``<prefix>/<task id>/<log stream>/000000.gz``, default prefix ``exportedlogs``). An
export may take minutes on AWS; each wait is bounded.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

WAIT_SECONDS = 15 * 60


@pytest.fixture(scope="module")
def bucket(lab, s3):
    name = f"{lab.name('log-export')}-{uuid.uuid4().hex[:8]}".lower()
    location = {} if lab.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": lab.region}}
    s3.create_bucket(Bucket=name, **location)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in lab.tags.items()]})
    service = {"Service": f"logs.{lab.region}.amazonaws.com"}
    condition = {"StringEquals": {"aws:SourceAccount": lab.account_id}}
    s3.put_bucket_policy(
        Bucket=name,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": service,
                        "Action": "s3:GetBucketAcl",
                        "Resource": f"arn:aws:s3:::{name}",
                        "Condition": condition,
                    },
                    {
                        "Effect": "Allow",
                        "Principal": service,
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{name}/*",
                        "Condition": {
                            "StringEquals": {**condition["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"}
                        },
                    },
                ],
            }
        ),
    )
    yield name
    for entry in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=entry["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="module")
def group(lab, logs):
    name = f"/orderlab/{lab.name('log-export')}"
    logs.create_log_group(logGroupName=name, tags=lab.tags)
    now = int(time.time() * 1000)
    for stream in ("orders/a", "payments"):
        logs.create_log_stream(logGroupName=name, logStreamName=stream)
        logs.put_log_events(
            logGroupName=name,
            logStreamName=stream,
            logEvents=[{"timestamp": now + i, "message": f"{stream} line {i}"} for i in range(3)],
        )
    yield name, now
    logs.delete_log_group(logGroupName=name)


def _finished(logs, task_id: str) -> dict:
    def settled() -> dict | None:
        task = logs.describe_export_tasks(taskId=task_id)["exportTasks"][0]
        return task if task["status"]["code"] not in ("PENDING", "RUNNING") else None

    return wait_until(settled, timeout=WAIT_SECONDS, interval=1, max_interval=15, what=f"export task {task_id}")


def _refusal(call) -> dict:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]


def test_an_export_writes_each_stream_as_gzip_under_prefix_task_and_stream(logs, s3, bucket, group):
    name, now = group
    task_id = logs.create_export_task(
        logGroupName=name, fromTime=now - 60_000, to=now + 60_000, destination=bucket, destinationPrefix="exports"
    )["taskId"]
    task = _finished(logs, task_id)
    assert task["status"]["code"] == "COMPLETED"
    assert (task["logGroupName"], task["destination"], task["destinationPrefix"]) == (name, bucket, "exports")
    assert (task["from"], task["to"]) == (now - 60_000, now + 60_000)
    for stream in ("orders/a", "payments"):
        body = s3.get_object(Bucket=bucket, Key=f"exports/{task_id}/{stream}/000000.gz")["Body"].read()
        lines = gzip.decompress(body).decode().splitlines()
        assert [line.split(" ", 1)[1] for line in lines] == [f"{stream} line {i}" for i in range(3)]
        assert all(line[:24].endswith("Z") and line[10] == "T" for line in lines)


def test_the_default_prefix_is_exportedlogs_and_events_outside_the_range_stay_out(logs, s3, bucket, group):
    name, now = group
    task_id = logs.create_export_task(logGroupName=name, fromTime=now + 1, to=now + 1, destination=bucket)["taskId"]
    task = _finished(logs, task_id)
    assert task["destinationPrefix"] == "exportedlogs"
    body = s3.get_object(Bucket=bucket, Key=f"exportedlogs/{task_id}/payments/000000.gz")["Body"].read()
    assert [line.split(" ", 1)[1] for line in gzip.decompress(body).decode().splitlines()] == ["payments line 1"]
    assert s3.get_object(Bucket=bucket, Key="aws-logs-write-test")["Body"].read() == b"Permission Check Successful"


def test_a_finished_task_cannot_be_cancelled(logs, bucket, group):
    name, now = group
    task_id = logs.create_export_task(logGroupName=name, fromTime=now, to=now + 1, destination=bucket)["taskId"]
    _finished(logs, task_id)
    error = _refusal(lambda: logs.cancel_export_task(taskId=task_id))
    assert (error["Code"], error["Message"]) == (
        "InvalidOperationException",
        "The specified export task has already finished",
    )


def test_an_unknown_task_does_not_exist(logs):
    for call in (logs.cancel_export_task, logs.describe_export_tasks):
        error = _refusal(lambda call=call: call(taskId=str(uuid.uuid4())))
        assert error["Code"] == "ResourceNotFoundException"
    error = _refusal(lambda: logs.cancel_export_task(taskId=str(uuid.uuid4())))
    assert error["Message"] == "The specified export task does not exist."


def test_a_missing_bucket_is_refused(lab, logs, group):
    error = _refusal(
        lambda: logs.create_export_task(
            logGroupName=group[0], fromTime=1, to=2, destination=f"{lab.name('no-such-bucket')}-{uuid.uuid4().hex[:8]}"
        )
    )
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterException",
        "The given bucket does not exist. Please make sure the bucket is valid.",
    )


def test_a_missing_log_group_is_refused(lab, logs, bucket):
    error = _refusal(
        lambda: logs.create_export_task(
            logGroupName=f"/orderlab/{lab.name('no-such-group')}", fromTime=1, to=2, destination=bucket
        )
    )
    assert (error["Code"], error["Message"]) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_a_range_that_ends_before_it_starts_is_refused(logs, bucket, group):
    error = _refusal(lambda: logs.create_export_task(logGroupName=group[0], fromTime=2000, to=1000, destination=bucket))
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"].startswith("Specified time range of '2000' and '1000' is not valid.")
