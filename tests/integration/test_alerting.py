"""Step 6 end to end: the alerts topic and its subscribers, the alarms, the dashboard, and the path
poison order -> DLQ depth > 0 -> alarm ALARM -> alert (SQS subscriber and mailbox) -> fix + redrive
-> alarm OK -> OK alert; business metrics from the functions' EMF log lines; cleanup leaves zero.

Written to the AWS contract (it runs unchanged with ``ORDERLAB_TARGET=aws``; there the mailbox
checks are skipped and the waits are minutes: SQS publishes one data point a minute).
AWS references: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notifications.html,
https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format.html
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from cloudtest import external_target

from helpers import Lab
from helpers.aws.cloudwatch import describe_alarm, get_dashboard_body
from helpers.aws.sns import find_subscriptions
from helpers.aws.sqs import queue_counts
from helpers.core.naming import PREFIX_TAG
from helpers.core.waiters import wait_until
from helpers.ops.cleanup import destroy_lab
from helpers.ops.discovery import find_lab_resources
from helpers.ops.observability import (
    AlertInbox,
    MetricQuery,
    alarm_history_frame,
    confirm_email_from_mailbox,
    local_mailbox,
    metric_frame,
    sqs_metric,
    utcnow,
    wait_for_alarm_state,
)
from helpers.ops.redrive import redrive
from helpers.ops.tracking import sample_queue_counts, wait_for_final_status
from helpers.pipeline.catalog import BUSINESS_METRICS, DASHBOARD_COMPONENT, METRICS_NAMESPACE
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.step3 import deploy_order_worker
from helpers.pipeline.step5 import PipelineStack, deploy_pipeline
from helpers.pipeline.step6 import ALARM_KEYS, AlertingStack, alerting_status, deploy_alerting

EMAIL = "learner@example.com"
LOCAL = external_target() is None
# Locally the alarms are evaluated on an accelerated clock (localcloud/services/cloudwatch/runtime.py); on AWS
# a one-minute SQS metric plus evaluation takes minutes.
ALARM_TIMEOUT = 90 if LOCAL else 900
DLQ_TIMEOUT = 90  # three failing receives (retried at once: a permanent failure gets no backoff)

pytestmark = [pytest.mark.cloud]


@pytest.fixture(scope="module")
def pipeline(lab: Lab) -> PipelineStack:
    return deploy_pipeline(lab, max_receive_count=3)


@pytest.fixture(scope="module")
def alerting(lab: Lab, pipeline: PipelineStack) -> AlertingStack:
    return deploy_alerting(lab, alert_email=EMAIL)


def test_deploy_alerting_twice_converges(lab: Lab, alerting: AlertingStack) -> None:
    alarms_before = {name: describe_alarm(lab, name) for name in alerting.alarm_names}

    again = deploy_alerting(lab, alert_email=EMAIL)

    assert not again.changed, again.changes()
    assert again.topic.arn == alerting.topic.arn
    assert again.inbox.url == alerting.inbox.url
    assert again.sqs_subscription.arn == alerting.sqs_subscription.arn
    assert sorted(again.alarms) == sorted(ALARM_KEYS)
    for name, before in alarms_before.items():
        after = describe_alarm(lab, name)
        assert after is not None and before is not None
        assert after["AlarmConfigurationUpdatedTimestamp"] == before["AlarmConfigurationUpdatedTimestamp"], name
    # one subscriber per endpoint, however often it runs
    subscriptions = find_subscriptions(lab, alerting.topic.arn)
    assert sorted(s.protocol for s in subscriptions) == ["email", "sqs"]
    status = alerting_status(lab)
    assert status["ready"], status["missing"]


def test_topic_subscriptions_and_queue_policy(lab: Lab, alerting: AlertingStack) -> None:
    sns = lab.client("sns")
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=alerting.topic.arn)["Tags"]}
    assert tags[PREFIX_TAG] == lab.prefix

    (sqs_sub,) = find_subscriptions(lab, alerting.topic.arn, protocol="sqs")
    assert sqs_sub.endpoint == alerting.inbox.arn and not sqs_sub.pending  # same account: confirmed at once
    attributes = sns.get_subscription_attributes(SubscriptionArn=sqs_sub.arn)["Attributes"]
    assert attributes["RawMessageDelivery"] == "false"  # the SNS envelope is kept

    policy = json.loads(
        lab.client("sqs").get_queue_attributes(QueueUrl=alerting.inbox.url, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": alerting.topic.arn}}

    (email_sub,) = find_subscriptions(lab, alerting.topic.arn, protocol="email")
    assert email_sub.endpoint == EMAIL


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(lab: Lab, alerting: AlertingStack) -> None:
    cloudwatch = lab.client("cloudwatch")
    for key, info in alerting.alarms.items():
        alarm = describe_alarm(lab, info.name)
        assert alarm is not None, key
        assert alarm["AlarmActions"] == [alerting.topic.arn] and alarm["OKActions"] == [alerting.topic.arn], key
        assert alarm["TreatMissingData"] == "notBreaching", key
        tags = {t["Key"]: t["Value"] for t in cloudwatch.list_tags_for_resource(ResourceARN=info.arn)["Tags"]}
        assert tags[PREFIX_TAG] == lab.prefix, key
    dashboard = get_dashboard_body(lab, lab.name(DASHBOARD_COMPONENT))
    assert dashboard is not None and any(w["type"] == "alarm" for w in dashboard["widgets"])


def test_a_changed_alarm_is_put_back(lab: Lab, alerting: AlertingStack) -> None:
    name = alerting.alarm("queue-age").name
    current = describe_alarm(lab, name)
    assert current is not None
    drifted = {
        k: current[k]
        for k in (
            "AlarmName",
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "ComparisonOperator",
            "AlarmActions",
            "OKActions",
        )
    }
    lab.client("cloudwatch").put_metric_alarm(**drifted, Threshold=9999.0, TreatMissingData="breaching")

    again = deploy_alerting(lab, alert_email=EMAIL)

    # (PutMetricAlarm replaces the whole configuration: the description was dropped by the drift too)
    assert (
        {"Threshold", "TreatMissingData"}
        <= set(again.alarm("queue-age").updated)
        <= {"Threshold", "TreatMissingData", "AlarmDescription"}
    )
    fixed = describe_alarm(lab, name)
    assert fixed is not None and fixed["Threshold"] == 300.0 and fixed["TreatMissingData"] == "notBreaching"
    assert not deploy_alerting(lab, alert_email=EMAIL).changed


@pytest.mark.slow
def test_poison_order_alarm_alert_redrive_ok(lab: Lab, pipeline: PipelineStack, alerting: AlertingStack) -> None:
    name = alerting.alarm("dlq").name
    dlq = pipeline.queues.dlq
    inbox = AlertInbox(lab, alerting.inbox.url)
    mailbox = local_mailbox(lab)
    if mailbox is not None and alerting.email_subscription and alerting.email_subscription.pending:
        confirm_email_from_mailbox(lab, alerting.topic.arn, EMAIL)
    assert queue_counts(lab, dlq.url).total == 0, "the DLQ must start empty"
    wait_for_alarm_state(lab, name, "OK", timeout=ALARM_TIMEOUT)  # evaluated at least once: an empty DLQ is OK
    started = utcnow()

    api = OrdersApi(pipeline.api.endpoint_url)
    reply = api.create(
        {
            "customer": {"id": "cust-006", "name": "Poison Ivy"},
            "items": [{"sku": "BOOK-3", "quantity": 1, "unitPrice": 9.99}],
            "fault": "poison",
        },
        idempotency_key=f"test-{uuid.uuid4()}",
    )
    assert reply.status == 201, reply.json
    order_id = reply.json["orderId"]
    sample_queue_counts(lab, {"dlq": dlq.url}, seconds=DLQ_TIMEOUT, until=lambda c: c["dlq"].visible >= 1)
    assert queue_counts(lab, dlq.url).visible >= 1, "the poison order never reached the DLQ"

    fired = wait_for_alarm_state(lab, name, "ALARM", timeout=ALARM_TIMEOUT)
    assert "Threshold Crossed" in fired["StateReason"]
    alert = inbox.wait_for(name, "ALARM", timeout=ALARM_TIMEOUT, since=started)
    assert (alert.old_state, alert.new_state, alert.topic_arn) == ("OK", "ALARM", alerting.topic.arn)
    assert alert.envelope["Type"] == "Notification" and alert.subject.startswith("ALARM")
    for key in (
        "AlarmName",
        "AlarmDescription",
        "AWSAccountId",
        "NewStateValue",
        "NewStateReason",
        "StateChangeTime",
        "Region",
        "OldStateValue",
        "Trigger",
    ):
        assert key in alert.message, key
    assert alert.trigger["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alert.trigger["Namespace"] == "AWS/SQS"
    assert {d.get("value") or d.get("Value") for d in alert.trigger["Dimensions"]} == {dlq.name}
    if mailbox is not None:
        mail = mailbox.wait_for(
            lambda m: m.subject.startswith("ALARM") and name in m.subject and m.date >= started - timedelta(seconds=1),
            timeout=30,
            address=EMAIL,
        )
        assert name in mail.body

    deploy_order_worker(lab, pipeline.table, pipeline.queues, fault_injection=False)  # "the fix"
    try:
        move = redrive(lab, dlq.arn)
        assert move.status == "COMPLETED"
        assert wait_for_final_status(lab, pipeline.table.name, order_id, timeout=60)["status"] == "CONFIRMED"
        recovered = wait_for_alarm_state(lab, name, "OK", timeout=ALARM_TIMEOUT)
        assert recovered["StateValue"] == "OK"
        # from ALARM: the INSUFFICIENT_DATA -> OK alert can be stamped within a second of the firing
        ok = inbox.wait_for(name, "OK", timeout=ALARM_TIMEOUT, since=alert.state_change_time, from_state="ALARM")
        assert (ok.old_state, ok.new_state) == ("ALARM", "OK")
        if mailbox is not None:
            mailbox.wait_for(
                lambda m: m.subject.startswith("OK") and name in m.subject and m.date >= started - timedelta(seconds=1),
                timeout=30,
                address=EMAIL,
            )
    finally:
        deploy_order_worker(lab, pipeline.table, pipeline.queues, fault_injection=True)

    history = alarm_history_frame(lab, [name], start=started - timedelta(seconds=5))
    transitions = list(zip(history["old_state"], history["new_state"], strict=False))
    assert ("OK", "ALARM") in transitions and ("ALARM", "OK") in transitions, transitions
    depth = metric_frame(lab, [sqs_metric("DLQ", dlq.name)], start=started - timedelta(minutes=2), end=utcnow())
    assert depth["value"].max() >= 1, depth


def test_functions_publish_business_metrics(lab: Lab, pipeline: PipelineStack) -> None:
    started = utcnow() - timedelta(minutes=1)
    api = OrdersApi(pipeline.api.endpoint_url)
    ids = [
        api.create(
            {
                "customer": {"id": customer, "name": "Metric Test"},
                "items": [{"sku": "TV-1", "quantity": 1, "unitPrice": price}],
            },
            idempotency_key=f"test-{uuid.uuid4()}",
        ).json["orderId"]
        for customer, price in (("cust-010", 25.0), ("cust-666", 30.0), ("cust-011", 2500.0))
    ]  # cust-666 is blocked: REJECTED
    for order_id in ids:
        wait_for_final_status(lab, pipeline.table.name, order_id, timeout=60)

    queries = [
        MetricQuery(metric, METRICS_NAMESPACE, metric, {"service": "orders"}, "Sum") for metric in BUSINESS_METRICS
    ]

    def published() -> dict[str, float] | None:
        frame = metric_frame(lab, queries, start=started, end=utcnow() + timedelta(minutes=1))
        totals = frame.groupby("label")["value"].sum().to_dict() if not frame.empty else {}
        enough = (
            totals.get("OrdersAccepted", 0) >= 3
            and totals.get("HighValueOrders", 0) >= 1
            and totals.get("OrdersConfirmed", 0) >= 2
            and totals.get("OrdersRejected", 0) >= 1
        )
        return totals if enough else None

    # EMF lines become metrics as CloudWatch Logs ingests them (a few seconds on AWS).
    wait_until(published, timeout=120 if not LOCAL else 20, interval=1, what="the business metrics from EMF")


def test_cleanup_leaves_nothing_of_step_6(cloud) -> None:
    own = Lab.connect(prefix=f"t{uuid.uuid4().hex[:8]}")
    stack = deploy_alerting(own, alert_email=EMAIL)  # alarms on a pipeline that does not exist: allowed
    kinds = {(r.service, r.kind) for r in find_lab_resources(own)}
    assert {("sns", "topic"), ("sqs", "queue"), ("cloudwatch", "alarm"), ("cloudwatch", "dashboard")} <= kinds, kinds

    report = destroy_lab(own)

    assert report.ok, report.summary()
    assert find_lab_resources(own) == []
    cloudwatch = own.client("cloudwatch")
    assert cloudwatch.describe_alarms(AlarmNamePrefix=f"{own.prefix}-")["MetricAlarms"] == []
    assert cloudwatch.list_dashboards(DashboardNamePrefix=f"{own.prefix}-")["DashboardEntries"] == []
    topics = [t["TopicArn"] for t in own.client("sns").list_topics()["Topics"]]
    assert stack.topic.arn not in topics
    subscriptions = own.client("sns").list_subscriptions()["Subscriptions"]
    assert [s for s in subscriptions if s["TopicArn"] == stack.topic.arn] == []
