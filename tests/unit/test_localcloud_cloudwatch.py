"""The local cloud's CloudWatch: alarm evaluation, wording, notifications and service metrics as pure functions.

References (AWS documentation followed):
- Alarm evaluation, the evaluation range, missing data (both example tables) and premature
  transitions: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
- PutMetricAlarm (periods, DatapointsToAlarm, AWS/DynamoDB ignores missing data, percentiles):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
- The SNS notification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notification.html
- SQS metrics: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
- Lambda metrics dimensions: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from localcloud.services.cloudwatch import alarms as cwa
from localcloud.services.cloudwatch import notify as cwn
from localcloud.services.cloudwatch import sources as cws
from localcloud.services.cloudwatch.alarms import ALARM, INSUFFICIENT_DATA, OK, AlarmRule, PeriodValue, evaluate

T0 = datetime(2025, 5, 14, 1, 55, tzinfo=UTC).timestamp()


def series(pattern: str, threshold: float = 1.0) -> list[PeriodValue | None]:
    """An evaluation range written as in AWS's tables: oldest first, ``0`` not breaching, ``X``
    breaching, ``-`` missing. Returned newest first, as :func:`evaluate` takes it."""
    out = []
    for age, mark in enumerate(reversed(pattern.split())):
        start = T0 - 60 * (age + 1)
        out.append(None if mark == "-" else PeriodValue(start, threshold + 1 if mark == "X" else threshold - 1, 1.0))
    return out


def rule(m: int, n: int, treat: str) -> AlarmRule:
    return AlarmRule("GreaterThanThreshold", 1.0, evaluation_periods=n, datapoints_to_alarm=m, treat_missing_data=treat)


RETAIN = None  # Decision.state None: the alarm keeps its current state

# AWS's first table: Datapoints to Alarm 3, Evaluation Periods 3, evaluation range 5.
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - X - -", ALARM, RETAIN, ALARM, OK),
]
# AWS's second table: Datapoints to Alarm 2, Evaluation Periods 3.
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - X -", ALARM, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize("m,table", [(3, THREE_OF_THREE), (2, TWO_OF_THREE)])
def test_aws_missing_data_tables(m, table):
    for pattern, *expected in table:
        for treat, state in zip(("missing", "ignore", "breaching", "notBreaching"), expected, strict=False):
            assert evaluate(series(pattern), rule(m, 3, treat)).state == state, (pattern, treat)


def test_m_of_n_counts_breaching_datapoints_that_need_not_be_consecutive():
    assert evaluate(series("X 0 X"), rule(2, 3, "missing")).state == ALARM
    assert evaluate(series("X 0 0"), rule(2, 3, "missing")).state == OK
    assert evaluate(series("0 X"), rule(1, 1, "missing")).state == ALARM  # only the newest period counts


def test_premature_rule_waits_for_a_breaching_point_as_old_as_datapoints_to_alarm():
    assert evaluate(series("- - - - X"), rule(3, 3, "missing")).state == OK
    assert evaluate(series("- - - X -"), rule(3, 3, "missing")).state == OK
    decision = evaluate(series("- - X - -"), rule(3, 3, "missing"))
    assert decision.state == ALARM and decision.premature


def test_aws_dynamodb_alarms_ignore_missing_data_whatever_they_ask():
    assert evaluate(series("- - - - -"), rule(1, 1, "breaching"), namespace="AWS/DynamoDB").state is RETAIN
    assert evaluate(series("- - - - -"), rule(1, 1, "breaching"), namespace="AWS/SQS").state == ALARM


def test_comparison_operators():
    values = [PeriodValue(T0, 1.0, 1)]
    assert evaluate(values, AlarmRule("GreaterThanOrEqualToThreshold", 1.0)).state == ALARM
    assert evaluate(values, AlarmRule("GreaterThanThreshold", 1.0)).state == OK
    assert evaluate(values, AlarmRule("LessThanOrEqualToThreshold", 1.0)).state == ALARM
    assert evaluate(values, AlarmRule("LessThanThreshold", 1.0)).state == OK


# ---------------------------------------------------------------------------
# Statistics over stored points, per period
# ---------------------------------------------------------------------------


def point(ts: float, value: float, **extra) -> dict:
    return {"Timestamp": ts, "Value": value, "Unit": extra.pop("unit", "Count"), "Dimensions": {}, **extra}


def one_period(points: list[dict], statistic: str, **kwargs) -> float | None:
    [value] = cwa.period_values(points, end=T0 + 60, length=60, count=1, statistic=statistic, **kwargs)
    return None if value is None else value.value


def test_basic_statistics_and_aggregated_points():
    points = [point(T0 + 1, 2.0), point(T0 + 2, 4.0), point(T0 + 3, 1.0, Count=3.0)]  # 2, 4, 1, 1, 1
    assert one_period(points, "SampleCount") == 5
    assert one_period(points, "Sum") == 9
    assert one_period(points, "Average") == pytest.approx(1.8)
    assert one_period(points, "Minimum") == 1
    assert one_period(points, "Maximum") == 4
    assert one_period(points, "p50") == 1
    assert one_period(points, "p100") == 4


def test_statistic_sets_and_percentiles():
    stat = {"_stat": {"SampleCount": 4, "Sum": 10.0, "Minimum": 1.0, "Maximum": 4.0}}
    assert one_period([point(T0, 2.5, **stat)], "Average") == 2.5
    assert one_period([point(T0, 2.5, **stat)], "p90") is None  # no percentile from a statistic set
    uniform = {"_stat": {"SampleCount": 4, "Sum": 8.0, "Minimum": 2.0, "Maximum": 2.0}}
    assert one_period([point(T0, 2.0, **uniform)], "p90") == 2.0


def test_periods_slide_back_from_the_evaluation_time_and_empty_periods_are_missing():
    points = [point(T0 - 30, 7.0), point(T0 + 59.9, 1.0), point(T0 + 60, 100.0)]  # the last is after `end`
    values = cwa.period_values(points, end=T0 + 60, length=60, count=3, statistic="Maximum")
    assert [v and v.value for v in values] == [1.0, 7.0, None]
    assert values[0].start == T0 and values[1].start == T0 - 60


def test_a_unit_selects_only_datapoints_stored_with_it():
    points = [point(T0, 5.0, unit="Seconds"), point(T0, 9.0, unit="Milliseconds")]
    assert one_period(points, "Maximum", unit="Seconds") == 5.0
    assert one_period(points, "Maximum") == 9.0


def test_high_resolution_alarm_sees_standard_datapoints_at_their_minute_only():
    standard, fine = point(T0 + 35, 1.0), point(T0 + 35, 1.0, StorageResolution=1)
    for pts, expected in (([standard], [None, None, None, 1.0]), ([fine], [1.0, None, None, None])):
        values = cwa.period_values(pts, end=T0 + 40, length=10, count=4, statistic="Sum", snap=60)
        assert [v and v.value for v in values] == expected


def test_low_sample_count_threshold_for_percentiles():
    assert cwa.low_sample_count("p99", 999) and not cwa.low_sample_count("p99", 1000)
    assert cwa.low_sample_count("p10", 99) and not cwa.low_sample_count("p10", 100)
    assert not cwa.low_sample_count("Average", 1)


def test_time_scale_and_valid_periods():
    scale = cwa.TimeScale(12)
    assert scale.minute == 5.0 and scale.length(300) == 25.0 and scale.cadence(60) == 5.0
    assert cwa.TimeScale(1).cadence(10) == 10.0
    for bad in (0, 0.5, float("nan")):
        with pytest.raises(ValueError):
            cwa.TimeScale(bad)
    assert [p for p in (10, 20, 30, 45, 60, 90, 120, 0) if cwa.valid_period(p)] == [10, 20, 30, 60, 120]


# ---------------------------------------------------------------------------
# Wording
# ---------------------------------------------------------------------------


def test_java_double_formatting():
    assert [cwa.java_double(v) for v in (1, 0.0, 94.10166666666666, 1e7, 12345678.0, 1e-5, -2.5)] == [
        "1.0",
        "0.0",
        "94.10166666666666",
        "1.0E7",
        "1.2345678E7",
        "1.0E-5",
        "-2.5",
    ]


def test_alarm_reason_reads_like_aws():
    r = AlarmRule("GreaterThanOrEqualToThreshold", 90.0)
    decision = evaluate([PeriodValue(T0, 94.10166666666666, 1)], r)
    assert cwa.state_reason(decision, r, OK) == (
        "Threshold Crossed: 1 out of the last 1 datapoints [94.10166666666666 (14/05/25 01:55:00)] was greater than "
        "or equal to the threshold (90.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )


def test_m_of_n_reason_lists_the_datapoints_that_crossed():
    r = rule(2, 3, "missing")
    decision = evaluate(series("X 0 X"), r)
    text = cwa.state_reason(decision, r, OK)
    assert text.startswith(
        "Threshold Crossed: 2 out of the last 3 datapoints were greater than the threshold (1.0). "
        "The most recent datapoints which crossed the threshold: [2.0 (14/05/25 01:54:00), 2.0 "
    )
    assert text.endswith("(minimum 2 datapoints for OK -> ALARM transition).")


def test_ok_missing_and_insufficient_reasons():
    r = rule(1, 1, "notBreaching")
    assert cwa.state_reason(evaluate(series("0"), r), r, ALARM) == (
        "Threshold Crossed: 1 datapoint [0.0 (14/05/25 01:54:00)] was not greater than the threshold (1.0)."
    )
    assert cwa.state_reason(evaluate(series("- - -"), r), r, ALARM) == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
        "[NonBreaching]."
    )
    r = rule(2, 2, "breaching")
    assert cwa.state_reason(evaluate(series("- - - -"), r), r, OK).endswith(
        "for 2 periods and 2 missing datapoints were treated as [Breaching]."
    )
    r = rule(1, 1, "missing")
    assert cwa.state_reason(evaluate(series("- - -"), r), r, OK) == "Insufficient Data: 1 datapoint was unknown."


def test_state_reason_data():
    r = AlarmRule("GreaterThanThreshold", 0.0)
    values = [PeriodValue(T0, 3.0, 2.0), None, PeriodValue(T0 - 120, 1.0, 1.0)]
    decision = evaluate(values, r)
    data = json.loads(
        cwa.state_reason_data(
            decision, r, statistic="Maximum", period=60, query_date=T0 + 65.5, values=values, unit="Count"
        )
    )
    assert data == {
        "version": "1.0",
        "queryDate": "2025-05-14T01:56:05.500+0000",
        "startDate": "2025-05-14T01:55:00.000+0000",
        "unit": "Count",
        "statistic": "Maximum",
        "period": 60,
        "recentDatapoints": [1.0, 3.0],
        "threshold": 0.0,
        "evaluatedDatapoints": [{"timestamp": "2025-05-14T01:55:00.000+0000", "sampleCount": 2.0, "value": 3.0}],
    }


# ---------------------------------------------------------------------------
# The SNS notification
# ---------------------------------------------------------------------------

ALARM_ARN = "arn:aws:cloudwatch:us-east-2:123456789012:alarm:dlq-not-empty"
TOPIC = "arn:aws:sns:us-east-2:123456789012:alerts"


def stored_alarm(**overrides) -> dict:
    alarm = {
        "AlarmName": "dlq-not-empty",
        "AlarmArn": ALARM_ARN,
        "AlarmDescription": "",
        "AlarmConfigurationUpdatedTimestamp": T0 - 3600.25,
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Statistic": "Maximum",
        "Dimensions": [{"Name": "QueueName", "Value": "orders-dlq"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.0,
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": True,
        "AlarmActions": [TOPIC],
        "OKActions": [],
        "InsufficientDataActions": [],
    }
    alarm.update(overrides)
    return alarm


def test_notification_has_awss_fields_in_awss_order():
    message = cwn.notification(
        stored_alarm(),
        old_state=OK,
        new_state=ALARM,
        reason="Threshold Crossed: ...",
        change_time=T0 + 11.589,
        account_id="123456789012",
        region="us-east-2",
    )
    assert list(message) == [
        "AlarmName",
        "AlarmDescription",
        "AWSAccountId",
        "AlarmConfigurationUpdatedTimestamp",
        "NewStateValue",
        "NewStateReason",
        "StateChangeTime",
        "Region",
        "AlarmArn",
        "OldStateValue",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "Trigger",
    ]
    assert message["AlarmDescription"] is None
    assert message["StateChangeTime"] == "2025-05-14T01:55:11.589+0000"
    assert message["AlarmConfigurationUpdatedTimestamp"] == "2025-05-14T00:54:59.750+0000"
    assert message["Region"] == "US East (Ohio)" and message["AlarmArn"] == ALARM_ARN
    assert message["AlarmActions"] == [TOPIC] and message["OKActions"] == []
    assert message["Trigger"] == {
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Namespace": "AWS/SQS",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [{"value": "orders-dlq", "name": "QueueName"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    }


def test_percentile_and_math_triggers_and_subject():
    trigger = cwn.trigger(stored_alarm(Statistic=None, ExtendedStatistic="p99", DatapointsToAlarm=None))
    assert trigger["StatisticType"] == "ExtendedStatistic" and trigger["ExtendedStatistic"] == "p99"
    assert "Statistic" not in trigger and "DatapointsToAlarm" not in trigger
    metrics = [
        {"Id": "e1", "Expression": "m1 * 2", "ReturnData": True},
        {
            "Id": "m1",
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
        },
    ]
    math = cwn.trigger(stored_alarm(Metrics=metrics))
    assert "MetricName" not in math and math["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"] == [
        {"value": "f", "name": "FunctionName"}
    ]
    assert (
        cwn.subject("OK", "x" * 200, "eu-west-1").startswith('OK: "xxx')
        and len(cwn.subject("OK", "x" * 200, "eu-west-1")) == 100
    )
    assert cwn.subject("INSUFFICIENT_DATA", "a", "eu-west-1") == 'INSUFFICIENT_DATA: "a" in Europe (Ireland)'


# ---------------------------------------------------------------------------
# Metric math
# ---------------------------------------------------------------------------


def test_metric_math_subset():
    tree = cwa.parse_expression("100 * (m1 + FILL(m2, 0)) / ABS(-m3)")
    assert cwa.expression_ids(tree) == {"m1", "m2", "m3"}
    pv = [PeriodValue(T0, 2.0, 1), None]
    values = cwa.evaluate_expression(tree, {"m1": pv, "m2": [None, None], "m3": [PeriodValue(T0, 4.0, 1)] * 2}, 2)
    assert values == [50.0, None]
    for bad in ("RATE(m1)", "m1 +", "M1 * 2", "FILL(m1)", "m1 ) "):
        with pytest.raises(cwa.ExpressionError):
            cwa.parse_expression(bad)


# ---------------------------------------------------------------------------
# Service metrics
# ---------------------------------------------------------------------------


def test_queue_gauges():
    now = 1000.0
    messages = [
        {"visible_at": 990, "receive_count": 0, "sent_at": 900.0},  # visible, 100 s old
        {"visible_at": 1030, "receive_count": 1, "sent_at": 950.0},  # in flight
        {"visible_at": 1010, "receive_count": 0, "sent_at": 995.0},  # delayed
        {"visible_at": 990, "receive_count": 3, "sent_at": 100.0},  # a poison pill: not aged
    ]
    gauges = cws.queue_gauges(messages, now, fifo=False)
    assert (gauges.visible, gauges.not_visible, gauges.delayed, gauges.oldest_age) == (2, 1, 1, 100.0)
    moved = {"visible_at": 990, "receive_count": 5, "sent_at": 100.0, cws.MOVED: (980.0, 5)}  # in a DLQ since 980
    assert cws.queue_gauges([moved], now, fifo=False).oldest_age == 20.0
    assert cws.queue_gauges([], now, fifo=False) == cws.QueueGauges(0, 0, 0, 0.0, 0)
    fifo = [{"visible_at": 1030, "receive_count": 1, "sent_at": 999.0, "group_id": g} for g in ("a", "a", "b")]
    assert cws.queue_gauges(fifo, now, fifo=True).groups_in_flight == 2


def test_queue_meters_count_between_takes():
    meters = cws.QueueMeters()
    meters.sent("q", 10, 5.0)
    meters.sent("q", 30, 6.0)
    meters.received("q", 2, 7.0)
    meters.received("q", 0, 8.0)
    meters.deleted("q", 2, 9.0)
    meter = meters.take("q")
    assert (
        meter.sent,
        meter.size_sum,
        meter.size_min,
        meter.size_max,
        meter.received,
        meter.empty_receives,
        meter.deleted,
        meter.last_active,
    ) == (2, 40, 10, 30, 2, 1, 2, 9.0)
    again = meters.take("q")
    assert (again.sent, again.received, again.last_active) == (0, 0, 9.0)
    assert (
        cws.message_size({"body": "héllo", "message_attributes": {"k": {"DataType": "String", "StringValue": "vv"}}})
        == 6 + 1 + 6 + 2
    )


class FakeStore:
    """The part of MiniStack's AccountRegionScopedDict the writer uses."""

    def __init__(self):
        self.data: dict = {}

    def get_scoped(self, account, region, key):
        return self.data.get((account, region, key))

    def set_scoped(self, account, region, key, value):
        self.data[(account, region, key)] = value


