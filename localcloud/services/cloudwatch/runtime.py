"""Amazon CloudWatch metrics and alarms (MiniStack ``services/cloudwatch.py``, plus the services that publish).

Design note (quotable)
======================
**What a learner sees.** Locally, as on AWS: SQS queues publish ``AWS/SQS`` metrics, every Lambda
invocation publishes ``AWS/Lambda`` metrics (direct Invoke, event source mappings, asynchronous
invokes, API Gateway), HTTP APIs publish ``AWS/ApiGateway`` metrics, and alarms change state on
their own, on a schedule, exactly as CloudWatch decides it (M out of N, missing data, per exact
metric), with AWS's ``StateReason`` wording, alarm history and SNS notifications in AWS's format.

**Time scale.** ``ORDERLAB_CLOUDWATCH_TIME_SCALE`` (default ``12``; read when the local cloud
starts; ``1`` = exactly AWS's timing) speeds up the *alarm clock* only:

- scaled (divided by the factor): an alarm Period (Period 60 spans 5 wall seconds at 12), the
  evaluation cadence (every CloudWatch minute = 5 s; a 10/20/30 s high-resolution alarm every
  10 s / 12), the evaluation range, the one-minute storage resolution of standard metrics, and the
  one-minute interval at which AWS/SQS publishes (a sample every 5 s);
- not scaled: datapoint timestamps (real time), GetMetricData / GetMetricStatistics / ListMetrics
  (their Period is real seconds: a Period-60 graph shows one point per real minute, each
  aggregating 12 local samples, so counts and maxima are right but SampleCount is 12 times AWS's),
  everything outside CloudWatch (SQS visibility timeouts and delays, Lambda, retention), the six
  hours after which an idle queue stops publishing, and producers you run yourself
  (PutMetricData once a real minute looks like one datapoint every 12 periods to an alarm).

So an alarm with Period 60 and EvaluationPeriods 1 on a queue's
ApproximateNumberOfMessagesVisible reacts within one local minute (<= 5 s) of a message arriving,
where AWS takes a few minutes. Code written for AWS runs unchanged; only waits get shorter.

Faithful to AWS (and where MiniStack 1.5.33 differed)
=====================================================
- **AWS/SQS metrics** (MiniStack published none), sampled from MiniStack's in-memory queues once
  a (local) minute for every *active* queue (one with messages, or any action in the last six
  hours): ApproximateNumberOfMessagesVisible / NotVisible / Delayed, ApproximateAgeOfOldestMessage
  (Seconds; since the move for a message in a dead-letter queue; poison pills left out),
  NumberOfMessagesSent / Received / Deleted, NumberOfEmptyReceives (Count, zeros included),
  SentMessageSize (Bytes, when messages were sent), ApproximateNumberOfGroupsWithInflightMessages
  (FIFO); dimension ``QueueName``. Messages moved to a dead-letter queue are not "sent"; messages
  sent by SNS, EventBridge or a redrive are. Lambda's pollers receive only when woken here, so
  their empty receives are not counted.
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-monitoring-using-cloudwatch.html
- **AWS/Lambda metrics for every invocation** (MiniStack counted direct Invokes only, and counted
  a throttled Invoke twice): Invocations, Errors, Throttles (Count), Duration (Milliseconds),
  ConcurrentExecutions (Count, use Maximum), per ``FunctionName``, across all functions, and per
  ``Resource`` / ``ExecutedVersion`` for aliases and versions, timestamped when the invocation
  started. A throttled attempt counts only in Throttles.
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
- **AWS/ApiGateway metrics of HTTP APIs**: Count, 4xx, 5xx (0 or 1 per request), Latency,
  IntegrationLatency (Milliseconds), DataProcessed (Bytes), per ``ApiId`` and ``ApiId`` + ``Stage``.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html
- **Alarms evaluated on a schedule** (MiniStack evaluated only on PutMetricData/PutMetricAlarm,
  pooled every dimension set of a metric name, and knew no M of N, missing data or percentile
  rules): see :mod:`localcloud.services.cloudwatch.alarms`. A new or updated alarm is evaluated at once
  against the latest complete local minute. SetAlarmState lasts until the next evaluation.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html
- **Alarm history**: a ``StateUpdate`` item per transition whose HistoryData carries the old and
  new state, reason and reason data; a ``ConfigurationUpdate`` item when an alarm is created or
  updated (MiniStack recorded a bogus INSUFFICIENT_DATA -> INSUFFICIENT_DATA state update).
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html
- **Actions**: AlarmActions / OKActions / InsufficientDataActions that name an SNS topic get AWS's
  notification (see :mod:`localcloud.services.cloudwatch.notify`; MiniStack's lacked AlarmArn, the
  region's long name and the actions), published with MiniStack's in-process SNS publish so
  SQS, Lambda and e-mail subscribers receive it; not when ActionsEnabled is false.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notification.html

How it runs: one asyncio task on the server's event loop (started from MiniStack's lifespan
startup) wakes at the next local-minute boundary (or high-resolution boundary while such an alarm
exists), samples the queues, then evaluates the alarms; no busy loop. Service datapoints are
staged from any thread and written into MiniStack's metric store on that loop; once they are
older than any alarm can look back (about 2.3 hours at scale 12), they are merged into one-minute
statistic sets so a long session's memory stays flat.

>>> scale = time_scale_from_env({"ORDERLAB_CLOUDWATCH_TIME_SCALE": "60"})
>>> scale.minute, scale.length(300)        # a CloudWatch minute lasts 1 s; a 5-minute period 5 s
(1.0, 5.0)
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from localcloud.services.cloudwatch.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    STATES,
    AlarmRule,
    Decision,
    PeriodValue,
    TimeScale,
    evaluate,
    evaluate_expression,
    expression_ids,
    iso_millis,
    low_sample_count,
    parse_expression,
    percentile_of,
    period_values,
    state_reason,
    state_reason_data,
    tick_index,
)
from localcloud.services.cloudwatch.api import (
    MAX_EVALUATION_SECONDS,
    alarm_request,
    datum_resolutions,
    p as _p,
    validation_error,
)
from localcloud.services.cloudwatch.notify import email_text, notification, subject
from localcloud.services.cloudwatch.sources import (
    MOVED,
    SENT_COUNTED,
    Datum,
    MetricWriter,
    QueueMeters,
    Recorder,
    api_dimension_sets,
    compact,
    dims_key,
    lambda_dimension_sets,
    message_size,
    queue_gauges,
)
from localcloud.events import EventBus, bus
from localcloud.patches import PatchError, request_scope, wrap
from localcloud.services.apigateway.events import HttpApiRequestServed
from localcloud.services.awslambda.events import FunctionInvoked
from localcloud.services.sns.events import DeliveredToQueue
from localcloud.services.sqs.events import MessagesDeadLettered, MessagesDeleted, MessageSent, MessagesReceived, QueueAccessed

logger = logging.getLogger("localcloud.cloudwatch")

TIME_SCALE_ENV = "ORDERLAB_CLOUDWATCH_TIME_SCALE"
DEFAULT_TIME_SCALE = 12.0
QUEUE_ACTIVE_SECONDS = 6 * 3600  # "active for up to six hours if ... any action accesses it"
SERVICE_NAMESPACES = ("AWS/SQS", "AWS/Lambda", "AWS/ApiGateway")  # what this module publishes (and compacts)
COMPACT_EVERY = 60.0  # wall seconds
_ACTION_FIELDS = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT_DATA: "InsufficientDataActions"}


def time_scale_from_env(environ: Any = os.environ) -> TimeScale:
    """The alarm clock's speed-up from ``ORDERLAB_CLOUDWATCH_TIME_SCALE`` (default 12; 1 = AWS)."""
    raw = str(environ.get(TIME_SCALE_ENV, "") or "").strip()
    try:
        return TimeScale(float(raw) if raw else DEFAULT_TIME_SCALE)
    except ValueError as exc:
        raise PatchError(f"{TIME_SCALE_ENV}={raw!r} is not a valid time scale: {exc}") from None


