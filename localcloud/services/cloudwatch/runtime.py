"""CloudWatch's running part: staged service datapoints, queue sampling, alarm evaluation, the scheduler.

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
from typing import Any

from localcloud.patches import PatchError, request_scope
from localcloud.services.cloudwatch.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
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
from localcloud.services.cloudwatch.api import MAX_EVALUATION_SECONDS
from localcloud.services.cloudwatch.notify import email_text, notification, subject
from localcloud.services.cloudwatch.sources import (
    SENT_COUNTED,
    Datum,
    MetricWriter,
    QueueMeters,
    Recorder,
    compact,
    dims_key,
    message_size,
    queue_arn,
    queue_gauges,
)

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
        self.fresh: set[tuple[str, str, str]] = set()  # alarms to evaluate at once (created/updated)


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


def _record(
    account: str,
    region: str,
    namespace: str,
    name: str,
    dimension_sets: list,
    ts: float,
    value: float,
    unit: str,
    *,
    aggregate: bool = True,
) -> None:
    for dims in dimension_sets:
        _rt.recorder.add(Datum(account, region, namespace, name, dims, ts, value, unit, aggregate))


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
        arn = queue_arn(queue)
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
        values = [
            ("ApproximateNumberOfMessagesVisible", gauges.visible, "Count"),
            ("ApproximateNumberOfMessagesNotVisible", gauges.not_visible, "Count"),
            ("ApproximateNumberOfMessagesDelayed", gauges.delayed, "Count"),
            ("ApproximateAgeOfOldestMessage", gauges.oldest_age, "Seconds"),
            ("NumberOfMessagesSent", meter.sent, "Count"),
            ("NumberOfMessagesReceived", meter.received, "Count"),
            ("NumberOfMessagesDeleted", meter.deleted, "Count"),
            ("NumberOfEmptyReceives", meter.empty_receives, "Count"),
        ]
        if fifo:
            values.append(("ApproximateNumberOfGroupsWithInflightMessages", gauges.groups_in_flight, "Count"))
        for name, value, unit in values:
            _rt.writer.write(Datum(account, region, "AWS/SQS", name, dims, stamp, value, unit, aggregate=False))
        if meter.size_count:
            _rt.writer.write_stat(
                account,
                region,
                "AWS/SQS",
                "SentMessageSize",
                dims,
                stamp,
                "Bytes",
                meter.size_count,
                meter.size_sum,
                meter.size_min,
                meter.size_max,
            )
    _rt.meters.forget_others(present)
    return sampled


# ---------------------------------------------------------------------------
# Alarm evaluation
# ---------------------------------------------------------------------------


def _rule(alarm: dict) -> AlarmRule:
    return AlarmRule(
        alarm.get("ComparisonOperator") or "",
        float(alarm.get("Threshold") or 0.0),
        int(alarm.get("EvaluationPeriods") or 1),
        alarm.get("DatapointsToAlarm"),
        alarm.get("TreatMissingData") or "missing",
    )


def _alarm_period(alarm: dict) -> int:
    if alarm.get("Metrics"):
        for query in alarm["Metrics"]:
            if query.get("MetricStat"):
                return int(query["MetricStat"].get("Period") or 60)
        return int(next((q.get("Period") for q in alarm["Metrics"] if q.get("Period")), 60))
    return int(alarm.get("Period") or 60)


def _series(
    account: str, region: str, metric: dict, *, end: float, period: int, count: int, statistic: str, unit: str | None
) -> list[PeriodValue | None]:
    dims = {str(d.get("Name")): d.get("Value", "") for d in metric.get("Dimensions") or [] if isinstance(d, dict)}
    key = (metric.get("Namespace"), metric.get("MetricName"), dims_key(dims))
    points = _cw()._metrics.get_scoped(account, region, key) or []
    return period_values(
        points,
        end=end,
        length=_rt.scale.length(period),
        count=count,
        statistic=statistic,
        unit=unit,
        snap=_rt.scale.minute if period < 60 else None,
    )


def _values(account: str, region: str, alarm: dict, end: float, count: int) -> tuple[list[PeriodValue | None], str]:
    """The alarm's period values (newest first) and the statistic that made them."""
    period = _alarm_period(alarm)
    if not alarm.get("Metrics"):
        statistic = alarm.get("ExtendedStatistic") or alarm.get("Statistic") or "Average"
        metric = {
            "Namespace": alarm.get("Namespace"),
            "MetricName": alarm.get("MetricName"),
            "Dimensions": alarm.get("Dimensions"),
        }
        return _series(
            account, region, metric, end=end, period=period, count=count, statistic=statistic, unit=alarm.get("Unit")
        ), statistic
    series: dict[str, list] = {}
    for query in alarm["Metrics"]:
        stat = query.get("MetricStat")
        if stat:
            series[query["Id"]] = _series(
                account,
                region,
                stat.get("Metric") or {},
                end=end,
                period=period,
                count=count,
                statistic=stat.get("Stat") or "Average",
                unit=stat.get("Unit"),
            )
    pending = [q for q in alarm["Metrics"] if q.get("Expression")]
    for _ in range(len(pending)):
        for query in list(pending):
            tree = parse_expression(query["Expression"])
            if expression_ids(tree) <= set(series):
                length = _rt.scale.length(period)
                raw = evaluate_expression(tree, series, count)
                series[query["Id"]] = [
                    None if v is None else PeriodValue(end - length * (i + 1), v, 1.0) for i, v in enumerate(raw)
                ]
                pending.remove(query)
    returned = next(q for q in alarm["Metrics"] if q.get("ReturnData", True))
    statistic = ((returned.get("MetricStat") or {}).get("Stat")) or ""
    return series.get(returned["Id"], [None] * count), statistic


