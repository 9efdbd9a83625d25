"""Unit tests for the stream_processor Lambda (no AWS: the queue is an in-memory fake)."""

from __future__ import annotations

import copy
import doctest
import json
import os
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers.learn.events import (
    FakeLambdaContext,
    dynamodb_stream_event,
    dynamodb_stream_record,
)

STREAM_PROCESSOR_ROOT = Path(__file__).resolve().parents[2] / "lambdas" / "stream_processor"
ORDER_ID = "0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10"


def order_item(order_id: str = ORDER_ID, **overrides: Any) -> dict[str, Any]:
    """An order item as create_order writes it (money as Decimal)."""
    item: dict[str, Any] = {
        "orderId": order_id,
        "status": "PENDING",
        "customer": {"id": "cust-123", "name": "Ada Lovelace", "email": "ada@example.com"},
        "items": [
            {"sku": "BOOK-001", "quantity": 2, "unitPrice": Decimal("19.99")},
            {"sku": "PEN_42", "quantity": 1, "unitPrice": Decimal("5.00")},
        ],
        "total": Decimal("44.98"),
        "currency": "EUR",
        "itemCount": 2,
        "createdAt": "2024-05-01T12:30:45.678Z",
        "updatedAt": "2024-05-01T12:30:45.678Z",
    }
    item.update(overrides)
    return item


def insert(order_id: str = ORDER_ID, sequence_number: str | None = None, **overrides: Any) -> dict[str, Any]:
    return dynamodb_stream_record("INSERT", order_item(order_id, **overrides), sequence_number=sequence_number)


def order_ids(count: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{index:012d}" for index in range(count)]


class FakeOrderQueue:
    """An ``OrderQueue`` that records every ``SendMessageBatch`` call.

    ``fail`` decides, per call (1-based call number, entries), which entries fail:
    it returns ``FailedEntry`` objects. Accepted entries are appended to ``delivered``.
    """

    def __init__(self) -> None:
        from stream_processor.queue import FailedEntry

        self.FailedEntry = FailedEntry
        self.calls: list[list[dict[str, Any]]] = []
        self.delivered: list[dict[str, Any]] = []
        self.fail: Callable[[int, Sequence[Mapping[str, Any]]], list[Any]] = lambda call, entries: []
        self.raise_on_call: dict[int, Exception] = {}

    def send_batch(self, entries: Sequence[Mapping[str, Any]]) -> list[Any]:
        assert 1 <= len(entries) <= 10, "SendMessageBatch takes 1 to 10 entries"
        assert len({entry["Id"] for entry in entries}) == len(entries), "entry ids must be unique in a call"
        self.calls.append(copy.deepcopy([dict(entry) for entry in entries]))
        call = len(self.calls)
        if call in self.raise_on_call:
            raise self.raise_on_call[call]
        failed = self.fail(call, entries)
        failed_ids = {failure.id for failure in failed}
        self.delivered.extend(copy.deepcopy(dict(entry)) for entry in entries if entry["Id"] not in failed_ids)
        return failed

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(entry["MessageBody"]) for entry in self.delivered]


@pytest.fixture
def sp_handler() -> Any:
    from stream_processor import handler

    return handler


@pytest.fixture
def queue(sp_handler: Any, swap_dependency: Callable[..., Any]) -> FakeOrderQueue:
    return swap_dependency(sp_handler.set_queue, FakeOrderQueue())


