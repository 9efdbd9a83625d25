"""Pure parts of the queue, mapping and redrive helpers, and their AWS calls checked with botocore's Stubber.

No cloud: a fake Lab hands out stubbed clients, so each test states exactly which calls are made.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from helpers.aws import event_sources, sqs
from helpers.aws.dynamodb import TableInfo
from helpers.ops.redrive import RedriveError, _find_task, redrive
from helpers.ops.tracking import _order_of, _reason_of
from helpers.pipeline.step2 import OrderQueues, stream_processor_role_statements
from helpers.pipeline.step3 import order_worker_environment, order_worker_role_statements

REGION, ACCOUNT = "us-east-1", "123456789012"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:alice-order-dlq"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:alice-order-queue"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/alice-order-queue"
U1, U2 = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/alice-orders/stream/2024-05-01T12:00:00.000"


@pytest.fixture
def lab(stubbed_lab: Any) -> Any:
    return stubbed_lab


# --- RedrivePolicy and friends -------------------------------------------------------------


def test_redrive_policy_is_the_json_sqs_takes() -> None:
    assert json.loads(sqs.redrive_policy(DLQ_ARN, 3)) == {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 3}


@pytest.mark.parametrize("count", [0, 1001, -1, True, 2.5, "3"])
def test_redrive_policy_refuses_bad_counts(count: Any) -> None:
    with pytest.raises(ValueError, match="maxReceiveCount"):
        sqs.redrive_policy(DLQ_ARN, count)


def test_redrive_policy_refuses_a_non_queue_arn() -> None:
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        sqs.redrive_policy("arn:aws:sns:us-east-1:1:topic", 3)


def test_redrive_allow_policy_by_queue_and_limits() -> None:
    policy = json.loads(sqs.redrive_allow_policy([QUEUE_ARN, QUEUE_ARN]))
    assert policy == {"redrivePermission": "byQueue", "sourceQueueArns": [QUEUE_ARN]}
    with pytest.raises(ValueError, match="1 to 10"):
        sqs.redrive_allow_policy([f"arn:aws:sqs:{REGION}:{ACCOUNT}:q{i}" for i in range(11)])


def test_wanted_attributes_need_both_halves_of_a_redrive_policy() -> None:
    common = dict(
        visibility_timeout=30, receive_wait_time=0, message_retention_seconds=345600, redrive_allow_source_arns=None
    )
    with pytest.raises(ValueError, match="both"):
        sqs.wanted_attributes(dead_letter_target_arn=DLQ_ARN, max_receive_count=None, **common)
    with pytest.raises(ValueError, match="both"):
        sqs.wanted_attributes(dead_letter_target_arn=None, max_receive_count=3, **common)
    with pytest.raises(ValueError, match="message_retention_seconds"):
        sqs.wanted_attributes(
            **{**common, "message_retention_seconds": 2_000_000}, dead_letter_target_arn=None, max_receive_count=None
        )


def test_attributes_diff_compares_meaning_not_spelling() -> None:
    wanted = sqs.wanted_attributes(
        visibility_timeout=30,
        receive_wait_time=0,
        message_retention_seconds=345600,
        dead_letter_target_arn=DLQ_ARN,
        max_receive_count=3,
        redrive_allow_source_arns=None,
    )
    current = {
        "VisibilityTimeout": "30",
        "ReceiveMessageWaitTimeSeconds": "0",
        "MessageRetentionPeriod": "345600",
        "RedrivePolicy": json.dumps({"maxReceiveCount": "3", "deadLetterTargetArn": DLQ_ARN}, separators=(",", ":")),
    }
    assert sqs.attributes_diff(current, wanted) == {}
    assert sqs.attributes_diff({**current, "VisibilityTimeout": "60"}, wanted) == {"VisibilityTimeout": "30"}
    # No DLQ wanted: an existing redrive policy is removed with an empty value.
    no_dlq = {**wanted, "RedrivePolicy": ""}
    assert sqs.attributes_diff(current, no_dlq) == {"RedrivePolicy": ""}
    # A restrictive RedriveAllowPolicy goes back to allow-all when none is asked for.
    restricted = {**current, "RedriveAllowPolicy": sqs.redrive_allow_policy([QUEUE_ARN])}
    assert json.loads(sqs.attributes_diff(restricted, wanted)["RedriveAllowPolicy"]) == {
        "redrivePermission": "allowAll"
    }


def test_iam_statements_are_scoped_to_one_queue() -> None:
    consumer = sqs.sqs_consumer_statement(QUEUE_ARN)
    assert consumer["Resource"] == [QUEUE_ARN] and consumer["Effect"] == "Allow"
    assert set(consumer["Action"]) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    with_backoff = sqs.sqs_consumer_statement(QUEUE_ARN, change_visibility=True)
    assert set(with_backoff["Action"]) == set(consumer["Action"]) | {"sqs:ChangeMessageVisibility"}
    sender = sqs.sqs_sender_statement(QUEUE_ARN)
    assert sender["Action"] == ["sqs:SendMessage"] and sender["Resource"] == [QUEUE_ARN]
    assert consumer["Sid"].isalnum() and sender["Sid"].isalnum()
    with pytest.raises(ValueError):
        sqs.sqs_sender_statement("*")


# --- ensure_queue's calls ---------------------------------------------------------------------


def _existing_queue(lab: Any, attributes: dict[str, str], tags: dict[str, str]) -> Stubber:
    stub = lab.stub("sqs")
    stub.add_response("get_queue_url", {"QueueUrl": QUEUE_URL}, {"QueueName": "alice-order-queue"})
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": QUEUE_ARN, **attributes}},
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["All"]},
    )
    return stub


def test_ensure_queue_changes_nothing_when_all_is_as_asked(lab: Any) -> None:
    stub = _existing_queue(
        lab,
        {
            "VisibilityTimeout": "30",
            "ReceiveMessageWaitTimeSeconds": "0",
            "MessageRetentionPeriod": "345600",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 3}),
        },
        {},
    )
    stub.add_response("list_queue_tags", {"Tags": lab.tags}, {"QueueUrl": QUEUE_URL})
    info = sqs.ensure_queue(lab, "order-queue", dead_letter_target_arn=DLQ_ARN, max_receive_count=3)  # type: ignore[arg-type]
    assert info == sqs.QueueInfo("alice-order-queue", QUEUE_URL, QUEUE_ARN)
    assert not info.changed


def test_ensure_queue_sets_only_what_differs_and_puts_tags_back(lab: Any) -> None:
    stub = _existing_queue(
        lab,
        {
            "VisibilityTimeout": "30",
            "ReceiveMessageWaitTimeSeconds": "0",
            "MessageRetentionPeriod": "345600",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 5}),
        },
        {},
    )
    stub.add_response(
        "set_queue_attributes",
        {},
        {
            "QueueUrl": QUEUE_URL,
            "Attributes": {"RedrivePolicy": json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 3})},
        },
    )
    stub.add_response("list_queue_tags", {"Tags": {}}, {"QueueUrl": QUEUE_URL})
    stub.add_response("tag_queue", {}, {"QueueUrl": QUEUE_URL, "Tags": lab.tags})
    info = sqs.ensure_queue(lab, "order-queue", dead_letter_target_arn=DLQ_ARN, max_receive_count=3)  # type: ignore[arg-type]
    assert info.updated == ("RedrivePolicy",) and not info.created


def test_ensure_queue_creates_with_tags_and_no_empty_attributes(lab: Any) -> None:
    stub = lab.stub("sqs")
    stub.add_client_error("get_queue_url", "AWS.SimpleQueueService.NonExistentQueue", http_status_code=400)
    stub.add_response(
        "create_queue",
        {"QueueUrl": QUEUE_URL},
        {
            "QueueName": "alice-order-queue",
            "tags": lab.tags,
            "Attributes": {
                "VisibilityTimeout": "30",
                "ReceiveMessageWaitTimeSeconds": "0",
                "MessageRetentionPeriod": "345600",
            },
        },
    )
    stub.add_response(
        "get_queue_attributes",
        {
            "Attributes": {
                "QueueArn": QUEUE_ARN,
                "VisibilityTimeout": "30",
                "ReceiveMessageWaitTimeSeconds": "0",
                "MessageRetentionPeriod": "345600",
            }
        },
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["All"]},
    )
    stub.add_response("list_queue_tags", {"Tags": lab.tags}, {"QueueUrl": QUEUE_URL})
    info = sqs.ensure_queue(lab, "order-queue")  # type: ignore[arg-type]
    assert info.created and info.arn == QUEUE_ARN


def test_queue_counts(lab: Any) -> None:
    lab.stub("sqs").add_response(
        "get_queue_attributes",
        {
            "Attributes": {
                "ApproximateNumberOfMessages": "4",
                "ApproximateNumberOfMessagesNotVisible": "2",
                "ApproximateNumberOfMessagesDelayed": "0",
            }
        },
        {"QueueUrl": QUEUE_URL, "AttributeNames": ANY},
    )
    counts = sqs.queue_counts(lab, QUEUE_URL)  # type: ignore[arg-type]
    assert counts == sqs.QueueCounts(visible=4, in_flight=2, delayed=0) and counts.total == 6


# --- event source mappings --------------------------------------------------------------------


def test_mapping_settings_and_diff() -> None:
    wanted = event_sources.wanted_settings(
        batch_size=10,
        bisect_batch_on_function_error=True,
        maximum_retry_attempts=2,
        maximum_record_age_in_seconds=3600,
        on_failure_destination_arn=DLQ_ARN,
    )
    current = {
        "BatchSize": 10,
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 2,
        "MaximumRecordAgeInSeconds": 3600,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": DLQ_ARN}},
        "ParallelizationFactor": 1,
    }
    assert event_sources.mapping_diff(current, wanted) == {}
    assert event_sources.mapping_diff({**current, "MaximumRetryAttempts": -1}, wanted) == {"MaximumRetryAttempts": 2}
    assert event_sources.mapping_diff({**current, "FunctionResponseTypes": []}, wanted) == {
        "FunctionResponseTypes": ["ReportBatchItemFailures"]
    }
    with pytest.raises(ValueError):
        event_sources.wanted_settings(batch_size=0)


def test_stream_statements_follow_sam_dynamodb_stream_read_policy() -> None:
    read, list_streams = event_sources.dynamodb_stream_statements(STREAM_ARN)
    assert read["Resource"] == [STREAM_ARN]
    assert set(read["Action"]) == {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
    assert list_streams["Action"] == ["dynamodb:ListStreams"]
    assert list_streams["Resource"] == [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/alice-orders/stream/*"]
    with pytest.raises(ValueError, match="stream ARN"):
        event_sources.dynamodb_stream_statement(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/alice-orders")


# --- redrive ----------------------------------------------------------------------------------


def test_find_task_by_handle_or_by_start_time() -> None:
    running = {"TaskHandle": "h-1", "Status": "RUNNING", "StartedTimestamp": 2_000}
    done = {"Status": "COMPLETED", "StartedTimestamp": 2_000}
    older = {"Status": "COMPLETED", "StartedTimestamp": 500}
    assert _find_task([running], "h-1", 1_000) is running
    assert _find_task([done, older], "h-1", 1_000) is done
    assert _find_task([older], "h-1", 1_000) is None
    assert _find_task([done], "h-1", 1_000, earlier=frozenset({2_000})) is None


def _move_tasks(stub: Stubber, *tasks: dict[str, Any]) -> None:
    """Queue one ListMessageMoveTasks answer on the DLQ: ``tasks``, each started at 10**13 unless it says."""
    results = [{"StartedTimestamp": 10**13, **task} for task in tasks]
    stub.add_response("list_message_move_tasks", {"Results": results}, {"SourceArn": DLQ_ARN, "MaxResults": 10})


def _task(status: str, moved: int, to_move: int, **more: Any) -> dict[str, Any]:
    return {
        "Status": status,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": to_move,
        **more,
    }


def _start_move_task(stub: Stubber) -> None:
    """No task yet, then StartMessageMoveTask answers handle ``h-9``."""
    _move_tasks(stub)
    stub.add_response("start_message_move_task", {"TaskHandle": "h-9"}, {"SourceArn": DLQ_ARN})


def test_redrive_refuses_while_another_task_runs(lab: Any) -> None:
    _move_tasks(lab.stub("sqs"), _task("RUNNING", 1, 5, TaskHandle="h-0", SourceArn=DLQ_ARN, StartedTimestamp=1))
    with pytest.raises(RedriveError, match=r"one active task per source queue.*cancel_redrive"):
        redrive(lab, DLQ_ARN)  # type: ignore[arg-type]


def test_redrive_waits_for_completion(lab: Any) -> None:
    stub = lab.stub("sqs")
    _start_move_task(stub)
    _move_tasks(stub, _task("RUNNING", 0, 2, TaskHandle="h-9"))
    _move_tasks(stub, _task("COMPLETED", 2, 2))
    result = redrive(lab, DLQ_ARN, timeout=10)  # type: ignore[arg-type]
    assert (result.status, result.moved, result.to_move, result.task_handle) == ("COMPLETED", 2, 2, "h-9")


def test_redrive_failed_task_is_an_error(lab: Any) -> None:
    stub = lab.stub("sqs")
    _start_move_task(stub)
    _move_tasks(stub, _task("FAILED", 0, 1, FailureReason="AccessDenied"))
    with pytest.raises(RedriveError, match=r"FAILED.*AccessDenied"):
        redrive(lab, DLQ_ARN, timeout=10)  # type: ignore[arg-type]


# --- stacks: role statements and worker environment -------------------------------------------


def _queues() -> OrderQueues:
    def q(name: str) -> sqs.QueueInfo:
        return sqs.QueueInfo(
            f"alice-{name}", f"https://sqs/{ACCOUNT}/alice-{name}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:alice-{name}"
        )

    return OrderQueues(q("order-queue"), q("order-dlq"), q("stream-failures"))


def test_role_statements_are_least_privilege() -> None:
    table = TableInfo("alice-orders", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/alice-orders", stream_arn=STREAM_ARN)
    queues = _queues()
    processor = stream_processor_role_statements(table, queues)
    resources = sorted(r for s in processor for r in s["Resource"])
    assert resources == sorted([STREAM_ARN, f"{table.arn}/stream/*", queues.queue.arn, queues.stream_failures.arn])
    assert all("*" not in a for s in processor for a in s["Action"])
    worker = order_worker_role_statements(table, queues)
    assert sorted(worker[0]["Action"]) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert worker[0]["Resource"] == [table.arn] and worker[1]["Resource"] == [queues.queue.arn]
    with pytest.raises(ValueError, match="enable_order_stream"):
        stream_processor_role_statements(TableInfo("alice-orders", table.arn), queues)


def test_worker_environment() -> None:
    table = TableInfo("alice-orders", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/alice-orders")
    env = order_worker_environment(
        table,
        _queues(),
        fault_injection=False,
        transient_failures=0,
        rules={"discontinued_skus": ["OLD-1", "OLD-2"], "max_order_total": "500"},
    )
    assert env["FAULT_INJECTION"] == "off" and env["TRANSIENT_FAILURES"] == "0"
    assert env["DISCONTINUED_SKUS"] == "OLD-1,OLD-2" and env["MAX_ORDER_TOTAL"] == "500"
    assert "BLOCKED_CUSTOMERS" not in env  # the worker's default (cust-666) applies
    assert env["ORDERS_TABLE"] == "alice-orders" and env["ORDER_QUEUE_URL"].endswith("alice-order-queue")
    with pytest.raises(ValueError, match="Unknown worker rules"):
        order_worker_environment(table, _queues(), rules={"max_quantity": 5})


# --- tracking: reading DLQ bodies -------------------------------------------------------------


def test_dlq_bodies_are_read_leniently() -> None:
    assert _order_of({"orderId": "o-1", "fault": "poison"})["fault"] == "poison"
    assert _order_of({"order": {"orderId": "o-2"}, "error": "boom"})["orderId"] == "o-2"
    assert _order_of("not json") == {}
    assert _reason_of({"error": {"message": "boom"}}) == "boom"
    assert _reason_of({"requestContext": {"condition": "RetryAttemptsExhausted"}}) == "RetryAttemptsExhausted"
    assert _reason_of({"orderId": "o-1"}) is None