# ---------------------------------------------------------------------------
# State of the running local cloud
# ---------------------------------------------------------------------------

class _Runtime:
    def __init__(self) -> None:
        self.scale = TimeScale(DEFAULT_TIME_SCALE)
        self.recorder = Recorder()
        self.writer: MetricWriter | None = None
        self.meters = QueueMeters()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.wake: asyncio.Event | None = None
        self.task: asyncio.Task | None = None
        self.minute_tick = -1
        self.high_tick = -1
        self.high_resolution = False
        self.compacted_at = 0.0
        self.fresh: set[tuple[str, str, str]] = set()   # alarms to evaluate at once (created/updated)


_rt = _Runtime()




_scope = request_scope


def _cw():
    from ministack.services import cloudwatch

    return cloudwatch


def _flush() -> None:
    """Write the staged service datapoints into MiniStack's metric store (on the server loop)."""
    if _rt.writer is None:
        return
    for datum in _rt.recorder.drain():
        try:
            _rt.writer.write(datum)
        except Exception:
            logger.exception("writing a CloudWatch datapoint failed")


def _notify_flush() -> None:
    loop = _rt.loop
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(_flush)


def _record(account: str, region: str, namespace: str, name: str, dimension_sets: list, ts: float, value: float,
            unit: str, *, aggregate: bool = True) -> None:
    for dims in dimension_sets:
        _rt.recorder.add(Datum(account, region, namespace, name, dims, ts, value, unit, aggregate))


