"""The local cloud's SQS message move tasks (DLQ redrive): the pure parts."""

from __future__ import annotations

import json

from localcloud.services.sqs import responses as move

DLQ = "arn:aws:sqs:us-east-1:000000000000:orders-dlq"


def queue(name: str, redrive_to: str | None = None) -> dict:
    attributes = {"QueueArn": f"arn:aws:sqs:us-east-1:000000000000:{name}"}
    if redrive_to:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": redrive_to, "maxReceiveCount": "3"})
    return {"name": name, "attributes": attributes, "messages": []}


def test_task_handle_round_trips_and_rejects_garbage():
    handle = move.encode_task_handle("task-1", DLQ)
    assert move.decode_task_handle(handle) == ("task-1", DLQ)
    assert move.decode_task_handle("not a handle") is None
    assert move.decode_task_handle("e30=") is None  # base64 of {}


def test_dead_letter_sources_are_the_queues_whose_redrive_policy_targets_it():
    queues = [
        queue("orders", DLQ),
        queue("orders-dlq"),
        queue("other", "arn:aws:sqs:us-east-1:000000000000:x"),
        {"name": "broken", "attributes": {"QueueArn": "b", "RedrivePolicy": "{not json"}},
    ]
    assert move.dead_letter_sources(queues, DLQ) == ["arn:aws:sqs:us-east-1:000000000000:orders"]
    assert move.dead_letter_sources(queues, "arn:aws:sqs:us-east-1:000000000000:orders") == []


def test_a_redriven_message_is_a_new_message_with_the_same_body_and_attributes():
    original = {
        "id": "m-1",
        "body": "hello",
        "md5_body": "5d41402abc4b2a76b9719d911017c592",
        "md5_attrs": "abc",
        "receipt_handle": "rh",
        "sent_at": 1.0,
        "visible_at": 1.0,
        "receive_count": 3,
        "first_receive_at": 2.0,
        "message_attributes": {"kind": {"DataType": "String", "StringValue": "x"}},
        "sys": {
            "SenderId": "AIDA",
            "SentTimestamp": "1000",
            "DeadLetterQueueSourceArn": "arn:src",
            "AWSTraceHeader": "Root=1",
        },
        "group_id": None,
        "dedup_id": None,
        "seq": None,
    }
    destination = {"is_fifo": False}
    moved = move.redriven_message(original, destination, now=100.0, delay=5, account_id="000000000000")
    assert moved["id"] != "m-1"
    assert moved["body"] == "hello" and moved["md5_body"] == original["md5_body"]
    assert moved["message_attributes"] == original["message_attributes"]
    assert moved["message_attributes"] is not original["message_attributes"]
    assert moved["receive_count"] == 0 and moved["first_receive_at"] is None and moved["receipt_handle"] is None
    assert moved["sent_at"] == 100.0 and moved["visible_at"] == 105.0
    assert moved["sys"] == {"SenderId": "AIDA", "SentTimestamp": "100000", "AWSTraceHeader": "Root=1"}


def test_a_message_redriven_to_a_fifo_queue_gets_the_next_sequence_number():
    destination = {"is_fifo": True, "fifo_seq": 41}
    moved = move.redriven_message({"id": "m", "body": "b", "group_id": "g"}, destination, 1.0, 0, "000000000000")
    assert moved["seq"] == "00000000000000000042" and moved["group_id"] == "g"


def test_next_to_move_takes_the_oldest_visible_message_of_the_snapshot():
    messages = [
        {"id": "new", "visible_at": 0},
        {"id": "a", "visible_at": 50},
        {"id": "b", "visible_at": 5},
        {"id": "c", "visible_at": 7},
    ]
    assert move.next_to_move(messages, {"a", "b", "c"}, now=10)[0]["id"] == "b"
    assert move.next_to_move(messages, {"a"}, now=10) == (None, 40)
    assert move.next_to_move(messages, set(), now=10) == (None, None)


def test_list_entry_shows_the_handle_only_while_running():
    task = move.MoveTask(
        task_id="t", source_arn=DLQ, destination_arn=None, rate=None, to_move=set(), started_ms=123, total=2
    )
    assert task.entry() == {
        "Status": "RUNNING",
        "SourceArn": DLQ,
        "TaskHandle": task.handle,
        "ApproximateNumberOfMessagesMoved": 0,
        "ApproximateNumberOfMessagesToMove": 2,
        "StartedTimestamp": 123,
    }
    task.status, task.moved, task.rate, task.destination_arn = move.COMPLETED, 2, 10, "arn:dest"
    assert task.entry() == {
        "Status": "COMPLETED",
        "SourceArn": DLQ,
        "DestinationArn": "arn:dest",
        "MaxNumberOfMessagesPerSecond": 10,
        "ApproximateNumberOfMessagesMoved": 2,
        "ApproximateNumberOfMessagesToMove": 2,
        "StartedTimestamp": 123,
    }
    task.status, task.failure_reason = move.FAILED, "gone"
    assert task.entry()["FailureReason"] == "gone"
