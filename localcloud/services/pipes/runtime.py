"""One thread per running pipe: reads its source (DynamoDB stream, SQS queue), batches, delivers, checkpoints."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from ministack.services import dynamodb as _ddb
from ministack.services import pipes as _pipes_module
from ministack.services import sqs as _sqs

from localcloud.patches import request_scope
from localcloud.services.awslambda.event_sources import expired_prefix, retry_delay
from localcloud.services.pipes.delivery import DeliveryError, _send, execute
from localcloud.services.pipes.models import (
    ERROR_PAUSE_SECONDS,
    IDLE_TICK_SECONDS,
    RUNNING,
    STREAM_SCAN_LIMIT,
    PipeConfig,
    batch_wait,
    collect_batch,
    dead_letter_record,
    sqs_record,
)

logger = logging.getLogger("localcloud.pipes")


@dataclass
class Segment:
    """A stream batch under delivery: its events, their absolute stream positions, where it ends."""

    events: list[dict]
    positions: list[int]
    end: int
    attempts: int = 0
    retry_at: float = 0.0
    reason: str = ""


@dataclass
class Scan:
    """A stream batch being filled: where it started (the checkpoint), how far records were examined."""

    start: int
    next: int
    version: Any
    events: list[dict] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)


@dataclass
class PipeRuntime:
    """The thread and the in-memory delivery state of one pipe (kept across stop/start)."""

    uid: str
    account_id: str
    region: str
    name: str
    arn: str
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    pending: deque = field(default_factory=deque)  # Segment, stream sources
    buffer: OrderedDict = field(default_factory=OrderedDict)  # messageId -> record, SQS sources
    scan: Scan | None = None  # stream batch being filled
    first_seen: float | None = None
    config: PipeConfig | None = None
    config_version: Any = None

    # -- lifecycle -----------------------------------------------------------
    def record(self) -> dict | None:
        record = _pipes_module._pipes.get_scoped(self.account_id, self.region, self.name)
        return record if record is not None and record.get("_orderlab_id") == self.uid else None

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        if self.alive():
            return
        self.thread = threading.Thread(target=self._run, name=f"orderlab-pipe-{self.name}", daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.wake.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        with scoped(self.account_id, self.region):
            while True:
                record = self.record()
                if record is None or record.get("CurrentState") != RUNNING:
                    return
                self.wake.clear()
                try:
                    wait = self.step(record)
                except Exception:
                    logger.exception("Pipe %s: poll failed", self.name)
                    wait = ERROR_PAUSE_SECONDS
                if wait is not None and wait <= 0:
                    continue
                self.wake.wait(IDLE_TICK_SECONDS if wait is None else min(wait, IDLE_TICK_SECONDS))

    def current_config(self, record: dict) -> PipeConfig:
        version = (record.get("_orderlab_version"), record.get("LastModifiedTime"))
        if self.config is None or version != self.config_version:
            self.config, self.config_version = PipeConfig.from_record(record), version
        return self.config

    def step(self, record: dict) -> float | None:
        """One pass; returns seconds until the next is due (0: at once, None: when woken)."""
        config = self.current_config(record)
        if config.source_kind == "dynamodb":
            return self._step_stream(config)
        if config.source_kind == "sqs":
            return self._step_queue(config)
        return None

    # -- DynamoDB stream source ----------------------------------------------
    def _checkpoint(self) -> int:
        return int(_pipes_module._positions.get(self.arn, 0))

    def _advance(self, position: int) -> None:
        if self.record() is not None:  # a deleted pipe must not resurrect its position
            _pipes_module._positions[self.arn] = max(position, self._checkpoint())

    def _step_stream(self, config: PipeConfig) -> float | None:
        source = _pipes_module._dynamodb_stream_source(config.source)
        if source is None:
            return None
        table_name = source[1]
        table = _ddb._tables.get(table_name)
        if not table or table.get("LatestStreamArn") != config.source:
            return None
        now = time.time()
        horizon = _ddb.stream_start_position(table_name)
        if self._checkpoint() < horizon:  # records at the checkpoint expired (24 h retention)
            _pipes_module._positions[self.arn] = horizon
            self.pending.clear()
            self.scan = None
        if not self.pending:
            checkpoint = self._checkpoint()
            scan = self.scan
            if scan is None or scan.start != checkpoint or scan.version != self.config_version:
                scan = self.scan = Scan(checkpoint, checkpoint, self.config_version)
            # Only records not examined yet are read and filtered: a batch waiting for its window
            # does not re-filter its backlog on every wake.
            limit = max(STREAM_SCAN_LIMIT, config.batch_size)
            records = _ddb.stream_records_since(table_name, scan.next, limit)
            kept, consumed = collect_batch(records, config.batch_size - len(scan.events), config.matches)
            scan.events += [records[i] for i in kept]
            scan.positions += [scan.next + i for i in kept]
            scan.next += consumed
            if not scan.events:
                self.first_seen = None
                if consumed:  # all filtered out: checkpoint past them
                    self._advance(scan.next)
                    return 0.0
                return None
            full = len(scan.events) >= config.batch_size
            if not full and len(records) == limit:
                return 0.0  # more records to examine before waiting
            self.first_seen = self.first_seen or now
            wait = batch_wait(len(scan.events), config.batch_size, config.window_seconds, self.first_seen, now)
            if wait:
                return wait
            self.first_seen, self.scan = None, None
            self.pending.append(Segment(scan.events, scan.positions, scan.next))
        segment = self.pending[0]
        if segment.retry_at > now:
            return segment.retry_at - now
        expired = expired_prefix(segment.events, config.max_age_seconds, now)
        if expired:
            self._discard(config, segment, expired, "RecordAgeExceeded")
            return 0.0
        outcome = execute(config, segment.events)
        if outcome.status == "ok":
            self.pending.popleft()
            self._advance(segment.end)
            logger.info("Pipe %s delivered %d stream record(s) to %s", config.name, len(segment.events), config.target)
            return 0.0
        if outcome.status == "partial":
            failed = set(outcome.failed_ids)
            first_failed = min(i for i, e in enumerate(segment.events) if e.get("eventID") in failed)
            self._advance(segment.positions[first_failed])
            segment.events, segment.positions = segment.events[first_failed:], segment.positions[first_failed:]
            outcome.reason = f"{len(outcome.failed_ids)} item(s) reported in batchItemFailures"
        elif config.bisect and len(segment.events) > 1:
            middle = len(segment.events) // 2  # bisecting is not a retry attempt
            self.pending.popleft()
            self.pending.appendleft(
                Segment(segment.events[middle:], segment.positions[middle:], segment.end, segment.attempts)
            )
            self.pending.appendleft(
                Segment(
                    segment.events[:middle], segment.positions[:middle], segment.positions[middle], segment.attempts
                )
            )
            logger.info("Pipe %s: batch of %d failed (%s), bisected", config.name, len(segment.events), outcome.reason)
            return 0.0
        segment.attempts += 1
        segment.reason = outcome.reason
        if 0 <= config.max_retries < segment.attempts:
            self._discard(config, segment, len(segment.events), "RetryAttemptsExhausted")
            return 0.0
        delay = retry_delay(segment.attempts)
        segment.retry_at = time.time() + delay
        logger.warning(
            "Pipe %s: batch of %d failed (attempt %d: %s); retrying in %.2fs",
            config.name,
            len(segment.events),
            segment.attempts,
            outcome.reason,
            delay,
        )
        return delay

    def _discard(self, config: PipeConfig, segment: Segment, count: int, condition: str) -> None:
        events = segment.events[:count]
        end = segment.end if count >= len(segment.events) else segment.positions[count]
        logger.warning(
            "Pipe %s: discarding %d stream record(s) (%s)%s",
            config.name,
            len(events),
            condition,
            f"; sent to {config.dead_letter_arn}" if config.dead_letter_arn else "",
        )
        if config.dead_letter_arn:
            record = dead_letter_record(
                pipe_arn=config.arn,
                condition=condition,
                attempts=segment.attempts,
                reason=segment.reason,
                records=events,
                stream_arn=config.source,
                shard_id=_shard_id(),
                now=time.time(),
            )
            try:
                _send(config.dead_letter_arn, json.dumps(record))
            except DeliveryError as error:  # keep the batch: retry later rather than lose it
                logger.warning("Pipe %s: dead-letter delivery failed: %s", config.name, error)
                segment.retry_at = time.time() + retry_delay(segment.attempts or 1)
                return
        self._advance(end)
        if count >= len(segment.events):
            self.pending.popleft()
        else:
            segment.events, segment.positions = segment.events[count:], segment.positions[count:]

    # -- SQS source ------------------------------------------------------------
    def _step_queue(self, config: PipeConfig) -> float | None:
        queue = _sqs._queue_by_arn(config.source)
        if queue is None:
            return None
        url = queue["url"]
        account_id, region = self.account_id, self.region
        while len(self.buffer) < config.batch_size:
            received = _sqs._receive_messages_for_esm(url, min(10, config.batch_size - len(self.buffer)))
            if not received:
                break
            now = time.time()
            for message in received:  # a message seen again replaces its older copy (new receipt handle)
                self.buffer[message["id"]] = sqs_record(message, config.source, region, account_id, now)
        now = time.time()
        if not self.buffer:
            self.first_seen = None
            return _next_visible(queue, now)
        self.first_seen = self.first_seen or now
        wait = batch_wait(len(self.buffer), config.batch_size, config.window_seconds, self.first_seen, now)
        if wait:
            return wait
        records = list(self.buffer.values())
        self.buffer.clear()
        self.first_seen = None
        matched = [r for r in records if config.matches(r)]
        kept = {r["messageId"] for r in matched}
        dropped = {r["receiptHandle"] for r in records if r["messageId"] not in kept and r.get("receiptHandle")}
        if dropped:  # "If an Amazon SQS message doesn't satisfy your filter criteria, EventBridge ... removes" it
            _sqs._delete_messages_for_esm(url, dropped)
        if not matched:
            return 0.0
        outcome = execute(config, matched)
        if outcome.status == "failed":
            logger.warning(
                "Pipe %s: batch of %d SQS message(s) failed (%s); they return after the visibility timeout",
                config.name,
                len(matched),
                outcome.reason,
            )
            return 0.0
        failed = set(outcome.failed_ids)
        done = {r["receiptHandle"] for r in matched if r["messageId"] not in failed and r.get("receiptHandle")}
        if done:
            _sqs._delete_messages_for_esm(url, done)
        logger.info(
            "Pipe %s delivered %d SQS message(s) to %s (%d reported failed)",
            config.name,
            len(matched) - len(failed),
            config.target,
            len(failed),
        )
        return 0.0


def _next_visible(queue: dict, now: float) -> float | None:
    """Seconds until the next hidden or delayed message of ``queue`` becomes visible, or None."""
    with _sqs._queues_lock:
        upcoming = [m.get("visible_at", 0) for m in queue.get("messages", []) if m.get("visible_at", 0) > now]
    return (min(upcoming) - now + 0.005) if upcoming else None


def _shard_id() -> str:
    try:
        from ministack.services import dynamodb_streams

        return str(getattr(dynamodb_streams, "_DEFAULT_SHARD_ID", "shardId-00000000000000000000-00000000"))
    except ImportError:
        return "shardId-00000000000000000000-00000000"


scoped = request_scope  # MiniStack's stores are scoped by account and region context variables