# ---------------------------------------------------------------------------
# AWS/Lambda, AWS/ApiGateway and AWS/SQS: from the events those services publish
# ---------------------------------------------------------------------------

def _function_scope(config: dict) -> tuple[str, str, str, str]:
    """(account, region, name, arn) of a function configuration."""
    from ministack.core.responses import get_account_id, get_region

    arn = str(config.get("FunctionArn") or "")
    parts = arn.split(":")
    name = str(config.get("FunctionName") or (parts[6] if len(parts) > 6 else "unknown"))
    if len(parts) > 6 and parts[2] == "lambda":
        return parts[4], parts[3], name, arn
    return get_account_id(), get_region(), name, arn


def on_function_invoked(event: FunctionInvoked) -> None:
    account, region, name, arn = _function_scope(event.config)
    sets = lambda_dimension_sets(arn, name, event.config.get("Version"))
    ns = "AWS/Lambda"
    started = event.started
    result = event.result if isinstance(event.result, dict) else {}
    if result.get("throttle"):
        _record(account, region, ns, "Throttles", sets, started, 1, "Count")
        return
    _record(account, region, ns, "Invocations", sets, started, 1, "Count")
    _record(account, region, ns, "Errors", sets, started, 1 if result.get("error") else 0, "Count")
    _record(account, region, ns, "Throttles", sets, started, 0, "Count")
    _record(account, region, ns, "Duration", sets, started, round(event.elapsed_ms, 2), "Milliseconds",
            aggregate=False)
    _record(account, region, ns, "ConcurrentExecutions", sets[:1], started, event.concurrent, "Count")
    _record(account, region, ns, "ConcurrentExecutions", [()], started, event.concurrent_in_region, "Count")


def on_http_api_request(event: HttpApiRequestServed) -> None:
    account, region, started = event.account, event.region, event.started
    sets = api_dimension_sets(event.api_id, event.stage or "$default")
    ns = "AWS/ApiGateway"
    _record(account, region, ns, "Count", sets, started, 1, "Count")
    _record(account, region, ns, "4xx", sets, started, 1 if 400 <= event.status < 500 else 0, "Count")
    _record(account, region, ns, "5xx", sets, started, 1 if event.status >= 500 else 0, "Count")
    _record(account, region, ns, "Latency", sets, started, round(event.latency_ms, 2), "Milliseconds",
            aggregate=False)
    if event.integration_ms is not None:
        _record(account, region, ns, "IntegrationLatency", sets, started, round(event.integration_ms, 2),
                "Milliseconds", aggregate=False)
    _record(account, region, ns, "DataProcessed", sets, started, event.size, "Bytes", aggregate=False)


def _arn(queue: dict) -> str:
    return str((queue.get("attributes") or {}).get("QueueArn", ""))


def _count_new_last(queue: dict | None, message_id: str | None = None) -> None:
    """Count the message just appended to ``queue`` as sent (once)."""
    if queue is None:
        return
    messages = queue.get("messages") or []
    last = messages[-1] if messages else None
    now = time.time()
    if last is not None and not last.get(SENT_COUNTED) and (message_id is None or last.get("id") == message_id):
        last[SENT_COUNTED] = True
        _rt.meters.sent(_arn(queue), message_size(last), now)
    else:
        _rt.meters.touch(_arn(queue), now)


def on_message_sent(event: MessageSent) -> None:
    _count_new_last(event.queue, event.message_id)


def on_messages_received(event: MessagesReceived) -> None:
    _rt.meters.received(_arn(event.queue), event.count, time.time())


def on_messages_deleted(event: MessagesDeleted) -> None:
    _rt.meters.deleted(_arn(event.queue), event.count, time.time())


def on_queue_accessed(event: QueueAccessed) -> None:
    _rt.meters.touch(_arn(event.queue), time.time())


def on_messages_dead_lettered(event: MessagesDeadLettered) -> None:
    now = time.time()
    for message in event.messages:  # their age in the dead-letter queue counts from the move
        message.setdefault(MOVED, (now, int(message.get("receive_count") or 0)))


def on_delivered_to_queue(event: DeliveredToQueue) -> None:
    from ministack.services import sqs

    _count_new_last(sqs._queue_by_arn(event.queue_arn))


def subscribe(bus: EventBus) -> None:
    """Count what the other services report; e.g. ``subscribe(localcloud.events.bus)``."""
    bus.subscribe(FunctionInvoked, on_function_invoked)
    bus.subscribe(HttpApiRequestServed, on_http_api_request)
    bus.subscribe(MessageSent, on_message_sent)
    bus.subscribe(MessagesReceived, on_messages_received)
    bus.subscribe(MessagesDeleted, on_messages_deleted)
    bus.subscribe(QueueAccessed, on_queue_accessed)
    bus.subscribe(MessagesDeadLettered, on_messages_dead_lettered)
    bus.subscribe(DeliveredToQueue, on_delivered_to_queue)


