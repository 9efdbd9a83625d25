"""Lambda event source mappings (MiniStack ``services/lambda_svc.py``, the ESM poller).

What it changes and why: docs/local-cloud-services.md, `localcloud/services/awslambda/event_sources.py`.

>>> is_stream_source("arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000")
True
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.patches import PatchError, patch_source, wrap

logger = logging.getLogger("localcloud.esm")

DEFAULT_STREAM_BATCH_SIZE = 100
RETRY_BASE_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0
THROTTLE_RETRY_SECONDS = 0.5
WAKE_SLACK_SECONDS = 0.01
FALLBACK_SHARD_ID = "shardId-00000000000000000000-00000000"
STREAM_DEFAULTS = {
    "MaximumRetryAttempts": -1,
    "MaximumRecordAgeInSeconds": -1,
    "BisectBatchOnFunctionError": False,
    "ParallelizationFactor": 1,
}
RETRY_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


# ---------------------------------------------------------------------------
# Pure logic (unit-tested in tests/unit/test_localcloud_lambda_event_sources.py)
# ---------------------------------------------------------------------------


def iso_seconds(epoch: float) -> str:
    """``2019-11-14T00:13:19Z`` (the approximateArrival fields)."""
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(epoch: float) -> str:
    """``2019-11-14T00:13:49.717Z`` (the invocation record's timestamp)."""
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def bisect(records: list) -> tuple[list, list]:
    """Split a failed batch in two (BisectBatchOnFunctionError); needs at least two records."""
    if len(records) < 2:
        raise ValueError("a batch of one record cannot be split")
    middle = len(records) // 2
    return records[:middle], records[middle:]


def parse_batch_item_failures(payload: Any, valid_ids: set[str]) -> tuple[str, list[str]]:
    """Classify a function response under ReportBatchItemFailures.

    Returns ``("success", [])``, ``("partial", [identifiers])`` or ``("failure", [])``: an
    empty or null list (or no such field) is success; an empty, null, badly named or unknown
    ``itemIdentifier``, or a string response that is not JSON, fails the whole batch.
    """
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8", errors="replace")
    if isinstance(payload, str):
        text = payload.strip()
        if not text:
            return "success", []
        try:
            payload = json.loads(text)
        except ValueError:
            return "failure", []
    if not isinstance(payload, dict):
        return "success", []
    failures = payload.get("batchItemFailures")
    if failures is None:
        return "success", []
    if not isinstance(failures, list):
        return "failure", []
    if not failures:
        return "success", []
    identifiers: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or not identifier or identifier not in valid_ids:
            return "failure", []
        identifiers.append(identifier)
    return "partial", identifiers


def sequence_number(record: dict) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def lowest_sequence_number(identifiers: list[str]) -> str:
    """The checkpoint of a partial failure: "the record with the lowest sequence number"."""
    return min(identifiers, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))


def split_at_sequence(records: list[dict], sequence: str) -> tuple[list[dict], list[dict]]:
    """(records before ``sequence``: checkpointed, records from ``sequence`` on: retried)."""
    for index, record in enumerate(records):
        if sequence_number(record) == sequence:
            return records[:index], records[index:]
    return [], records


def expired_prefix(records: list[dict], max_age_seconds: int, now: float) -> int:
    """How many leading records are older than MaximumRecordAgeInSeconds (-1: none)."""
    if max_age_seconds is None or max_age_seconds < 0:
        return 0
    count = 0
    for record in records:
        created = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
        if created is None or now - float(created) <= max_age_seconds:
            break
        count += 1
    return count


def retry_delay(attempts: int) -> float:
    return min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


def stream_batch_info(records: list[dict], *, stream_arn: str, shard_id: str, now: float) -> dict[str, Any]:
    """``DDBStreamBatchInfo``: which records a discarded batch held (Lambda and Pipes send the same)."""
    first = records[0].get("dynamodb") or {}
    last = records[-1].get("dynamodb") or {}
    return {
        "shardId": shard_id,
        "startSequenceNumber": str(first.get("SequenceNumber", "")),
        "endSequenceNumber": str(last.get("SequenceNumber", "")),
        "approximateArrivalOfFirstRecord": iso_seconds(first.get("ApproximateCreationDateTime", now)),
        "approximateArrivalOfLastRecord": iso_seconds(last.get("ApproximateCreationDateTime", now)),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }


