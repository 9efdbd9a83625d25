"""Watch the pipeline from a notebook: metrics as DataFrames, alarm states and history, alerts.

>>> frame = metric_frame(lab, [sqs_metric("DLQ", "alice-order-dlq")], start=t0)       # doctest: +SKIP
>>> frame.head()                                                                        # doctest: +SKIP
                  timestamp label  value
0 2024-05-01 12:00:00+00:00   DLQ    0.0
>>> wait_for_alarm_state(lab, "alice-order-dlq-not-empty", "ALARM", timeout=300)       # doctest: +SKIP
>>> inbox = AlertInbox(lab, stack.inbox.url)                                            # doctest: +SKIP
>>> alert = inbox.wait_for("alice-order-dlq-not-empty", "ALARM", timeout=60)           # doctest: +SKIP
>>> alert.new_state, alert.old_state, alert.message["Trigger"]["MetricName"]            # doctest: +SKIP
('ALARM', 'OK', 'ApproximateNumberOfMessagesVisible')

Every wait is bounded and says, on timeout, what it saw last. Sources (AWS API reference):
GetMetricData https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html,
DescribeAlarmHistory https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html,
the alarm notification an SNS subscriber receives
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notifications.html (its JSON is the
``Message`` of the SNS envelope, https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

import localcloud
from helpers.aws.sns import find_subscriptions
from helpers.core.waiters import WaitTimeout, wait_until

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "ALARM_STATES",
    "Alert",
    "AlertInbox",
    "MetricQuery",
    "alarm_history_frame",
    "alarm_state",
    "alarm_states",
    "api_metric",
    "confirm_email_from_mailbox",
    "confirmation_link",
    "lambda_metrics",
    "local_mailbox",
    "local_time_scale",
    "metric_frame",
    "metric_period",
    "parse_alert",
    "parse_time",
    "sqs_metric",
    "state_intervals",
    "utcnow",
    "wait_for_alarm_state",
]

ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_SUMMARY = re.compile(r"from (\w+) to (\w+)")
AWS_TIMING_HINT = (
    "on AWS, SQS and Lambda publish one data point per minute and an alarm is evaluated once a "
    "minute, so a state change takes 1-5 minutes after the event"
)

# How often wait_for_alarm_state asks: AWS evaluates an alarm once a minute; the local cloud's
# scaled clock (12x by default) every 5 s, a high-resolution alarm every 0.8 s, and a 1 s poll
# would see each change half a second late on average.
ALARM_POLL_SECONDS = 1.0
LOCAL_ALARM_POLL_SECONDS = 0.25

TIME_SCALE_ENV = "ORDERLAB_CLOUDWATCH_TIME_SCALE"
# What the local cloud's CloudWatch scheduler logs when it starts (localcloud/services/cloudwatch/runtime.py).
_SCALE_LINE = re.compile(r"CloudWatch: metrics and alarm scheduler running \(time scale ([0-9.]+)")
# GetMetricData periods shorter than a minute (AWS accepts these for recent data).
_SHORT_PERIODS = (1, 5, 10, 20, 30)


def local_time_scale(lab: Lab) -> float | None:
    """How many times faster than AWS the local cloud's CloudWatch clock runs; None on AWS or another endpoint.

    The running cloud's own word (its log says which scale it started with) wins over this
    process's ``ORDERLAB_CLOUDWATCH_TIME_SCALE``: the cloud may have been started from another shell.
    """
    if not lab.target.is_local or lab.target.port is None:
        return None
    try:
        found = _SCALE_LINE.findall(localcloud.paths.log_file(lab.target.port).read_text(errors="replace"))
    except OSError:
        found = []
    if found:
        return float(found[-1])
    return localcloud.cloudwatch_time_scale()


def metric_period(lab: Lab, scale: float | None = None) -> int:
    """The GetMetricData period (seconds) that shows one point per CloudWatch minute: 60 on AWS; on the
    local cloud, whose minute lasts ``60 / scale`` real seconds, the longest valid period within it.

    >>> metric_period(None, scale=1), metric_period(None, scale=12), metric_period(None, scale=2.5)
    (60, 5, 20)
    """
    if scale is None:
        scale = local_time_scale(lab) if lab is not None else None
    if not scale or scale <= 1:
        return 60
    minute = 60 / scale
    return max([p for p in _SHORT_PERIODS if p <= minute] or [1])


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def parse_time(value: Any) -> datetime:
    """A timestamp as AWS writes it (ISO 8601, ``+0000`` offsets, epoch seconds) -> aware UTC datetime.

    >>> parse_time("2024-05-01T12:00:05.123+0000")
    datetime.datetime(2024, 5, 1, 12, 0, 5, 123000, tzinfo=datetime.timezone.utc)
    >>> parse_time("2024-05-01T12:00:05Z").isoformat()
    '2024-05-01T12:00:05+00:00'
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # +0000 -> +00:00
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricQuery:
    """One metric and statistic to fetch; ``label`` names its line in plots and frames."""

    label: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, str] = field(default_factory=dict)
    stat: str = "Sum"

    def as_query(self, query_id: str, period: int) -> dict[str, Any]:
        """The ``MetricDataQueries`` entry for GetMetricData."""
        return {
            "Id": query_id,
            "Label": self.label,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric_name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(self.dimensions.items())],
                },
                "Period": int(period),
                "Stat": self.stat,
            },
        }


