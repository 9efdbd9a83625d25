"""The DynamoDB-stream event source mapping of the local cloud: pure logic and the shard state machine.

The state machine runs here against a scripted function and an in-memory stream (no server);
tests/conformance/test_streams.py checks the same behaviours end to end (and on AWS).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from localcloud.services.awslambda import event_sources as les

STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2024-01-01T00:00:00.000"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:probe"


def record(key: str, seq: int, created: float = 1_700_000_000, behaviour: str = "") -> dict:
    image = {"orderId": {"S": key}}
    if behaviour:
        image["behaviour"] = {"S": behaviour}
    return {
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": STREAM_ARN,
        "dynamodb": {
            "Keys": {"orderId": {"S": key}},
            "NewImage": image,
            "SequenceNumber": f"{seq:021d}",
            "ApproximateCreationDateTime": created,
            "SizeBytes": 10,
            "StreamViewType": "NEW_IMAGE",
        },
    }


# ---------------------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    "payload, expected",
    [
        (None, ("success", [])),
        ("", ("success", [])),
        ({}, ("success", [])),
        ({"batchItemFailures": None}, ("success", [])),
        ({"batchItemFailures": []}, ("success", [])),
        ("null", ("success", [])),
        ({"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "1"}]}, ("partial", ["2", "1"])),
        ('{"batchItemFailures": [{"itemIdentifier": "1"}]}', ("partial", ["1"])),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, ("failure", [])),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, ("failure", [])),
        ({"batchItemFailures": [{"itemIdentifer": "1"}]}, ("failure", [])),  # bad key name
        ({"batchItemFailures": [{"itemIdentifier": "9"}]}, ("failure", [])),  # not in the batch
        ({"batchItemFailures": "1"}, ("failure", [])),
        ("not json", ("failure", [])),
    ],
)
def test_parse_batch_item_failures(payload, expected):
    assert les.parse_batch_item_failures(payload, {"1", "2"}) == expected


def test_bisect_splits_in_two_halves_in_order():
    assert les.bisect([1, 2, 3, 4]) == ([1, 2], [3, 4])
    assert les.bisect([1, 2, 3]) == ([1], [2, 3])
    assert les.bisect([1, 2]) == ([1], [2])
    with pytest.raises(ValueError):
        les.bisect([1])


def test_checkpoint_at_the_lowest_reported_sequence_number():
    records = [record(k, s) for k, s in (("a", 1), ("b", 2), ("c", 10), ("d", 11))]
    identifiers = [records[3]["dynamodb"]["SequenceNumber"], records[2]["dynamodb"]["SequenceNumber"]]
    lowest = les.lowest_sequence_number(identifiers)
    assert lowest == records[2]["dynamodb"]["SequenceNumber"]
    assert les.lowest_sequence_number(["9", "10"]) == "9", "numeric, not lexical, order"
    done, remaining = les.split_at_sequence(records, lowest)
    assert [les.sequence_number(r) for r in done] == [les.sequence_number(r) for r in records[:2]]
    assert remaining == records[2:]


def test_expired_prefix_counts_the_records_older_than_the_maximum_age():
    now = 1_700_000_000.0
    records = [record("a", 1, now - 300), record("b", 2, now - 61), record("c", 3, now - 10), record("d", 4, now - 500)]
    assert les.expired_prefix(records, 60, now) == 2
    assert les.expired_prefix(records, -1, now) == 0
    assert les.expired_prefix(records, 600, now) == 0


def test_failure_record_has_the_aws_invocation_record_shape():
    first, last = record("a", 7, 1_573_690_399), record("b", 9, 1_573_690_400)
    out = les.failure_record(
        request_id="r-1",
        function_arn=FUNCTION_ARN,
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        response={"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        records=[first, last],
        stream_arn=STREAM_ARN,
        shard_id="shardId-1",
        now=1_573_690_429.717,
    )
    assert out == {
        "requestContext": {
            "requestId": "r-1",
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-1",
            "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:20Z",
            "batchSize": 2,
            "streamArn": STREAM_ARN,
        },
    }


@pytest.mark.parametrize(
    "data, ok",
    [
        ({}, True),
        ({"MaximumRetryAttempts": -1}, True),
        ({"MaximumRetryAttempts": 10000}, True),
        ({"MaximumRetryAttempts": -2}, False),
        ({"MaximumRetryAttempts": 10001}, False),
        ({"MaximumRecordAgeInSeconds": -1}, True),
        ({"MaximumRecordAgeInSeconds": 60}, True),
        ({"MaximumRecordAgeInSeconds": 604800}, True),
        ({"MaximumRecordAgeInSeconds": 59}, False),
        ({"MaximumRecordAgeInSeconds": 0}, False),
        ({"MaximumRecordAgeInSeconds": 604801}, False),
    ],
)
def test_stream_setting_ranges(data, ok):
    assert (les.stream_setting_error(data) is None) is ok


def test_retry_delay_grows_and_is_capped():
    delays = [les.retry_delay(n) for n in range(1, 8)]
    assert delays[0] == les.RETRY_BASE_SECONDS
    assert delays == sorted(delays) and max(delays) == les.RETRY_MAX_SECONDS


# ---------------------------------------------------------------------------- the state machine


class FakeStream:
    """The three read functions of ministack.services.dynamodb the poller uses, over a list."""

    def __init__(self, records: list[dict]):
        self.records = records
        self._tables = {"orders": {"LatestStreamArn": STREAM_ARN}}

    def stream_start_position(self, table_name):
        return 0

    def stream_end_position(self, table_name):
        return len(self.records)

    def stream_records_since(self, table_name, position, limit):
        return self.records[position : position + limit]


class Harness:
    def __init__(self, monkeypatch, records, respond, **mapping):
        from ministack.core.arn import ArnParseError, parse_arn
        from ministack.services import lambda_svc

        self.calls: list[list[str]] = []
        self.discarded: list[dict] = []
        self.positions: dict = {}
        self.stream = FakeStream(records)
        self.inflight: dict[str, int] = {}
        self.dispatched: list[tuple] = []  # batches handed to a thread and not yet run (hold=True)
        self.hold = False

        def execute(func_rec, event):
            keys = [r["dynamodb"]["Keys"]["orderId"]["S"] for r in event["Records"]]
            self.calls.append(keys)
            return respond(event["Records"])

        fake = SimpleNamespace(
            parse_arn=parse_arn,
            ArnParseError=ArnParseError,
            get_account_id=lambda: "000000000000",
            get_region=lambda: "us-east-1",
            _dynamodb_stream_table_from_arn_spec=lambda_svc._dynamodb_stream_table_from_arn_spec,
            _get_func_record_for_qualifier=lambda name, qualifier: ({"config": {}}, {"Version": "$LATEST"}),
            _dynamodb_stream_positions=self.positions,
            _dynamodb_stream_positions_lock=threading.Lock(),
            _apply_filter_criteria=lambda records, esm: [
                r for r in records if r["dynamodb"]["Keys"]["orderId"]["S"] != "filtered"
            ],
            _execute_function=execute,
            _esm_wake=threading.Event(),
            _esm_inflight=self.inflight,
            _dispatch_esm_batch=self.dispatch,
        )
        monkeypatch.setattr(les, "_m", fake)
        monkeypatch.setattr(les, "_wake_at", lambda delay: None)
        monkeypatch.setattr(
            les,
            "_deliver",
            lambda destination, body: self.discarded.append(
                {"destination": destination, **__import__("json").loads(body)}
            ),
        )
        monkeypatch.setattr(les, "_states", {})
        self.esm = {
            "UUID": "esm-1",
            "EventSourceArn": STREAM_ARN,
            "FunctionName": "probe",
            "FunctionArn": FUNCTION_ARN,
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 100,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}},
            **mapping,
        }

    def dispatch(self, esm_id: str, fn, *args) -> None:
        """MiniStack's _dispatch_esm_batch, run at once (or held, to look at a batch in flight)."""
        self.inflight[esm_id] = self.inflight.get(esm_id, 0) + 1
        self.dispatched.append((esm_id, fn, args))
        if not self.hold:
            self.finish()

    def finish(self) -> None:
        esm_id, fn, args = self.dispatched.pop(0)
        try:
            fn(*args)
        finally:
            self.inflight[esm_id] -= 1
            if not self.inflight[esm_id]:
                del self.inflight[esm_id]

    def drive(self, max_steps: int = 50) -> None:
        """Poll until the stream is consumed, skipping the retry waits."""
        for _ in range(max_steps):
            les._poll_stream_mapping(self.esm, self.stream)
            state = les._states.get("esm-1")
            if state is not None:
                state.retry_at = 0.0
            if state is not None and not state.pending and self.positions.get("esm-1") == len(self.stream.records):
                return
        raise AssertionError(f"stream not consumed after {max_steps} polls: calls={self.calls}")