def stream_failure_record(
    request_context: dict[str, Any],
    response_context: dict[str, Any],
    *,
    records: list[dict],
    stream_arn: str,
    shard_id: str,
    now: float,
) -> dict[str, Any]:
    """An invocation record of a discarded stream batch (Lambda's, and a pipe's ``DeadLetterConfig``'s).

    >>> record = stream_failure_record({"condition": "RetryAttemptsExhausted"}, {}, stream_arn="arn:s",
    ...                                records=[{"dynamodb": {"SequenceNumber": "1"}}], shard_id="shard-1", now=0)
    >>> record["timestamp"], record["DDBStreamBatchInfo"]["batchSize"]
    ('1970-01-01T00:00:00.000Z', 1)
    """
    return {
        "requestContext": request_context,
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": iso_millis(now),
        "DDBStreamBatchInfo": stream_batch_info(records, stream_arn=stream_arn, shard_id=shard_id, now=now),
    }


def failure_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    response: dict[str, Any] | None,
    records: list[dict],
    stream_arn: str,
    shard_id: str,
    now: float,
) -> dict[str, Any]:
    """The invocation record a discarded DynamoDB-stream batch sends to its on-failure destination."""
    context = {
        "requestId": request_id,
        "functionArn": function_arn,
        "condition": condition,
        "approximateInvokeCount": invoke_count,
    }
    return stream_failure_record(
        context, dict(response or {}), records=records, stream_arn=stream_arn, shard_id=shard_id, now=now
    )


def int_setting(esm: dict, name: str, default: int) -> int:
    value = esm.get(name, default)
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def stream_setting_error(data: dict) -> str | None:
    """Why MaximumRetryAttempts / MaximumRecordAgeInSeconds are out of AWS's range, or None."""
    if "MaximumRetryAttempts" in data and data["MaximumRetryAttempts"] is not None:
        value = data["MaximumRetryAttempts"]
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= 10000:
            return f"MaximumRetryAttempts must be between -1 and 10000, got {value!r}."
    if "MaximumRecordAgeInSeconds" in data and data["MaximumRecordAgeInSeconds"] is not None:
        value = data["MaximumRecordAgeInSeconds"]
        if isinstance(value, bool) or not isinstance(value, int) or not (value == -1 or 60 <= value <= 604800):
            return f"MaximumRecordAgeInSeconds must be -1 or between 60 and 604800, got {value!r}."
    return None


def with_stream_defaults(data: dict) -> dict:
    """A CreateEventSourceMapping request for a stream with AWS's defaults filled in; others as they are."""
    if not is_stream_source(str(data.get("EventSourceArn", ""))):
        return data
    data = {**STREAM_DEFAULTS, "DestinationConfig": {"OnFailure": {}}, **data}
    data.setdefault("BatchSize", DEFAULT_STREAM_BATCH_SIZE)
    return data


def is_stream_source(arn: str) -> bool:
    return (":dynamodb:" in arn and "/stream/" in arn) or ":kinesis:" in arn


# ---------------------------------------------------------------------------
# Per-mapping shard state
# ---------------------------------------------------------------------------


@dataclass
class Segment:
    """Records between the checkpoint and the read position, as one batch to (re)try."""

    records: list[dict]
    attempts: int = 0  # failed attempts that count against MaximumRetryAttempts
    invokes: int = 0  # invocations that carried these records
    last_request_id: str | None = None
    last_response: dict[str, Any] | None = None


@dataclass
class ShardState:
    pending: deque = field(default_factory=deque)  # Segments, contiguous from the checkpoint
    retry_at: float = 0.0


_states: dict[str, ShardState] = {}
_states_lock = threading.Lock()
_m: Any = None  # ministack.services.lambda_svc, bound by apply()


