"""Unit tests for step 6's pure parts: alarm parameters and drift, the pipeline's alarms, the
dashboard body, the SNS -> SQS queue policy (no cloud needed).

AWS references: PutMetricAlarm https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html,
dashboard body https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html,
SQS subscription policy https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
"""

from __future__ import annotations

import doctest
import json

import pytest

from helpers.aws import cloudwatch, sns
from helpers.aws.cloudwatch import (
    AlarmSpec,
    alarm_diff,
    alarm_params,
    grid,
    metric_widget,
    text_widget,
)
from helpers.aws.sns import SubscriptionInfo, sns_publish_queue_policy
from helpers.pipeline import step6 as alerting
from helpers.pipeline.step6 import (
    ALARM_KEYS,
    PipelineNames,
    alarm_specs,
    pipeline_dashboard_body,
)

TOPIC = "arn:aws:sns:us-east-1:123456789012:alice-alerts"
NAMES = PipelineNames(
    "alice",
    "us-east-1",
    "alice-order-queue",
    "alice-order-dlq",
    "alice-create-order",
    "alice-stream-processor",
    "alice-order-worker",
    "a1b2c3",
)


def spec(**overrides) -> AlarmSpec:
    values = dict(
        component="order-dlq-not-empty",
        description="DLQ",
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": "alice-order-dlq"},
        statistic="Maximum",
        period=60,
        evaluation_periods=1,
        threshold=0,
        comparison="GreaterThanThreshold",
        treat_missing_data="notBreaching",
    )
    values.update(overrides)
    return AlarmSpec(**values)


def described(params: dict) -> dict:
    """What DescribeAlarms answers for an alarm put with ``params`` (AWS's shape)."""
    current = {k: v for k, v in params.items() if k not in ("Tags",)}
    current.update(
        AlarmArn=f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{params['AlarmName']}",
        StateValue="OK",
        StateReason="",
    )
    return current


@pytest.mark.parametrize("module", [alerting, cloudwatch, sns])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


def test_alarm_params_carry_actions_for_alarm_and_ok() -> None:
    params = alarm_params(spec(), "alice-order-dlq-not-empty", alarm_actions=[TOPIC], ok_actions=[TOPIC])

    assert params["AlarmActions"] == [TOPIC] and params["OKActions"] == [TOPIC]
    assert params["InsufficientDataActions"] == []
    assert (params["Namespace"], params["MetricName"], params["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert params["Dimensions"] == [{"Name": "QueueName", "Value": "alice-order-dlq"}]
    assert (params["Period"], params["EvaluationPeriods"], params["DatapointsToAlarm"]) == (60, 1, 1)
    assert (params["Threshold"], params["ComparisonOperator"]) == (0.0, "GreaterThanThreshold")
    assert params["TreatMissingData"] == "notBreaching"
    assert "ExtendedStatistic" not in params and "Unit" not in params


def test_percentile_goes_to_extended_statistic() -> None:
    params = alarm_params(spec(statistic="p99", evaluation_periods=3, datapoints_to_alarm=2), "a")

    assert params["ExtendedStatistic"] == "p99" and "Statistic" not in params
    assert (params["EvaluationPeriods"], params["DatapointsToAlarm"]) == (3, 2)


def test_an_unchanged_alarm_has_no_diff_even_with_defaults_left_out() -> None:
    wanted = alarm_params(spec(treat_missing_data="missing"), "a", alarm_actions=[TOPIC], ok_actions=[TOPIC])
    current = described(wanted)
    del current["DatapointsToAlarm"], current["TreatMissingData"]  # AWS omits them when they are the defaults
    current["AlarmActions"] = list(reversed(current["AlarmActions"]))

    assert alarm_diff(current, wanted) == ()


def test_alarm_diff_names_exactly_what_changed() -> None:
    wanted = alarm_params(spec(), "a", alarm_actions=[TOPIC], ok_actions=[TOPIC])
    current = described(wanted)

    assert alarm_diff(dict(current, Threshold=5.0), wanted) == ("Threshold",)
    assert alarm_diff(dict(current, OKActions=[]), wanted) == ("OKActions",)
    assert alarm_diff(dict(current, Dimensions=[{"Name": "QueueName", "Value": "other"}]), wanted) == ("Dimensions",)
    assert alarm_diff(dict(current, TreatMissingData="breaching"), wanted) == ("TreatMissingData",)


def test_a_percentile_alarm_ignores_a_reported_statistic() -> None:
    wanted = alarm_params(spec(statistic="p99"), "a")
    current = dict(described(wanted), Statistic="Average")  # an endpoint that reports both

    assert alarm_diff(current, wanted) == ()
    assert alarm_diff(dict(current, ExtendedStatistic="p90"), wanted) == ("ExtendedStatistic",)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"comparison": "Bigger"}, "comparison"),
        ({"treat_missing_data": "maybe"}, "treat_missing_data"),
        ({"statistic": "Median"}, "statistic"),
        ({"period": 45}, "period"),
        ({"evaluation_periods": 0}, "evaluation_periods"),
        ({"evaluation_periods": 2, "datapoints_to_alarm": 3}, "datapoints_to_alarm"),
        ({"threshold": float("nan")}, "threshold"),
    ],
)
def test_alarm_spec_refuses_what_cloudwatch_would(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**overrides)