def sample_queues(at: float) -> int:
    """Publish one AWS/SQS datapoint per metric for every active queue; ``at`` is the local-minute
    boundary just reached (the datapoints carry the minute's start). Returns the queues sampled."""
    from ministack.services import sqs

    if _rt.writer is None:
        return 0
    now = time.time()
    stamp = at - _rt.scale.minute
    present: set[str] = set()
    sampled = 0
    for (account, region, _url), queue in sqs._queues.all_items():
        arn = _arn(queue)
        present.add(arn)
        with sqs._queues_lock:
            messages = list(queue.get("messages") or [])
        for message in messages:  # added by a producer that bypasses SendMessage (EventBridge, redrive...)
            if not message.get(SENT_COUNTED):
                message[SENT_COUNTED] = True
                _rt.meters.sent(arn, message_size(message), now)
        meter = _rt.meters.take(arn)
        if not messages and now - meter.last_active > QUEUE_ACTIVE_SECONDS:
            continue
        sampled += 1
        fifo = bool(queue.get("is_fifo"))
        gauges = queue_gauges(messages, now, fifo=fifo)
        dims = (("QueueName", str(queue.get("name", ""))),)
        values = [("ApproximateNumberOfMessagesVisible", gauges.visible, "Count"),
                  ("ApproximateNumberOfMessagesNotVisible", gauges.not_visible, "Count"),
                  ("ApproximateNumberOfMessagesDelayed", gauges.delayed, "Count"),
                  ("ApproximateAgeOfOldestMessage", gauges.oldest_age, "Seconds"),
                  ("NumberOfMessagesSent", meter.sent, "Count"),
                  ("NumberOfMessagesReceived", meter.received, "Count"),
                  ("NumberOfMessagesDeleted", meter.deleted, "Count"),
                  ("NumberOfEmptyReceives", meter.empty_receives, "Count")]
        if fifo:
            values.append(("ApproximateNumberOfGroupsWithInflightMessages", gauges.groups_in_flight, "Count"))
        for name, value, unit in values:
            _rt.writer.write(Datum(account, region, "AWS/SQS", name, dims, stamp, value, unit, aggregate=False))
        if meter.size_count:
            _rt.writer.write_stat(account, region, "AWS/SQS", "SentMessageSize", dims, stamp, "Bytes",
                                  meter.size_count, meter.size_sum, meter.size_min, meter.size_max)
    _rt.meters.forget_others(present)
    return sampled


# ---------------------------------------------------------------------------
# Alarm evaluation
# ---------------------------------------------------------------------------

def _rule(alarm: dict) -> AlarmRule:
    return AlarmRule(alarm.get("ComparisonOperator") or "", float(alarm.get("Threshold") or 0.0),
                     int(alarm.get("EvaluationPeriods") or 1), alarm.get("DatapointsToAlarm"),
                     alarm.get("TreatMissingData") or "missing")


def _alarm_period(alarm: dict) -> int:
    if alarm.get("Metrics"):
        for query in alarm["Metrics"]:
            if query.get("MetricStat"):
                return int(query["MetricStat"].get("Period") or 60)
        return int(next((q.get("Period") for q in alarm["Metrics"] if q.get("Period")), 60))
    return int(alarm.get("Period") or 60)


def _series(account: str, region: str, metric: dict, *, end: float, period: int, count: int, statistic: str,
            unit: str | None) -> list[PeriodValue | None]:
    dims = {d.get("Name"): d.get("Value", "") for d in metric.get("Dimensions") or [] if isinstance(d, dict)}
    key = (metric.get("Namespace"), metric.get("MetricName"), dims_key(dims))
    points = _cw()._metrics.get_scoped(account, region, key) or []
    return period_values(points, end=end, length=_rt.scale.length(period), count=count, statistic=statistic,
                         unit=unit, snap=_rt.scale.minute if period < 60 else None)


def _values(account: str, region: str, alarm: dict, end: float, count: int) -> tuple[list[PeriodValue | None], str]:
    """The alarm's period values (newest first) and the statistic that made them."""
    period = _alarm_period(alarm)
    if not alarm.get("Metrics"):
        statistic = alarm.get("ExtendedStatistic") or alarm.get("Statistic") or "Average"
        metric = {"Namespace": alarm.get("Namespace"), "MetricName": alarm.get("MetricName"),
                  "Dimensions": alarm.get("Dimensions")}
        return _series(account, region, metric, end=end, period=period, count=count, statistic=statistic,
                       unit=alarm.get("Unit")), statistic
    series: dict[str, list] = {}
    for query in alarm["Metrics"]:
        stat = query.get("MetricStat")
        if stat:
            series[query["Id"]] = _series(account, region, stat.get("Metric") or {}, end=end, period=period,
                                          count=count, statistic=stat.get("Stat") or "Average", unit=stat.get("Unit"))
    pending = [q for q in alarm["Metrics"] if q.get("Expression")]
    for _ in range(len(pending)):
        for query in list(pending):
            tree = parse_expression(query["Expression"])
            if expression_ids(tree) <= set(series):
                length = _rt.scale.length(period)
                raw = evaluate_expression(tree, series, count)
                series[query["Id"]] = [None if v is None else PeriodValue(end - length * (i + 1), v, 1.0)
                                       for i, v in enumerate(raw)]
                pending.remove(query)
    returned = next(q for q in alarm["Metrics"] if q.get("ReturnData", True))
    statistic = ((returned.get("MetricStat") or {}).get("Stat")) or ""
    return series.get(returned["Id"], [None] * count), statistic


