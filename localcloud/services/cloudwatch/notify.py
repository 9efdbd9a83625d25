"""The SNS notification a CloudWatch alarm sends when it changes state, as AWS writes it.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notification.html (and the
notifications real alarms send): a JSON message with ``AlarmName``, ``AlarmDescription`` (null when
none), ``AWSAccountId``, ``AlarmConfigurationUpdatedTimestamp``, ``NewStateValue``,
``NewStateReason``, ``StateChangeTime``, ``Region`` (the region's long name, e.g. "US East (N.
Virginia)"), ``AlarmArn``, ``OldStateValue``, ``OKActions``, ``AlarmActions``,
``InsufficientDataActions`` and ``Trigger`` (the metric, ``StatisticType``/``Statistic`` in upper
case, ``Unit``, ``Dimensions`` as ``{"value", "name"}``, ``Period``, ``EvaluationPeriods``,
``DatapointsToAlarm`` when set, ``ComparisonOperator``, ``Threshold``, ``TreatMissingData``,
``EvaluateLowSampleCountPercentile``), published with the subject
``ALARM: "<alarm name>" in <region long name>``. Times look like ``2025-05-14T01:58:11.589+0000``.

>>> subject("ALARM", "alice-dlq-not-empty", "us-east-1")
'ALARM: "alice-dlq-not-empty" in US East (N. Virginia)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localcloud.services.cloudwatch.alarms import iso_millis

# https://docs.aws.amazon.com/general/latest/gr/rande.html (the names the console and alarms use).
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "af-south-1": "Africa (Cape Town)",
    "ap-east-1": "Asia Pacific (Hong Kong)",
    "ap-east-2": "Asia Pacific (Taipei)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-south-2": "Asia Pacific (Hyderabad)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-southeast-3": "Asia Pacific (Jakarta)",
    "ap-southeast-4": "Asia Pacific (Melbourne)",
    "ap-southeast-5": "Asia Pacific (Malaysia)",
    "ap-southeast-7": "Asia Pacific (Thailand)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ca-central-1": "Canada (Central)",
    "ca-west-1": "Canada West (Calgary)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-central-2": "Europe (Zurich)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-south-1": "Europe (Milan)",
    "eu-south-2": "Europe (Spain)",
    "eu-north-1": "Europe (Stockholm)",
    "il-central-1": "Israel (Tel Aviv)",
    "me-south-1": "Middle East (Bahrain)",
    "me-central-1": "Middle East (UAE)",
    "mx-central-1": "Mexico (Central)",
    "sa-east-1": "South America (Sao Paulo)",
    "us-gov-east-1": "AWS GovCloud (US-East)",
    "us-gov-west-1": "AWS GovCloud (US-West)",
    "cn-north-1": "China (Beijing)",
    "cn-northwest-1": "China (Ningxia)",
}
_STATISTIC_NAMES = {
    "SampleCount": "SAMPLE_COUNT",
    "Average": "AVERAGE",
    "Sum": "SUM",
    "Minimum": "MINIMUM",
    "Maximum": "MAXIMUM",
}
SUBJECT_LIMIT = 100  # SNS: "Subjects must be ... less than 100 characters long"


def region_name(region: str) -> str:
    return REGION_NAMES.get(region, region)


def subject(new_state: str, alarm_name: str, region: str) -> str:
    return f'{new_state}: "{alarm_name}" in {region_name(region)}'[:SUBJECT_LIMIT]


def _dimensions(dimensions: Any) -> list[dict[str, str]]:
    return [{"value": d.get("Value", ""), "name": d.get("Name", "")} for d in dimensions or [] if isinstance(d, dict)]


def _metric_query(query: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": query.get("Id")}
    stat = query.get("MetricStat")
    if stat:
        metric = stat.get("Metric") or {}
        out["MetricStat"] = {
            "Metric": {
                "Dimensions": _dimensions(metric.get("Dimensions")),
                "MetricName": metric.get("MetricName"),
                "Namespace": metric.get("Namespace"),
            },
            "Period": stat.get("Period"),
            "Stat": stat.get("Stat"),
        }
        if stat.get("Unit"):
            out["MetricStat"]["Unit"] = stat["Unit"]
    if query.get("Expression"):
        out["Expression"] = query["Expression"]
    if query.get("Label"):
        out["Label"] = query["Label"]
    out["ReturnData"] = bool(query.get("ReturnData", True))
    return out


def trigger(alarm: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Trigger`` of a metric alarm's notification."""
    out: dict[str, Any] = {}
    if alarm.get("Metrics"):
        out["Metrics"] = [_metric_query(q) for q in alarm["Metrics"]]
    else:
        out["MetricName"] = alarm.get("MetricName")
        out["Namespace"] = alarm.get("Namespace")
        extended = alarm.get("ExtendedStatistic")
        if extended:
            out["StatisticType"] = "ExtendedStatistic"
            out["ExtendedStatistic"] = extended
        else:
            out["StatisticType"] = "Statistic"
            statistic = alarm.get("Statistic") or ""
            out["Statistic"] = _STATISTIC_NAMES.get(statistic, statistic.upper())
        out["Unit"] = alarm.get("Unit") or None
        out["Dimensions"] = _dimensions(alarm.get("Dimensions"))
        out["Period"] = alarm.get("Period")
    out["EvaluationPeriods"] = alarm.get("EvaluationPeriods")
    if alarm.get("DatapointsToAlarm") is not None:
        out["DatapointsToAlarm"] = alarm["DatapointsToAlarm"]
    out["ComparisonOperator"] = alarm.get("ComparisonOperator")
    out["Threshold"] = float(alarm.get("Threshold", 0.0))
    out["TreatMissingData"] = alarm.get("TreatMissingData") or ""
    out["EvaluateLowSampleCountPercentile"] = alarm.get("EvaluateLowSampleCountPercentile") or ""
    return out


