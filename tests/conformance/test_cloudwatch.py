"""CloudWatch metrics of SQS, Lambda and HTTP APIs, and alarms that change state by themselves,
against the AWS contract.

References (AWS documentation followed):
- SQS metrics (names, ``QueueName`` dimension, units; published every minute for active queues):
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-monitoring-using-cloudwatch.html
- Lambda metrics (Invocations for every invocation, event source mappings included; Errors; Duration):
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
- HTTP API metrics (Count, 4xx, 5xx, Latency, IntegrationLatency; ApiId, Stage):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html
- Alarm evaluation, one metric = namespace + name + all its dimensions, missing data:
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Dimension
- SetAlarmState ("lasts only until the next alarm comparison", actions run on a change):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html
- Alarm history: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html
- The SNS notification of an alarm:
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notification.html
- High-resolution metrics and alarms (StorageResolution 1, Period 10):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/publishingMetrics.html#high-resolution-metrics

Timing: on AWS a CloudWatch minute is a minute, and service metrics arrive a few minutes late
(new metrics can take up to 15 minutes to be listed). The local cloud runs the alarm clock
``ORDERLAB_CLOUDWATCH_TIME_SCALE`` times faster (default 12: a CloudWatch minute is 5 s), so
every wait below is a number of CloudWatch minutes times the target's minute, plus the target's
delivery delay.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from conformance._esm import EventProbe, create_queue, event_source_mapping
from conformance._metrics import metric_stat_query
from helpers.core.naming import tag_list
from helpers.core.waiters import WaitTimeout, wait_until
from localcloud.services.cloudwatch.notify import region_name
from localcloud.services.cloudwatch.runtime import time_scale_from_env

pytestmark = [pytest.mark.cloud, pytest.mark.long]  # alarm periods waited out

LOCAL = os.environ.get("ORDERLAB_TARGET", "local") == "local"
SCALE = time_scale_from_env().factor if LOCAL else 1.0
MINUTE = 60.0 / SCALE  # wall seconds of one CloudWatch minute on this target
DELAY = 5.0 if LOCAL else 900.0  # how late metrics may be delivered (and listed) on top
POLL = 0.2 if LOCAL else 10.0
PROBES = os.path.join(os.path.dirname(__file__), "probes", "probe")
ESM_QUEUE = "cw-esm"


def patience(cloudwatch_minutes: float) -> float:
    """Seconds to wait for something that takes ``cloudwatch_minutes`` CloudWatch minutes."""
    return cloudwatch_minutes * MINUTE + DELAY


def metric_values(
    lab, namespace: str, name: str, dimensions: dict[str, str], stat: str, since: datetime
) -> list[float]:
    """GetMetricData of one metric (exactly these dimensions), one-minute periods since ``since``."""
    now = datetime.now(UTC)
    result = lab.client("cloudwatch").get_metric_data(
        MetricDataQueries=[metric_stat_query("m", namespace, name, dimensions, stat)],
        StartTime=since - timedelta(minutes=1),
        EndTime=now + timedelta(minutes=1),
    )
    return list(result["MetricDataResults"][0]["Values"])


def wait_metric(
    lab,
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    stat: str,
    since: datetime,
    check,
    what: str,
    minutes: float = 2,
) -> list[float]:
    return wait_until(
        lambda: (lambda v: v if check(v) else None)(metric_values(lab, namespace, name, dimensions, stat, since)),
        timeout=patience(minutes),
        interval=POLL,
        max_interval=30.0,
        what=what,
    )


def state_of(lab, name: str) -> dict:
    [alarm] = lab.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarm


def wait_state(lab, name: str, state: str, minutes: float = 3) -> dict:
    return wait_until(
        lambda: (lambda a: a if a["StateValue"] == state else None)(state_of(lab, name)),
        timeout=patience(minutes),
        interval=POLL,
        max_interval=15.0,
        what=f"alarm {name} in {state}",
    )


def state_updates(lab, name: str) -> list[dict]:
    items = lab.client("cloudwatch").describe_alarm_history(
        AlarmName=name, HistoryItemType="StateUpdate", ScanBy="TimestampAscending"
    )["AlarmHistoryItems"]
    return [json.loads(item["HistoryData"]) | {"summary": item["HistorySummary"]} for item in items]


@contextmanager
def alarms(lab, *specs: dict[str, Any]) -> Iterator[list[str]]:
    """Create the alarms (tagged), yield their names, delete them afterwards."""
    cloudwatch = lab.client("cloudwatch")
    names = []
    try:
        for spec in specs:
            cloudwatch.put_metric_alarm(Tags=tag_list(lab.tags), **spec)
            names.append(spec["AlarmName"])
        yield names
    finally:
        if names:
            cloudwatch.delete_alarms(AlarmNames=names)


def queue_alarm(lab, component: str, queue_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "AlarmName": lab.name(component),
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        **extra,
    }


@pytest.fixture(scope="module")
def probe_role(lab) -> str:
    from helpers.aws.common import partition
    from helpers.aws.iam import ensure_lambda_role

    queue = f"arn:{partition(lab.region)}:sqs:{lab.region}:{lab.account_id}:{lab.name(ESM_QUEUE)}"
    return ensure_lambda_role(
        lab,
        "cw-probe",
        statements=[
            {
                "Sid": "ConsumeTheQueue",
                "Effect": "Allow",
                "Resource": [queue],
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
            }
        ],
    )


def deploy_probe(lab, component: str, role: str):
    from pathlib import Path

    from helpers.aws.lambda_ import deploy_function

    return deploy_function(
        lab, Path(PROBES), component=component, handler="probe.handler", role_arn=role, environment={}
    )


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


def test_sqs_metrics_appear_with_the_queue_name_after_send_message(lab):
    """SQS publishes AWS/SQS metrics for an active queue, dimension QueueName only."""
    url, _ = create_queue(lab, "cw-metrics")
    name = lab.name("cw-metrics")
    since = datetime.now(UTC)
    lab.client("sqs").send_message(QueueUrl=url, MessageBody="0123456789")
    cloudwatch = lab.client("cloudwatch")
    dims = [{"Name": "QueueName", "Value": name}]

    listed = wait_until(
        lambda: cloudwatch.list_metrics(Namespace="AWS/SQS", MetricName="NumberOfMessagesSent", Dimensions=dims)[
            "Metrics"
        ],
        timeout=patience(2),
        interval=POLL,
        max_interval=30.0,
        what=f"NumberOfMessagesSent of {name}",
    )
    assert listed == [{"Namespace": "AWS/SQS", "MetricName": "NumberOfMessagesSent", "Dimensions": dims}]
    wait_metric(
        lab,
        "AWS/SQS",
        "NumberOfMessagesSent",
        {"QueueName": name},
        "Sum",
        since,
        lambda v: sum(v) == 1,
        "one message sent",
    )
    wait_metric(
        lab,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": name},
        "Maximum",
        since,
        lambda v: v and max(v) == 1,
        "one visible message",
    )
    wait_metric(
        lab,
        "AWS/SQS",
        "SentMessageSize",
        {"QueueName": name},
        "Maximum",
        since,
        lambda v: v and max(v) == 10,
        "SentMessageSize of a 10-byte message",
    )
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="AWS/SQS", Dimensions=dims)["Metrics"]}
    assert {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateAgeOfOldestMessage",
        "NumberOfMessagesSent",
        "NumberOfMessagesReceived",
        "NumberOfMessagesDeleted",
        "NumberOfEmptyReceives",
    } <= names


def test_direct_invoke_counts_once_in_lambda_invocations(lab, probe_role):
    """Invocations counts each invocation once; Duration has one datapoint per invocation."""
    function = deploy_probe(lab, "cw-invoke-probe", probe_role)
    since = datetime.now(UTC)
    response = lab.client("lambda").invoke(FunctionName=function.name, Payload=b"{}")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    dims = {"FunctionName": function.name}
    wait_metric(lab, "AWS/Lambda", "Invocations", dims, "Sum", since, lambda v: sum(v) >= 1, "the invocation counted")
    assert sum(metric_values(lab, "AWS/Lambda", "Invocations", dims, "Sum", since)) == 1
    assert sum(metric_values(lab, "AWS/Lambda", "Errors", dims, "Sum", since)) == 0
    assert sum(metric_values(lab, "AWS/Lambda", "Duration", dims, "SampleCount", since)) == 1
    wait_metric(
        lab,
        "AWS/Lambda",
        "ConcurrentExecutions",
        dims,
        "Maximum",
        since,
        lambda v: v and max(v) >= 1,
        "ConcurrentExecutions of the invocation",
    )


def test_a_throttled_invoke_counts_in_throttles_not_invocations(lab, probe_role):
    """Throttles counts invocation requests that were throttled; Invocations "does not include throttled attempts"."""
    function = deploy_probe(lab, "cw-throttle-probe", probe_role)
    lam = lab.client("lambda")
    lam.put_function_concurrency(FunctionName=function.name, ReservedConcurrentExecutions=0)
    since = datetime.now(UTC)
    with pytest.raises(ClientError) as throttled:
        lam.invoke(FunctionName=function.name, Payload=b"{}")
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    dims = {"FunctionName": function.name}
    wait_metric(lab, "AWS/Lambda", "Throttles", dims, "Sum", since, lambda v: sum(v) >= 1, "the throttle counted")
    assert sum(metric_values(lab, "AWS/Lambda", "Invocations", dims, "Sum", since)) == 0


def test_event_source_mapping_invocations_count_in_lambda_invocations(lab, probe_role):
    """Every invocation by an SQS event source mapping is an Invocation; the queue counts what Lambda received and
    deleted."""
    function = deploy_probe(lab, "cw-esm-probe", probe_role)
    url, arn = create_queue(lab, ESM_QUEUE, VisibilityTimeout="30")
    queue_name = lab.name(ESM_QUEUE)
    since = datetime.now(UTC)
    with event_source_mapping(lab, EventProbe(function.name, function.arn, ""), EventSourceArn=arn, BatchSize=1):
        for body in ("first", "second"):
            lab.client("sqs").send_message(QueueUrl=url, MessageBody=body)
        dims = {"FunctionName": function.name}
        wait_metric(
            lab,
            "AWS/Lambda",
            "Invocations",
            dims,
            "Sum",
            since,
            lambda v: sum(v) >= 2,
            "two invocations by the event source mapping",
        )
        wait_metric(
            lab,
            "AWS/SQS",
            "NumberOfMessagesDeleted",
            {"QueueName": queue_name},
            "Sum",
            since,
            lambda v: sum(v) == 2,
            "both messages deleted by Lambda",
        )
    assert sum(metric_values(lab, "AWS/Lambda", "Invocations", dims, "Sum", since)) == 2
    assert sum(metric_values(lab, "AWS/Lambda", "Errors", dims, "Sum", since)) == 0
    assert sum(metric_values(lab, "AWS/SQS", "NumberOfMessagesReceived", {"QueueName": queue_name}, "Sum", since)) >= 2


def test_http_api_metrics_per_api_and_stage(lab, probes):
    """An HTTP API publishes Count, 4xx, 5xx, Latency and IntegrationLatency per ApiId and per ApiId + Stage."""
    since = datetime.now(UTC)
    dims = {"ApiId": probes.api_id, "Stage": "$default"}

    def totals() -> dict[str, float]:
        return {
            name: sum(metric_values(lab, "AWS/ApiGateway", name, dims, "Sum", since))
            for name in ("Count", "4xx", "5xx")
        }

    before = totals()
    assert requests.get(f"{probes.api_url}/plain", timeout=30).status_code == 200
    assert requests.get(f"{probes.api_url}/boom", timeout=30).status_code == 500
    assert requests.get(f"{probes.api_url}/no-such-route", timeout=30).status_code == 404
    wait_until(
        lambda: (
            lambda t: (
                t["Count"] - before["Count"] >= 3 and t["4xx"] - before["4xx"] >= 1 and t["5xx"] - before["5xx"] >= 1
            )
        )(totals()),
        timeout=patience(2),
        interval=POLL,
        max_interval=30.0,
        what="3 requests, a 4xx and a 5xx counted",
    )
    assert metric_values(lab, "AWS/ApiGateway", "Latency", dims, "SampleCount", since)
    assert metric_values(lab, "AWS/ApiGateway", "IntegrationLatency", dims, "SampleCount", since)
    assert sum(metric_values(lab, "AWS/ApiGateway", "Count", {"ApiId": probes.api_id}, "Sum", since)) >= 3
    listed = lab.client("cloudwatch").list_metrics(
        Namespace="AWS/ApiGateway", MetricName="Count", Dimensions=[{"Name": "ApiId", "Value": probes.api_id}]
    )["Metrics"]
    assert {tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed} >= {
        (("ApiId", probes.api_id),),
        (("ApiId", probes.api_id), ("Stage", "$default")),
    }


# ---------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_queue_depth_alarm_follows_its_own_queue_only(lab):
    """OK -> ALARM when a message waits, back to OK when it is deleted; the same alarm on another queue (same metric
    name, other QueueName) stays OK: each dimension set is its own metric."""
    url_a, _ = create_queue(lab, "cw-alarm-a")
    create_queue(lab, "cw-alarm-b")
    sqs = lab.client("sqs")
    with alarms(
        lab,
        queue_alarm(lab, "cw-depth-a", lab.name("cw-alarm-a")),
        queue_alarm(lab, "cw-depth-b", lab.name("cw-alarm-b")),
    ) as (alarm_a, alarm_b):
        wait_state(lab, alarm_a, "OK")
        wait_state(lab, alarm_b, "OK")

        sqs.send_message(QueueUrl=url_a, MessageBody="order 42")
        alarmed = wait_state(lab, alarm_a, "ALARM")
        assert re.fullmatch(
            r"Threshold Crossed: 1 out of the last 1 datapoints \[1\.0 \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\)\] "
            r"was greater than or equal to the threshold \(1\.0\) \(minimum 1 datapoint for OK -> ALARM "
            r"transition\)\.",
            alarmed["StateReason"],
        ), alarmed["StateReason"]
        reason_data = json.loads(alarmed["StateReasonData"])
        assert reason_data["version"] == "1.0" and reason_data["threshold"] == 1.0
        assert [p["value"] for p in reason_data["evaluatedDatapoints"]] == [1.0]
        assert state_of(lab, alarm_b)["StateValue"] == "OK"

        message = wait_until(
            lambda: sqs.receive_message(QueueUrl=url_a, WaitTimeSeconds=1).get("Messages"),
            timeout=patience(1),
            interval=POLL,
            what="the message back",
        )[0]
        sqs.delete_message(QueueUrl=url_a, ReceiptHandle=message["ReceiptHandle"])
        wait_state(lab, alarm_a, "OK")

        assert [u["summary"] for u in state_updates(lab, alarm_a)][-2:] == [
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK",
        ]
        assert all(u["newState"]["stateValue"] != "ALARM" for u in state_updates(lab, alarm_b))


@pytest.mark.slow
def test_treat_missing_data(lab):
    """With no datapoint at all: breaching -> ALARM, notBreaching -> OK, missing and ignore stay INSUFFICIENT_DATA."""
    namespace = f"OrderLab/{lab.prefix}/conformance"
    metric = f"NeverPublished-{uuid.uuid4().hex[:8]}"
    specs = [
        {
            "AlarmName": lab.name(f"cw-missing-{treat.lower()}"),
            "Namespace": namespace,
            "MetricName": metric,
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": treat,
        }
        for treat in ("breaching", "notBreaching", "missing", "ignore")
    ]
    with alarms(lab, *specs) as (breaching, not_breaching, missing, ignore):
        alarmed = wait_state(lab, breaching, "ALARM")
        assert alarmed["StateReason"] == (
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing "
            "datapoint was treated as [Breaching]."
        )
        calm = wait_state(lab, not_breaching, "OK")
        assert calm["StateReason"].endswith("1 missing datapoint was treated as [NonBreaching].")
        # Evaluated since then, and for one more CloudWatch minute: still nothing to decide on.
        with pytest.raises(WaitTimeout):
            wait_until(
                lambda: {state_of(lab, n)["StateValue"] for n in (missing, ignore)} != {"INSUFFICIENT_DATA"},
                timeout=MINUTE + (0 if LOCAL else 60),
                interval=POLL,
                what="a change",
            )


def test_high_resolution_alarm_fires_and_recovers_when_data_stops(lab):
    """A 10-second alarm on a high-resolution metric: one breaching datapoint -> ALARM; once it is out of the
    evaluation range, missing data treated as notBreaching -> OK. History records both transitions."""
    namespace = f"OrderLab/{lab.prefix}/conformance"
    metric = f"Spikes-{uuid.uuid4().hex[:8]}"
    spec = {
        "AlarmName": lab.name("cw-spike"),
        "Namespace": namespace,
        "MetricName": metric,
        "Statistic": "Maximum",
        "Period": 10,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    with alarms(lab, spec) as (name,):
        wait_state(lab, name, "OK")
        lab.client("cloudwatch").put_metric_data(
            Namespace=namespace,
            MetricData=[{"MetricName": metric, "Value": 5.0, "Unit": "Count", "StorageResolution": 1}],
        )
        wait_state(lab, name, "ALARM", minutes=2)
        recovered = wait_state(lab, name, "OK", minutes=2)
        assert recovered["StateReason"].endswith("treated as [NonBreaching].")
        updates = state_updates(lab, name)
        assert [u["summary"] for u in updates][-2:] == [
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK",
        ]
        fired = updates[-2]
        assert fired["oldState"]["stateValue"] == "OK" and fired["newState"]["stateValue"] == "ALARM"
        assert fired["newState"]["stateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [5.0 (")
        assert fired["newState"]["stateReasonData"]["evaluatedDatapoints"][0]["value"] == 5.0


def test_alarm_notification_to_an_sns_subscribed_queue(lab):
    """SetAlarmState runs the ALARM actions: the SNS message carries AWS's JSON (AlarmArn, Region's long name,
    Trigger...); the next evaluation puts the alarm back to OK by itself and runs the OK actions."""
    from helpers.aws.sns import ensure_sqs_subscription, ensure_topic
    from helpers.aws.sqs import ensure_queue

    topic = ensure_topic(lab, "cw-alerts")
    inbox = ensure_queue(lab, "cw-alert-inbox")
    ensure_sqs_subscription(lab, topic.arn, inbox)
    namespace = f"OrderLab/{lab.prefix}/conformance"
    metric = f"Quiet-{uuid.uuid4().hex[:8]}"
    spec = {
        "AlarmName": lab.name("cw-notify"),
        "AlarmDescription": "conformance: alarm notification",
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": "Queue", "Value": "inbox"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic.arn],
        "OKActions": [topic.arn],
    }
    sqs = lab.client("sqs")
    seen: dict[str, dict] = {}

    def notification(state: str) -> dict | None:
        for message in sqs.receive_message(QueueUrl=inbox.url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            envelope = json.loads(message["Body"])
            body = json.loads(envelope["Message"])
            if body.get("AlarmName") == spec["AlarmName"]:
                seen[f"{body['OldStateValue']}->{body['NewStateValue']}"] = envelope
            sqs.delete_message(QueueUrl=inbox.url, ReceiptHandle=message["ReceiptHandle"])
        return next((e for k, e in seen.items() if k.endswith(f"->{state}") and k != f"{state}->{state}"), None)

    with alarms(lab, spec) as (name,):
        wait_state(lab, name, "OK")
        wait_until(lambda: notification("OK"), timeout=patience(1), interval=POLL, what="the OK notification")
        seen.clear()
        reason = "Conformance test: checking the alert path"
        lab.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason)
        envelope = wait_until(
            lambda: notification("ALARM"), timeout=patience(1), interval=POLL, what="the ALARM notification"
        )
        alarm = state_of(lab, name)

        assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic.arn
        assert envelope["Subject"] == f'ALARM: "{name}" in {region_name(lab.region)}'
        body = json.loads(envelope["Message"])
        assert {
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
        } <= set(body)
        assert body["AlarmName"] == name and body["AlarmArn"] == alarm["AlarmArn"]
        assert body["AlarmDescription"] == spec["AlarmDescription"] and body["AWSAccountId"] == lab.account_id
        assert (body["OldStateValue"], body["NewStateValue"], body["NewStateReason"]) == ("OK", "ALARM", reason)
        assert body["Region"] == region_name(lab.region)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", body["StateChangeTime"])
        assert body["AlarmActions"] == [topic.arn] and body["OKActions"] == [topic.arn]
        assert body["InsufficientDataActions"] == []
        trigger = body["Trigger"]
        assert {
            k: trigger[k]
            for k in (
                "MetricName",
                "Namespace",
                "StatisticType",
                "Statistic",
                "Dimensions",
                "Period",
                "EvaluationPeriods",
                "ComparisonOperator",
                "Threshold",
                "TreatMissingData",
            )
        } == {
            "MetricName": metric,
            "Namespace": namespace,
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Dimensions": [{"value": "inbox", "name": "Queue"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 1.0,
            "TreatMissingData": "notBreaching",
        }

        # "This temporary state change lasts only until the next alarm comparison occurs."
        wait_state(lab, name, "OK", minutes=2)
        wait_until(lambda: notification("OK"), timeout=patience(1), interval=POLL, what="the OK notification")
        updates = state_updates(lab, name)
        assert updates[-2]["newState"] == {"stateValue": "ALARM", "stateReason": reason}
        assert updates[-1]["oldState"]["stateValue"] == "ALARM" and updates[-1]["newState"]["stateValue"] == "OK"


def test_put_metric_alarm_refuses_an_invalid_period(lab):
    """Valid periods are 10, 20, 30 and any multiple of 60."""
    with pytest.raises(ClientError) as refused:
        lab.client("cloudwatch").put_metric_alarm(
            AlarmName=lab.name("cw-bad-period"),
            Namespace=f"OrderLab/{lab.prefix}",
            MetricName="M",
            Statistic="Sum",
            Period=45,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
    assert refused.value.response["Error"]["Code"] == "ValidationError"
