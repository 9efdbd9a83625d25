"""The CloudWatch API requests the local cloud reads itself: PutMetricAlarm and PutMetricData fields
from either protocol (smithy-rpc-v2-cbor / JSON, which boto3 uses, or the Query protocol), and the
PutMetricAlarm checks AWS makes (plus what the local cloud cannot evaluate, refused with a clear
message instead of an alarm that would never leave INSUFFICIENT_DATA).

https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html (valid
periods 10, 20, 30 and multiples of 60; Period x EvaluationPeriods at most one day for periods under
an hour; Statistic or ExtendedStatistic; Metrics with exactly one ReturnData),
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html (StorageResolution).

>>> validation_error({"AlarmName": "a", "Namespace": "NS", "MetricName": "M", "Statistic": "Sum", "Period": 45,
...                   "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold"})
'The parameter Period must be 10, 20, 30, or a multiple of 60.'
"""

from __future__ import annotations

from typing import Any

from localcloud.services.cloudwatch.alarms import (
    BASIC_STATISTICS,
    COMPARISONS,
    TREATMENTS,
    ExpressionError,
    expression_ids,
    parse_expression,
    percentile_of,
    valid_period,
)
from localcloud.services.cloudwatch.sources import dims_key

MAX_EVALUATION_SECONDS = 86_400  # Period x EvaluationPeriods, for periods under an hour


def p(params: dict, key: str) -> str:
    """One Query-protocol parameter (MiniStack's parse gives lists)."""
    value = params.get(key, [""])
    return value[0] if isinstance(value, list) else value


def query_metrics(params: dict) -> list[dict]:
    metrics = []
    i = 1
    while p(params, f"Metrics.member.{i}.Id"):
        base = f"Metrics.member.{i}"
        query: dict[str, Any] = {"Id": p(params, f"{base}.Id")}
        for field_name in ("Expression", "Label"):
            if p(params, f"{base}.{field_name}"):
                query[field_name] = p(params, f"{base}.{field_name}")
        if p(params, f"{base}.ReturnData"):
            query["ReturnData"] = p(params, f"{base}.ReturnData") != "false"
        if p(params, f"{base}.Period"):
            query["Period"] = int(p(params, f"{base}.Period"))
        stat_base = f"{base}.MetricStat"
        if p(params, f"{stat_base}.Metric.MetricName"):
            dims = []
            j = 1
            while p(params, f"{stat_base}.Metric.Dimensions.member.{j}.Name"):
                dims.append(
                    {
                        "Name": p(params, f"{stat_base}.Metric.Dimensions.member.{j}.Name"),
                        "Value": p(params, f"{stat_base}.Metric.Dimensions.member.{j}.Value"),
                    }
                )
                j += 1
            query["MetricStat"] = {
                "Metric": {
                    "Namespace": p(params, f"{stat_base}.Metric.Namespace"),
                    "MetricName": p(params, f"{stat_base}.Metric.MetricName"),
                    "Dimensions": dims,
                },
                "Period": int(p(params, f"{stat_base}.Period") or 60),
                "Stat": p(params, f"{stat_base}.Stat"),
            }
            if p(params, f"{stat_base}.Unit"):
                query["MetricStat"]["Unit"] = p(params, f"{stat_base}.Unit")
        metrics.append(query)
        i += 1
    return metrics


def alarm_request(params: dict, body: dict, structured: bool) -> dict[str, Any]:
    """The PutMetricAlarm fields this module needs, from either protocol."""
    if structured:
        request = {
            k: body.get(k)
            for k in (
                "AlarmName",
                "MetricName",
                "Namespace",
                "Statistic",
                "ExtendedStatistic",
                "Period",
                "EvaluationPeriods",
                "DatapointsToAlarm",
                "ComparisonOperator",
                "TreatMissingData",
                "Metrics",
                "ThresholdMetricId",
                "EvaluateLowSampleCountPercentile",
                "InsufficientDataActions",
                "Threshold",
                "Unit",
                "AlarmDescription",
            )
        }
        request["Metrics"] = [dict(q) for q in request.get("Metrics") or []]
        return request

    def number(key: str) -> int | None:
        raw = p(params, key)
        try:
            return int(raw) if raw else None
        except ValueError:
            return None

    actions: list[str] = []
    while p(params, f"InsufficientDataActions.member.{len(actions) + 1}"):
        actions.append(p(params, f"InsufficientDataActions.member.{len(actions) + 1}"))
    return {
        "AlarmName": p(params, "AlarmName"),
        "MetricName": p(params, "MetricName") or None,
        "Namespace": p(params, "Namespace") or None,
        "Statistic": p(params, "Statistic") or None,
        "ExtendedStatistic": p(params, "ExtendedStatistic") or None,
        "Period": number("Period"),
        "EvaluationPeriods": number("EvaluationPeriods"),
        "DatapointsToAlarm": number("DatapointsToAlarm"),
        "ComparisonOperator": p(params, "ComparisonOperator") or None,
        "TreatMissingData": p(params, "TreatMissingData") or None,
        "Metrics": query_metrics(params),
        "ThresholdMetricId": p(params, "ThresholdMetricId") or None,
        "EvaluateLowSampleCountPercentile": p(params, "EvaluateLowSampleCountPercentile") or None,
        "InsufficientDataActions": actions,
        "Threshold": p(params, "Threshold") or None,
        "Unit": p(params, "Unit") or None,
        "AlarmDescription": p(params, "AlarmDescription") or None,
    }


