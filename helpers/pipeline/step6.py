"""Step 6 in one call: the alerts topic and its subscribers, the pipeline's alarms, a dashboard.

>>> stack = deploy_alerting(lab, alert_email="learner@example.com")     # doctest: +SKIP
>>> stack.topic.name, stack.alarm("dlq").name                            # doctest: +SKIP
('alice-alerts', 'alice-order-dlq-not-empty')
>>> alerting_status(lab)["ready"]                                        # doctest: +SKIP
True

Re-running converges: the same topic and subscriptions, alarms and dashboard untouched when
nothing changed (``stack.changed`` is False).

What is built (AWS console: SNS → Topics; CloudWatch → Alarms; CloudWatch → Dashboards):

- SNS topic ``alerts``, subscribed by e-mail (``alert_email``) and by the SQS queue
  ``alert-inbox`` (a machine-readable copy of every alert: tests and notebooks read it);
- alarms, each notifying the topic on ALARM *and* on OK (the recovery is news too):

  ===================  ==================================================  =================================
  key                  metric                                              fires when
  ===================  ==================================================  =================================
  ``dlq``              AWS/SQS ApproximateNumberOfMessagesVisible (DLQ)    any message waits in the DLQ
  ``worker-errors``    AWS/Lambda Errors (order worker)                    the worker crashed / timed out
  ``queue-age``        AWS/SQS ApproximateAgeOfOldestMessage (order queue) orders wait > 5 min, 2 min running
  ``api-5xx``          AWS/ApiGateway 5xx (orders API)                     the API answered 5xx
  ``api-latency``      AWS/ApiGateway Latency p99 (orders API)             p99 > 1 s in 2 of 3 minutes
  ===================  ==================================================  =================================

  Missing data is "not breaching" for all of them: SQS stops publishing metrics for an idle
  queue, Lambda and API Gateway publish nothing without traffic, and quiet is healthy here.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
- dashboard ``order-pipeline``: queue depths, message age, Lambda invocations/errors/duration,
  API traffic, the business metrics the functions publish (EMF), the alarms, recent log lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from helpers.aws.apigateway import find_http_apis
from helpers.aws.cloudwatch import (
    AlarmInfo,
    AlarmSpec,
    DashboardInfo,
    alarm_widget,
    describe_alarm,
    ensure_dashboard,
    ensure_metric_alarm,
    get_dashboard_body,
    grid,
    log_widget,
    metric_widget,
    text_widget,
)
from helpers.aws.common import log_group_name
from helpers.aws.sns import (
    SubscriptionInfo,
    TopicInfo,
    ensure_email_subscription,
    ensure_sqs_subscription,
    ensure_topic,
    find_subscriptions,
    get_topic_attributes,
    topic_arn,
)
from helpers.aws.sqs import QueueInfo, describe_queue, ensure_queue
from helpers.core.lab import Lab
from helpers.pipeline.catalog import (
    ALARM_KEYS,
    ALARMS,
    ALERT_INBOX_COMPONENT,
    ALERTS_TOPIC_COMPONENT,
    API_COMPONENT,
    BUSINESS_METRICS,
    CREATE_ORDER,
    DASHBOARD_COMPONENT,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    ORDER_DLQ_COMPONENT,
    ORDER_QUEUE_COMPONENT,
    ORDER_WORKER,
    STREAM_PROCESSOR,
    step,
)

__all__ = [
    "ALARM_KEYS",
    "ALERTS_TOPIC_COMPONENT",
    "ALERT_INBOX_COMPONENT",
    "BUSINESS_METRICS",
    "DASHBOARD_COMPONENT",
    "DEFAULT_ALERT_EMAIL",
    "METRICS_NAMESPACE",
    "AlertingStack",
    "PipelineNames",
    "alarm_specs",
    "alerting_status",
    "deploy_alerting",
    "ensure_alert_topic",
    "pipeline_dashboard_body",
    "pipeline_names",
]

DEFAULT_ALERT_EMAIL = "learner@example.com"
TOPIC_DISPLAY_NAME = "Order pipeline alerts"
# The inbox queue (ensure_queue keywords): a day of alerts is plenty for tests and notebooks to read.
ALERT_INBOX_SETTINGS: dict[str, Any] = {"message_retention_seconds": 86_400}
# Alarm key -> component of its name (lab.name(component)).
ALARM_COMPONENTS = {alarm.key: alarm.component for alarm in ALARMS}


@dataclass(frozen=True)
class PipelineNames:
    """The names of the pipeline's resources the alarms and the dashboard watch."""

    prefix: str
    region: str
    order_queue: str
    dlq: str
    create_order: str
    stream_processor: str
    order_worker: str
    api_id: str | None

    @property
    def functions(self) -> tuple[str, str, str]:
        return (self.create_order, self.stream_processor, self.order_worker)

    def short(self, name: str) -> str:
        """A resource name without the lab prefix (for legends): ``alice-order-worker`` -> ``order-worker``."""
        return name.removeprefix(f"{self.prefix}-")


