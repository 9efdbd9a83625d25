"""GetMetricData with a CloudWatch Metrics Insights query (``SELECT ... FROM ...``), answered as AWS
answers it.

The grammar, ``SCHEMA`` (only metrics with exactly those dimensions), ``WHERE``, ``GROUP BY`` (one
time series per group, labelled with the group's values), ``ORDER BY ... LIMIT``:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html;
as recorded against real AWS by moto's ``aws_verified`` test
tests/test_cloudwatch/test_cloudwatch_expressions.py::test_get_metric_data_with_expressive_expression
(github.com/getmoto/moto). New metrics can take minutes to be queryable on AWS; each wait is bounded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

WAIT_SECONDS = 10 * 60


@pytest.fixture(scope="module")
def namespace(lab):
    cloudwatch = lab.client("cloudwatch")
    name = f"OrderLab/Insights-{uuid.uuid4().hex[:8]}"
    at = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)

    def datum(dimensions: dict[str, str], total: float, count: float) -> dict:
        return {
            "MetricName": "Latency",
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Timestamp": at,
            "StatisticValues": {"Sum": total, "SampleCount": count, "Minimum": 0, "Maximum": total},
        }

    cloudwatch.put_metric_data(
        Namespace=name,
        MetricData=[
            datum({"Path": "/orders", "Audience": "web"}, 10, 10),
            datum({"Path": "/orders", "Audience": "app"}, 30, 3),
            datum({"Path": "/health", "Audience": "web"}, 5, 5),
            datum({"Path": "/orders"}, 7, 1),
        ],
    )
    return name


def _query(lab, expression: str) -> list[dict]:
    cloudwatch = lab.client("cloudwatch")
    now = datetime.now(UTC)

    def answered() -> list[dict] | None:
        results = cloudwatch.get_metric_data(
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            MetricDataQueries=[{"Id": "q", "Period": 60, "Expression": expression}],
        )["MetricDataResults"]
        return results if results and all(r["Values"] for r in results) else None

    return wait_until(answered, timeout=WAIT_SECONDS, interval=1, max_interval=15, what=f"results of {expression}")


def test_a_group_by_query_answers_one_series_per_group(lab, namespace):
    results = _query(lab, f"SELECT SUM(Latency) FROM \"{namespace}\" WHERE Path = '/orders' GROUP BY Audience")
    by_label = {r["Label"]: r["Values"] for r in results}
    # The metric without an Audience is in the query too; AWS labels its group "Other".
    assert by_label == {"web": [10.0], "app": [30.0], "Other": [7.0]}
    assert {r["Id"] for r in results} == {"q"} and {r["StatusCode"] for r in results} == {"Complete"}


def test_schema_takes_only_metrics_with_exactly_those_dimensions(lab, namespace):
    [result] = _query(lab, f'SELECT AVG(Latency) FROM SCHEMA("{namespace}", Path)')
    assert result["Values"] == [7.0]


def test_order_by_and_limit_keep_the_top_groups(lab, namespace):
    results = _query(lab, f'SELECT AVG(Latency) FROM "{namespace}" GROUP BY Audience ORDER BY AVG() DESC LIMIT 1')
    assert [(r["Label"], r["Values"]) for r in results] == [("app", [10.0])]


def test_a_malformed_query_is_refused(lab, namespace):
    with pytest.raises(ClientError) as refused:
        lab.client("cloudwatch").get_metric_data(
            StartTime=datetime.now(UTC) - timedelta(hours=1),
            EndTime=datetime.now(UTC),
            MetricDataQueries=[
                {"Id": "q", "Period": 60, "Expression": f'SELECT SUM(Latency) FROM "{namespace}" WHERE'}
            ],
        )
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
