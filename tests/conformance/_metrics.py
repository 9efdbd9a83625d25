"""Shared by test_cloudwatch.py and test_emf_metrics.py: GetMetricData queries of one metric."""

from __future__ import annotations

from typing import Any


def metric_stat_query(
    query_id: str, namespace: str, name: str, dimensions: dict[str, str], stat: str
) -> dict[str, Any]:
    """One ``MetricDataQueries`` entry: ``stat`` of the metric with exactly these dimensions, per minute.

    >>> metric_stat_query("m", "AWS/SQS", "NumberOfMessagesSent", {"QueueName": "q"}, "Sum")["MetricStat"]["Period"]
    60
    """
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": 60,
            "Stat": stat,
        },
    }