def pipeline_names(lab: Lab) -> PipelineNames:
    """Names of the queues and functions (from the lab's naming) and the orders API's id (looked up)."""
    apis = find_http_apis(lab, API_COMPONENT)
    return PipelineNames(
        prefix=lab.prefix,
        region=lab.region,
        order_queue=lab.name(ORDER_QUEUE_COMPONENT),
        dlq=lab.name(ORDER_DLQ_COMPONENT),
        create_order=lab.name(CREATE_ORDER.component),
        stream_processor=lab.name(STREAM_PROCESSOR.component),
        order_worker=lab.name(ORDER_WORKER.component),
        api_id=apis[0]["ApiId"] if apis else None,
    )


def _pipeline_alarm(
    key: str,
    description: str,
    metric: tuple[str, str, dict[str, str]],
    *,
    statistic: str,
    evaluation_periods: int = 1,
    datapoints_to_alarm: int | None = None,
    threshold: float = 0,
) -> AlarmSpec:
    """One of the pipeline's alarms: one-minute periods, fires above ``threshold``, quiet is healthy.

    >>> spec = _pipeline_alarm("dlq", "DLQ not empty", ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
    ...                        {"QueueName": "a-order-dlq"}), statistic="Maximum")
    >>> spec.component, spec.period, spec.threshold, spec.comparison, spec.treat_missing_data
    ('order-dlq-not-empty', 60, 0, 'GreaterThanThreshold', 'notBreaching')
    """
    namespace, metric_name, dimensions = metric
    return AlarmSpec(
        ALARM_COMPONENTS[key],
        description,
        namespace,
        metric_name,
        dimensions,
        statistic=statistic,
        period=60,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        threshold=threshold,
        comparison="GreaterThanThreshold",
        treat_missing_data="notBreaching",
    )


