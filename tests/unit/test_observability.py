"""Unit tests for step 6's reading side (no cloud): alarm notifications, alarm-state intervals, log
lines, the plots, and the business metrics the handlers publish (CloudWatch embedded metric format).

AWS references: alarm notification https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notifications.html,
SNS envelope https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html,
EMF https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import copy
import doctest
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from helpers.learn import plots
from helpers.learn.events import FakeLambdaContext, http_api_event, sqs_event, sqs_record
from helpers.ops import logs, observability
from helpers.ops.observability import parse_alert, parse_time, state_intervals

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# An alarm notification as CloudWatch publishes it (the AWS documentation's example, our names).
ALARM_MESSAGE = {
    "AlarmName": "alice-order-dlq-not-empty",
    "AlarmDescription": "Orders are waiting in the dead-letter queue",
    "AWSAccountId": "123456789012",
    "AlarmConfigurationUpdatedTimestamp": "2024-05-01T11:59:00.000+0000",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (01/05/24 12:00:00)] was greater "
    "than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
    "StateChangeTime": "2024-05-01T12:01:05.123+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:alice-order-dlq-not-empty",
    "OldStateValue": "OK",
    "OKActions": ["arn:aws:sns:us-east-1:123456789012:alice-alerts"],
    "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:alice-alerts"],
    "InsufficientDataActions": [],
    "Trigger": {
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Namespace": "AWS/SQS",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [{"value": "alice-order-dlq", "name": "QueueName"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    },
}


def envelope(message: Any, **overrides: Any) -> str:
    body = {
        "Type": "Notification",
        "MessageId": "5b0e8b6c-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:alice-alerts",
        "Subject": 'ALARM: "alice-order-dlq-not-empty" in US East (N. Virginia)',
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2024-05-01T12:01:05.456Z",
        "SignatureVersion": "1",
        "Signature": "...",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem",
        "UnsubscribeURL": "https://...",
    }
    body.update(overrides)
    return json.dumps(body)


@pytest.mark.parametrize("module", [observability, logs])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


def test_parse_alert_reads_the_aws_alarm_notification() -> None:
    alert = parse_alert(envelope(ALARM_MESSAGE))

    assert alert is not None
    assert (alert.alarm_name, alert.old_state, alert.new_state) == ("alice-order-dlq-not-empty", "OK", "ALARM")
    assert alert.state_change_time == datetime(2024, 5, 1, 12, 1, 5, 123000, tzinfo=UTC)
    assert alert.reason.startswith("Threshold Crossed")
    assert alert.trigger["Namespace"] == "AWS/SQS"
    assert alert.trigger["Dimensions"] == [{"value": "alice-order-dlq", "name": "QueueName"}]
    assert alert.topic_arn.endswith(":alice-alerts")
    assert alert.subject.startswith("ALARM:")
    assert alert.message == ALARM_MESSAGE
    assert "OK → ALARM" in alert.summary()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps(["a list"]),
        envelope(ALARM_MESSAGE, Type="SubscriptionConfirmation"),
        envelope("plain text published by hand"),
        envelope({"some": "json, but no alarm"}),
        json.dumps(ALARM_MESSAGE),  # raw delivery: no envelope (the lab keeps raw delivery off)
    ],
)
def test_parse_alert_ignores_what_is_not_an_alarm_notification(body: str) -> None:
    assert parse_alert(body) is None


def test_parse_time_handles_the_formats_aws_uses() -> None:
    assert parse_time("2024-05-01T12:01:05.123+0000") == datetime(2024, 5, 1, 12, 1, 5, 123000, tzinfo=UTC)
    assert parse_time("2024-05-01T12:01:05Z") == datetime(2024, 5, 1, 12, 1, 5, tzinfo=UTC)
    assert parse_time("2024-05-01T14:01:05+02:00") == datetime(2024, 5, 1, 12, 1, 5, tzinfo=UTC)
    assert parse_time(1714564865) == datetime(2024, 5, 1, 12, 1, 5, tzinfo=UTC)
    assert parse_time(datetime(2024, 5, 1, 12, 1, 5)).tzinfo == UTC


def test_state_intervals_cover_the_window_without_gaps() -> None:
    history = pd.DataFrame(
        [
            {"alarm": "dlq", "timestamp": at(5), "old_state": "INSUFFICIENT_DATA", "new_state": "OK", "reason": ""},
            {"alarm": "dlq", "timestamp": at(20), "old_state": "OK", "new_state": "ALARM", "reason": ""},
            {"alarm": "dlq", "timestamp": at(50), "old_state": "ALARM", "new_state": "OK", "reason": ""},
            {"alarm": "old", "timestamp": at(-30), "old_state": "OK", "new_state": "ALARM", "reason": ""},
        ]
    )
    frame = state_intervals(history, start=at(0), end=at(60), current={"dlq": "OK", "age": "OK", "old": "ALARM"})

    dlq = frame[frame["alarm"] == "dlq"]
    assert list(dlq["state"]) == ["INSUFFICIENT_DATA", "OK", "ALARM", "OK"]
    assert list(dlq["start"]) == [at(0), at(5), at(20), at(50)]
    assert list(dlq["end"]) == [at(5), at(20), at(50), at(60)]
    # no change inside the window: the current state throughout
    assert frame[frame["alarm"] == "age"][["state", "start", "end"]].values.tolist() == [["OK", at(0), at(60)]]
    assert frame[frame["alarm"] == "old"][["state", "start", "end"]].values.tolist() == [["ALARM", at(0), at(60)]]


def test_state_intervals_of_nothing_is_empty() -> None:
    empty = pd.DataFrame(columns=["alarm", "timestamp", "old_state", "new_state", "reason"])
    assert state_intervals(empty, start=at(0), end=at(1)).empty


def test_format_log_line_puts_the_order_id_first() -> None:
    line = logs.format_log_line(
        {
            "time": at(1.5),
            "level": "WARNING",
            "message": "failed transiently",
            "service": "orders",
            "cold_start": False,
            "receiveCount": 2,
            "orderId": "o-1",
            "function_request_id": "r-1",
        }
    )

    assert line == "12:00:01.500 WARNING failed transiently  orderId=o-1 receiveCount=2"


def test_plots_render_from_frames() -> None:
    frame = pd.DataFrame(
        [
            {"timestamp": at(s), "label": label, "value": v}
            for s, label, v in (
                (0, "DLQ", 0),
                (60, "DLQ", 1),
                (120, "DLQ", 0),
                (0, "w Invocations", 3),
                (0, "w Errors", 0),
                (0, "w Duration", 12.5),
            )
        ]
    )
    history = pd.DataFrame(
        [
            {"alarm": "dlq", "timestamp": at(60), "old_state": "OK", "new_state": "ALARM"},
            {"alarm": "dlq", "timestamp": at(120), "old_state": "ALARM", "new_state": "OK"},
        ]
    )

    figures = [
        plots.metric_lines_plot(
            frame[frame["label"] == "DLQ"], title="DLQ", labels=["DLQ", "missing"], markers={"poison": at(10)}
        ),
        plots.lambda_metrics_plot(frame[frame["label"].str.startswith("w ")]),
        plots.alarm_timeline_plot(state_intervals(history, start=at(0), end=at(180)), markers={"redrive": at(100)}),
        plots.metric_lines_plot(pd.DataFrame(columns=["timestamp", "label", "value"]), title="nothing yet"),
    ]
    for figure in figures:
        assert figure.axes, figure
    timeline = figures[2].axes[0]
    assert [t.get_text() for t in timeline.get_yticklabels()] == ["dlq"]
    colours = [tuple(c.get_facecolor()[0]) for c in timeline.collections]  # one bar per interval: OK, ALARM, OK
    ok, alarm = (matplotlib.colors.to_rgba(plots.ALARM_STATE_COLOURS[s]) for s in ("OK", "ALARM"))
    assert colours == [ok, alarm, ok]
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert legend == ["DLQ", "missing (no data)"]
    import matplotlib.pyplot as plt

    for figure in figures:
        plt.close(figure)


def test_count_series_are_drawn_side_by_side() -> None:
    """Two counts in the same period must both be visible (not one stem hiding the other)."""
    frame = pd.DataFrame(
        [
            {"timestamp": at(s), "label": label, "value": 1.0}
            for s in (0, 5)
            for label in ("OrdersAccepted", "OrdersConfirmed")
        ]
    )
    figure = plots.metric_lines_plot(frame, title="counts", kind="stem")
    accepted, confirmed = (line.get_xdata() for line in figure.axes[0].get_lines()[:2])

    assert len(set(accepted) | set(confirmed)) == 4
    with pytest.raises(ValueError, match="kind"):
        plots.metric_lines_plot(frame, title="x", kind="bars")
    import matplotlib.pyplot as plt

    plt.close(figure)


# --------------------------------------------------------------------------- business metrics (EMF)


def emf_lines(text: str) -> list[dict[str, Any]]:
    """The embedded-metric-format objects among stdout's JSON lines."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            if "_aws" in data:
                found.append(data)
    return found