def _decide(account: str, region: str, alarm: dict, end: float) -> tuple[Decision, list, str]:
    rule = _rule(alarm)
    values, statistic = _values(account, region, alarm, end, rule.range)
    decision = evaluate(values, rule, namespace=str(alarm.get("Namespace") or ""))
    if (
        alarm.get("EvaluateLowSampleCountPercentile") == "ignore"
        and percentile_of(statistic) is not None
        and any(low_sample_count(statistic, p.sample_count) for p in decision.evaluated)
    ):
        decision = Decision(None)  # "ignore the metric while the sample size is low"
    return decision, values, statistic


def _history(name: str, alarm_type: str, item_type: str, summary: str, data: dict, when: float) -> None:
    stamp = iso_millis(when).replace("+0000", "Z")
    _cw()._history_entries().append(
        {
            "AlarmName": name,
            "AlarmType": alarm_type,
            "Timestamp": stamp,
            "HistoryItemType": item_type,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data, separators=(",", ":")),
        }
    )


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
    _history(
        alarm["AlarmName"],
        "MetricAlarm",
        "StateUpdate",
        f"Alarm updated from {old_state} to {new_state}",
        {"version": "1.0", "oldState": old, "newState": _state(new_state, reason, reason_data)},
        when,
    )
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
    data = state_reason_data(
        decision,
        rule,
        statistic=statistic,
        period=_alarm_period(alarm),
        query_date=time.time(),
        values=values,
        unit=alarm.get("Unit"),
    )
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


def dispatch_actions(alarm: dict, old_state: str, new_state: str, reason: str) -> None:
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
    document = notification(
        alarm,
        old_state=old_state,
        new_state=new_state,
        reason=reason,
        change_time=when,
        account_id=account,
        region=region,
    )
    # One message per protocol, as AWS sends it: the JSON document to SQS, Lambda, HTTP(S) and
    # email-json subscribers, a readable mail to email subscribers.
    message = json.dumps(
        {"default": json.dumps(document, separators=(",", ":")), "email": email_text(document, region)}
    )
    title = subject(new_state, alarm.get("AlarmName", ""), region)
    for action in actions:
        if not _cw()._is_sns_action_arn(action):
            logger.warning(
                "alarm %s: action %s is not an SNS topic of %s/%s; the local cloud runs SNS actions only",
                alarm.get("AlarmName"),
                action,
                account,
                region,
            )
            continue
        try:
            if sns.publish_internal(action, message, title, message_structure="json") is None:
                logger.warning("alarm %s: SNS topic %s does not exist", alarm.get("AlarmName"), action)
        except Exception:
            logger.exception("alarm %s: publishing to %s failed", alarm.get("AlarmName"), action)


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


def start() -> None:
    loop = asyncio.get_running_loop()
    _rt.loop = loop
    _rt.wake = asyncio.Event()
    _rt.recorder.notify = _notify_flush
    if _rt.task is None or _rt.task.done():
        _rt.task = loop.create_task(run_scheduler(), name="orderlab-cloudwatch")
    logger.info(
        "CloudWatch: metrics and alarm scheduler running (time scale %g: one CloudWatch minute = %.3g s)",
        _rt.scale.factor,
        _rt.scale.minute,
    )


def stop() -> None:
    _rt.recorder.notify = None
    if _rt.task is not None:
        _rt.task.cancel()
        _rt.task = None
    _rt.loop = None