def test_writer_keeps_each_dimension_set_apart_and_counts_a_second_in_one_point():
    store = FakeStore()
    writer = cws.MetricWriter(store)
    recorder = cws.Recorder()
    a, b = (("QueueName", "a"),), (("QueueName", "b"),)
    for ts, dims in ((100.1, a), (100.7, a), (101.2, a), (100.5, b)):
        recorder.add(cws.Datum("1", "r", "NS", "Count", dims, ts, 1.0, "Count"))
    recorder.add(cws.Datum("1", "r", "NS", "Duration", a, 100.3, 12.5, "Milliseconds", aggregate=False))
    for datum in recorder.drain():
        writer.write(datum)
    assert recorder.drain() == []
    points_a = store.data[("1", "r", ("NS", "Count", "QueueName=a"))]
    assert [(p["Timestamp"], p["Count"]) for p in points_a] == [(100.0, 2.0), (101.0, 1.0)]
    assert [p["Count"] for p in store.data[("1", "r", ("NS", "Count", "QueueName=b"))]] == [1.0]
    assert store.data[("1", "r", ("NS", "Duration", "QueueName=a"))][0]["Value"] == 12.5


def test_old_service_datapoints_are_compacted_into_exact_minute_statistics():
    points = [
        point(0.5, 2.0),
        point(10.0, 4.0, Count=2.0),
        point(59.0, 1.0, _stat={"SampleCount": 2, "Sum": 1.0, "Minimum": 0.25, "Maximum": 0.75}),
        point(61.0, 9.0),
        point(500.0, 7.0),
    ]
    merged = cws.compact(points, before=120.0)
    assert [p["Timestamp"] for p in merged] == [0.0, 60.0, 500.0]
    assert merged[0]["_stat"] == {"SampleCount": 5.0, "Sum": 11.0, "Minimum": 0.25, "Maximum": 4.0}
    assert merged[2] is points[4]  # recent points are kept as they are
    assert cws.compact(merged, before=120.0) is None  # nothing left to shrink
    assert cws.compact([point(0.5, 1.0), point(70.0, 1.0)], before=120.0) is None  # one point a minute already