def alarm_specs(
    names: PipelineNames, *, queue_age_seconds: int = 300, api_p99_ms: float = 1000
) -> dict[str, AlarmSpec]:
    """The pipeline's alarms (see the module docstring); the API's two only when the API exists.

    >>> names = PipelineNames("a", "us-east-1", "a-order-queue", "a-order-dlq", "a-create-order",
    ...                       "a-stream-processor", "a-order-worker", "abc123")
    >>> specs = alarm_specs(names)
    >>> specs["dlq"].metric_name, dict(specs["dlq"].dimensions), specs["dlq"].treat_missing_data
    ('ApproximateNumberOfMessagesVisible', {'QueueName': 'a-order-dlq'}, 'notBreaching')
    >>> sorted(specs)
    ['api-5xx', 'api-latency', 'dlq', 'queue-age', 'worker-errors']
    """
    specs = {
        "dlq": _pipeline_alarm(
            "dlq",
            f"Orders are waiting in the dead-letter queue {names.dlq}: they failed every retry. Look at the "
            "message (lastError on the order), fix the cause, then redrive the DLQ.",
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": names.dlq}),
            statistic="Maximum",
        ),
        "worker-errors": _pipeline_alarm(
            "worker-errors",
            f"Lambda function {names.order_worker} failed whole invocations (crash, timeout, out of memory). "
            "Failed messages reported as partial batch failures do not count here: see the DLQ alarm.",
            ("AWS/Lambda", "Errors", {"FunctionName": names.order_worker}),
            statistic="Sum",
        ),
        "queue-age": _pipeline_alarm(
            "queue-age",
            f"The oldest order in {names.order_queue} has waited more than {queue_age_seconds} s for 2 minutes: "
            "the worker is not keeping up (or its event source mapping is disabled).",
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": names.order_queue}),
            statistic="Maximum",
            evaluation_periods=2,
            threshold=queue_age_seconds,
        ),
    }
    if names.api_id:
        specs["api-5xx"] = _pipeline_alarm(
            "api-5xx",
            f"The orders API ({names.api_id}) answered 5xx: create_order failed or is throttled. "
            f"Check the log group /aws/lambda/{names.create_order}.",
            ("AWS/ApiGateway", "5xx", {"ApiId": names.api_id}),
            statistic="Sum",
        )
        specs["api-latency"] = _pipeline_alarm(
            "api-latency",
            f"p99 latency of the orders API ({names.api_id}) above {api_p99_ms:g} ms in 2 of the last 3 minutes.",
            ("AWS/ApiGateway", "Latency", {"ApiId": names.api_id}),
            statistic="p99",
            evaluation_periods=3,
            datapoints_to_alarm=2,
            threshold=api_p99_ms,
        )
    return dict(sorted(specs.items()))


