"""CloudWatch alarms and dashboards of the lab: create or converge (only when different), tag, delete.

>>> alarm = ensure_metric_alarm(lab, AlarmSpec(                                         # doctest: +SKIP
...     component="order-dlq-not-empty", description="A message reached the DLQ",
...     namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
...     dimensions={"QueueName": "alice-order-dlq"}, statistic="Maximum", period=60,
...     evaluation_periods=1, threshold=0, comparison="GreaterThanThreshold",
...     treat_missing_data="notBreaching"), actions=[topic.arn])
>>> alarm.name, alarm.created, alarm.updated                                            # doctest: +SKIP
('alice-order-dlq-not-empty', True, ())
>>> ensure_dashboard(lab, "pipeline", {"widgets": [text_widget("# Orders")]}).name      # doctest: +SKIP
'alice-pipeline'

``PutMetricAlarm`` replaces the whole configuration of an existing alarm (its state is kept),
and its ``Tags`` only apply when the alarm is created, so :func:`ensure_metric_alarm` compares
the alarm's current configuration with the wanted one, calls ``PutMetricAlarm`` only when they
differ, and puts missing tags with ``TagResource``.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_TagResource.html

Dashboards are a JSON body (widgets on a 24-column grid):
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, paginate, partition, tags_missing
from helpers.core.naming import tag_list

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "COMPARISONS",
    "TREAT_MISSING_DATA",
    "AlarmInfo",
    "AlarmSpec",
    "DashboardInfo",
    "alarm_diff",
    "alarm_graph_widget",
    "alarm_params",
    "alarm_widget",
    "dashboard_arn",
    "delete_alarms",
    "delete_dashboards",
    "describe_alarm",
    "ensure_dashboard",
    "ensure_metric_alarm",
    "get_dashboard_body",
    "grid",
    "list_dashboards",
    "log_widget",
    "metric_widget",
    "text_widget",
]

COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "DashboardNotFoundError", "NotFound"}
# Fields of DescribeAlarms that PutMetricAlarm sets: what "different" means for ensure_metric_alarm.
_MANAGED = (
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)


@dataclass(frozen=True)
class AlarmSpec:
    """A metric alarm on one metric (no metric math), as the lab declares it.

    ``statistic`` is one of SampleCount/Average/Sum/Minimum/Maximum, or a percentile such as
    ``p99`` (sent as ``ExtendedStatistic``). ``datapoints_to_alarm`` defaults to
    ``evaluation_periods`` ("N out of N"). ``period`` is in seconds: 60 or a multiple of 60 for
    AWS's one-minute metrics (10 and 30 only for high-resolution custom metrics).
    """

    component: str
    description: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, str]
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    treat_missing_data: str = "missing"
    datapoints_to_alarm: int | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        if self.treat_missing_data not in TREAT_MISSING_DATA:
            raise ValueError(f"treat_missing_data must be one of {TREAT_MISSING_DATA}, got {self.treat_missing_data!r}")
        if self.statistic not in STATISTICS and not _is_percentile(self.statistic):
            raise ValueError(
                f"statistic must be one of {STATISTICS} or a percentile like 'p99', got {self.statistic!r}"
            )
        if self.period not in (10, 30) and (self.period < 60 or self.period % 60):
            raise ValueError(f"period must be 10, 30 or a multiple of 60 seconds, got {self.period}")
        if self.evaluation_periods < 1:
            raise ValueError(f"evaluation_periods must be >= 1, got {self.evaluation_periods}")
        if self.period * self.evaluation_periods > 86_400 * 7:
            raise ValueError("period x evaluation_periods must be at most 7 days")
        m = self.datapoints_to_alarm
        if m is not None and not 1 <= m <= self.evaluation_periods:
            raise ValueError(f"datapoints_to_alarm must be 1..evaluation_periods ({self.evaluation_periods}), got {m}")
        if not math.isfinite(float(self.threshold)):
            raise ValueError("threshold must be a finite number")
        if len(self.description) > 1024:
            raise ValueError("description is at most 1024 characters")


@dataclass(frozen=True)
class AlarmInfo:
    """An alarm of the lab. ``created``/``updated`` (field names)/``tagged`` say what this call changed."""

    name: str
    arn: str
    state: str
    created: bool = field(default=False, compare=False)
    updated: tuple[str, ...] = field(default=(), compare=False)
    tagged: bool = field(default=False, compare=False)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.updated) or self.tagged


@dataclass(frozen=True)
class DashboardInfo:
    """A dashboard of the lab. ``tags_supported`` is False where the endpoint cannot tag dashboards."""

    name: str
    arn: str
    created: bool = field(default=False, compare=False)
    updated: bool = field(default=False, compare=False)
    tags_supported: bool = field(default=True, compare=False)

    @property
    def changed(self) -> bool:
        return self.created or self.updated


def _is_percentile(statistic: str) -> bool:
    if not statistic.startswith("p"):
        return False
    try:
        value = float(statistic[1:])
    except ValueError:
        return False
    return 0 < value < 100


def alarm_params(
    spec: AlarmSpec,
    name: str,
    *,
    alarm_actions: Sequence[str] = (),
    ok_actions: Sequence[str] = (),
    insufficient_data_actions: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``PutMetricAlarm`` parameters of ``spec`` (without tags).

    >>> spec = AlarmSpec("x", "d", "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "q"},
    ...                  "Maximum", 60, 1, 0, "GreaterThanThreshold", "notBreaching")
    >>> p = alarm_params(spec, "alice-x", alarm_actions=["arn:aws:sns:us-east-1:1:t"],
    ...                  ok_actions=["arn:aws:sns:us-east-1:1:t"])
    >>> p["Statistic"], p["Dimensions"], p["DatapointsToAlarm"], p["TreatMissingData"], p["OKActions"]
    ('Maximum', [{'Name': 'QueueName', 'Value': 'q'}], 1, 'notBreaching', ['arn:aws:sns:us-east-1:1:t'])
    """
    params: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": spec.description,
        "ActionsEnabled": True,
        "AlarmActions": list(alarm_actions),
        "OKActions": list(ok_actions),
        "InsufficientDataActions": list(insufficient_data_actions),
        "Namespace": spec.namespace,
        "MetricName": spec.metric_name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(spec.dimensions.items())],
        "Period": int(spec.period),
        "EvaluationPeriods": int(spec.evaluation_periods),
        "DatapointsToAlarm": int(spec.datapoints_to_alarm or spec.evaluation_periods),
        "Threshold": float(spec.threshold),
        "ComparisonOperator": spec.comparison,
        "TreatMissingData": spec.treat_missing_data,
    }
    if _is_percentile(spec.statistic):
        params["ExtendedStatistic"] = spec.statistic
    else:
        params["Statistic"] = spec.statistic
    if spec.unit:
        params["Unit"] = spec.unit
    return params


