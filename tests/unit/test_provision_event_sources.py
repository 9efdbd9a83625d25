"""ensure_event_source_mapping's AWS calls, checked with botocore's Stubber, and the ScalingConfig
(maximum concurrency) of SQS event source mappings: helpers/aws/event_sources.py.

AWS: "Configuring maximum concurrency for Amazon SQS event sources" (2..1000; ScalingConfig={}
removes it), https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html and
https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html (ScalingConfig is
for Amazon SQS sources only).
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers.aws import event_sources
from helpers.aws.event_sources import NO_CONCURRENCY_CAP, mapping_diff, wanted_settings

REGION, ACCOUNT = "us-east-1", "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:alice-order-queue"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/alice-orders/stream/2024-05-01T12:00:00.000"
U1, U2 = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"


WORKER = "alice-order-worker"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{WORKER}"
ESM_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{U1}"


def _queue_mapping(batch_size: int) -> dict[str, Any]:
    """The worker's existing mapping from the order queue, as GetEventSourceMapping describes it."""
    return {
        "UUID": U1,
        "State": "Enabled",
        "FunctionArn": FUNCTION_ARN,
        "EventSourceArn": QUEUE_ARN,
        "BatchSize": batch_size,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceMappingArn": ESM_ARN,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


def _stub_mappings(stub: Any, *mappings: dict[str, Any]) -> None:
    """ListEventSourceMappings (worker <- order queue) answers ``mappings``."""
    stub.add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": list(mappings)},
        {"FunctionName": WORKER, "EventSourceArn": QUEUE_ARN},
    )


def _stub_create(lab: Any, created: dict[str, Any]) -> None:
    """No mapping yet, then CreateEventSourceMapping with the defaults and the lab's tags answers ``created``."""
    stub = lab.stub("lambda")
    _stub_mappings(stub)
    stub.add_response(
        "create_event_source_mapping",
        created,
        {
            "FunctionName": WORKER,
            "EventSourceArn": QUEUE_ARN,
            "Enabled": True,
            "Tags": lab.tags,
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def _ensure_mapping(lab: Any, function_name: str, source_arn: str, **settings: Any) -> Any:
    """``ensure_event_source_mapping`` with a batch of 10 unless ``settings`` say otherwise."""
    return event_sources.ensure_event_source_mapping(
        lab, function_name=function_name, source_arn=source_arn, **{"batch_size": 10, **settings}
    )


def _ensure_worker_mapping(lab: Any, **settings: Any) -> Any:
    """The worker's mapping from the order queue, waiting at most 5 s."""
    return _ensure_mapping(lab, WORKER, QUEUE_ARN, timeout=5, **settings)


@pytest.fixture
def lab(stubbed_lab: Any) -> Any:
    return stubbed_lab


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


def test_maximum_concurrency_is_for_queues_only(lab: Any) -> None:
    with pytest.raises(ValueError, match="SQS sources only"):
        _ensure_mapping(lab, "alice-f", STREAM_ARN, starting_position="LATEST", maximum_concurrency=5)


def test_ensure_mapping_sets_only_the_cap_that_differs(lab: Any) -> None:
    current = _queue_mapping(batch_size=10)
    capped = {**current, "ScalingConfig": {"MaximumConcurrency": 5}}
    _stub_mappings(lab.stub("lambda"), current)
    lab.stub("lambda").add_response(
        "update_event_source_mapping",
        {**capped, "State": "Updating"},
        {"UUID": U1, "ScalingConfig": {"MaximumConcurrency": 5}},
    )
    lab.stub("lambda").add_response("get_event_source_mapping", capped, {"UUID": U1})
    lab.stub("lambda").add_response("list_tags", {"Tags": lab.tags}, {"Resource": ESM_ARN})
    info = _ensure_worker_mapping(lab, maximum_batching_window_seconds=0, maximum_concurrency=5)
    assert (info.updated, info.maximum_concurrency) == (("ScalingConfig",), 5)


def test_a_new_mapping_without_a_cap_sends_no_scaling_config(lab: Any) -> None:
    created = {"UUID": U1, "State": "Enabled", "EventSourceArn": QUEUE_ARN, "BatchSize": 10}
    _stub_create(lab, created)
    lab.stub("lambda").add_response("get_event_source_mapping", created, {"UUID": U1})
    info = _ensure_worker_mapping(lab, maximum_concurrency=NO_CONCURRENCY_CAP)
    assert info.created and info.maximum_concurrency is None


def test_stream_mapping_needs_a_starting_position(lab: Any) -> None:
    with pytest.raises(ValueError, match="starting_position"):
        _ensure_mapping(lab, "alice-f", STREAM_ARN)
    with pytest.raises(ValueError, match="streams only"):
        _ensure_mapping(lab, "alice-f", QUEUE_ARN, starting_position="LATEST")


def test_ensure_mapping_updates_only_what_differs(lab: Any) -> None:
    stub = lab.stub("lambda")
    current = _queue_mapping(batch_size=5)
    _stub_mappings(stub, current)
    stub.add_response(
        "update_event_source_mapping", {**current, "BatchSize": 10, "State": "Updating"}, {"UUID": U1, "BatchSize": 10}
    )
    stub.add_response("get_event_source_mapping", {**current, "BatchSize": 10, "State": "Updating"}, {"UUID": U1})
    stub.add_response("get_event_source_mapping", {**current, "BatchSize": 10}, {"UUID": U1})
    stub.add_response("list_tags", {"Tags": {}}, {"Resource": ESM_ARN})
    stub.add_response("tag_resource", {}, {"Resource": ESM_ARN, "Tags": lab.tags})
    info = _ensure_worker_mapping(lab, maximum_batching_window_seconds=0)
    assert (info.uuid, info.state, info.batch_size, info.updated) == (U1, "Enabled", 10, ("BatchSize",))


def test_ensure_mapping_reports_a_mapping_that_will_not_enable(lab: Any, monkeypatch) -> None:
    monkeypatch.setattr(event_sources, "STEADY_STATE_GRACE", 0.0)
    stub = lab.stub("lambda")
    created = {"UUID": U2, "State": "Creating", "EventSourceArn": QUEUE_ARN, "BatchSize": 10}
    _stub_create(lab, created)
    stub.add_response(
        "get_event_source_mapping",
        {**created, "State": "Disabled", "StateTransitionReason": "PROBLEM: no permission"},
        {"UUID": U2},
    )
    from helpers.core.waiters import WaitFailed

    with pytest.raises(WaitFailed, match="PROBLEM: no permission"):
        _ensure_worker_mapping(lab)