@pytest.fixture
def sleeps(sp_handler: Any, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(sp_handler, "sleep", slept.append)
    return slept


def invoke(handler: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    return handler.lambda_handler(dynamodb_stream_event(records), FakeLambdaContext(function_name="stream-processor"))


# --------------------------------------------------------------------------- INSERT -> message


def test_insert_becomes_exactly_one_message(sp_handler, queue, sleeps):
    record = insert(sequence_number="4421584500000000017450439091")
    record["eventID"] = "c4ca4238a0b923820dcc509a6f75849b"
    record["dynamodb"]["ApproximateCreationDateTime"] = 1714566645.0

    response = invoke(sp_handler, [record])

    assert response == {"batchItemFailures": []}
    assert len(queue.calls) == 1
    (entry,) = queue.calls[0]
    assert set(entry) == {"Id", "MessageBody", "MessageAttributes"}
    assert json.loads(entry["MessageBody"]) == {
        "orderId": ORDER_ID,
        "customerId": "cust-123",
        "customerName": "Ada Lovelace",
        "items": [
            {"sku": "BOOK-001", "quantity": 2, "unitPrice": "19.99"},
            {"sku": "PEN_42", "quantity": 1, "unitPrice": "5.00"},  # stored as N "5": exact string again
        ],
        "total": "44.98",
        "currency": "EUR",
        "createdAt": "2024-05-01T12:30:45.678Z",
        "fault": None,
        "source": {
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "sequenceNumber": "4421584500000000017450439091",
            "approximateCreationDateTime": 1714566645.0,
        },
    }
    assert list(json.loads(entry["MessageBody"])) == [
        "orderId",
        "customerId",
        "customerName",
        "items",
        "total",
        "currency",
        "createdAt",
        "fault",
        "source",
    ]
    assert entry["MessageAttributes"] == {"orderId": {"DataType": "String", "StringValue": ORDER_ID}}
    assert sleeps == []


def test_stream_image_numbers_are_what_dynamodb_stores():
    """Guard for the factory: DynamoDB normalises 5.00 to "5" and the test relies on it."""
    record = insert()

    lines = record["dynamodb"]["NewImage"]["items"]["L"]
    assert lines[1]["M"]["unitPrice"] == {"N": "5"}
    assert lines[0]["M"]["quantity"] == {"N": "2"}
    assert record["dynamodb"]["Keys"] == {"orderId": {"S": ORDER_ID}}
    assert "OldImage" not in record["dynamodb"]


@pytest.mark.parametrize("fault", ["transient", "poison"])
def test_fault_is_carried_in_body_and_attribute(sp_handler, queue, fault):
    invoke(sp_handler, [insert(fault=fault)])

    (entry,) = queue.delivered
    assert json.loads(entry["MessageBody"])["fault"] == fault
    assert entry["MessageAttributes"] == {
        "orderId": {"DataType": "String", "StringValue": ORDER_ID},
        "fault": {"DataType": "String", "StringValue": fault},
    }


def test_money_and_quantities_keep_exact_values(sp_handler, queue):
    record = insert(
        items=[
            {"sku": "X", "quantity": Decimal(1000), "unitPrice": Decimal(100000)},
            {"sku": "Y", "quantity": 3, "unitPrice": Decimal("0.10")},
        ],
        total=Decimal("100000000.30"),
    )

    invoke(sp_handler, [record])

    body = queue.bodies()[0]
    assert body["items"] == [
        {"sku": "X", "quantity": 1000, "unitPrice": "100000.00"},
        {"sku": "Y", "quantity": 3, "unitPrice": "0.10"},
    ]
    assert body["total"] == "100000000.30"
    assert all(type(line["quantity"]) is int for line in body["items"])


def test_non_ascii_names_are_escaped_in_the_body(sp_handler, queue):
    invoke(sp_handler, [insert(customer={"id": "c-1", "name": "Zoë \u0007 Ω"})])

    (entry,) = queue.delivered
    assert entry["MessageBody"].isascii()
    assert json.loads(entry["MessageBody"])["customerName"] == "Zoë \u0007 Ω"


# --------------------------------------------------------------------------- MODIFY / REMOVE


def test_modify_and_remove_are_skipped(sp_handler, queue, logs):
    before = order_item()
    after = order_item(status="CONFIRMED", processedAt="2024-05-01T12:31:00.000Z")
    records = [
        dynamodb_stream_record("MODIFY", after, before),
        dynamodb_stream_record("REMOVE", None, after),
    ]

    response = invoke(sp_handler, records)

    assert response == {"batchItemFailures": []}
    assert queue.calls == []
    summary = [line for line in logs() if line["message"] == "Stream batch processed"]
    assert summary[0]["skipped"] == 2 and summary[0]["forwarded"] == 0


def test_skipped_records_are_logged_at_debug(sp_handler, queue, logs):
    sp_handler.logger.setLevel("DEBUG")
    try:
        invoke(sp_handler, [dynamodb_stream_record("REMOVE", None, order_item())])
    finally:
        sp_handler.logger.setLevel("INFO")

    skipped = [line for line in logs() if line["message"].startswith("Skipped stream record")]
    assert len(skipped) == 1
    assert skipped[0]["level"] == "DEBUG"
    assert skipped[0]["eventName"] == "REMOVE"
    assert skipped[0]["keys"] == {"orderId": ORDER_ID}


def test_only_inserts_of_a_mixed_batch_are_sent_in_order(sp_handler, queue):
    ids = order_ids(3)
    records = [
        insert(ids[0]),
        dynamodb_stream_record("MODIFY", order_item(ids[0], status="CONFIRMED"), order_item(ids[0])),
        insert(ids[1]),
        dynamodb_stream_record("REMOVE", None, order_item(ids[2])),
        insert(ids[2]),
    ]

    assert invoke(sp_handler, records) == {"batchItemFailures": []}
    assert [body["orderId"] for body in queue.bodies()] == [ids[0], ids[1], ids[2]]
    assert len(queue.calls) == 1


def test_empty_event_sends_nothing(sp_handler, queue):
    assert invoke(sp_handler, []) == {"batchItemFailures": []}
    assert queue.calls == []


# --------------------------------------------------------------------------- batching


def test_23_inserts_take_3_send_message_batch_calls(sp_handler, queue, sleeps):
    ids = order_ids(23)

    response = invoke(sp_handler, [insert(order_id) for order_id in ids])

    assert response == {"batchItemFailures": []}
    assert [len(call) for call in queue.calls] == [10, 10, 3]
    assert [body["orderId"] for body in queue.bodies()] == ids
    assert sleeps == []


def test_entry_ids_are_unique_per_call(sp_handler, queue):
    invoke(sp_handler, [insert(order_id) for order_id in order_ids(12)])

    for call in queue.calls:
        entry_ids = [entry["Id"] for entry in call]
        assert len(set(entry_ids)) == len(entry_ids)
        assert all(
            entry_id.replace("-", "").replace("_", "").isalnum() and len(entry_id) <= 80 for entry_id in entry_ids
        )


# --------------------------------------------------------------------------- SendMessageBatch failures


def fail_ids(queue: FakeOrderQueue, plan: dict[int, set[str]], *, sender_fault: bool = False) -> None:
    """Make the entries whose body has one of ``plan[call]``'s order ids fail on that call."""

    def fail(call: int, entries: Sequence[Mapping[str, Any]]) -> list[Any]:
        doomed = plan.get(call, set())
        return [
            queue.FailedEntry(id=entry["Id"], code="InternalError", message="try again", sender_fault=sender_fault)
            for entry in entries
            if json.loads(entry["MessageBody"])["orderId"] in doomed
        ]

    queue.fail = fail


def test_failed_entry_is_retried_alone_then_succeeds(sp_handler, queue, sleeps):
    ids = order_ids(3)
    fail_ids(queue, {1: {ids[1]}})

    response = invoke(sp_handler, [insert(order_id) for order_id in ids])

    assert response == {"batchItemFailures": []}
    assert [len(call) for call in queue.calls] == [3, 1]
    assert json.loads(queue.calls[1][0]["MessageBody"])["orderId"] == ids[1]
    assert queue.calls[1][0] == next(e for e in queue.calls[0] if e["Id"] == queue.calls[1][0]["Id"])
    assert sorted(body["orderId"] for body in queue.bodies()) == sorted(ids)
    assert sleeps == [0.1]


def test_entry_still_failing_is_reported_with_its_sequence_number(sp_handler, queue, sleeps, logs):
    ids = order_ids(4)
    sequences = [
        "4421584500000000017450439100",
        "4421584500000000017450439200",
        "4421584500000000017450439300",
        "4421584500000000017450439400",
    ]
    fail_ids(queue, {1: {ids[2]}, 2: {ids[2]}, 3: {ids[2]}})

    response = invoke(sp_handler, [insert(i, s) for i, s in zip(ids, sequences, strict=True)])

    assert response == {"batchItemFailures": [{"itemIdentifier": sequences[2]}]}
    assert [len(call) for call in queue.calls] == [4, 1, 1]  # bounded: 3 attempts in all
    assert sleeps == [0.1, 0.2]
    errors = [line for line in logs() if line["message"].startswith("Order message not accepted")]
    assert [(line["orderId"], line["sequenceNumber"], line["code"]) for line in errors] == [
        (ids[2], sequences[2], "InternalError")
    ]


def test_lowest_failed_sequence_number_is_reported(sp_handler, queue, sleeps):
    ids = order_ids(15)
    # Sequence numbers grow with the record's position, but have different lengths.
    sequences = [str(10**20 * 9 + index) for index in range(9)] + [str(10**21 + index) for index in range(6)]
    always = {ids[12], ids[9]}  # ids[9] ends the first chunk of 10, ids[12] is in the second; plus ids[8]
    fail_ids(queue, {call: always | {ids[8]} for call in range(1, 10)})

    response = invoke(sp_handler, [insert(i, s) for i, s in zip(ids, sequences, strict=True)])

    # ids[8] ("9000...08", 21 digits) is lower than ids[9] ("1000...0", 22 digits).
    assert response == {"batchItemFailures": [{"itemIdentifier": sequences[8]}]}
    delivered = {body["orderId"] for body in queue.bodies()}
    assert delivered == set(ids) - always - {ids[8]}  # every other record was still sent


def test_sender_fault_is_not_retried_but_reported(sp_handler, queue, sleeps):
    ids = order_ids(2)
    fail_ids(queue, {1: {ids[0]}}, sender_fault=True)
    records = [insert(order_id) for order_id in ids]

    response = invoke(sp_handler, records)

    assert response == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    assert len(queue.calls) == 1 and sleeps == []


def test_send_error_reports_the_chunk_and_stops(sp_handler, queue, sleeps, logs):
    ids = order_ids(25)
    records = [insert(order_id) for order_id in ids]
    queue.raise_on_call[2] = RuntimeError("SQS is down")

    response = invoke(sp_handler, records)

    assert response == {"batchItemFailures": [{"itemIdentifier": records[10]["dynamodb"]["SequenceNumber"]}]}
    assert [len(call) for call in queue.calls] == [10, 10]  # the third chunk is resent by Lambda's retry
    summary = next(line for line in logs() if line["message"] == "Stream batch processed")
    assert (summary["forwarded"], summary["failed"], summary["notSent"]) == (10, 10, 5)


# --------------------------------------------------------------------------- malformed records


def test_malformed_image_is_logged_with_its_keys_and_reported(sp_handler, queue, logs):
    ids = order_ids(3)
    bad = insert(ids[1])
    del bad["dynamodb"]["NewImage"]["total"]
    records = [insert(ids[0]), bad, insert(ids[2])]

    response = invoke(sp_handler, records)

    assert response == {"batchItemFailures": [{"itemIdentifier": bad["dynamodb"]["SequenceNumber"]}]}
    assert [body["orderId"] for body in queue.bodies()] == [ids[0], ids[2]]  # the others still go out
    (error,) = [line for line in logs() if line["message"].startswith("Malformed stream record")]
    assert error["level"] == "ERROR"
    assert error["keys"] == {"orderId": ids[1]}
    assert error["orderId"] == ids[1]
    assert error["reason"] == "total: missing"
    assert error["sequenceNumber"] == bad["dynamodb"]["SequenceNumber"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(lambda image: image.clear(), "INSERT record has no NewImage", id="empty-image"),
        pytest.param(lambda image: image.update(total={"S": "44.98"}), "total: must be a number", id="total-string"),
        pytest.param(
            lambda image: image.update(total={"Q": "1"}), "NewImage is not valid DynamoDB JSON", id="not-dynamodb-json"
        ),
        pytest.param(lambda image: image.update(items={"L": []}), "items: must be a non-empty list", id="no-items"),
        pytest.param(
            lambda image: image["items"]["L"][0]["M"].update(quantity={"N": "1.5"}),
            "items[0].quantity: must be a whole number",
            id="fractional-quantity",
        ),
        pytest.param(lambda image: image.pop("customer"), "customer: missing", id="no-customer"),
        pytest.param(lambda image: image.update(fault={"N": "1"}), "fault: must be a string", id="fault-number"),
    ],
)
def test_malformed_images(sp_handler, queue, mutate, reason, logs):
    record = insert()
    mutate(record["dynamodb"]["NewImage"])

    response = invoke(sp_handler, [record])

    assert response == {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
    assert queue.calls == []
    (error,) = [line for line in logs() if line["message"].startswith("Malformed stream record")]
    assert error["reason"].startswith(reason)


def test_insert_without_new_image_is_reported(sp_handler, queue):
    record = insert()
    del record["dynamodb"]["NewImage"]  # e.g. a KEYS_ONLY stream

    response = invoke(sp_handler, [record])

    assert response["batchItemFailures"] == [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]


def test_malformed_and_send_failures_report_the_lowest(sp_handler, queue, sleeps):
    ids = order_ids(4)
    records = [insert(order_id) for order_id in ids]
    del records[3]["dynamodb"]["NewImage"]["currency"]
    fail_ids(queue, {1: {ids[1]}, 2: {ids[1]}, 3: {ids[1]}})

    response = invoke(sp_handler, records)

    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}


# --------------------------------------------------------------------------- pure functions


def test_to_order_message_returns_none_for_non_inserts():
    from stream_processor.messages import to_order_message

    assert to_order_message(dynamodb_stream_record("MODIFY", order_item(), order_item())) is None
    assert to_order_message(dynamodb_stream_record("REMOVE", None, order_item())) is None
    assert to_order_message(insert())["orderId"] == ORDER_ID


def test_chunked_keeps_order_and_sizes():
    from stream_processor.messages import chunked

    chunks = list(chunked(list(range(23))))
    assert [len(chunk) for chunk in chunks] == [10, 10, 3]
    assert [item for chunk in chunks for item in chunk] == list(range(23))
    assert list(chunked(range(20), 10)) == [list(range(10)), list(range(10, 20))]
    with pytest.raises(ValueError):
        list(chunked([1], 0))


def test_failure_to_report_compares_sequence_numbers_as_numbers():
    from stream_processor.messages import failure_to_report

    assert failure_to_report(["200", "1000", "300"]) == "200"
    assert failure_to_report(["111", "99"]) == "99"
    assert failure_to_report([]) is None


def test_stream_processor_docstring_examples_hold():
    from stream_processor import messages, queue

    for module in (messages, queue):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --------------------------------------------------------------------------- SqsOrderQueue (botocore Stubber)


QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"


def test_sqs_queue_sends_the_entries_and_maps_failures(stubbed_client):
    from stream_processor.messages import send_entry, to_order_message
    from stream_processor.queue import FailedEntry, SqsOrderQueue

    client, stubber = stubbed_client("sqs")
    entries = [
        send_entry(to_order_message(insert(order_id, fault="poison")), f"r{index}")
        for index, order_id in enumerate(order_ids(3))
    ]
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": [{"Id": "r0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
            "Failed": [{"Id": "r1", "SenderFault": False, "Code": "InternalError", "Message": "boom"}],
        },
        {"QueueUrl": QUEUE_URL, "Entries": entries},
    )

    failed = SqsOrderQueue(QUEUE_URL, client).send_batch(entries)

    # r2 was in neither list: treated as failed, never silently dropped.
    assert failed == [
        FailedEntry("r1", "InternalError", "boom", False),
        FailedEntry("r2", "NotReported", "SQS reported neither success nor failure", False),
    ]