def _decide(account: str, region: str, alarm: dict, end: float) -> tuple[Decision, list, str]:
    rule = _rule(alarm)
    values, statistic = _values(account, region, alarm, end, rule.range)
    decision = evaluate(values, rule, namespace=str(alarm.get("Namespace") or ""))
    if (alarm.get("EvaluateLowSampleCountPercentile") == "ignore" and percentile_of(statistic) is not None
            and any(low_sample_count(statistic, p.sample_count) for p in decision.evaluated)):
        decision = Decision(None)  # "ignore the metric while the sample size is low"
    return decision, values, statistic


def _history(name: str, alarm_type: str, item_type: str, summary: str, data: dict, when: float) -> None:
    stamp = iso_millis(when).replace("+0000", "Z")
    _cw()._history_entries().append({
        "AlarmName": name, "AlarmType": alarm_type, "Timestamp": stamp, "HistoryItemType": item_type,
        "HistorySummary": summary, "HistoryData": json.dumps(data, separators=(",", ":"))})


def _state(value: str, reason: str | None, data: str | None) -> dict:
    state: dict[str, Any] = {"stateValue": value}
    if reason:
        state["stateReason"] = reason
    if data:
        try:
            state["stateReasonData"] = json.loads(data)
        except ValueError:
            pass
    return state


def transition(alarm: dict, new_state: str, reason: str, reason_data: str | None, when: float) -> None:
    """Move a metric alarm to ``new_state`` the way CloudWatch does: state fields, a StateUpdate
    history item, the actions of the new state, then the composite alarms that watch it."""
    cloudwatch = _cw()
    old_state = alarm.get("StateValue", INSUFFICIENT_DATA)
    old = _state(old_state, alarm.get("StateReason"), alarm.get("StateReasonData"))
    alarm["StateValue"] = new_state
    alarm["StateReason"] = reason
    if reason_data:
        alarm["StateReasonData"] = reason_data
    else:
        alarm.pop("StateReasonData", None)
    alarm["StateUpdatedTimestamp"] = alarm["StateTransitionedTimestamp"] = round(when, 3)
    _history(alarm["AlarmName"], "MetricAlarm", "StateUpdate", f"Alarm updated from {old_state} to {new_state}",
             {"version": "1.0", "oldState": old, "newState": _state(new_state, reason, reason_data)}, when)
    logger.info("alarm %s: %s -> %s (%s)", alarm["AlarmName"], old_state, new_state, reason)
    cloudwatch._dispatch_alarm_actions(alarm, old_state, new_state, reason)
    try:
        cloudwatch._evaluate_parent_alarms(alarm)
    except Exception:
        logger.exception("evaluating the composite alarms over %s failed", alarm.get("AlarmName"))


def evaluate_alarm(account: str, region: str, alarm: dict, end: float) -> str | None:
    """Evaluate one alarm at ``end`` (a tick boundary); returns the new state when it changed."""
    decision, values, statistic = _decide(account, region, alarm, end)
    old_state = alarm.get("StateValue", INSUFFICIENT_DATA)
    if decision.state is None or decision.state == old_state:
        return None
    rule = _rule(alarm)
    reason = state_reason(decision, rule, old_state)
    data = state_reason_data(decision, rule, statistic=statistic, period=_alarm_period(alarm), query_date=time.time(),
                             values=values, unit=alarm.get("Unit"))
    transition(alarm, decision.state, reason, data, time.time())
    return decision.state


def evaluate_alarms(end: float, *, high_resolution: bool, only: set | None = None) -> None:
    _rt.high_resolution = False
    for (account, region, name), alarm in _cw()._alarms.all_items():
        period = _alarm_period(alarm)
        if period < 60:
            _rt.high_resolution = True
        if (only is not None and (account, region, name) not in only) or (period < 60) != high_resolution:
            continue
        with _scope(account, region):
            try:
                evaluate_alarm(account, region, alarm, end)
            except Exception:
                logger.exception("evaluating alarm %s failed", name)


