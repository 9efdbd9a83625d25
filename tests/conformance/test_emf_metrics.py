"""Embedded metric format: log events that are EMF documents become CloudWatch metrics.

Runs on every target. On real AWS (``ORDERLAB_TARGET=aws``) extraction takes a minute or two,
so the waits are long there (``PATIENCE``); locally the metrics exist when the write returns.

References (AWS documentation followed):
- The specification (``_aws.Timestamp``, ``CloudWatchMetrics`` directives, every DimensionSet
  × every metric, a metric value is a number or an array of numbers, target members on the root
  node, documents that break it publish nothing):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
- EMF from Lambda: "Writing JSON to standard out in the embedded metric format is sufficient":
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation.html
- EMF with PutLogEvents (the ``x-amzn-logs-format: json/emf`` header is optional):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation_PutLogEvents.html
- ListMetrics / GetMetricData: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conformance._esm import ON_AWS, PATIENCE, POLL, RUNTIME
from conformance._metrics import metric_stat_query
from helpers.aws.common import error_code
from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

PROBE_DIR = Path(__file__).resolve().parent / "probes" / "emf_probe"


@pytest.fixture(scope="module")
def emf_probe(lab) -> str:
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    role = ensure_lambda_role(lab, "emf-probe", statements=[])
    return deploy_function(
        lab,
        PROBE_DIR,
        component="emf-probe",
        handler="emf_probe.handler",
        role_arn=role,
        environment={},
        runtime=RUNTIME,
    ).name


@pytest.fixture(scope="module")
def log_stream(lab):
    """A tagged log group of the lab with one stream, deleted afterwards."""
    logs = lab.client("logs")
    group, stream = f"/orderlab/{lab.prefix}/emf-conformance", "probe"
    logs.create_log_group(logGroupName=group, tags=lab.tags)
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        yield group, stream
    finally:
        try:
            logs.delete_log_group(logGroupName=group)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise


def _namespace(lab, what: str) -> str:
    return f"OrderLab/Conformance/{lab.prefix}/{what}"


def _document(
    namespace: str, timestamp: Any, dimension_sets: list[list[str]], metrics: list[dict], **members: Any
) -> dict:
    return {
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": dimension_sets, "Metrics": metrics}],
        },
        **members,
    }


def _metrics(lab, namespace: str) -> set[tuple[str, frozenset]]:
    found = lab.client("cloudwatch").get_paginator("list_metrics").paginate(Namespace=namespace)
    return {
        (m["MetricName"], frozenset((d["Name"], d["Value"]) for d in m.get("Dimensions", [])))
        for page in found
        for m in page["Metrics"]
    }


def _wait_metrics(lab, namespace: str, expected: set, what: str) -> set:
    return wait_until(
        lambda: (found := _metrics(lab, namespace)) >= expected and found,
        timeout=PATIENCE,
        interval=POLL,
        max_interval=10.0,
        what=what,
    )


def _statistics(
    lab,
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    around: datetime,
    stats: tuple[str, ...] = ("Sum", "SampleCount", "Maximum"),
) -> dict[str, list[tuple[datetime, float]]]:
    queries = [
        {**metric_stat_query(f"q{i}", namespace, name, dimensions, stat), "ReturnData": True}
        for i, stat in enumerate(stats)
    ]
    answer = lab.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=around - timedelta(minutes=5), EndTime=around + timedelta(minutes=5)
    )
    by_id = {r["Id"]: list(zip(r["Timestamps"], r["Values"], strict=False)) for r in answer["MetricDataResults"]}
    return {stat: by_id.get(f"q{i}", []) for i, stat in enumerate(stats)}


def _wait_statistics(
    lab, namespace: str, name: str, dimensions: dict[str, str], around: datetime, done, what: str
) -> dict[str, list[tuple[datetime, float]]]:
    def check():
        found = _statistics(lab, namespace, name, dimensions, around)
        return found if done(found) else None

    return wait_until(check, timeout=PATIENCE, interval=POLL, max_interval=10.0, what=what)


def _total(points: list[tuple[datetime, float]]) -> float:
    return sum(value for _, value in points)


def test_an_emf_line_printed_by_a_lambda_function_becomes_metrics(lab, emf_probe):
    namespace = _namespace(lab, "lambda")
    document = _document(
        namespace,
        "now",
        [["Service"], ["Service", "Operation"]],
        [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Orders", "Unit": "Count"}],
        Service="checkout",
        Operation="create",
        Latency=[10, 20, 30],
        Orders=1,
        requestId="not-a-dimension",
    )
    answer = lab.client("lambda").invoke(
        FunctionName=emf_probe,
        Payload=json.dumps(
            {"lines": ["an ordinary log line", '{"json": "but not EMF"}'], "documents": [document]}
        ).encode(),
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    at = datetime.fromtimestamp(json.loads(answer["Payload"].read())["timestamp"] / 1000, tz=UTC)

    service = frozenset({("Service", "checkout")})
    both = frozenset({("Service", "checkout"), ("Operation", "create")})
    expected = {("Latency", service), ("Latency", both), ("Orders", service), ("Orders", both)}
    found = _wait_metrics(lab, namespace, expected, "the function's EMF metrics in ListMetrics")
    assert found == expected, "one metric per DimensionSet × metric, and nothing else (requestId is no dimension)"

    latency = _wait_statistics(
        lab,
        namespace,
        "Latency",
        {"Service": "checkout", "Operation": "create"},
        at,
        lambda s: _total(s["SampleCount"]) >= 3,
        "the Latency datapoints in GetMetricData",
    )
    assert _total(latency["SampleCount"]) == 3, "each value of the array is one sample"
    assert _total(latency["Sum"]) == 60 and max(v for _, v in latency["Maximum"]) == 30
    orders = _wait_statistics(
        lab,
        namespace,
        "Orders",
        {"Service": "checkout"},
        at,
        lambda s: _total(s["Sum"]) >= 1,
        "the Orders datapoint in GetMetricData",
    )
    assert _total(orders["Sum"]) == 1 and _total(orders["SampleCount"]) == 1


def test_put_log_events_emf_uses_the_documents_timestamp_and_ignores_invalid_documents(lab, log_stream):
    group, stream = log_stream
    valid_ns, invalid_ns = _namespace(lab, "putlogevents"), _namespace(lab, "invalid")
    now_ms = int(time.time() * 1000)
    # A minute-aligned time ten minutes ago: the datapoint must land there, not at ingestion time.
    past = datetime.fromtimestamp((now_ms // 60000 - 10) * 60, tz=UTC)
    metric = [{"Name": "Depth", "Unit": "Count"}]
    valid = _document(valid_ns, int(past.timestamp() * 1000), [["Queue"]], metric, Queue="orders-dlq", Depth=4)
    invalid = [
        _document(invalid_ns, now_ms, [["Queue"]], metric, Queue="orders-dlq"),  # no "Depth" member
        _document(invalid_ns, now_ms, [["Queue"]], metric, Queue="orders-dlq", Depth="4"),  # not a number
        _document(invalid_ns, now_ms, [["Queue"]], metric, Queue=7, Depth=4),  # dimension not a string
        {
            "_aws": {"CloudWatchMetrics": [{"Namespace": invalid_ns, "Dimensions": [["Queue"]], "Metrics": metric}]},
            "Queue": "orders-dlq",
            "Depth": 4,
        },  # no Timestamp
    ]
    events = [{"timestamp": now_ms, "message": json.dumps(d)} for d in [*invalid, valid]]
    events.insert(0, {"timestamp": now_ms, "message": "plain text"})
    lab.client("logs").put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    found = _wait_metrics(
        lab,
        valid_ns,
        {("Depth", frozenset({("Queue", "orders-dlq")}))},
        "the EMF metric sent with PutLogEvents in ListMetrics",
    )
    assert found == {("Depth", frozenset({("Queue", "orders-dlq")}))}
    stats = _wait_statistics(
        lab,
        valid_ns,
        "Depth",
        {"Queue": "orders-dlq"},
        past,
        lambda s: _total(s["Sum"]) >= 4,
        "the Depth datapoint in GetMetricData",
    )
    assert [(t.astimezone(UTC), v) for t, v in stats["Sum"]] == [(past, 4.0)]
    # Processed in the same batch as the valid document: the invalid ones published nothing.
    assert _metrics(lab, invalid_ns) == set()


@pytest.mark.skipif(ON_AWS, reason="the local cloud's server log is only readable locally")
def test_the_local_cloud_logs_why_it_ignored_a_document(lab, log_stream, cloud):
    from localcloud import paths

    group, stream = log_stream
    namespace = _namespace(lab, "logged")
    bad = _document(namespace, int(time.time() * 1000), [["Queue"]], [{"Name": "Depth"}], Queue="q")
    lab.client("logs").put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(bad)}],
    )
    log = paths.log_file(cloud.port)
    wait_until(
        lambda: namespace in log.read_text(errors="replace"),
        timeout=10,
        interval=0.05,
        what="the ignored document in the local cloud's log",
    )
    assert "metric 'Depth' is not a member of the root node" in log.read_text(errors="replace")
    assert _metrics(lab, namespace) == set()