def test_the_pipeline_alarms_watch_the_pipeline() -> None:
    specs = alarm_specs(NAMES)

    assert set(specs) == set(ALARM_KEYS)
    dlq = specs["dlq"]
    assert (dlq.namespace, dlq.metric_name, dict(dlq.dimensions)) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": "alice-order-dlq"},
    )
    assert (dlq.statistic, dlq.comparison, dlq.threshold) == ("Maximum", "GreaterThanThreshold", 0)
    errors = specs["worker-errors"]
    assert (errors.namespace, errors.metric_name, dict(errors.dimensions), errors.statistic) == (
        "AWS/Lambda",
        "Errors",
        {"FunctionName": "alice-order-worker"},
        "Sum",
    )
    age = specs["queue-age"]
    assert (age.metric_name, dict(age.dimensions)) == (
        "ApproximateAgeOfOldestMessage",
        {"QueueName": "alice-order-queue"},
    )
    assert (specs["api-5xx"].namespace, specs["api-5xx"].metric_name, dict(specs["api-5xx"].dimensions)) == (
        "AWS/ApiGateway",
        "5xx",
        {"ApiId": "a1b2c3"},
    )
    assert specs["api-latency"].statistic == "p99"
    # Quiet is healthy: no traffic / an idle queue must not raise or hold an alarm.
    assert {s.treat_missing_data for s in specs.values()} == {"notBreaching"}
    assert all(s.period % 60 == 0 for s in specs.values()), "AWS/SQS, AWS/Lambda publish one-minute metrics"


def test_without_an_api_there_are_no_api_alarms() -> None:
    names = PipelineNames(
        *[
            getattr(NAMES, f)
            for f in ("prefix", "region", "order_queue", "dlq", "create_order", "stream_processor", "order_worker")
        ],
        None,
    )

    assert sorted(alarm_specs(names)) == ["dlq", "queue-age", "worker-errors"]


def test_dashboard_body_shows_the_pipeline_and_its_alarms() -> None:
    arns = ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:alice-order-dlq-not-empty"]
    body = pipeline_dashboard_body(NAMES, arns)
    text = json.dumps(body)

    assert json.loads(text) == body  # plain JSON
    kinds = [w["type"] for w in body["widgets"]]
    assert kinds.count("alarm") == 1 and kinds.count("log") == 1 and kinds.count("metric") >= 5
    for name in (
        "alice-order-queue",
        "alice-order-dlq",
        "alice-create-order",
        "alice-stream-processor",
        "alice-order-worker",
        "a1b2c3",
        "OrdersAccepted",
        "OrdersConfirmed",
        "OrdersRejected",
        "HighValueOrders",
    ):
        assert name in text, name
    alarm = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert alarm["properties"]["alarms"] == arns
    log = next(w for w in body["widgets"] if w["type"] == "log")
    assert log["properties"]["query"].startswith("SOURCE '/aws/lambda/alice-order-worker' | ")
    for widget in body["widgets"]:  # on the 24-column grid, no overlaps in a row
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
        assert widget["properties"].get("region", "us-east-1") == "us-east-1"


def test_grid_wraps_rows_at_24_columns() -> None:
    widgets = [metric_widget(str(i), [], region="r", width=12, height=h) for i, h in enumerate((6, 4, 3))]
    placed = grid([text_widget("# t", height=2), *widgets])["widgets"]

    assert [(w["x"], w["y"]) for w in placed] == [(0, 0), (0, 2), (12, 2), (0, 8)]


def test_queue_policy_lets_only_the_topic_send() -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:alice-alert-inbox"
    policy = sns_publish_queue_policy(queue, TOPIC)

    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == queue
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC}}


@pytest.mark.parametrize(
    "arn, pending",
    [
        ("PendingConfirmation", True),
        ("pending confirmation", True),
        (f"{TOPIC}:0b7e5f0c-2a47-4d5e-9f51-3c1d2b7a9e10", False),
    ],
)
def test_a_subscription_is_pending_until_confirmed(arn: str, pending: bool) -> None:
    assert SubscriptionInfo(TOPIC, "email", "learner@example.com", arn).pending is pending


@pytest.mark.parametrize("address", ["", "learner", "@example.com", "learner@", "a b@example.com"])
def test_email_subscription_refuses_a_non_address(address: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        sns.ensure_email_subscription(None, TOPIC, address)  # type: ignore[arg-type]