def _dispatch_actions(alarm: dict, old_state: str, new_state: str, reason: str) -> None:
    """AlarmActions / OKActions / InsufficientDataActions: AWS's notification to each SNS topic."""
    from ministack.core.responses import get_account_id, get_region
    from ministack.services import sns

    if not alarm.get("ActionsEnabled", True):
        return
    actions = alarm.get(_ACTION_FIELDS.get(new_state, "")) or []
    if not actions:
        return
    account, region = get_account_id(), get_region()
    when = float(alarm.get("StateUpdatedTimestamp") or time.time())
    document = notification(alarm, old_state=old_state, new_state=new_state, reason=reason, change_time=when,
                            account_id=account, region=region)
    # One message per protocol, as AWS sends it: the JSON document to SQS, Lambda, HTTP(S) and
    # email-json subscribers, a readable mail to email subscribers.
    message = json.dumps({"default": json.dumps(document, separators=(",", ":")),
                          "email": email_text(document, region)})
    title = subject(new_state, alarm.get("AlarmName", ""), region)
    for action in actions:
        if not _cw()._is_sns_action_arn(action):
            logger.warning("alarm %s: action %s is not an SNS topic of %s/%s; the local cloud runs SNS actions only",
                           alarm.get("AlarmName"), action, account, region)
            continue
        try:
            if sns.publish_internal(action, message, title, message_structure="json") is None:
                logger.warning("alarm %s: SNS topic %s does not exist", alarm.get("AlarmName"), action)
        except Exception:
            logger.exception("alarm %s: publishing to %s failed", alarm.get("AlarmName"), action)


# ---------------------------------------------------------------------------
# The API: PutMetricAlarm, SetAlarmState, PutMetricData
# ---------------------------------------------------------------------------

def _make_put_metric_alarm(original: Callable[..., Any]) -> Callable[..., Any]:
    def _put_metric_alarm(params, cbor_data, is_cbor, is_json=False):
        from ministack.core.responses import get_account_id, get_region

        cloudwatch = _cw()
        request = alarm_request(params, cbor_data or {}, bool(is_cbor or is_json))
        error = validation_error(request)
        if error:
            return cloudwatch._error("ValidationError", error, 400, use_json=is_json, use_cbor=is_cbor)
        name = request["AlarmName"]
        existed = name in cloudwatch._alarms
        response = original(params, cbor_data, is_cbor, is_json)
        alarm = cloudwatch._alarms.get(name)
        if response[0] != 200 or alarm is None:
            return response
        now = time.time()
        _complete_alarm(alarm, request, bool(is_cbor or is_json), now)
        if not existed:
            _drop_bogus_creation_entry(name)
        config = {k: v for k, v in alarm.items() if not k.startswith("State")}
        _history(name, "MetricAlarm", "ConfigurationUpdate", f'Alarm "{name}" {"updated" if existed else "created"}',
                 {"version": "1.0", "type": "Update" if existed else "Create",
                  "updatedAlarm" if existed else "createdAlarm": config}, now)
        _rt.fresh.add((get_account_id(), get_region(), name))
        if _alarm_period(alarm) < 60:
            _rt.high_resolution = True
        if _rt.wake is not None:
            _rt.wake.set()
        return response
    return _put_metric_alarm


def _complete_alarm(alarm: dict, request: dict[str, Any], structured: bool, now: float) -> None:
    """Fields MiniStack does not keep (or keeps where AWS has none)."""
    if request.get("Metrics"):
        alarm["Metrics"] = request["Metrics"]
        for key in ("Statistic", "ExtendedStatistic", "Period", "MetricName", "Namespace", "Unit"):
            alarm.pop(key, None)
    elif request.get("ExtendedStatistic"):
        alarm.pop("Statistic", None)
    else:
        alarm.pop("ExtendedStatistic", None)
    if alarm.get("Unit") is None:
        alarm.pop("Unit", None)
    if not request.get("AlarmDescription") and not alarm.get("AlarmDescription"):
        alarm.pop("AlarmDescription", None)  # AWS describes only what was set
    if request.get("EvaluateLowSampleCountPercentile"):
        alarm["EvaluateLowSampleCountPercentile"] = request["EvaluateLowSampleCountPercentile"]
    if not structured:
        alarm["InsufficientDataActions"] = request.get("InsufficientDataActions") or []
    alarm["AlarmConfigurationUpdatedTimestamp"] = round(now, 3)


def _drop_bogus_creation_entry(name: str) -> None:
    entries = _cw()._history_entries()
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        if (entry.get("AlarmName") == name and entry.get("HistoryItemType") == "StateUpdate"
                and entry.get("HistorySummary") == "Alarm updated from INSUFFICIENT_DATA to INSUFFICIENT_DATA"):
            del entries[index]
            return