def test_recorder_asks_for_one_flush_per_batch():
    calls = []
    recorder = cws.Recorder(lambda: calls.append(1))
    for _ in range(3):
        recorder.add(cws.Datum("1", "r", "NS", "M", (), 1.0, 1.0, "Count"))
    assert len(calls) == 1 and len(recorder.drain()) == 3
    recorder.add(cws.Datum("1", "r", "NS", "M", (), 1.0, 1.0, "Count"))
    assert len(calls) == 2


def test_lambda_and_api_dimension_sets():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:worker"
    assert cws.lambda_dimension_sets(arn, "worker", "$LATEST") == [(("FunctionName", "worker"),), ()]
    assert cws.lambda_dimension_sets(arn + ":live", "worker", "3")[2:] == [
        (("FunctionName", "worker"), ("Resource", "worker:live")),
        (("ExecutedVersion", "3"), ("FunctionName", "worker"), ("Resource", "worker:live")),
    ]
    assert cws.lambda_dimension_sets(arn + ":3", "worker", "3")[2:] == [
        (("FunctionName", "worker"), ("Resource", "worker:3"))
    ]
    assert cws.api_dimension_sets("abc123", "$default") == [
        (("ApiId", "abc123"),),
        (("ApiId", "abc123"), ("Stage", "$default")),
    ]