def _state(esm_id: str) -> ShardState:
    with _states_lock:
        state = _states.get(esm_id)
        if state is None:
            state = _states[esm_id] = ShardState()
        return state


def forget(esm_id: str) -> None:
    with _states_lock:
        _states.pop(esm_id, None)


def _wake_at(delay: float) -> None:
    """Wake the poll loop when a retry is due (a little after, so the retry is not early)."""
    timer = threading.Timer(max(delay, 0.0) + WAKE_SLACK_SECONDS, _m._esm_wake.set)
    timer.daemon = True
    timer.start()


def _advance(esm_id: str, count: int) -> None:
    if count <= 0:
        return
    with _m._dynamodb_stream_positions_lock:
        if esm_id in _m._dynamodb_stream_positions:  # not deleted while its batch ran
            _m._dynamodb_stream_positions[esm_id] += count


def _invoke(func_rec: dict, event: dict, request_id: str) -> dict:
    from localcloud.services.awslambda import service as lambda_service

    token = lambda_service._pinned_request_id.set([request_id])  # the invocation takes this request id
    try:
        return _m._execute_function(func_rec, event)
    finally:
        lambda_service._pinned_request_id.reset(token)


def _deliver(destination: str, body: str) -> None:
    """Send an invocation record to an SQS queue or SNS topic, as Lambda's poller does."""
    try:
        spec = _m.parse_arn(destination)
    except _m.ArnParseError:
        logger.warning("ESM on-failure destination %s is not an ARN", destination)
        return
    try:
        if spec.service == "sqs":
            from ministack.services import sqs

            queue = sqs._queue_by_arn(destination)
            if queue is None:
                logger.warning("ESM on-failure destination %s does not exist", destination)
                return
            with sqs._queues_lock:
                sqs._act_send_message({"QueueUrl": queue["url"], "MessageBody": body}, queue["url"])
        elif spec.service == "sns":
            from ministack.services import sns

            if sns.publish_internal(destination, body) is None:
                logger.warning("ESM on-failure destination %s does not exist", destination)
        else:
            logger.warning("ESM on-failure destination %s: only SQS and SNS are supported here", destination)
    except Exception:
        logger.exception("ESM on-failure delivery to %s failed", destination)


