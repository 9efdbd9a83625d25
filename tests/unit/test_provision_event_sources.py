"""ScalingConfig (maximum concurrency) of SQS event source mappings: helpers/aws/event_sources.py.

AWS: "Configuring maximum concurrency for Amazon SQS event sources" (2..1000; ScalingConfig={}
removes it), https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html and
https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html (ScalingConfig is
for Amazon SQS sources only).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from helpers.aws import event_sources
from helpers.aws.event_sources import NO_CONCURRENCY_CAP, mapping_diff, wanted_settings
from helpers.core.naming import tags_for

REGION, ACCOUNT = "us-east-1", "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:alice-order-queue"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/alice-orders/stream/2024-05-01T12:00:00.000"
U1 = "11111111-2222-3333-4444-555555555555"


class FakeLab:
    """Just enough of helpers.core.lab.Lab for ensure_event_source_mapping, with a stubbed Lambda client."""

    prefix, region, account_id = "alice", REGION, ACCOUNT

    def __init__(self) -> None:
        self.lambda_client = boto3.client(
            "lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.stub = Stubber(self.lambda_client)
        self.stub.activate()

    def client(self, service: str) -> Any:
        assert service == "lambda", service
        return self.lambda_client

    @property
    def tags(self) -> dict[str, str]:
        return tags_for(self.prefix)


@pytest.fixture
def lab() -> FakeLab:
    fake = FakeLab()
    yield fake
    fake.stub.assert_no_pending_responses()


def test_wanted_scaling_config() -> None:
    assert "ScalingConfig" not in wanted_settings(batch_size=10)  # None: not managed
    assert wanted_settings(batch_size=10, maximum_concurrency=5)["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert wanted_settings(batch_size=10, maximum_concurrency=2)["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert wanted_settings(batch_size=10, maximum_concurrency=1000)["ScalingConfig"] == {"MaximumConcurrency": 1000}
    assert wanted_settings(batch_size=10, maximum_concurrency=NO_CONCURRENCY_CAP)["ScalingConfig"] == {}


@pytest.mark.parametrize("value", [1, 1001, -5, 2.5, True, "5"])
def test_maximum_concurrency_out_of_range_is_refused(value) -> None:
    with pytest.raises(ValueError, match="maximum_concurrency must be 2-1000"):
        wanted_settings(batch_size=10, maximum_concurrency=value)


@pytest.mark.parametrize(
    "current, wanted, differs",
    [
        ({"ScalingConfig": {"MaximumConcurrency": 5}}, {"MaximumConcurrency": 5}, False),
        ({"ScalingConfig": {"MaximumConcurrency": 10}}, {"MaximumConcurrency": 5}, True),
        ({}, {"MaximumConcurrency": 5}, True),
        ({"ScalingConfig": {}}, {"MaximumConcurrency": 5}, True),
        ({}, {}, False),  # no cap asked, none there
        ({"ScalingConfig": {}}, {}, False),
        ({"ScalingConfig": {"MaximumConcurrency": 5}}, {}, True),  # remove the cap
    ],
)
def test_scaling_config_diff(current, wanted, differs) -> None:
    diff = mapping_diff({"BatchSize": 10, **current}, {"BatchSize": 10, "ScalingConfig": wanted})
    assert diff == ({"ScalingConfig": wanted} if differs else {})


def test_maximum_concurrency_is_for_queues_only(lab: FakeLab) -> None:
    with pytest.raises(ValueError, match="SQS sources only"):
        event_sources.ensure_event_source_mapping(
            lab,
            function_name="alice-f",
            source_arn=STREAM_ARN,  # type: ignore[arg-type]
            batch_size=10,
            starting_position="LATEST",
            maximum_concurrency=5,
        )


def test_ensure_mapping_sets_only_the_cap_that_differs(lab: FakeLab) -> None:
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:alice-order-worker"
    esm_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{U1}"
    current = {
        "UUID": U1,
        "State": "Enabled",
        "FunctionArn": function_arn,
        "EventSourceArn": QUEUE_ARN,
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceMappingArn": esm_arn,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    capped = {**current, "ScalingConfig": {"MaximumConcurrency": 5}}
    lab.stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": [current]},
        {"FunctionName": "alice-order-worker", "EventSourceArn": QUEUE_ARN},
    )
    lab.stub.add_response(
        "update_event_source_mapping",
        {**capped, "State": "Updating"},
        {"UUID": U1, "ScalingConfig": {"MaximumConcurrency": 5}},
    )
    lab.stub.add_response("get_event_source_mapping", capped, {"UUID": U1})
    lab.stub.add_response("list_tags", {"Tags": lab.tags}, {"Resource": esm_arn})
    info = event_sources.ensure_event_source_mapping(
        lab,
        function_name="alice-order-worker",  # type: ignore[arg-type]
        source_arn=QUEUE_ARN,
        batch_size=10,
        maximum_batching_window_seconds=0,
        maximum_concurrency=5,
        timeout=5,
    )
    assert (info.updated, info.maximum_concurrency) == (("ScalingConfig",), 5)


def test_a_new_mapping_without_a_cap_sends_no_scaling_config(lab: FakeLab) -> None:
    created = {"UUID": U1, "State": "Enabled", "EventSourceArn": QUEUE_ARN, "BatchSize": 10}
    lab.stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": []},
        {"FunctionName": "alice-order-worker", "EventSourceArn": QUEUE_ARN},
    )
    lab.stub.add_response(
        "create_event_source_mapping",
        created,
        {
            "FunctionName": "alice-order-worker",
            "EventSourceArn": QUEUE_ARN,
            "Enabled": True,
            "Tags": lab.tags,
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    lab.stub.add_response("get_event_source_mapping", created, {"UUID": U1})
    info = event_sources.ensure_event_source_mapping(
        lab,
        function_name="alice-order-worker",  # type: ignore[arg-type]
        source_arn=QUEUE_ARN,
        batch_size=10,
        maximum_concurrency=NO_CONCURRENCY_CAP,
        timeout=5,
    )
    assert info.created and info.maximum_concurrency is None