def _make_set_alarm_state(original: Callable[..., Any]) -> Callable[..., Any]:
    def _set_alarm_state(params, cbor_data, is_cbor, is_json=False):
        cloudwatch = _cw()
        structured = bool(is_cbor or is_json)
        body = cbor_data or {}
        name = body.get("AlarmName", "") if structured else _p(params, "AlarmName")
        state = body.get("StateValue", "") if structured else _p(params, "StateValue")
        reason = body.get("StateReason", "") if structured else _p(params, "StateReason")
        reason_data = body.get("StateReasonData", "") if structured else _p(params, "StateReasonData")
        if state not in STATES:
            return cloudwatch._error(
                "ValidationError", f"1 validation error detected: Value '{state}' at 'stateValue' failed to satisfy "
                "constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", 400,
                use_json=is_json, use_cbor=is_cbor)
        if reason_data:
            try:
                json.loads(reason_data)
            except ValueError:
                return cloudwatch._error("InvalidFormat", "StateReasonData is not valid JSON.", 400,
                                         use_json=is_json, use_cbor=is_cbor)
        alarm = cloudwatch._alarms.get(name)
        if alarm is None:  # a composite alarm, or none: MiniStack's answer
            return original(params, cbor_data, is_cbor, is_json)
        now = time.time()
        if state != alarm.get("StateValue"):
            transition(alarm, state, reason, reason_data or None, now)
        else:
            alarm["StateReason"] = reason
            if reason_data:
                alarm["StateReasonData"] = reason_data
            alarm["StateUpdatedTimestamp"] = round(now, 3)
        if is_cbor:
            return cloudwatch._cbor_ok({})
        if is_json:
            return cloudwatch._json_ok({})
        return cloudwatch._xml(200, "SetAlarmStateResponse", "")
    return _set_alarm_state


def _make_put_metric_data(original: Callable[..., Any]) -> Callable[..., Any]:
    """Remember which datapoints are high resolution (StorageResolution 1): a 10-30 s alarm sees
    them second by second, and standard ones at their minute."""
    def _put_metric_data(params, cbor_data, is_cbor, is_json=False):
        cloudwatch = _cw()
        datums = datum_resolutions(params, cbor_data or {}, bool(is_cbor or is_json))
        if not any(resolution == 1 for _, _, resolution, _ in datums):
            return original(params, cbor_data, is_cbor, is_json)
        keys = {key for key, _, _, _ in datums}
        before = {key: len(cloudwatch._metrics.get(key) or []) for key in keys}
        response = original(params, cbor_data, is_cbor, is_json)
        cursor = dict(before)
        for key, _, resolution, count in datums:
            points = cloudwatch._metrics.get(key) or []
            for point in points[cursor[key]: cursor[key] + count]:
                if resolution == 1:
                    point["StorageResolution"] = 1
            cursor[key] += count
        return response
    return _put_metric_data


# ---------------------------------------------------------------------------
# The scheduler
# ---------------------------------------------------------------------------

def fine_window(scale: TimeScale) -> float:
    """Wall seconds of service datapoints kept at full resolution: the longest evaluation range
    (a day of alarm time, plus two periods) and some margin, at least an hour."""
    return max(3600.0, (MAX_EVALUATION_SECONDS + 2 * 3600) / scale.factor + 600.0)


def compact_service_metrics(now: float) -> int:
    """Merge this module's older datapoints into one-minute statistic sets (memory stays flat while
    queues keep publishing); returns how many metrics shrank."""
    store = _cw()._metrics
    before = now - fine_window(_rt.scale)
    shrunk = 0
    for (account, region, key), points in store.all_items():
        if isinstance(key, tuple) and key and key[0] in SERVICE_NAMESPACES:
            merged = compact(points, before)
            if merged is not None:
                store.set_scoped(account, region, key, merged)
                shrunk += 1
    return shrunk


def tick(now: float) -> None:
    """Do what is due at ``now``: flush, sample the queues at a local-minute boundary, evaluate."""
    _flush()
    if now - _rt.compacted_at >= COMPACT_EVERY:
        _rt.compacted_at = now
        compact_service_metrics(now)
    minute = _rt.scale.minute
    k = tick_index(now, minute)
    if k > _rt.minute_tick:
        _rt.minute_tick = k
        sample_queues(k * minute)
        evaluate_alarms(k * minute, high_resolution=False)
    if _rt.high_resolution:
        cadence = _rt.scale.cadence(10)
        kh = tick_index(now, cadence)
        if kh > _rt.high_tick:
            _rt.high_tick = kh
            evaluate_alarms(kh * cadence, high_resolution=True)
    if _rt.fresh:
        fresh, _rt.fresh = _rt.fresh, set()
        # A new or updated alarm: evaluated at once over the periods completed so far.
        for high in (False, True):
            cadence = _rt.scale.cadence(10 if high else 60)
            evaluate_alarms(tick_index(now, cadence) * cadence, high_resolution=high, only=fresh)


