"""DynamoDB exports to S3 and imports from S3, and the capacity a PROVISIONED table needs,
answered as AWS answers them.

The expected answers are AWS's, as recorded by tests run against real AWS (moto's
``aws_verified`` tests in github.com/getmoto/moto: tests/test_dynamodb/
test_dynamodb_export_table.py and test_dynamodb_import_table.py), and AWS's documentation:
- an export needs point-in-time recovery:
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html
- the DYNAMODB_JSON import format: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataImport.Format.html
An export or an import takes minutes on AWS; each wait is bounded.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

KEY = [{"AttributeName": "pk", "KeyType": "HASH"}]
DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "S"}]
WAIT_SECONDS = 30 * 60


@pytest.fixture
def table(lab, ddb):
    name = lab.name(f"transfer-{uuid.uuid4().hex[:6]}")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=DEFINITIONS,
        KeySchema=KEY,
        Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()],
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture
def bucket(lab, s3):
    name = f"{lab.name('transfer')}-{uuid.uuid4().hex[:8]}".lower()
    s3.create_bucket(Bucket=name, **_location(lab))
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in lab.tags.items()]})
    yield name
    for entry in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=entry["Key"])
    s3.delete_bucket(Bucket=name)


def _location(lab) -> dict:
    return {} if lab.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": lab.region}}


def _settled(describe, key: str, status: str) -> dict:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        description = describe()
        if description[key] != status:
            return dict(description)
        time.sleep(1)
    raise AssertionError(f"still {status} after {WAIT_SECONDS} s")


def test_an_export_needs_point_in_time_recovery(ddb, table, bucket):
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    with pytest.raises(ClientError) as refused:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, ExportFormat="DYNAMODB_JSON")
    assert refused.value.response["Error"] == {
        "Code": "PointInTimeRecoveryUnavailableException",
        "Message": f"Point in time recovery is not enabled for table '{table}'",
    }


def test_an_export_to_a_missing_bucket_is_accepted_then_fails(lab, ddb, table):
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    started = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=f"{lab.name('no-such-bucket')}-{uuid.uuid4().hex[:8]}", ExportFormat="DYNAMODB_JSON"
    )["ExportDescription"]

    assert started["ExportStatus"] == "IN_PROGRESS"
    export = _settled(
        lambda: ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"], "ExportStatus", "IN_PROGRESS"
    )
    assert export["ExportStatus"] == "FAILED"
    assert export["FailureCode"] == "S3NoSuchBucket"
    assert "The specified bucket does not exist" in export["FailureMessage"]


def _import(lab, ddb, bucket: str) -> tuple[str, dict]:
    name = lab.name(f"imported-{uuid.uuid4().hex[:6]}")
    started = ddb.import_table(
        S3BucketSource={"S3Bucket": bucket},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="NONE",
        TableCreationParameters={
            "TableName": name,
            "AttributeDefinitions": DEFINITIONS,
            "KeySchema": KEY,
            "BillingMode": "PAY_PER_REQUEST",
        },
    )["ImportTableDescription"]
    imported = _settled(
        lambda: ddb.describe_import(ImportArn=started["ImportArn"])["ImportTableDescription"],
        "ImportStatus",
        "IN_PROGRESS",
    )
    return name, imported


def test_an_import_from_an_empty_bucket_completes_with_nothing(lab, ddb, bucket):
    name, imported = _import(lab, ddb, bucket)
    try:
        assert imported["ImportStatus"] == "COMPLETED"
        assert (imported["ImportedItemCount"], imported["ErrorCount"]) == (0, 0)
        assert ddb.scan(TableName=name)["Items"] == []
    finally:
        ddb.delete_table(TableName=name)


def test_an_import_reads_items_one_a_line_or_back_to_back(lab, ddb, s3, bucket):
    records = [{"Item": {"pk": {"S": f"item-{number}"}}} for number in range(4)]
    body = json.dumps(records[0]) + "\n" + json.dumps(records[1]) + "\n" + "".join(map(json.dumps, records[2:]))
    s3.put_object(Bucket=bucket, Key="data.json", Body=body.encode())

    name, imported = _import(lab, ddb, bucket)
    try:
        assert imported["ImportStatus"] == "COMPLETED"
        assert (imported["ImportedItemCount"], imported["ErrorCount"]) == (4, 0)
        items = ddb.scan(TableName=name, ConsistentRead=True)["Items"]
        assert sorted(item["pk"]["S"] for item in items) == [f"item-{number}" for number in range(4)]
    finally:
        ddb.delete_table(TableName=name)


def test_a_provisioned_table_needs_both_capacities(lab, ddb):
    with pytest.raises(ClientError) as refused:
        ddb.create_table(
            TableName=lab.name("no-capacity"),
            BillingMode="PROVISIONED",
            AttributeDefinitions=DEFINITIONS,
            KeySchema=KEY,
        )
    assert refused.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both "
        "be specified when BillingMode is PROVISIONED",
    }