# ---------------------------------------------------------------------------
# The patch's own pure parts: configuration, validation, per-metric evaluation
# ---------------------------------------------------------------------------


def test_time_scale_setting():
    from localcloud.patches import PatchError
    from localcloud.services.cloudwatch import runtime as patch

    assert patch.time_scale_from_env({}).factor == patch.DEFAULT_TIME_SCALE
    assert patch.time_scale_from_env({patch.TIME_SCALE_ENV: "1"}).factor == 1.0
    with pytest.raises(PatchError):
        patch.time_scale_from_env({patch.TIME_SCALE_ENV: "fast"})


def base_request(**overrides) -> dict:
    request = {
        "AlarmName": "a",
        "MetricName": "M",
        "Namespace": "NS",
        "Statistic": "Sum",
        "ExtendedStatistic": None,
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": None,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": None,
        "Metrics": [],
        "ThresholdMetricId": None,
        "EvaluateLowSampleCountPercentile": None,
    }
    request.update(overrides)
    return request


def test_put_metric_alarm_validation():
    from localcloud.services.cloudwatch.api import validation_error

    assert validation_error(base_request()) is None
    assert validation_error(base_request(Period=10)) is None
    assert "Period" in validation_error(base_request(Period=45))
    assert "DatapointsToAlarm" in validation_error(base_request(DatapointsToAlarm=4))
    assert "86400" in validation_error(base_request(Period=3000, EvaluationPeriods=30))
    assert "Exactly one" in validation_error(base_request(ExtendedStatistic="p99"))
    assert validation_error(base_request(Statistic=None, ExtendedStatistic="p99")) is None
    assert "TreatMissingData" in validation_error(base_request(TreatMissingData="sometimes"))
    assert "anomaly" in validation_error(base_request(ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold"))
    stat = {"Metric": {"Namespace": "NS", "MetricName": "M", "Dimensions": []}, "Period": 60, "Stat": "Sum"}
    math = base_request(
        MetricName=None,
        Namespace=None,
        Statistic=None,
        Period=None,
        Metrics=[
            {"Id": "e1", "Expression": "m1 / 2", "ReturnData": True},
            {"Id": "m1", "MetricStat": stat, "ReturnData": False},
        ],
    )
    assert validation_error(math) is None
    math["Metrics"][0]["Expression"] = "m1 / m9"
    assert "unknown id" in validation_error(math)
    math["Metrics"][0]["Expression"] = "m1 / 2"
    math["Metrics"][1]["ReturnData"] = True
    assert "Exactly one element" in validation_error(math)


def test_alarm_evaluates_its_exact_dimension_set_only():
    """Two queues publish the same metric name: an alarm reads only its own QueueName."""
    from ministack.services import cloudwatch

    from localcloud.services.cloudwatch import runtime as patch

    account, region, end = "999999999999", "eu-west-3", T0 + 60
    keys = []
    for queue, value in (("a", 0.0), ("b", 5.0)):
        key = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"QueueName={queue}")
        cloudwatch._metrics.set_scoped(account, region, key, [point(T0 + 1, value)])
        keys.append(key)
    try:

        def alarm(queue: str) -> dict:
            return {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Statistic": "Maximum",
                "Dimensions": [{"Name": "QueueName", "Value": queue}],
                "Period": 60,
            }

        scale = patch._rt.scale
        patch._rt.scale = cwa.TimeScale(1)
        try:
            values_a, _ = patch._values(account, region, alarm("a"), end, 3)
            values_b, _ = patch._values(account, region, alarm("b"), end, 3)
            values_none, _ = patch._values(account, region, {**alarm("a"), "Dimensions": []}, end, 3)
        finally:
            patch._rt.scale = scale
        assert values_a[0].value == 0.0 and values_b[0].value == 5.0
        assert values_none == [None, None, None]  # no dimension is another metric, not "all queues"
    finally:
        for key in keys:
            cloudwatch._metrics.pop_scoped(account, region, key, None)