def pipeline_dashboard_body(names: PipelineNames, alarm_arns: list[str]) -> dict[str, Any]:
    """The dashboard's widgets (JSON body) for the pipeline.

    >>> names = PipelineNames("a", "us-east-1", "a-order-queue", "a-order-dlq", "a-create-order",
    ...                       "a-stream-processor", "a-order-worker", None)
    >>> body = pipeline_dashboard_body(names, ["arn:aws:cloudwatch:us-east-1:1:alarm:a-order-dlq-not-empty"])
    >>> [w["type"] for w in body["widgets"]][:3], len(body["widgets"])
    (['text', 'metric', 'metric'], 8)
    """
    region = names.region
    sqs = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", names.order_queue, {"label": "order queue"}],
        [
            "AWS/SQS",
            "ApproximateNumberOfMessagesNotVisible",
            "QueueName",
            names.order_queue,
            {"label": "order queue: in flight"},
        ],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", names.dlq, {"label": "DLQ", "color": "#d62728"}],
    ]
    lambdas = [
        ["AWS/Lambda", metric, "FunctionName", fn, {"label": f"{names.short(fn)} {metric}"}]
        for fn in names.functions
        for metric in ("Invocations", "Errors")
    ]
    durations = [["AWS/Lambda", "Duration", "FunctionName", fn, {"stat": "p99"}] for fn in names.functions]
    business = [[METRICS_NAMESPACE, metric, "service", METRICS_SERVICE] for metric in BUSINESS_METRICS]
    widgets = [
        text_widget(
            "# Order pipeline\nAPI → create_order → DynamoDB → stream → order queue → worker "
            "(→ DLQ). Alarms notify the SNS topic on ALARM and OK."
        ),
        metric_widget("Queue depth (messages)", sqs, region=region, stat="Maximum"),
        metric_widget(
            "Oldest message in the order queue (s)",
            [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", names.order_queue]],
            region=region,
            stat="Maximum",
        ),
        metric_widget("Lambda invocations and errors", lambdas, region=region, stat="Sum"),
        metric_widget("Lambda duration p99 (ms)", durations, region=region, stat="p99"),
        metric_widget("Business metrics (EMF)", business, region=region, stat="Sum"),
    ]
    if names.api_id:
        widgets.append(
            metric_widget(
                "Orders API: requests, 4xx, 5xx",
                [["AWS/ApiGateway", metric, "ApiId", names.api_id] for metric in ("Count", "4xx", "5xx")],
                region=region,
                stat="Sum",
            )
        )
    widgets += [
        alarm_widget("Alarms", alarm_arns),
        log_widget(
            "Worker: recent order log lines",
            [log_group_name(names.order_worker)],
            "fields @timestamp, level, message, orderId, receiveCount | filter ispresent(orderId) "
            "| sort @timestamp desc | limit 20",
            region=region,
        ),
    ]
    return grid(widgets)


class _Deployed(Protocol):
    """What each ensured part reports of the deploy (topic, queue, subscription, alarm, dashboard)."""

    @property
    def changed(self) -> bool: ...

    @property
    def created(self) -> bool: ...


@dataclass(frozen=True)
class AlertingStack:
    """Step 6: the alerts topic, its two subscriptions, the alarms (by key), the dashboard."""

    topic: TopicInfo
    inbox: QueueInfo
    sqs_subscription: SubscriptionInfo
    email_subscription: SubscriptionInfo | None
    alarms: dict[str, AlarmInfo]
    dashboard: DashboardInfo

    def alarm(self, key: str) -> AlarmInfo:
        """The alarm ``key`` (one of :data:`ALARM_KEYS`)."""
        try:
            return self.alarms[key]
        except KeyError:
            raise KeyError(f"no alarm {key!r} in this stack; it has {sorted(self.alarms)}") from None

    @property
    def alarm_names(self) -> list[str]:
        return [alarm.name for alarm in self.alarms.values()]

    @property
    def changed(self) -> bool:
        return (
            self.topic.changed
            or self.inbox.changed
            or self.sqs_subscription.changed
            or bool(self.email_subscription and self.email_subscription.changed)
            or any(a.changed for a in self.alarms.values())
            or self.dashboard.changed
        )

    def changes(self) -> list[str]:
        """What this deploy changed, as short phrases (empty when everything was already in place)."""
        found = []
        parts: tuple[tuple[str, _Deployed | None], ...] = (
            ("topic", self.topic),
            ("alert inbox queue", self.inbox),
            ("SQS subscription", self.sqs_subscription),
            ("e-mail subscription", self.email_subscription),
            ("dashboard", self.dashboard),
            *((f"alarm {a.name}", a) for a in self.alarms.values()),
        )
        for label, thing in parts:
            if thing is not None and thing.changed:
                found.append(f"{label}: {'created' if thing.created else 'updated'}")
        return found


def ensure_alert_topic(
    lab: Lab, *, alert_email: str | None = DEFAULT_ALERT_EMAIL
) -> tuple[TopicInfo, QueueInfo, SubscriptionInfo, SubscriptionInfo | None]:
    """Step 6a: the topic, the inbox queue subscribed to it (raw delivery off), the e-mail subscriber."""
    topic = ensure_topic(lab, ALERTS_TOPIC_COMPONENT, display_name=TOPIC_DISPLAY_NAME)
    inbox = ensure_queue(lab, ALERT_INBOX_COMPONENT, **ALERT_INBOX_SETTINGS)
    sqs_subscription = ensure_sqs_subscription(lab, topic.arn, inbox, raw_message_delivery=False)
    email_subscription = ensure_email_subscription(lab, topic.arn, alert_email) if alert_email else None
    return topic, inbox, sqs_subscription, email_subscription


def deploy_alerting(
    lab: Lab,
    *,
    alert_email: str | None = DEFAULT_ALERT_EMAIL,
    queue_age_seconds: int = 300,
    api_p99_ms: float = 1000,
) -> AlertingStack:
    """Deploy (or converge) step 6: topic + subscriptions -> alarms (actions: the topic) -> dashboard.

    Needs the pipeline of steps 1-3 and 5 (the notebook checks with ``require_step(lab, "05")``).

    >>> stack = deploy_alerting(lab)                                    # doctest: +SKIP
    >>> deploy_alerting(lab).changed                                    # doctest: +SKIP
    False
    """
    names = pipeline_names(lab)
    topic, inbox, sqs_subscription, email_subscription = ensure_alert_topic(lab, alert_email=alert_email)
    alarms = {
        key: ensure_metric_alarm(lab, spec, actions=[topic.arn])
        for key, spec in alarm_specs(names, queue_age_seconds=queue_age_seconds, api_p99_ms=api_p99_ms).items()
    }
    dashboard = ensure_dashboard(
        lab, DASHBOARD_COMPONENT, pipeline_dashboard_body(names, [a.arn for a in alarms.values()])
    )
    return AlertingStack(
        topic=topic,
        inbox=inbox,
        sqs_subscription=sqs_subscription,
        email_subscription=email_subscription,
        alarms=alarms,
        dashboard=dashboard,
    )


def alerting_status(lab: Lab) -> dict[str, Any]:
    """What exists of step 6 (read-only): ``{"ready", "missing", "topic", "inbox", "alarms", "dashboard"}``.

    >>> alerting_status(lab)["missing"]                                 # doctest: +SKIP
    ['alarm alice-order-dlq-not-empty (notifying alice-alerts on ALARM and OK)']
    """
    names = pipeline_names(lab)
    arn = topic_arn(lab, ALERTS_TOPIC_COMPONENT)
    topic_exists = get_topic_attributes(lab, arn) is not None
    inbox = describe_queue(lab, lab.name(ALERT_INBOX_COMPONENT))
    subscriptions = find_subscriptions(lab, arn) if topic_exists else []
    inbox_arn = (inbox or {}).get("QueueArn")
    missing: list[str] = []
    if not topic_exists:
        missing.append(f"SNS topic {lab.name(ALERTS_TOPIC_COMPONENT)}")
    if inbox is None:
        missing.append(f"SQS queue {lab.name(ALERT_INBOX_COMPONENT)}")
    sqs_ok = any(s.protocol == "sqs" and s.endpoint == inbox_arn and not s.pending for s in subscriptions)
    if topic_exists and inbox is not None and not sqs_ok:
        missing.append(f"a subscription of {lab.name(ALERT_INBOX_COMPONENT)} to {lab.name(ALERTS_TOPIC_COMPONENT)}")
    alarms: dict[str, dict[str, Any]] = {}
    for key, spec in alarm_specs(names).items():
        name = lab.name(spec.component)
        alarm = describe_alarm(lab, name)
        notifies = (
            bool(alarm) and arn in (alarm or {}).get("AlarmActions", []) and arn in (alarm or {}).get("OKActions", [])
        )
        alarms[key] = {
            "name": name,
            "exists": alarm is not None,
            "state": (alarm or {}).get("StateValue"),
            "notifies_topic": notifies,
        }
        if not notifies:
            missing.append(f"alarm {name} (notifying {lab.name(ALERTS_TOPIC_COMPONENT)} on ALARM and OK)")
    dashboard_name = lab.name(DASHBOARD_COMPONENT)
    dashboard_exists = get_dashboard_body(lab, dashboard_name) is not None
    if not dashboard_exists:
        missing.append(f"CloudWatch dashboard {dashboard_name}")
    return {
        "ready": not missing,
        "missing": missing,
        "topic": {
            "arn": arn,
            "exists": topic_exists,
            "subscriptions": [
                {"protocol": s.protocol, "endpoint": s.endpoint, "pending": s.pending} for s in subscriptions
            ],
        },
        "inbox": {
            "name": lab.name(ALERT_INBOX_COMPONENT),
            "exists": inbox is not None,
            "url": (inbox or {}).get("QueueUrl"),
            "arn": inbox_arn,
        },
        "alarms": alarms,
        "dashboard": {"name": dashboard_name, "exists": dashboard_exists},
        "notebook": step("06").notebook,
    }