def test_sqs_queue_call_errors_propagate(stubbed_client):
    from botocore.exceptions import ClientError
    from stream_processor.queue import SqsOrderQueue

    client, stubber = stubbed_client("sqs")
    stubber.add_client_error("send_message_batch", service_error_code="AccessDenied", http_status_code=403)

    with pytest.raises(ClientError):
        SqsOrderQueue(QUEUE_URL, client).send_batch([{"Id": "r0", "MessageBody": "{}"}])


def test_default_queue_is_sqs_built_lazily(sp_handler, handler_client, default_dependency):
    from stream_processor.queue import SqsOrderQueue

    sentinel = handler_client("sqs", object())
    built = default_dependency(sp_handler.get_queue, sp_handler.set_queue)

    assert isinstance(built, SqsOrderQueue)
    assert built.queue_url == os.environ["ORDER_QUEUE_URL"]
    assert built._client is sentinel


def test_missing_queue_url_fails_at_import(cold_start_error):
    stderr = cold_start_error("stream_processor", unset=["ORDER_QUEUE_URL"])

    assert "Environment variable ORDER_QUEUE_URL is required" in stderr


# --------------------------------------------------------------------------- the zip layout


def test_zip_layout_works_standalone(lambda_bundle, run_standalone):
    """Only the stdlib, the runtime's boto3 and what requirements.txt installs are available."""
    bundle = lambda_bundle(STREAM_PROCESSOR_ROOT)
    top = {path.name for path in bundle.iterdir()}
    assert {"stream_processor", "aws_lambda_powertools", "typing_extensions.py", "jmespath"} <= top
    assert not {"boto3", "botocore"} & top, "the runtime provides boto3; do not ship it"

    event = dynamodb_stream_event(
        [
            dynamodb_stream_record("MODIFY", order_item(status="CONFIRMED"), order_item()),
            insert(),
        ]
    )
    code = (
        "import json, types, sys\n"
        "assert not any('site-packages' in p for p in sys.path), sys.path\n"
        "from stream_processor import handler, messages\n"
        "event = json.loads(sys.argv[3])\n"
        "class Queue:\n"
        "    sent = []\n"
        "    def send_batch(self, entries):\n"
        "        self.sent.extend(entries); return []\n"
        "queue = Queue(); handler.set_queue(queue)\n"
        "ctx = types.SimpleNamespace(function_name='stream-processor', memory_limit_in_mb=256,\n"
        "    invoked_function_arn='arn:aws:lambda:us-east-1:123456789012:function:stream-processor',\n"
        "    aws_request_id='req-1')\n"
        "response = handler.lambda_handler(event, ctx)\n"
        "assert response == {'batchItemFailures': []}, response\n"
        "assert len(queue.sent) == 1 and json.loads(queue.sent[0]['MessageBody'])['total'] == '44.98'\n"
        "import boto3; assert 'lambda-runtime' in boto3.__file__, boto3.__file__\n"
        "print('ok')\n"
    )
    result = run_standalone(
        bundle, code, {"ORDER_QUEUE_URL": "https://sqs.example/q"}, extra_args=[json.dumps(event, default=str)]
    )

    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