def _discard(esm: dict, records: list[dict], condition: str, segment: Segment, shard_id: str) -> None:
    destination = ((esm.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    logger.warning(
        "ESM %s: discarding %d DynamoDB stream record(s) (%s) after %d invocation(s)%s",
        esm.get("UUID"),
        len(records),
        condition,
        segment.invokes,
        f"; invocation record to {destination}" if destination else "",
    )
    if not destination or not records:
        return
    record = failure_record(
        request_id=segment.last_request_id or str(uuid.uuid4()),
        function_arn=esm.get("FunctionArn", ""),
        condition=condition,
        invoke_count=segment.invokes,
        response=segment.last_response,
        records=records,
        stream_arn=esm.get("EventSourceArn", ""),
        shard_id=shard_id,
        now=time.time(),
    )
    _deliver(destination, json.dumps(record))


def _shard_id() -> str:
    try:
        from ministack.services import dynamodb_streams

        return str(getattr(dynamodb_streams, "_DEFAULT_SHARD_ID", FALLBACK_SHARD_ID))
    except ImportError:
        return FALLBACK_SHARD_ID


def _poll_stream_mapping(esm: dict, ddb: Any) -> bool:
    """One step for one DynamoDB-stream mapping; True when the shard moved (poll again at once)."""
    m = _m
    if not esm.get("Enabled", True):
        return False
    source_arn = esm.get("EventSourceArn", "")
    try:
        spec = m.parse_arn(source_arn)
    except m.ArnParseError:
        return False
    if spec.service != "dynamodb" or spec.account_id != m.get_account_id() or spec.region != m.get_region():
        return False
    table_stream = m._dynamodb_stream_table_from_arn_spec(spec)
    if table_stream is None:
        return False
    table_name = table_stream[0]
    func_rec, config = m._get_func_record_for_qualifier(esm["FunctionName"], esm.get("Qualifier"))
    if func_rec is None:
        return False
    table = ddb._tables.get(table_name)
    if not table or table.get("LatestStreamArn") != source_arn:
        return False

    esm_id = esm["UUID"]
    if m._esm_inflight.get(esm_id, 0):
        return False  # this shard's batch is still with the function
    state = _state(esm_id)
    now = time.time()
    if state.retry_at > now:
        return False
    horizon = ddb.stream_start_position(table_name)
    with m._dynamodb_stream_positions_lock:
        if esm_id not in m._dynamodb_stream_positions:
            start = horizon if esm.get("StartingPosition") == "TRIM_HORIZON" else ddb.stream_end_position(table_name)
            m._dynamodb_stream_positions[esm_id] = start
        position = m._dynamodb_stream_positions[esm_id]
        if position < horizon:  # the records at the checkpoint expired (24 h retention)
            m._dynamodb_stream_positions[esm_id] = position = horizon
            state.pending.clear()
    if not state.pending:
        batch_size = int_setting(esm, "BatchSize", DEFAULT_STREAM_BATCH_SIZE) or DEFAULT_STREAM_BATCH_SIZE
        records = ddb.stream_records_since(table_name, position, batch_size)
        if not records:
            return False
        state.pending.append(Segment(list(records)))
    segment = state.pending[0]
    shard_id = _shard_id()

    expired = expired_prefix(segment.records, int_setting(esm, "MaximumRecordAgeInSeconds", -1), now)
    if expired:
        _discard(esm, segment.records[:expired], RECORD_AGE_EXCEEDED, segment, shard_id)
        _advance(esm_id, expired)
        segment.records = segment.records[expired:]
        if not segment.records:
            state.pending.popleft()
        return True

    events = m._apply_filter_criteria(segment.records, esm)
    if not events:  # nothing matches the filter: those records count as processed
        _advance(esm_id, len(segment.records))
        state.pending.popleft()
        return True

    # The invocation runs off the poll thread (the SQS mappings are served meanwhile); the shard
    # waits for it: one batch per shard at a time (ParallelizationFactor 1), so records stay in order.
    m._dispatch_esm_batch(
        esm_id, _run_stream_batch, esm, func_rec, config, state, segment, events, shard_id, table_name
    )
    return True


def _run_stream_batch(
    esm: dict,
    func_rec: dict,
    config: dict | None,
    state: ShardState,
    segment: Segment,
    events: list[dict],
    shard_id: str,
    table_name: str,
) -> None:
    """Invoke the function with one batch of a shard and settle it: checkpoint, split, retry or discard.

    Runs on a thread of its own while the shard's mapping counts it in flight
    (``_dispatch_esm_batch``), so nothing else reads or moves this shard meanwhile. When it
    returns, the poller is woken for the shard's next batch.
    """
    esm_id = esm["UUID"]
    request_id = str(uuid.uuid4())
    result = _invoke(func_rec, {"Records": events}, request_id)
    if result.get("throttle"):  # the batch never reached the function: not a retry attempt
        state.retry_at = time.time() + THROTTLE_RETRY_SECONDS
        _wake_at(THROTTLE_RETRY_SECONDS)
        return
    segment.invokes += 1
    segment.last_request_id = request_id
    segment.last_response = {"statusCode": 200, "executedVersion": (config or {}).get("Version", "$LATEST")}
    identifiers: list[str]
    if result.get("error"):
        segment.last_response["functionError"] = "Unhandled"
        outcome, identifiers = "failure", []
    elif "ReportBatchItemFailures" in (esm.get("FunctionResponseTypes") or []):
        outcome, identifiers = parse_batch_item_failures(result.get("body"), {sequence_number(e) for e in events})
    else:
        outcome, identifiers = "success", []

    if outcome == "success":
        _advance(esm_id, len(segment.records))
        state.pending.popleft()
        state.retry_at = 0.0
        esm["LastProcessingResult"] = "OK"
        logger.info(
            "ESM %s: %s processed %d DynamoDB stream record(s) from %s",
            esm_id,
            esm["FunctionName"],
            len(events),
            table_name,
        )
        return

    esm["LastProcessingResult"] = "PROBLEM: Function call failed"
    if outcome == "partial":
        done, remaining = split_at_sequence(segment.records, lowest_sequence_number(identifiers))
        _advance(esm_id, len(done))
        segment.records = remaining
        segment.attempts += 1
    elif esm.get("BisectBatchOnFunctionError") and len(segment.records) > 1:
        first, second = bisect(segment.records)
        state.pending.popleft()
        state.pending.appendleft(Segment(second, attempts=segment.attempts))
        state.pending.appendleft(Segment(first, attempts=segment.attempts))
        logger.info(
            "ESM %s: batch of %d failed, bisected into %d + %d", esm_id, len(segment.records), len(first), len(second)
        )
        return
    else:
        segment.attempts += 1

    max_retries = int_setting(esm, "MaximumRetryAttempts", -1)
    if max_retries >= 0 and segment.attempts > max_retries:
        _discard(esm, segment.records, RETRY_EXHAUSTED, segment, shard_id)
        _advance(esm_id, len(segment.records))
        state.pending.popleft()
        state.retry_at = 0.0
        return
    delay = retry_delay(segment.attempts)
    state.retry_at = time.time() + delay
    _wake_at(delay)
    logger.info(
        "ESM %s: %s failed a batch of %d record(s) (attempt %d); retrying in %.2fs",
        esm_id,
        esm["FunctionName"],
        len(segment.records),
        segment.attempts,
        delay,
    )


def poll_dynamodb_streams() -> bool:
    """Replaces MiniStack's ``_poll_dynamodb_streams``: True if any shard moved this pass."""
    from ministack.services import dynamodb as ddb

    if getattr(ddb, "_stream_records", None) is None:
        return False
    processed = False
    live = set()
    for account_id, region, esm in _m._iter_all_esms():
        live.add(esm.get("UUID"))
        account_token = _m._request_account_id.set(account_id)
        region_token = _m._request_region.set(region)
        try:
            processed = _poll_stream_mapping(esm, ddb) or processed
        except Exception:
            logger.exception("ESM %s: DynamoDB stream poll failed", esm.get("UUID"))
        finally:
            _m._request_account_id.reset(account_token)
            _m._request_region.reset(region_token)
    with _states_lock:  # a mapping deleted while this pass ran
        for esm_id in [k for k in _states if k not in live]:
            del _states[esm_id]
    return processed


def run_sqs_batch(esm: dict, func_rec: dict, event: dict, batch: list, queue_url: str, queue_name: str) -> None:
    """Replaces MiniStack's ``_run_sqs_batch``: delete what succeeded, leave the rest to its visibility timeout."""
    from ministack.services import sqs

    m = _m
    esm_id = esm["UUID"]
    result = m._execute_function(func_rec, event)
    identifiers: list[str] = []
    outcome = "success"
    if result.get("error"):
        outcome = "failure"
    elif "ReportBatchItemFailures" in (esm.get("FunctionResponseTypes") or []):
        valid = {record.get("messageId", "") for record in event.get("Records", [])}
        outcome, identifiers = parse_batch_item_failures(result.get("body"), valid)

    if outcome == "failure":
        body = result.get("body") if isinstance(result.get("body"), dict) else {}
        esm["LastProcessingResult"] = "PROBLEM: Function call failed"
        logger.warning(
            "ESM %s: %s failed an SQS batch of %d from %s (%s)",
            esm_id,
            esm["FunctionName"],
            len(batch),
            queue_name,
            body.get("errorType") or "invalid batchItemFailures response",
        )
        # The messages come back after their visibility timeout; pace this mapping meanwhile.
        m._esm_backoff_until[esm_id] = time.time() + m._ESM_BACKOFF_SECONDS
        return

    m._esm_backoff_until.pop(esm_id, None)
    failed = set(identifiers)
    handles = {msg["receipt_handle"] for msg in batch if msg["id"] not in failed and msg.get("receipt_handle")}
    if handles:
        sqs._delete_messages_for_esm(queue_url, handles)
    esm["LastProcessingResult"] = "OK"
    logger.info(
        "ESM %s: %s processed %d SQS message(s) from %s (%d reported failed)",
        esm_id,
        esm["FunctionName"],
        len(batch) - len(failed),
        queue_name,
        len(failed),
    )


# ---------------------------------------------------------------------------
# apply()
# ---------------------------------------------------------------------------

_REQUIRED = (
    "_iter_all_esms",
    "_request_account_id",
    "_request_region",
    "parse_arn",
    "ArnParseError",
    "get_account_id",
    "get_region",
    "_dynamodb_stream_table_from_arn_spec",
    "_get_func_record_for_qualifier",
    "_dynamodb_stream_positions",
    "_dynamodb_stream_positions_lock",
    "_apply_filter_criteria",
    "_execute_function",
    "_esm_backoff_until",
    "_ESM_BACKOFF_SECONDS",
    "_esm_wake",
    "_esms",
    "error_response_json",
    "_dispatch_esm_batch",
    "_esm_inflight",
)


IDLE_WAKE_GAP_SECONDS = 0.002


def apply() -> None:
    global _m
    from ministack.services import dynamodb, lambda_svc, sns, sqs

    missing = [name for name in _REQUIRED if not hasattr(lambda_svc, name)]
    missing += [
        f"dynamodb.{n}"
        for n in ("stream_start_position", "stream_end_position", "stream_records_since", "_tables")
        if not hasattr(dynamodb, n)
    ]
    missing += [
        f"sqs.{n}"
        for n in ("_queue_by_arn", "_queues_lock", "_act_send_message", "_delete_messages_for_esm")
        if not hasattr(sqs, n)
    ]
    missing += [f"sns.{n}" for n in ("publish_internal",) if not hasattr(sns, n)]
    if missing:
        raise PatchError(f"cannot patch the Lambda event source mappings: MiniStack lacks {', '.join(missing)}")
    _m = lambda_svc

    def make_release(original):
        def _release_esm_poll_state(esm_id: str) -> None:
            forget(esm_id)
            return original(esm_id)

        return _release_esm_poll_state

    def make_reset(original):
        def reset(*args: Any, **kwargs: Any):
            with _states_lock:
                _states.clear()
            return original(*args, **kwargs)

        return reset

    wrap(lambda_svc, "_release_esm_poll_state", make_release)
    wrap(lambda_svc, "reset", make_reset)

    def make_poll(original):
        def _poll_dynamodb_streams() -> bool:
            return poll_dynamodb_streams()

        return _poll_dynamodb_streams

    def make_run_sqs_batch(original):
        def _run_sqs_batch(*args: Any) -> None:
            return run_sqs_batch(*args)

        return _run_sqs_batch

    # After a wake that found no work MiniStack sleeps 50 ms before it listens again, so the
    # next order waits up to 50 ms per mapping hop. A few ms keeps a storm of empty wakes
    # cheap and takes that wait off every order (measured by bench/e2e_latency.py).
    if not isinstance(getattr(lambda_svc, "_ESM_IDLE_WAKE_GAP_SECONDS", None), float):
        raise PatchError("cannot tune the ESM idle wake gap: MiniStack lacks _ESM_IDLE_WAKE_GAP_SECONDS")
    lambda_svc._ESM_IDLE_WAKE_GAP_SECONDS = IDLE_WAKE_GAP_SECONDS
    wrap(lambda_svc, "_poll_dynamodb_streams", make_poll)  # MiniStack's stream poll never runs again
    patch_source(
        lambda_svc._dispatch_esm_batch,
        [
            (
                'spawn_background(_task, thread_name="ministack-esm")',
                '_orderlab_threads.spawn(_task, name="ministack-esm")',
            )
        ],
        what="ministack _dispatch_esm_batch (a thread per batch)",
    )
    wrap(lambda_svc, "_run_sqs_batch", make_run_sqs_batch)