def metric_values(lines: list[dict[str, Any]]) -> dict[str, float]:
    """Sum of each metric over the EMF lines, checking each line's declaration is well formed."""
    totals: dict[str, float] = {}
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "OrderPipelineLab"
        assert directive["Dimensions"] == [["service"]] and line["service"] == "orders"
        assert isinstance(line["_aws"]["Timestamp"], int)
        for metric in directive["Metrics"]:
            assert metric["Unit"] == "Count"
            value = line[metric["Name"]]
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
    return totals


class _Store:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put_new(self, item: dict[str, Any]) -> bool:
        if item["orderId"] in self.items:
            return False
        self.items[item["orderId"]] = copy.deepcopy(item)
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get(order_id))


@pytest.fixture
def create_order():
    from create_order import handler

    store = _Store()
    handler.set_store(store)
    yield handler
    handler.set_store(None)


def post(handler, unit_price: float, key: str | None = None) -> dict[str, Any]:
    body = {
        "customer": {"id": "cust-1", "name": "Ada"},
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPrice": unit_price}],
    }
    headers = {"Idempotency-Key": key} if key else None
    return handler.lambda_handler(http_api_event("POST", "/orders", body=body, headers=headers), FakeLambdaContext())


def test_create_order_counts_accepted_and_high_value_orders(create_order, capsys) -> None:
    reply = post(create_order, 12.5)
    assert reply["statusCode"] == 201
    lines = emf_lines(capsys.readouterr().out)
    assert metric_values(lines) == {"OrdersAccepted": 1}
    # the order id rides along as metadata (searchable in the log line), never as a dimension
    assert lines[0]["orderId"] == json.loads(reply["body"])["orderId"]

    assert post(create_order, 2500, key="k-high")["statusCode"] == 201
    assert metric_values(emf_lines(capsys.readouterr().out)) == {"OrdersAccepted": 1, "HighValueOrders": 1}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_create_order_counts_nothing_for_a_replay_or_a_refusal(create_order, capsys) -> None:
    post(create_order, 10, key="k-same")
    capsys.readouterr()

    replay = post(create_order, 10, key="k-same")
    assert replay["statusCode"] == 201 and replay["headers"].get("Idempotent-Replayed") == "true"
    refused = create_order.lambda_handler(http_api_event("POST", "/orders", body={"items": []}), FakeLambdaContext())
    assert refused["statusCode"] == 400
    assert emf_lines(capsys.readouterr().out) == []