def _canonical(name: str, value: Any, alarm: Mapping[str, Any]) -> Any:
    """One alarm field in a comparable form, with AWS's defaults filled in."""
    if name in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        return sorted(value or [])
    if name == "Dimensions":
        return sorted((d["Name"], d["Value"]) for d in value or [])
    if name == "ActionsEnabled":
        return True if value is None else bool(value)
    if name == "AlarmDescription":
        return value or ""
    if name == "TreatMissingData":
        return value or "missing"
    if name == "DatapointsToAlarm":
        return int(value if value is not None else alarm.get("EvaluationPeriods") or 0)
    if name in ("Period", "EvaluationPeriods"):
        return int(value) if value is not None else None
    if name == "Threshold":
        return float(value) if value is not None else None
    return value or None


def alarm_diff(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> tuple[str, ...]:
    """The managed fields whose value in DescribeAlarms' ``current`` differs from ``wanted`` (PutMetricAlarm params).

    >>> current = {"AlarmName": "a", "Namespace": "AWS/SQS", "MetricName": "M", "Statistic": "Maximum",
    ...            "Dimensions": [{"Name": "QueueName", "Value": "q"}], "Period": 60, "EvaluationPeriods": 1,
    ...            "Threshold": 0.0, "ComparisonOperator": "GreaterThanThreshold", "ActionsEnabled": True,
    ...            "AlarmActions": ["t"], "OKActions": ["t"], "InsufficientDataActions": []}
    >>> wanted = dict(current, DatapointsToAlarm=1, TreatMissingData="missing", AlarmDescription="")
    >>> alarm_diff(current, wanted)
    ()
    >>> alarm_diff(current, dict(wanted, Threshold=5, TreatMissingData="notBreaching"))
    ('Threshold', 'TreatMissingData')
    """
    # An alarm has a Statistic or an ExtendedStatistic (percentile), never both: with a percentile wanted,
    # a Statistic the endpoint reports anyway is not a difference.
    skip = {"Statistic"} if wanted.get("ExtendedStatistic") else set()
    return tuple(
        name
        for name in _MANAGED
        if name not in skip
        and _canonical(name, current.get(name), current) != _canonical(name, wanted.get(name), wanted)
    )


def describe_alarm(lab: Lab, name: str) -> dict[str, Any] | None:
    """DescribeAlarms of metric alarm ``name`` (a full name), or None."""
    found = lab.client("cloudwatch").describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])
    alarms = found.get("MetricAlarms") or []
    return dict(alarms[0]) if alarms else None


