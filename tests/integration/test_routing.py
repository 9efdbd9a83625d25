"""Step 4 end to end through the real HTTP API: orders → stream → EventBridge pipe (filter on
``valueTier``, enrichment) → high-value queue → high_value consumer marks the order.

Written to the AWS contract (runs with ``ORDERLAB_TARGET=aws``): the pipe behaviours asserted here are
AWS's (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes.html); the local cloud's Pipes
runtime is checked in detail by tests/conformance/test_pipes.py.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from helpers.aws.iam import role_name
from helpers.aws.pipes import describe_pipe, start_pipe, stop_pipe
from helpers.aws.sqs import queue_counts
from helpers.ops.tracking import get_order, wait_for_statuses
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.step4 import (
    HIGH_VALUE_PATTERN,
    PIPE_COMPONENT,
    RoutingStack,
    deploy_high_value_routing,
    ensure_numeric_pitfall_pipe,
    numeric_pitfall_pattern,
    routing_frame,
    routing_status,
    wait_for_marks,
)
from helpers.pipeline.step5 import deploy_pipeline

pytestmark = pytest.mark.cloud

THRESHOLD = Decimal("1000")
TIMEOUT = 60


def order(total: Decimal | float, customer: str = "cust-001") -> dict[str, Any]:
    return {
        "customer": {"id": customer, "name": "Test Buyer"},
        "items": [{"sku": "ITEM-1", "quantity": 1, "unitPrice": float(total)}],
    }


@pytest.fixture(scope="module")
def routing(lab) -> tuple[RoutingStack, OrdersApi, str]:
    pipeline = deploy_pipeline(lab, max_receive_count=3)
    stack = deploy_high_value_routing(lab, threshold=THRESHOLD, vip_customers=["cust-vip"])
    return stack, OrdersApi.for_lab(lab), pipeline.table.name


def test_exactly_the_orders_at_or_above_the_threshold_are_routed_and_marked(lab, routing):
    stack, api, table = routing
    totals = [Decimal("50"), Decimal("999.99"), Decimal("1000"), Decimal("1500"), Decimal("6000")]
    ids = [api.create(order(t)).json["orderId"] for t in totals]
    vip = api.create(order(Decimal("1200"), customer="cust-vip")).json["orderId"]

    marks = wait_for_marks(lab, table, [*ids[2:], vip], timeout=TIMEOUT)
    final = wait_for_statuses(lab, table, [*ids, vip], timeout=TIMEOUT)
    frame = routing_frame(final, THRESHOLD)

    assert frame["routed"].tolist() == [False, False, True, True, True, True]
    assert frame["valueTier"].tolist() == ["STANDARD", "STANDARD", "HIGH", "HIGH", "HIGH", "HIGH"]
    assert [marks[i]["priority"] for i in ids[2:]] == ["P2", "P2", "P1"]  # P1 from 5000 up
    assert (marks[vip]["priority"], marks[vip]["customerTier"]) == ("P1", "VIP")
    assert set(frame["status"]) <= {"CONFIRMED", "REJECTED"}  # the worker path decided every one
    counts = {
        name: queue_counts(lab, q.url)
        for name, q in (("queue", stack.queues.queue), ("dlq", stack.queues.dlq), ("pipe_dlq", stack.queues.pipe_dlq))
    }
    assert all(c.visible == 0 for c in counts.values()), counts


def test_the_pipe_role_grants_only_that_stream_that_function_and_those_queues(lab, routing):
    stack, _, _ = routing
    iam = lab.client("iam")
    name = role_name(lab, PIPE_COMPONENT)
    role = iam.get_role(RoleName=name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "pipes.amazonaws.com"}
    [policy_name] = iam.list_role_policies(RoleName=name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    grants = {
        (action, resource)
        for s in document["Statement"]
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        for resource in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    stream_arn = describe_pipe(lab, stack.pipe.name)["Source"]
    table_arn = stream_arn.split("/stream/")[0]
    assert grants == {
        ("dynamodb:DescribeStream", stream_arn),
        ("dynamodb:GetRecords", stream_arn),
        ("dynamodb:GetShardIterator", stream_arn),
        ("dynamodb:ListStreams", f"{table_arn}/stream/*"),
        ("sqs:SendMessage", stack.queues.queue.arn),
        ("sqs:SendMessage", stack.queues.pipe_dlq.arn),
        ("lambda:InvokeFunction", stack.enricher.arn),
    }


def test_rerunning_converges_without_changes(lab, routing):
    stack, _, _ = routing
    again = deploy_high_value_routing(lab, vip_customers=["cust-vip"])  # threshold None: keeps 1000

    assert again.pipe.arn == stack.pipe.arn and not again.pipe.created and again.pipe.updated == ()
    assert again.queues == stack.queues
    assert not again.consumer.function.code_updated and not again.consumer.function.config_updated
    assert again.threshold == THRESHOLD
    pattern = describe_pipe(lab, stack.pipe.name)["SourceParameters"]["FilterCriteria"]["Filters"][0]["Pattern"]
    assert json.loads(pattern) == HIGH_VALUE_PATTERN
    assert routing_status(lab)["ready"] is True


def test_records_written_while_stopped_are_routed_after_start_none_lost_none_twice(lab, routing):
    """https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_StopPipe.html: a stopped pipe
    keeps its position in the stream; started again, it resumes from there."""
    stack, api, table = routing
    stopping: list[str] = []
    assert stop_pipe(lab, stack.pipe.name, seen=stopping).state == "STOPPED"
    try:
        ids = [api.create(order(Decimal("2500"), customer=f"cust-night-{i}")).json["orderId"] for i in range(3)]
        decided = wait_for_statuses(lab, table, ids, timeout=TIMEOUT)  # the stream was read meanwhile
        assert not any("priority" in item for item in decided.values())
    finally:
        starting: list[str] = []
        assert start_pipe(lab, stack.pipe.name, seen=starting).state == "RUNNING"
    marks = wait_for_marks(lab, table, ids, timeout=TIMEOUT)

    assert all(m["priority"] == "P2" for m in marks.values())
    assert stopping[-1] == "STOPPED" and starting[-1] == "RUNNING"
    assert queue_counts(lab, stack.queues.dlq.url).visible == 0


def test_a_numeric_rule_on_a_stream_number_never_matches(lab, routing):
    """https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-numeric-matching:
    numeric matching works on JSON numbers; DynamoDB stream records carry numbers as strings ({"N": "1500"})."""
    stack, api, table = routing
    pitfall, scratch = ensure_numeric_pitfall_pipe(lab, stack.pipe.source, THRESHOLD)
    big = api.create(order(Decimal("9000"), customer=f"cust-{uuid.uuid4().hex[:6]}")).json["orderId"]

    wait_for_marks(lab, table, [big], timeout=TIMEOUT)  # the valueTier pipe, on the same stream, routed it

    assert pitfall.state == "RUNNING"
    assert queue_counts(lab, scratch.url).visible == 0
    assert get_order(lab, table, big)["valueTier"] == "HIGH"


def test_a_changed_filter_updates_the_pipe_in_place(lab, routing):
    """Converging on a new setting is an UpdatePipe of the same pipe (its ARN unchanged), then back."""
    stack, _api, _table = routing
    before, _ = ensure_numeric_pitfall_pipe(lab, stack.pipe.source, THRESHOLD)
    changed, _ = ensure_numeric_pitfall_pipe(lab, stack.pipe.source, THRESHOLD * 2)
    try:
        assert changed.arn == before.arn and not changed.created and changed.updated, changed
        pattern = json.loads(
            describe_pipe(lab, changed.name)["SourceParameters"]["FilterCriteria"]["Filters"][0]["Pattern"]
        )
        assert pattern == numeric_pitfall_pattern(THRESHOLD * 2)
    finally:
        restored, _ = ensure_numeric_pitfall_pipe(lab, stack.pipe.source, THRESHOLD)
    assert restored.updated and restored.state == "RUNNING"