class _StatusStore:
    """The order_worker's store: PENDING orders, conditional decision."""

    def __init__(self, order_ids: list[str]) -> None:
        self.items = {order_id: {"orderId": order_id, "status": "PENDING"} for order_id in order_ids}

    def record_decision(self, order_id: str, decision: Any, *, timestamp: str, attempts: int) -> bool:
        item = self.items.get(order_id)
        if item is None or item["status"] != "PENDING":
            return False
        item["status"] = decision.status
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get(order_id))

    def record_failure(self, order_id: str, **_: Any) -> bool:
        return True


class _Visibility:
    def change_visibility(self, receipt_handle: str, timeout_seconds: int) -> None:
        pass


def order_message(order_id: str, *, customer: str = "cust-1", fault: str | None = None) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "customerId": customer,
        "customerName": "Ada",
        "currency": "EUR",
        "total": "10.00",
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPrice": "10.00"}],
        "createdAt": "2024-05-01T12:00:00.000Z",
        "fault": fault,
    }


@pytest.fixture
def worker(monkeypatch):
    from order_worker import handler
    from order_worker.rules import Rules

    monkeypatch.setattr(handler, "RULES", Rules())
    monkeypatch.setattr(handler, "FAULT_INJECTION", True)
    handler.set_visibility(_Visibility())
    yield handler
    handler.set_store(None)
    handler.set_visibility(None)


def test_worker_counts_each_decision_it_records_once(worker, capsys) -> None:
    worker.set_store(_StatusStore(["o-1", "o-2", "o-3", "o-4"]))
    records = [
        sqs_record(order_message("o-1")),
        sqs_record(order_message("o-2")),
        sqs_record(order_message("o-3", customer="cust-666")),  # blocked by the default rules
        sqs_record(order_message("o-4", fault="poison")),
    ]
    reply = worker.lambda_handler(sqs_event(records), FakeLambdaContext(function_name="order-worker"))

    assert len(reply["batchItemFailures"]) == 1  # the poison order: retried, not counted
    assert metric_values(emf_lines(capsys.readouterr().out)) == {"OrdersConfirmed": 2, "OrdersRejected": 1}

    # The same messages again (a duplicate delivery): nothing new is decided, nothing is counted.
    worker.lambda_handler(sqs_event(records[:3]), FakeLambdaContext(function_name="order-worker"))
    assert emf_lines(capsys.readouterr().out) == []