def validation_error(request: dict[str, Any]) -> str | None:
    """What AWS would refuse in a PutMetricAlarm (and what the local cloud cannot evaluate), or None."""
    if request.get("ThresholdMetricId") or request.get("ComparisonOperator") not in COMPARISONS:
        return (
            "The local cloud evaluates static-threshold alarms only: ComparisonOperator must be one of "
            f"{', '.join(COMPARISONS)} (anomaly detection bands are not evaluated locally)."
        )
    periods = request.get("EvaluationPeriods")
    if not isinstance(periods, int) or periods < 1:
        return "The parameter EvaluationPeriods must be an integer greater than or equal to 1."
    m = request.get("DatapointsToAlarm")
    if m is not None and not (isinstance(m, int) and 1 <= m <= periods):
        return "DatapointsToAlarm must be between 1 and EvaluationPeriods."
    treat = request.get("TreatMissingData")
    if treat is not None and treat not in TREATMENTS:
        return f"The parameter TreatMissingData must be one of {', '.join(TREATMENTS)}."
    if request.get("EvaluateLowSampleCountPercentile") not in (None, "", "evaluate", "ignore"):
        return "The parameter EvaluateLowSampleCountPercentile must be 'evaluate' or 'ignore'."
    metrics = request.get("Metrics") or []
    if metrics:
        if request.get("MetricName") or request.get("Statistic") or request.get("ExtendedStatistic"):
            return "Metrics and MetricName/Statistic/ExtendedStatistic cannot be specified together."
        return _metrics_error(metrics, periods)
    if not request.get("MetricName") or not request.get("Namespace"):
        return "MetricName and Namespace must be specified (or Metrics, for a metric math alarm)."
    statistic, extended = request.get("Statistic"), request.get("ExtendedStatistic")
    if bool(statistic) == bool(extended):
        return "Exactly one of Statistic and ExtendedStatistic must be specified."
    if statistic and statistic not in BASIC_STATISTICS:
        return f"The parameter Statistic must be one of {', '.join(BASIC_STATISTICS)}."
    if extended and percentile_of(extended) is None:
        return f"The local cloud evaluates percentile extended statistics (p0-p100) only, not {extended!r}."
    return _period_error(request.get("Period"), periods)


def _period_error(period: Any, periods: int) -> str | None:
    if not valid_period(period):
        return "The parameter Period must be 10, 20, 30, or a multiple of 60."
    if period < 3600 and period * periods > MAX_EVALUATION_SECONDS:
        return "The evaluation period (Period x EvaluationPeriods) cannot be longer than 86400 seconds."
    return None


def _metrics_error(metrics: list[dict], periods: int) -> str | None:
    ids = [q.get("Id") for q in metrics]
    if len(set(ids)) != len(ids) or not all(isinstance(i, str) and i[:1].islower() for i in ids):
        return "Each entry of Metrics needs a unique Id starting with a lower-case letter."
    if sum(1 for q in metrics if q.get("ReturnData", True)) != 1:
        return "Exactly one element of the metrics list should return data."
    stat_periods = set()
    for query in metrics:
        if bool(query.get("Expression")) == bool(query.get("MetricStat")):
            return f"Metrics entry {query.get('Id')!r} needs exactly one of Expression and MetricStat."
        if query.get("MetricStat"):
            stat = query["MetricStat"]
            if not (stat.get("Metric") or {}).get("MetricName"):
                return f"Metrics entry {query['Id']!r} names no metric."
            if stat.get("Stat") not in BASIC_STATISTICS and percentile_of(stat.get("Stat") or "") is None:
                return f"Metrics entry {query['Id']!r}: the local cloud evaluates basic statistics and percentiles."
            stat_periods.add(stat.get("Period"))
        else:
            try:
                unknown = expression_ids(parse_expression(query["Expression"])) - set(ids)
            except ExpressionError as exc:
                return f"Metrics entry {query['Id']!r}: {exc}."
            if unknown:
                return f"Metrics entry {query['Id']!r} refers to unknown id(s): {', '.join(sorted(unknown))}."
    if len(stat_periods) > 1:
        return "All metrics of a metric math alarm must use the same period."
    return _period_error(next(iter(stat_periods), 60), periods)


def datum_resolutions(params: dict, body: dict, structured: bool) -> list[tuple[tuple, str, int, int]]:
    """(metric key, name, StorageResolution, stored points) per MetricDatum, in request order."""
    out = []
    if structured:
        namespace = body.get("Namespace", "")
        for datum in body.get("MetricData") or []:
            dims = {d["Name"]: d["Value"] for d in datum.get("Dimensions") or []}
            count = len(datum.get("Values") or []) or 1
            out.append(
                (
                    (namespace, datum.get("MetricName", ""), dims_key(dims)),
                    datum.get("MetricName", ""),
                    int(datum.get("StorageResolution") or 60),
                    count,
                )
            )
        return out
    namespace = p(params, "Namespace")
    i = 1
    while p(params, f"MetricData.member.{i}.MetricName"):
        base = f"MetricData.member.{i}"
        dims = {}
        j = 1
        while p(params, f"{base}.Dimensions.member.{j}.Name"):
            dims[p(params, f"{base}.Dimensions.member.{j}.Name")] = p(params, f"{base}.Dimensions.member.{j}.Value")
            j += 1
        count = 0
        while p(params, f"{base}.Values.member.{count + 1}"):
            count += 1
        name = p(params, f"{base}.MetricName")
        out.append(
            ((namespace, name, dims_key(dims)), name, int(p(params, f"{base}.StorageResolution") or 60), count or 1)
        )
        i += 1
    return out