def notification(
    alarm: Mapping[str, Any],
    *,
    old_state: str,
    new_state: str,
    reason: str,
    change_time: float,
    account_id: str,
    region: str,
) -> dict[str, Any]:
    """The JSON message of an alarm's state-change notification."""
    configured = alarm.get("AlarmConfigurationUpdatedTimestamp")
    message: dict[str, Any] = {
        "AlarmName": alarm.get("AlarmName", ""),
        "AlarmDescription": alarm.get("AlarmDescription") or None,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": iso_millis(float(configured)) if configured else None,
        "NewStateValue": new_state,
        "NewStateReason": reason,
        "StateChangeTime": iso_millis(change_time),
        "Region": region_name(region),
        "AlarmArn": alarm.get("AlarmArn", ""),
        "OldStateValue": old_state,
        "OKActions": list(alarm.get("OKActions") or []),
        "AlarmActions": list(alarm.get("AlarmActions") or []),
        "InsufficientDataActions": list(alarm.get("InsufficientDataActions") or []),
    }
    if "AlarmRule" in alarm:  # a composite alarm: its rule instead of a metric
        message["AlarmRule"] = alarm["AlarmRule"]
    else:
        message["Trigger"] = trigger(alarm)
    return message


def _when(iso: str) -> str:
    """``2025-05-14T01:58:11.589+0000`` → ``Wednesday 14 May, 2025 01:58:11 UTC`` (the e-mail's form)."""
    from datetime import datetime

    moment = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z")
    return f"{moment:%A} {moment.day} {moment:%B, %Y %H:%M:%S} UTC"