def raises_on(*poison: str):
    def respond(records):
        if any(r["dynamodb"]["Keys"]["orderId"]["S"] in poison for r in records):
            return {"error": True, "body": {"errorType": "ProbeFailure", "errorMessage": "poison"}}
        return {"body": None}

    return respond


def test_retries_stop_after_maximum_retry_attempts_and_the_shard_moves_on(monkeypatch):
    records = [record("poison", 1), record("good-1", 2), record("good-2", 3)]
    h = Harness(monkeypatch, records, raises_on("poison"), BatchSize=1, MaximumRetryAttempts=2)
    h.drive()
    assert h.calls == [["poison"]] * 3 + [["good-1"], ["good-2"]]
    [sent] = h.discarded
    assert sent["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert sent["requestContext"]["approximateInvokeCount"] == 3
    assert sent["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert sent["DDBStreamBatchInfo"]["batchSize"] == 1
    assert sent["DDBStreamBatchInfo"]["startSequenceNumber"] == records[0]["dynamodb"]["SequenceNumber"]
    assert h.positions["esm-1"] == 3


def test_one_batch_per_shard_in_flight_and_the_poll_thread_does_not_wait_for_it(monkeypatch):
    """ParallelizationFactor 1 (the default): "one concurrent batch per shard"
    (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html); the next batch starts
    from where the last one ended, so a shard's records reach the function in order."""
    records = [record(f"o{i}", i) for i in range(1, 5)]
    h = Harness(monkeypatch, records, raises_on(), BatchSize=2)
    h.hold = True
    assert les._poll_stream_mapping(h.esm, h.stream) is True  # dispatched, not yet run
    assert h.calls == [] and len(h.dispatched) == 1
    assert les._poll_stream_mapping(h.esm, h.stream) is False, "a second batch of the shard while one is in flight"
    assert len(h.dispatched) == 1
    h.finish()
    assert h.calls == [["o1", "o2"]] and h.positions["esm-1"] == 2
    assert les._poll_stream_mapping(h.esm, h.stream) is True
    h.finish()
    assert h.calls == [["o1", "o2"], ["o3", "o4"]] and h.positions["esm-1"] == 4


def test_zero_retries_discards_after_the_first_failure(monkeypatch):
    h = Harness(
        monkeypatch, [record("poison", 1), record("good", 2)], raises_on("poison"), BatchSize=10, MaximumRetryAttempts=0
    )
    h.drive()
    assert h.calls == [["poison", "good"]], "without bisect the whole batch fails and is discarded"
    assert h.discarded[0]["DDBStreamBatchInfo"]["batchSize"] == 2


def test_infinite_retries_keep_the_shard_blocked(monkeypatch):
    h = Harness(monkeypatch, [record("poison", 1), record("good", 2)], raises_on("poison"), BatchSize=1)
    with pytest.raises(AssertionError, match="not consumed"):
        h.drive(max_steps=20)
    assert h.calls == [["poison"]] * 20 and not h.discarded


def test_bisect_isolates_the_poison_record_without_counting_the_splits(monkeypatch):
    records = [record(k, i) for i, k in enumerate(["good-1", "good-2", "poison", "good-3"], start=1)]
    h = Harness(
        monkeypatch, records, raises_on("poison"), BatchSize=4, BisectBatchOnFunctionError=True, MaximumRetryAttempts=1
    )
    h.drive()
    assert h.calls == [
        ["good-1", "good-2", "poison", "good-3"],
        ["good-1", "good-2"],
        ["poison", "good-3"],
        ["poison"],
        ["poison"],
        ["good-3"],
    ]
    [sent] = h.discarded
    assert sent["DDBStreamBatchInfo"]["batchSize"] == 1
    assert sent["requestContext"]["approximateInvokeCount"] == 2


def test_report_batch_item_failures_checkpoints_before_the_lowest_reported_record(monkeypatch):
    records = [record(k, i) for i, k in enumerate(["a", "b", "poison", "c", "poison-2"], start=1)]

    def respond(batch):
        reported = [
            r["dynamodb"]["SequenceNumber"] for r in batch if r["dynamodb"]["Keys"]["orderId"]["S"].startswith("poison")
        ]
        return {"body": {"batchItemFailures": [{"itemIdentifier": s} for s in reversed(reported)]}}

    h = Harness(
        monkeypatch,
        records,
        respond,
        BatchSize=5,
        MaximumRetryAttempts=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    h.drive()
    assert h.calls == [["a", "b", "poison", "c", "poison-2"], ["poison", "c", "poison-2"]]
    [sent] = h.discarded
    assert sent["requestContext"]["approximateInvokeCount"] == 2
    assert "functionError" not in sent["responseContext"]
    assert sent["DDBStreamBatchInfo"]["startSequenceNumber"] == records[2]["dynamodb"]["SequenceNumber"]
    assert sent["DDBStreamBatchInfo"]["batchSize"] == 3


def test_an_invalid_batch_item_failures_response_fails_the_whole_batch(monkeypatch):
    h = Harness(
        monkeypatch,
        [record("a", 1), record("b", 2)],
        lambda batch: {"body": {"batchItemFailures": [{"itemIdentifier": "nope"}]}},
        BatchSize=10,
        MaximumRetryAttempts=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    h.drive()
    assert h.calls == [["a", "b"]]
    assert h.discarded[0]["DDBStreamBatchInfo"]["batchSize"] == 2


def test_batch_item_failures_are_ignored_without_the_response_type(monkeypatch):
    h = Harness(
        monkeypatch,
        [record("a", 1), record("b", 2)],
        lambda batch: {"body": {"batchItemFailures": [{"itemIdentifier": "x"}]}},
        BatchSize=10,
        MaximumRetryAttempts=0,
    )
    h.drive()
    assert h.calls == [["a", "b"]] and not h.discarded


def test_throttles_are_not_retry_attempts(monkeypatch):
    answers = iter([{"throttle": True, "error": True}, {"throttle": True, "error": True}, {"error": True, "body": {}}])
    h = Harness(monkeypatch, [record("a", 1)], lambda batch: next(answers), MaximumRetryAttempts=0)
    h.drive()
    assert len(h.calls) == 3
    assert h.discarded[0]["requestContext"]["approximateInvokeCount"] == 1


def test_records_older_than_the_maximum_age_are_discarded_without_invocation(monkeypatch):
    import time

    now = time.time()
    h = Harness(
        monkeypatch, [record("old", 1, now - 120), record("new", 2, now)], raises_on(), MaximumRecordAgeInSeconds=60
    )
    h.drive()
    assert h.calls == [["new"]]
    [sent] = h.discarded
    assert sent["requestContext"]["condition"] == "RecordAgeExceeded"
    assert sent["requestContext"]["approximateInvokeCount"] == 0
    assert sent["DDBStreamBatchInfo"]["batchSize"] == 1


def test_filtered_out_records_count_as_processed(monkeypatch):
    h = Harness(monkeypatch, [record("filtered", 1), record("kept", 2)], raises_on(), BatchSize=1)
    h.drive()
    assert h.calls == [["kept"]]


def test_no_destination_means_the_batch_is_just_dropped(monkeypatch):
    h = Harness(
        monkeypatch,
        [record("poison", 1), record("good", 2)],
        raises_on("poison"),
        BatchSize=1,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {}},
    )
    h.drive()
    assert h.calls == [["poison"], ["good"]] and not h.discarded


def test_the_patches_apply_to_the_pinned_ministack():
    """In a fresh interpreter (patching this one would change MiniStack for every other test)."""
    script = (
        "from localcloud.patches import apply_all\n"
        "from ministack.services import dynamodb, lambda_svc, sqs\n"
        "apply_all(); apply_all()\n"
        "assert lambda_svc._poll_dynamodb_streams.__orderlab_patched__\n"
        "assert lambda_svc._run_sqs_batch.__orderlab_patched__\n"
        "assert dynamodb._build_change_record.__orderlab_patched__\n"
        "assert {'StartMessageMoveTask', 'ListMessageMoveTasks', 'CancelMessageMoveTask'} <= set(sqs._HANDLERS)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