def ensure_metric_alarm(
    lab: Lab,
    spec: AlarmSpec,
    *,
    actions: Iterable[str] = (),
    ok_actions: Iterable[str] | None = None,
    insufficient_data_actions: Iterable[str] = (),
) -> AlarmInfo:
    """Create alarm ``lab.name(spec.component)`` or converge it; tag it with the lab's tags.

    ``actions`` go to ``AlarmActions`` and, unless ``ok_actions`` is given, to ``OKActions``
    too (so a recovery is announced like the incident). ``PutMetricAlarm`` is called only if a
    managed field differs; the alarm's state is kept by an update.

    >>> ensure_metric_alarm(lab, spec, actions=[topic.arn]).updated   # unchanged re-run  # doctest: +SKIP
    ()
    """
    cloudwatch = lab.client("cloudwatch")
    name = lab.name(spec.component)
    if not 1 <= len(name) <= 255:
        raise ValueError(f"Alarm name {name!r} must be 1-255 characters")
    alarm_actions = list(actions)
    wanted = alarm_params(
        spec,
        name,
        alarm_actions=alarm_actions,
        ok_actions=list(alarm_actions if ok_actions is None else ok_actions),
        insufficient_data_actions=list(insufficient_data_actions),
    )
    current = describe_alarm(lab, name)
    created = current is None
    updated: tuple[str, ...] = ()
    if created:
        cloudwatch.put_metric_alarm(**wanted, Tags=tag_list(lab.tags))
    else:
        updated = alarm_diff(current, wanted)  # type: ignore[arg-type]
        if updated:
            cloudwatch.put_metric_alarm(**wanted)
    if created or updated:
        current = describe_alarm(lab, name)
        if current is None:
            raise RuntimeError(f"PutMetricAlarm {name} succeeded but DescribeAlarms does not list it")
    assert current is not None
    arn = current["AlarmArn"]
    tags = {t["Key"]: t["Value"] for t in cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags", [])}
    missing = tags_missing(tags, lab.tags)
    if missing:
        cloudwatch.tag_resource(ResourceARN=arn, Tags=tag_list(missing))
    return AlarmInfo(
        name=name,
        arn=arn,
        state=str(current.get("StateValue", "")),
        created=created,
        updated=updated,
        tagged=bool(missing) and not created,
    )


def delete_alarms(lab: Lab, names: Iterable[str]) -> None:
    """Delete these alarms (full names); missing ones are ignored (DeleteAlarms takes up to 100)."""
    names = sorted(set(names))
    for start in range(0, len(names), 100):
        if names[start : start + 100]:
            lab.client("cloudwatch").delete_alarms(AlarmNames=names[start : start + 100])


# ---------------------------------------------------------------------------------------------
# Dashboards
# ---------------------------------------------------------------------------------------------


def dashboard_arn(lab: Lab, name: str) -> str:
    """``arn:aws:cloudwatch::{account}:dashboard/{name}`` (dashboards have no region in their ARN)."""
    return f"arn:{partition(lab.region)}:cloudwatch::{lab.account_id}:dashboard/{name}"


def get_dashboard_body(lab: Lab, name: str) -> dict[str, Any] | None:
    """The dashboard's body (parsed JSON), or None when there is no such dashboard."""
    try:
        reply = lab.client("cloudwatch").get_dashboard(DashboardName=name)
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise
    return json.loads(reply.get("DashboardBody") or "{}")


def list_dashboards(lab: Lab, name_prefix: str) -> list[dict[str, Any]]:
    """ListDashboards entries (``DashboardName``, ``DashboardArn``, ...) whose name starts with ``name_prefix``."""
    return paginate(lab.client("cloudwatch"), "list_dashboards", "DashboardEntries", DashboardNamePrefix=name_prefix)


def _tag_dashboard(lab: Lab, arn: str) -> bool:
    """Put the lab's missing tags on a dashboard; False where the endpoint cannot tag dashboards.

    AWS tags dashboards (TagResource with the dashboard ARN); an endpoint that only tags alarms
    answers ResourceNotFound for it — discovery then recognises the dashboard by its exact name.
    """
    cloudwatch = lab.client("cloudwatch")
    try:
        tags = {t["Key"]: t["Value"] for t in cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags", [])}
        missing = tags_missing(tags, lab.tags)
        if missing:
            cloudwatch.tag_resource(ResourceARN=arn, Tags=tag_list(missing))
    except ClientError as error:
        if error_code(error) in _NOT_FOUND | {"InvalidParameterValue", "ValidationError"}:
            return False
        raise
    return True


def ensure_dashboard(lab: Lab, component: str, body: Mapping[str, Any]) -> DashboardInfo:
    """Create dashboard ``lab.name(component)`` or replace its body when it differs; tag it.

    PutDashboard validates the body; its ``DashboardValidationMessages`` (warnings) are raised
    as an error here, so a broken widget is not left silently half-drawn.

    >>> ensure_dashboard(lab, "pipeline", pipeline_dashboard_body(...)).created   # doctest: +SKIP
    True
    """
    name = lab.name(component)
    if len(name) > 255 or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"Dashboard name {name!r}: up to 255 of A-Z, a-z, 0-9, '-' and '_'")
    wanted = json.loads(json.dumps(body))  # what it will look like read back
    current = get_dashboard_body(lab, name)
    created = current is None
    updated = not created and current != wanted
    if created or updated:
        reply = lab.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=json.dumps(wanted))
        messages = reply.get("DashboardValidationMessages") or []
        if messages:
            raise ValueError(f"PutDashboard {name} reported problems: {messages}")
    arn = dashboard_arn(lab, name)
    entries = [e for e in list_dashboards(lab, name) if e.get("DashboardName") == name]
    if entries and entries[0].get("DashboardArn"):
        arn = entries[0]["DashboardArn"]
    return DashboardInfo(name=name, arn=arn, created=created, updated=updated, tags_supported=_tag_dashboard(lab, arn))