def email_text(message: Mapping[str, Any], region: str) -> str:
    """The plain-text body CloudWatch gives ``email`` subscribers (the JSON goes to every other protocol).

    Laid out as the alarm mails AWS sends (AWS publishes the notification with a per-protocol message;
    the layout is not in the docs and follows real mails): a sentence, the console link, then the
    alarm's details, threshold, monitored metric and actions.

    >>> text = email_text({"AlarmName": "a-dlq", "AlarmDescription": None, "AWSAccountId": "000000000000",
    ...     "NewStateValue": "ALARM", "OldStateValue": "OK", "NewStateReason": "Threshold Crossed",
    ...     "StateChangeTime": "2026-11-25T21:00:00.000+0000", "Region": "US East (N. Virginia)",
    ...     "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a-dlq", "OKActions": [],
    ...     "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:alerts"], "InsufficientDataActions": [],
    ...     "Trigger": {"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS",
    ...                 "Statistic": "MAXIMUM", "Unit": None, "Period": 60, "EvaluationPeriods": 1,
    ...                 "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0,
    ...                 "TreatMissingData": "notBreaching", "Dimensions": [{"value": "a-dlq", "name": "QueueName"}]}},
    ...     "us-east-1")
    >>> text.splitlines()[0]  # doctest: +NORMALIZE_WHITESPACE
    'You are receiving this email because your Amazon CloudWatch Alarm "a-dlq" in the US East (N. Virginia) region
    has entered the ALARM state, because "Threshold Crossed" at "Wednesday 25 November, 2026 21:00:00 UTC".'
    >>> "- Dimensions:                          [QueueName = a-dlq]" in text
    True
    """
    name = message.get("AlarmName", "")
    when = _when(message["StateChangeTime"])
    lines = [
        f'You are receiving this email because your Amazon CloudWatch Alarm "{name}" in the {message.get("Region")} '
        f'region has entered the {message.get("NewStateValue")} state, because "{message.get("NewStateReason")}" '
        f'at "{when}".',
        "",
        "View this alarm in the AWS Management Console:",
        f"https://{region}.console.aws.amazon.com/cloudwatch/deeplink.js?region={region}#alarmsV2:alarm/{name}",
        "",
        "Alarm Details:",
        f"- Name:                       {name}",
        f"- Description:                {message.get('AlarmDescription') or ''}",
        f"- State Change:               {message.get('OldStateValue')} -> {message.get('NewStateValue')}",
        f"- Reason for State Change:    {message.get('NewStateReason')}",
        f"- Timestamp:                  {when}",
        f"- AWS Account:                {message.get('AWSAccountId')}",
        f"- Alarm Arn:                  {message.get('AlarmArn')}",
    ]
    trig = message.get("Trigger")
    if isinstance(trig, Mapping) and trig.get("MetricName"):
        statistic = trig.get("ExtendedStatistic") or str(trig.get("Statistic") or "").title().replace("_", "")
        dimensions = ", ".join(f"{d['name']} = {d['value']}" for d in trig.get("Dimensions") or [])
        lines += [
            "",
            "Threshold:",
            f"- The alarm is in the ALARM state when the metric is {trig.get('ComparisonOperator')} "
            f"{float(trig.get('Threshold') or 0.0)} "
            f"for at least {trig.get('DatapointsToAlarm') or trig.get('EvaluationPeriods')} "
            f"of the last {trig.get('EvaluationPeriods')} period(s) of {trig.get('Period')} seconds.",
            "",
            "Monitored Metric:",
            f"- MetricNamespace:                     {trig.get('Namespace')}",
            f"- MetricName:                          {trig.get('MetricName')}",
            f"- Dimensions:                          [{dimensions}]",
            f"- Period:                              {trig.get('Period')} seconds",
            f"- Statistic:                           {statistic}",
            f"- Unit:                                {trig.get('Unit') or 'not specified'}",
            f"- TreatMissingData:                    {trig.get('TreatMissingData') or 'missing'}",
        ]
    elif message.get("AlarmRule"):
        lines += ["", "Alarm Rule:", f"- {message['AlarmRule']}"]
    lines += [
        "",
        "",
        "State Change Actions:",
        f"- OK: [{','.join(message.get('OKActions') or [])}]",
        f"- ALARM: [{','.join(message.get('AlarmActions') or [])}]",
        f"- INSUFFICIENT_DATA: [{','.join(message.get('InsufficientDataActions') or [])}]",
    ]
    return "\n".join(lines) + "\n"
