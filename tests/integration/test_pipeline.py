"""The order pipeline end to end, through the real HTTP API (steps 1, 2, 3 and 5).

POST /orders -> create_order -> orders table -> stream -> stream_processor -> SQS order queue
-> order_worker -> CONFIRMED | REJECTED; a poison order -> DLQ after exactly maxReceiveCount
receives -> "the fix" (fault injection off) -> redrive -> CONFIRMED.

Written to the AWS contract: it runs unchanged with ``ORDERLAB_TARGET=aws``. Deployed once per
module (``deploy_pipeline(max_receive_count=3)``); the worker's own retry delay (ChangeMessageVisibility:
a 2, 4, 8 s backoff, 0 s for a permanent failure) keeps retries short. Every wait is bounded.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from helpers import Lab
from helpers.aws.event_sources import get_event_source_mapping
from helpers.aws.sqs import queue_counts
from helpers.core.waiters import WaitTimeout, wait_until
from helpers.ops.cleanup import destroy_lab
from helpers.ops.discovery import find_lab_resources
from helpers.ops.redrive import redrive
from helpers.ops.tracking import (
    dlq_frame,
    get_order,
    peek_messages,
    sample_queue_counts,
    wait_for_final_status,
    wait_for_statuses,
)
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.step2 import STREAM_PROCESSOR_DIR
from helpers.pipeline.step3 import ORDER_WORKER_DIR, deploy_order_worker
from helpers.pipeline.step5 import PipelineStack, deploy_pipeline, pipeline_status

MAX_RECEIVE_COUNT = 3
TRANSIENT_FAILURES = 2
FINAL_TIMEOUT = 60  # one order through stream -> queue -> worker, retries included

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(
        not all((d / d.name / "handler.py").is_file() for d in (STREAM_PROCESSOR_DIR, ORDER_WORKER_DIR)),
        reason="lambdas/stream_processor or lambdas/order_worker is not there yet",
    ),
]

# Every order the API accepted in this module: the ledger test checks none was lost.
ACCEPTED: list[str] = []


def order_body(*, customer: str = "cust-001", quantity: int = 2, fault: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {"id": customer, "name": "Test Customer"},
        "items": [{"sku": "BOOK-1", "quantity": quantity, "unitPrice": 12.5}],
    }
    if fault:
        body["fault"] = fault
    return body


def place(api: OrdersApi, body: dict[str, Any]) -> str:
    reply = api.create(body, idempotency_key=f"test-{uuid.uuid4()}")
    assert reply.status == 201, reply.json
    ACCEPTED.append(reply.json["orderId"])
    return str(reply.json["orderId"])


def wait_drained(lab: Lab, url: str, *, timeout: float = 30) -> None:
    """Until the queue holds nothing visible, in flight or delayed (SQS's counts are approximate:
    require two empty readings in a row)."""
    empties: list[bool] = []

    def drained() -> bool:
        empties.append(queue_counts(lab, url).total == 0)
        return len(empties) >= 2 and all(empties[-2:])

    wait_until(drained, timeout=timeout, interval=0.5, what=f"queue {url} to drain")


@pytest.fixture(scope="module")
def stack(lab: Lab) -> PipelineStack:
    return deploy_pipeline(lab, max_receive_count=MAX_RECEIVE_COUNT, transient_failures=TRANSIENT_FAILURES)


@pytest.fixture(scope="module")
def api(stack: PipelineStack) -> OrdersApi:
    return OrdersApi(stack.api.endpoint_url)


def test_deploy_pipeline_twice_converges(lab: Lab, stack: PipelineStack) -> None:
    again = deploy_pipeline(lab, max_receive_count=MAX_RECEIVE_COUNT, transient_failures=TRANSIENT_FAILURES)

    assert not again.changed, again
    assert again.queues == stack.queues  # names, URLs, ARNs
    assert (again.queues.queue.updated, again.queues.dlq.updated, again.queues.stream_failures.updated) == ((), (), ())
    assert again.stream_processor.mapping.uuid == stack.stream_processor.mapping.uuid
    assert again.worker.mapping.uuid == stack.worker.mapping.uuid
    assert again.worker.function.last_modified == stack.worker.function.last_modified
    assert again.stream_processor.function.last_modified == stack.stream_processor.function.last_modified
    assert again.table.stream_arn == stack.table.stream_arn

    sqs = lab.client("sqs")
    names = [url.rsplit("/", 1)[1] for url in sqs.list_queues(QueueNamePrefix=f"{lab.prefix}-").get("QueueUrls", [])]
    # (other tests of the session share the prefix, so only the pipeline's own queues are compared)
    expected = {stack.queues.queue.name, stack.queues.dlq.name, stack.queues.stream_failures.name}
    assert expected <= set(names)
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queues.queue.url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "30"
    assert json.loads(attributes["RedrivePolicy"]) in (
        {"deadLetterTargetArn": stack.queues.dlq.arn, "maxReceiveCount": MAX_RECEIVE_COUNT},
        {"deadLetterTargetArn": stack.queues.dlq.arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)},
    )
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=stack.queues.dlq.url, AttributeNames=["All"])["Attributes"]
    assert dlq_attributes["MessageRetentionPeriod"] == "1209600"

    lam = lab.client("lambda")
    stream_mapping = get_event_source_mapping(lab, stack.stream_processor.mapping.uuid)
    assert stream_mapping is not None and stream_mapping["State"] == "Enabled"
    assert stream_mapping["EventSourceArn"] == stack.table.stream_arn
    assert (stream_mapping["BatchSize"], stream_mapping["StartingPosition"]) == (10, "TRIM_HORIZON")
    assert stream_mapping["BisectBatchOnFunctionError"] is True
    assert (stream_mapping["MaximumRetryAttempts"], stream_mapping["MaximumRecordAgeInSeconds"]) == (2, 3600)
    assert stream_mapping["DestinationConfig"]["OnFailure"]["Destination"] == stack.queues.stream_failures.arn
    assert stream_mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    worker_mapping = get_event_source_mapping(lab, stack.worker.mapping.uuid)
    assert worker_mapping is not None and worker_mapping["EventSourceArn"] == stack.queues.queue.arn
    assert (worker_mapping["BatchSize"], worker_mapping["MaximumBatchingWindowInSeconds"]) == (10, 0)
    assert worker_mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert lam.get_function_configuration(FunctionName=stack.worker.function.name)["Timeout"] == 5

    status = pipeline_status(lab)
    assert status["ready"], status["message"]
    assert status["steps"]["05"]["max_receive_count"] in (MAX_RECEIVE_COUNT, str(MAX_RECEIVE_COUNT))


def test_valid_order_is_confirmed(lab: Lab, stack: PipelineStack, api: OrdersApi) -> None:
    order_id = place(api, order_body())
    item = wait_for_final_status(lab, stack.table.name, order_id, timeout=FINAL_TIMEOUT)
    assert item["status"] == "CONFIRMED"
    assert int(item["attempts"]) == 1
    assert "statusReason" not in item
    assert api.get(order_id).json["status"] == "CONFIRMED"


@pytest.mark.parametrize(
    "body, reason_has",
    [
        (order_body(customer="cust-666"), "cust-666"),
        (order_body(quantity=150), "150"),
    ],
    ids=["blocked-customer", "quantity-150"],
)
def test_rule_violation_is_rejected_with_its_reason(
    lab: Lab, stack: PipelineStack, api: OrdersApi, body: dict[str, Any], reason_has: str
) -> None:
    order_id = place(api, body)
    item = wait_for_final_status(lab, stack.table.name, order_id, timeout=FINAL_TIMEOUT)
    assert item["status"] == "REJECTED"
    assert reason_has in item["statusReason"], item["statusReason"]


@pytest.mark.slow
def test_transient_order_is_confirmed_after_retries(lab: Lab, stack: PipelineStack, api: OrdersApi) -> None:
    order_id = place(api, order_body(fault="transient"))
    item = wait_for_final_status(lab, stack.table.name, order_id, timeout=FINAL_TIMEOUT)
    assert item["status"] == "CONFIRMED"
    assert int(item["attempts"]) == TRANSIENT_FAILURES + 1


def test_duplicate_message_changes_nothing(lab: Lab, stack: PipelineStack, api: OrdersApi) -> None:
    messages = pytest.importorskip("stream_processor.messages")
    order_id = place(api, order_body())
    before = wait_for_final_status(lab, stack.table.name, order_id, timeout=FINAL_TIMEOUT)
    wait_drained(lab, stack.queues.queue.url)

    # Exactly the message the stream processor sends for this order, sent once more.
    raw = lab.client("dynamodb").get_item(
        TableName=stack.table.name, Key={"orderId": {"S": order_id}}, ConsistentRead=True
    )["Item"]
    raw = {k: v for k, v in raw.items() if k not in ("status", "updatedAt", "processedAt", "attempts")}
    raw["status"] = {"S": "PENDING"}
    record = {
        "eventName": "INSERT",
        "eventID": "duplicate",
        "dynamodb": {"Keys": {"orderId": {"S": order_id}}, "NewImage": raw, "SequenceNumber": "1"},
    }
    message = messages.to_order_message(record)
    lab.client("sqs").send_message(QueueUrl=stack.queues.queue.url, MessageBody=json.dumps(message))
    wait_drained(lab, stack.queues.queue.url)

    after = get_order(lab, stack.table.name, order_id)
    assert after is not None
    assert (after["status"], after["updatedAt"], after["attempts"]) == (
        before["status"],
        before["updatedAt"],
        before["attempts"],
    )
    assert queue_counts(lab, stack.queues.dlq.url).total == 0


def test_poison_order_is_dead_lettered_after_exactly_max_receives(
    lab: Lab, stack: PipelineStack, api: OrdersApi
) -> None:
    order_id = place(api, order_body(fault="poison"))
    samples = sample_queue_counts(
        lab,
        {"queue": stack.queues.queue.url, "dlq": stack.queues.dlq.url},
        seconds=60,
        interval=0.5,
        until=lambda c: c["dlq"].visible >= 1,
    )
    assert samples[samples["label"] == "dlq"]["visible"].iloc[-1] >= 1, "the poison order never reached the DLQ"

    item = get_order(lab, stack.table.name, order_id)
    # The worker notes every failed receive on the order: exactly maxReceiveCount of them.
    assert item is not None and int(item["failedAttempts"]) == MAX_RECEIVE_COUNT, item
    assert item["lastError"].startswith("PoisonOrder: poison order")
    peeked = [m for m in peek_messages(lab, stack.queues.dlq.url) if m["body"].get("orderId") == order_id]
    assert len(peeked) == 1, peeked
    assert peeked[0]["body"]["fault"] == "poison"
    assert peeked[0]["deadLetterQueueSourceArn"] in (None, stack.queues.queue.arn)
    frame = dlq_frame(lab, stack.queues.dlq.url)
    assert order_id in set(frame["orderId"])

    item = get_order(lab, stack.table.name, order_id)
    assert item is not None and item["status"] == "PENDING" and "attempts" not in item
    wait_drained(lab, stack.queues.queue.url)  # nothing of it left in the order queue


def test_fix_and_redrive_confirms_the_poison_order(lab: Lab, stack: PipelineStack) -> None:
    in_dlq = {m["body"].get("orderId") for m in peek_messages(lab, stack.queues.dlq.url)}
    assert in_dlq, "run test_poison_order_is_dead_lettered_after_exactly_max_receives first"

    fixed = deploy_order_worker(
        lab, stack.table, stack.queues, transient_failures=TRANSIENT_FAILURES, fault_injection=False
    )
    assert fixed.function.config_updated and not fixed.function.code_updated
    assert fixed.mapping.uuid == stack.worker.mapping.uuid

    result = redrive(lab, stack.queues.dlq.arn, timeout=60)
    assert result.status == "COMPLETED", result
    assert result.moved >= len(in_dlq)

    items = wait_for_statuses(lab, stack.table.name, sorted(in_dlq), timeout=FINAL_TIMEOUT)
    assert {item["status"] for item in items.values()} == {"CONFIRMED"}
    wait_until(
        lambda: queue_counts(lab, stack.queues.dlq.url).total == 0,
        timeout=30,
        interval=0.5,
        what="the DLQ to be empty after the redrive",
    )


def test_no_order_is_lost(lab: Lab, stack: PipelineStack) -> None:
    """Ledger: every order the API accepted in this module is final, or waiting in the DLQ."""
    assert ACCEPTED, "no order was placed"
    accepted = set(ACCEPTED)
    last: dict[str, set[str]] = {}

    def accounted_for() -> bool:
        in_dlq = {
            m["body"].get("orderId")
            for m in peek_messages(lab, stack.queues.dlq.url, 100)
            if isinstance(m["body"], dict)
        }
        final = {
            o
            for o in accepted - in_dlq
            if (get_order(lab, stack.table.name, o) or {}).get("status") in ("CONFIRMED", "REJECTED")
        }
        last["missing"] = accepted - in_dlq - final
        return not last["missing"]

    try:
        wait_until(
            accounted_for, timeout=FINAL_TIMEOUT, interval=1, what="every accepted order to be final or in the DLQ"
        )
    except WaitTimeout as error:
        pytest.fail(f"orders neither final nor in the DLQ: {sorted(last.get('missing', set()))} ({error})")
    assert queue_counts(lab, stack.queues.stream_failures.url).total == 0, "the stream mapping gave up on records"


def test_cleanup_removes_the_pipeline(lab: Lab, stack: PipelineStack) -> None:
    """Mappings (the stream's too) go before their functions; queues with redrive policies go cleanly."""
    said: list[str] = []
    report = destroy_lab(lab, progress=said.append)
    assert report.ok, report.summary()
    deleted = [line for line in said if line.startswith("deleted ")]

    def position(kind: str, name: str) -> int:
        return next(i for i, line in enumerate(deleted) if line == f"deleted {kind} {name}")

    functions = [position("lambda function", step.function.name) for step in (stack.stream_processor, stack.worker)]
    mappings = [
        position("lambda event-source-mapping", step.mapping.uuid) for step in (stack.stream_processor, stack.worker)
    ]
    assert max(mappings) < min(functions), deleted
    for queue in (stack.queues.queue, stack.queues.dlq, stack.queues.stream_failures):
        position("sqs queue", queue.name)
    assert find_lab_resources(lab) == []
    assert get_event_source_mapping(lab, stack.stream_processor.mapping.uuid) is None
    assert not pipeline_status(lab)["ready"]