def sqs_metric(
    label: str, queue_name: str, metric: str = "ApproximateNumberOfMessagesVisible", stat: str = "Maximum"
) -> MetricQuery:
    """An AWS/SQS metric of one queue (depth metrics are gauges: Maximum per period)."""
    return MetricQuery(label, "AWS/SQS", metric, {"QueueName": queue_name}, stat)


def lambda_metrics(function_name: str, *, label: str | None = None) -> list[MetricQuery]:
    """Invocations (Sum), Errors (Sum) and Duration (Average, ms) of one function.

    >>> [q.label for q in lambda_metrics("alice-order-worker", label="worker")]
    ['worker Invocations', 'worker Errors', 'worker Duration']
    """
    name = label or function_name
    return [
        MetricQuery(f"{name} {metric}", "AWS/Lambda", metric, {"FunctionName": function_name}, stat)
        for metric, stat in (("Invocations", "Sum"), ("Errors", "Sum"), ("Duration", "Average"))
    ]


def api_metric(label: str, api_id: str, metric: str, stat: str = "Sum") -> MetricQuery:
    """An AWS/ApiGateway metric of an HTTP API (``Count``, ``4xx``, ``5xx``, ``Latency``...)."""
    return MetricQuery(label, "AWS/ApiGateway", metric, {"ApiId": api_id}, stat)


def metric_frame(
    lab: Lab, queries: Sequence[MetricQuery], *, start: datetime, end: datetime | None = None, period: int = 60
) -> pd.DataFrame:
    """GetMetricData (paginated) for ``queries`` between ``start`` and ``end`` (default now): a long frame.

    Columns ``timestamp`` (UTC), ``label``, ``value``, oldest first. A metric with no data in
    the window has no rows (CloudWatch returns no data point rather than a zero).
    """
    if not queries:
        return pd.DataFrame(columns=["timestamp", "label", "value"])
    end = end or utcnow()
    ids = {}
    for index, query in enumerate(queries):
        # An Id starts with a lowercase letter and holds letters, digits and underscores only.
        ids[f"m{index}_{_ID_UNSAFE.sub('_', query.metric_name)[:40].lower()}"] = query
    paginator = lab.client("cloudwatch").get_paginator("get_metric_data")
    rows: list[dict[str, Any]] = []
    for page in paginator.paginate(
        MetricDataQueries=[q.as_query(qid, period) for qid, q in ids.items()],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    ):
        for result in page.get("MetricDataResults", []):
            asked = ids.get(result.get("Id", ""))
            label = asked.label if asked else result.get("Label", result.get("Id"))
            for timestamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                rows.append({"timestamp": parse_time(timestamp), "label": label, "value": float(value)})
    frame = pd.DataFrame(rows, columns=["timestamp", "label", "value"])
    if frame.empty:
        return frame
    return frame.sort_values(["timestamp", "label"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------------------------


def alarm_state(lab: Lab, name: str) -> dict[str, Any]:
    """DescribeAlarms of one metric alarm: its ``StateValue``, ``StateReason``... (KeyError if it does not exist)."""
    found = lab.client("cloudwatch").describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])
    alarms = found.get("MetricAlarms") or []
    if not alarms:
        raise KeyError(f"there is no CloudWatch alarm named {name!r}")
    return dict(alarms[0])