def seconds_to_next_tick(now: float) -> float:
    minute = _rt.scale.minute
    due = (tick_index(now, minute) + 1) * minute
    if _rt.high_resolution:
        cadence = _rt.scale.cadence(10)
        due = min(due, (tick_index(now, cadence) + 1) * cadence)
    return max(0.0, due - now) + 0.002  # a hair past the boundary, so the tick lands after it


async def run_scheduler() -> None:
    assert _rt.wake is not None
    while True:
        _rt.wake.clear()
        try:
            await asyncio.wait_for(_rt.wake.wait(), timeout=seconds_to_next_tick(time.time()))
        except TimeoutError:
            pass
        try:
            tick(time.time())
        except Exception:
            logger.exception("CloudWatch scheduler tick failed")


def _start() -> None:
    loop = asyncio.get_running_loop()
    _rt.loop = loop
    _rt.wake = asyncio.Event()
    _rt.recorder.notify = _notify_flush
    if _rt.task is None or _rt.task.done():
        _rt.task = loop.create_task(run_scheduler(), name="orderlab-cloudwatch")
    logger.info("CloudWatch: metrics and alarm scheduler running (time scale %g: one CloudWatch minute = %.3g s)",
                _rt.scale.factor, _rt.scale.minute)


def _stop() -> None:
    _rt.recorder.notify = None
    if _rt.task is not None:
        _rt.task.cancel()
        _rt.task = None
    _rt.loop = None


# ---------------------------------------------------------------------------
# apply()
# ---------------------------------------------------------------------------

_CLOUDWATCH_NEEDS = ("_metrics", "_alarms", "_history_entries", "_evaluate_alarm", "_evaluate_all_alarms",
                     "_dispatch_alarm_actions", "_put_metric_alarm", "_put_metric_data", "_set_alarm_state",
                     "_evaluate_parent_alarms", "_is_sns_action_arn", "_error", "_cbor_ok", "_json_ok", "_xml",
                     "handle_request", "reset", "_dims_key")
_SQS_NEEDS = ("_queue_by_arn", "_queues", "_queues_lock")


def apply() -> None:
    import ministack.app as ministack_app
    from ministack.services import cloudwatch, sns, sqs

    missing = [f"cloudwatch.{n}" for n in _CLOUDWATCH_NEEDS if not hasattr(cloudwatch, n)]
    missing += [f"sqs.{n}" for n in _SQS_NEEDS if not hasattr(sqs, n)]
    missing += [f"{m.__name__}.{n}" for m, n in ((sns, "publish_internal"),
                                                  (ministack_app, "_handle_lifespan")) if not hasattr(m, n)]
    if missing:
        raise PatchError(f"cannot patch CloudWatch: MiniStack lacks {', '.join(missing)}")
    if dims_key({"b": "2", "a": "1"}) != cloudwatch._dims_key({"b": "2", "a": "1"}):
        raise PatchError("cannot patch CloudWatch: MiniStack keys metric dimensions differently now")
    _rt.scale = time_scale_from_env()
    _rt.writer = MetricWriter(cloudwatch._metrics)

    # Alarms: evaluated by the scheduler only (AWS evaluates on its own clock, not on PutMetricData).
    wrap(cloudwatch, "_evaluate_alarm", lambda original: lambda alarm: None)
    wrap(cloudwatch, "_evaluate_all_alarms", lambda original: lambda: None)
    wrap(cloudwatch, "_dispatch_alarm_actions",
           lambda original: lambda alarm, old_state, new_state, reason: _dispatch_actions(
               alarm, old_state, new_state, reason))
    wrap(cloudwatch, "_put_metric_alarm", _make_put_metric_alarm)
    wrap(cloudwatch, "_set_alarm_state", _make_set_alarm_state)
    wrap(cloudwatch, "_put_metric_data", _make_put_metric_data)

    def make_handle_request(original):
        async def handle_request(method, path, headers, body, query_params):
            _flush()  # what was invoked before this request is in the answer
            return await original(method, path, headers, body, query_params)
        return handle_request

    def make_reset(original):
        def reset(*args: Any, **kwargs: Any):
            result = original(*args, **kwargs)
            if _rt.writer is not None:
                _rt.writer.reset()
            _rt.fresh.clear()
            _rt.meters.clear()
            return result
        return reset

    wrap(cloudwatch, "handle_request", make_handle_request)
    wrap(cloudwatch, "reset", make_reset)

    subscribe(bus)

    def make_lifespan(original):
        async def _handle_lifespan(scope, receive, send):
            _start()
            try:
                return await original(scope, receive, send)
            finally:
                _stop()
        return _handle_lifespan

    wrap(ministack_app, "_handle_lifespan", make_lifespan)