def delete_dashboards(lab: Lab, names: Iterable[str]) -> None:
    """Delete these dashboards (full names); missing ones are ignored."""
    cloudwatch = lab.client("cloudwatch")
    for name in sorted(set(names)):
        try:
            cloudwatch.delete_dashboards(DashboardNames=[name])
        except ClientError as error:
            if error_code(error) not in _NOT_FOUND:
                raise


# -- widgets (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html)


def metric_widget(
    title: str,
    metrics: Sequence[Sequence[Any]],
    *,
    region: str,
    stat: str = "Sum",
    period: int = 60,
    width: int = 12,
    height: int = 6,
    view: str = "timeSeries",
    y_label: str | None = None,
) -> dict[str, Any]:
    """A metric graph. Each ``metrics`` row: ``[namespace, metric, dim1, value1, ..., {"label": ...}]``.

    >>> w = metric_widget("DLQ", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "q"]],
    ...                   region="us-east-1", stat="Maximum")
    >>> w["type"], w["properties"]["stat"], w["width"]
    ('metric', 'Maximum', 12)
    """
    properties: dict[str, Any] = {
        "title": title,
        "metrics": [list(row) for row in metrics],
        "region": region,
        "stat": stat,
        "period": period,
        "view": view,
        "stacked": False,
    }
    if y_label:
        properties["yAxis"] = {"left": {"label": y_label, "showUnits": False}}
    return {"type": "metric", "width": width, "height": height, "properties": properties}


def alarm_widget(title: str, alarm_arns: Sequence[str], *, width: int = 24, height: int = 3) -> dict[str, Any]:
    """An alarm status widget: one coloured tile per alarm."""
    return {
        "type": "alarm",
        "width": width,
        "height": height,
        "properties": {"title": title, "alarms": list(alarm_arns)},
    }


def alarm_graph_widget(title: str, alarm_arn: str, *, region: str, width: int = 12, height: int = 6) -> dict[str, Any]:
    """A graph of one alarm (its metric with the threshold line)."""
    return {
        "type": "metric",
        "width": width,
        "height": height,
        "properties": {
            "title": title,
            "annotations": {"alarms": [alarm_arn]},
            "region": region,
            "view": "timeSeries",
            "stacked": False,
        },
    }


def text_widget(markdown: str, *, width: int = 24, height: int = 2) -> dict[str, Any]:
    """A markdown text widget."""
    return {"type": "text", "width": width, "height": height, "properties": {"markdown": markdown}}


def log_widget(
    title: str, log_groups: Sequence[str], query: str, *, region: str, width: int = 24, height: int = 6
) -> dict[str, Any]:
    """A CloudWatch Logs Insights table: ``query`` runs over ``log_groups``.

    >>> log_widget("errors", ["/aws/lambda/a"], "fields @timestamp, message", region="eu-west-1")["properties"]["query"]
    "SOURCE '/aws/lambda/a' | fields @timestamp, message"
    """
    source = " | ".join(f"SOURCE '{group}'" for group in log_groups)
    return {
        "type": "log",
        "width": width,
        "height": height,
        "properties": {"title": title, "query": f"{source} | {query}", "region": region, "view": "table"},
    }


def grid(widgets: Sequence[Mapping[str, Any]], *, columns: int = 24) -> dict[str, Any]:
    """Place widgets left to right, top to bottom on the 24-column grid; return a dashboard body.

    >>> body = grid([text_widget("a"), metric_widget("b", [], region="r"), metric_widget("c", [], region="r")])
    >>> [(w["x"], w["y"]) for w in body["widgets"]]
    [(0, 0), (0, 2), (12, 2)]
    """
    placed: list[dict[str, Any]] = []
    x = y = row_height = 0
    for widget in widgets:
        width, height = int(widget.get("width", 6)), int(widget.get("height", 6))
        if x + width > columns:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**widget, "x": x, "y": y})
        x += width
        row_height = max(row_height, height)
    return {"widgets": placed}