def alarm_states(lab: Lab, names: Iterable[str]) -> dict[str, str]:
    """``{alarm name: state}`` for these alarms (one DescribeAlarms call per 100 names)."""
    names = list(names)
    states: dict[str, str] = {}
    cloudwatch = lab.client("cloudwatch")
    for start in range(0, len(names), 100):
        reply = cloudwatch.describe_alarms(AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm"])
        states.update({a["AlarmName"]: a["StateValue"] for a in reply.get("MetricAlarms", [])})
    return states


def wait_for_alarm_state(
    lab: Lab, name: str, state: str | Iterable[str], *, timeout: float, interval: float | None = None
) -> dict[str, Any]:
    """Poll DescribeAlarms until alarm ``name`` is in ``state`` (one state or several); return the alarm.

    Bounded: after ``timeout`` seconds :class:`~helpers.core.waiters.WaitTimeout` says the state and
    reason it saw last, and how long such a change takes on AWS.

    >>> wait_for_alarm_state(lab, "alice-order-dlq-not-empty", "ALARM", timeout=300)["StateReason"]  # doctest: +SKIP
    'Threshold Crossed: 1 datapoint [1.0 (01/05/24 12:00:00)] was greater than the threshold (0.0).'
    """
    wanted = (state,) if isinstance(state, str) else tuple(state)
    if interval is None:
        interval = LOCAL_ALARM_POLL_SECONDS if lab.target.is_local else ALARM_POLL_SECONDS
    unknown = [s for s in wanted if s not in ALARM_STATES]
    if unknown:
        raise ValueError(f"unknown alarm state(s) {unknown}: use {ALARM_STATES}")
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        alarm = alarm_state(lab, name)
        last.update(alarm)
        return alarm if alarm.get("StateValue") in wanted else None

    try:
        return wait_until(reached, timeout=timeout, interval=interval, what=f"alarm {name} to be {' or '.join(wanted)}")
    except WaitTimeout as error:
        raise WaitTimeout(
            error.what,
            timeout,
            last.get("StateValue"),
            detail=f"its reason: {last.get('StateReason')!r}; {AWS_TIMING_HINT}",
        ) from None


def _history_states(item: Mapping[str, Any]) -> tuple[str | None, str | None, str]:
    """(old state, new state, reason) of one StateUpdate history item."""
    try:
        data = json.loads(item.get("HistoryData") or "{}")
        old = (data.get("oldState") or {}).get("stateValue")
        new = (data.get("newState") or {}).get("stateValue")
        reason = (data.get("newState") or {}).get("stateReason", "")
        if old or new:
            return old, new, reason
    except ValueError:
        pass
    match = _SUMMARY.search(str(item.get("HistorySummary", "")))
    return (match.group(1), match.group(2), "") if match else (None, None, "")


def alarm_history_frame(
    lab: Lab, alarm_names: Iterable[str], *, start: datetime, end: datetime | None = None
) -> pd.DataFrame:
    """The alarms' state changes (DescribeAlarmHistory, StateUpdate items) between ``start`` and ``end``.

    Columns ``alarm``, ``timestamp`` (UTC), ``old_state``, ``new_state``, ``reason``, oldest first.
    """
    cloudwatch = lab.client("cloudwatch")
    end = end or utcnow()
    rows = []
    for name in alarm_names:
        pages = cloudwatch.get_paginator("describe_alarm_history").paginate(
            AlarmName=name,
            AlarmTypes=["MetricAlarm"],
            HistoryItemType="StateUpdate",
            StartDate=start,
            EndDate=end,
            ScanBy="TimestampAscending",
        )
        for page in pages:
            for item in page.get("AlarmHistoryItems", []):
                old, new, reason = _history_states(item)
                rows.append(
                    {
                        "alarm": item.get("AlarmName", name),
                        "timestamp": parse_time(item["Timestamp"]),
                        "old_state": old,
                        "new_state": new,
                        "reason": reason,
                    }
                )
    frame = pd.DataFrame(rows, columns=["alarm", "timestamp", "old_state", "new_state", "reason"])
    return frame.sort_values(["timestamp", "alarm"], kind="stable").reset_index(drop=True) if not frame.empty else frame


def state_intervals(
    history: pd.DataFrame, *, start: datetime, end: datetime, current: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Turn state changes into ``(alarm, state, start, end)`` intervals covering ``[start, end]``.

    An alarm's state before its first change is that change's ``old_state``; an alarm with no
    change in the window is in its ``current`` state throughout.

    >>> t = lambda s: datetime(2024, 5, 1, 12, 0, s, tzinfo=UTC)
    >>> history = pd.DataFrame([{"alarm": "dlq", "timestamp": t(10), "old_state": "OK", "new_state": "ALARM"},
    ...                         {"alarm": "dlq", "timestamp": t(30), "old_state": "ALARM", "new_state": "OK"}])
    >>> intervals = state_intervals(history, start=t(0), end=t(40), current={"dlq": "OK", "age": "OK"})
    >>> [(r.alarm, r.state, r.start.second, r.end.second) for r in intervals.itertuples()]
    [('dlq', 'OK', 0, 10), ('dlq', 'ALARM', 10, 30), ('dlq', 'OK', 30, 40), ('age', 'OK', 0, 40)]
    """
    rows: list[dict[str, Any]] = []
    names = list(dict.fromkeys([*(history["alarm"] if not history.empty else []), *(current or {})]))
    for name in names:
        changes = history[history["alarm"] == name].sort_values("timestamp") if not history.empty else history
        changes = [c for c in changes.itertuples() if start <= c.timestamp <= end] if not changes.empty else []
        state = changes[0].old_state if changes else (current or {}).get(name)
        at = start
        for change in changes:
            if change.timestamp > at and state:
                rows.append({"alarm": name, "state": state, "start": at, "end": change.timestamp})
            at, state = change.timestamp, change.new_state
        if state and end > at:
            rows.append({"alarm": name, "state": state, "start": at, "end": end})
    return pd.DataFrame(rows, columns=["alarm", "state", "start", "end"])


# ---------------------------------------------------------------------------------------------
# Alerts: the alarm notifications the SQS subscriber of the alerts topic receives
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One CloudWatch alarm notification as delivered through SNS (envelope + the alarm's JSON message)."""

    alarm_name: str
    new_state: str
    old_state: str
    reason: str
    state_change_time: datetime
    subject: str
    topic_arn: str
    message_id: str
    message: dict[str, Any]
    envelope: dict[str, Any]

    @property
    def trigger(self) -> dict[str, Any]:
        """The alarm's metric, statistic, threshold... (the notification's ``Trigger``)."""
        return dict(self.message.get("Trigger") or {})

    def summary(self) -> str:
        return (
            f"{self.state_change_time:%H:%M:%S} {self.alarm_name}: {self.old_state} → {self.new_state} — {self.reason}"
        )


def parse_alert(body: str) -> Alert | None:
    """An alarm notification from an SQS message body (the SNS envelope: raw delivery off); None for
    anything else (e.g. a message that is not an alarm notification).

    >>> message = {"AlarmName": "a-dlq", "NewStateValue": "ALARM", "OldStateValue": "OK",
    ...            "NewStateReason": "Threshold Crossed", "StateChangeTime": "2024-05-01T12:00:05.123+0000",
    ...            "Trigger": {"MetricName": "ApproximateNumberOfMessagesVisible"}}
    >>> envelope = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:1:a-alerts",
    ...             "Subject": 'ALARM: "a-dlq" in US East (N. Virginia)', "Message": json.dumps(message)}
    >>> alert = parse_alert(json.dumps(envelope))
    >>> alert.alarm_name, alert.old_state, alert.new_state, alert.trigger["MetricName"]
    ('a-dlq', 'OK', 'ALARM', 'ApproximateNumberOfMessagesVisible')
    >>> parse_alert('{"Type": "Notification", "Message": "hello"}') is None
    True
    """
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification":
        return None
    try:
        message = json.loads(envelope.get("Message") or "")
    except ValueError:
        return None
    if not isinstance(message, dict) or "AlarmName" not in message or "NewStateValue" not in message:
        return None
    changed = message.get("StateChangeTime") or envelope.get("Timestamp")
    return Alert(
        alarm_name=str(message["AlarmName"]),
        new_state=str(message["NewStateValue"]),
        old_state=str(message.get("OldStateValue", "")),
        reason=str(message.get("NewStateReason", "")),
        state_change_time=parse_time(changed) if changed else utcnow(),
        subject=str(envelope.get("Subject") or ""),
        topic_arn=str(envelope.get("TopicArn", "")),
        message_id=str(envelope.get("MessageId", "")),
        message=message,
        envelope=envelope,
    )


class AlertInbox:
    """Reads the alerts queue (the topic's SQS subscriber) and keeps every alert it has read.

    Reading deletes the messages from the queue (they are kept in :attr:`alerts`), so a later
    wait sees alerts read by an earlier one.

    >>> inbox = AlertInbox(lab, stack.inbox.url)                                  # doctest: +SKIP
    >>> inbox.wait_for("alice-order-dlq-not-empty", "ALARM", timeout=60).summary() # doctest: +SKIP
    '12:00:05 alice-order-dlq-not-empty: OK → ALARM — Threshold Crossed: ...'
    """

    def __init__(self, lab: Lab, queue_url: str) -> None:
        self.lab = lab
        self.queue_url = queue_url
        self.alerts: list[Alert] = []
        self.other: list[str] = []  # bodies that were not alarm notifications

    def poll(self, *, wait_seconds: int = 1) -> list[Alert]:
        """Receive everything waiting now (batches of 10, long poll ``wait_seconds``); return the new alerts."""
        sqs = self.lab.client("sqs")
        new: list[Alert] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                alert = parse_alert(message.get("Body", ""))
                if alert is None:
                    self.other.append(message.get("Body", ""))
                else:
                    new.append(alert)
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            wait_seconds = 0  # drain the rest without waiting
        self.alerts.extend(new)
        return new

    def find(
        self, alarm_name: str, state: str, *, since: datetime | None = None, from_state: str | None = None
    ) -> Alert | None:
        """The first alert already read for ``alarm_name`` entering ``state`` (at or after ``since``;
        only from ``from_state`` if given: an INSUFFICIENT_DATA → OK alert a moment before the
        alarm fired is not its recovery from ALARM)."""
        for alert in self.alerts:
            if (
                alert.alarm_name == alarm_name
                and alert.new_state == state
                and (from_state is None or alert.old_state == from_state)
                and (since is None or alert.state_change_time >= since - timedelta(seconds=1))
            ):
                return alert
        return None

    def wait_for(
        self,
        alarm_name: str,
        state: str,
        *,
        timeout: float,
        since: datetime | None = None,
        from_state: str | None = None,
    ) -> Alert:
        """Wait (bounded) until an alert says ``alarm_name`` went to ``state`` (from ``from_state``); return it."""

        def arrived() -> Alert | None:
            found = self.find(alarm_name, state, since=since, from_state=from_state)
            if found is None:
                self.poll(wait_seconds=1)
                found = self.find(alarm_name, state, since=since, from_state=from_state)
            return found

        try:
            return wait_until(
                arrived,
                timeout=timeout,
                interval=0.2,
                what=f"an alert that {alarm_name} went to {state} (queue {self.queue_url})",
            )
        except WaitTimeout as error:
            seen = [a.summary() for a in self.alerts[-5:]]
            raise WaitTimeout(
                error.what,
                timeout,
                None,
                detail=f"alerts read so far: {seen or 'none'}; check the alarm's actions and the "
                "queue's policy (it must allow the topic)",
            ) from None

    def frame(self) -> pd.DataFrame:
        """Every alert read so far: ``time``, ``alarm``, ``old_state``, ``new_state``, ``reason``."""
        return pd.DataFrame(
            [
                {
                    "time": a.state_change_time,
                    "alarm": a.alarm_name,
                    "old_state": a.old_state,
                    "new_state": a.new_state,
                    "reason": a.reason,
                }
                for a in self.alerts
            ],
            columns=["time", "alarm", "old_state", "new_state", "reason"],
        )


# ---------------------------------------------------------------------------------------------
# E-mail: the local cloud's mailbox (on AWS the learner's real inbox)
# ---------------------------------------------------------------------------------------------

_LINK = re.compile(r"https?://\S+")


def local_mailbox(lab: Lab) -> Any:
    """The local cloud's mailbox (:class:`localcloud.Mailbox`) on the local target, else None
    (on AWS, SNS mails a real inbox that no notebook can read)."""
    if not lab.target.is_local or lab.target.port is None:
        return None
    return localcloud.Mailbox(lab.target.port)


def confirmation_link(body: str) -> str | None:
    r"""The "confirm subscription" link of an SNS confirmation e-mail's text (AWS's or the local cloud's).

    >>> confirmation_link("To confirm ... visit the link below:\nhttps://sns.us-east-1.amazonaws.com/"
    ...                   "confirmation.html?TopicArn=arn:aws:sns:us-east-1:1:t&Token=abc&Endpoint=a@b.c\n\nPlease")
    'https://sns.us-east-1.amazonaws.com/confirmation.html?TopicArn=arn:aws:sns:us-east-1:1:t&Token=abc&Endpoint=a@b.c'
    >>> confirmation_link("no link here") is None
    True
    """
    for url in _LINK.findall(body or ""):
        if "ConfirmSubscription" in url or "confirmation.html" in url:
            return url.rstrip(".,)")
    return None


def confirm_email_from_mailbox(lab: Lab, topic_arn: str, address: str, *, timeout: float = 10) -> Any:
    """Local target: open SNS's confirmation mail for ``address`` in the mailbox and follow its link
    (what a learner does by clicking it); return the mail. Waits (bounded) until the subscription
    is confirmed. Raises on AWS: there the learner clicks the link in their own inbox.

    >>> confirm_email_from_mailbox(lab, topic.arn, "learner@example.com").subject   # doctest: +SKIP
    'AWS Notification - Subscription Confirmation'
    """
    mailbox = local_mailbox(lab)
    if mailbox is None:
        raise RuntimeError(
            f"No mailbox to read on {lab.target.describe()}: open the confirmation e-mail SNS sent "
            f"to {address} and click its link"
        )

    def confirmation() -> Any:
        mails = [
            m
            for m in mailbox.messages(address)
            if "Subscription Confirmation" in m.subject and topic_arn in m.body and confirmation_link(m.body)
        ]
        return mails[-1] if mails else None  # the newest: each Subscribe of a pending address mails a new token

    mail = wait_until(
        confirmation,
        timeout=timeout,
        interval=0.1,
        what=f"SNS's confirmation mail to {address} in the local mailbox ({mailbox.root})",
    )
    link = confirmation_link(mail.body)
    assert link is not None  # confirmation() only accepts mails with a link
    # The link points at the local cloud (127.0.0.1): following it is the learner's click.
    with urllib.request.urlopen(link, timeout=10) as reply:
        reply.read()

    def confirmed() -> bool:
        subscriptions = find_subscriptions(lab, topic_arn, protocol="email", endpoint=address)
        return bool(subscriptions) and not any(s.pending for s in subscriptions)

    wait_until(confirmed, timeout=timeout, interval=0.1, what=f"the e-mail subscription of {address} to be confirmed")
    return mail
