"""The local cloud's embedded metric format extraction (localcloud/services/logs/responses.py).

Follows https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html:
the spec's example, several DimensionSets × several metrics, arrays of values, documents that
break a MUST (ignored whole), and the same extraction wired into MiniStack's log store in-process.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.services.logs import responses as logs
from localcloud.services.logs.responses import EmfError, MetricDatum, extract, parse_emf

REPO_ROOT = Path(__file__).resolve().parents[2]

# The valid example of the specification, verbatim.
SPEC_EXAMPLE = {
    "_aws": {
        "Timestamp": 1574109732004,
        "CloudWatchMetrics": [
            {
                "Namespace": "lambda-function-metrics",
                "Dimensions": [["functionVersion"]],
                "Metrics": [{"Name": "time", "Unit": "Milliseconds"}],
            }
        ],
    },
    "functionVersion": "$LATEST",
    "time": 100,
    "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee",
}


def doc(
    dimension_sets=(("Service",),),
    metrics=({"Name": "Orders", "Unit": "Count"},),
    timestamp=1700000000000,
    namespace="OrderLab",
    **members,
) -> dict:
    members = {"Service": "checkout", "Orders": 1, **members}
    return copy.deepcopy(
        {
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {"Namespace": namespace, "Dimensions": [list(s) for s in dimension_sets], "Metrics": list(metrics)}
                ],
            },
            **members,
        }
    )  # a fresh document each time: tests mutate them


def line(document: dict) -> str:
    return json.dumps(document)


def test_the_specification_example_is_one_metric():
    assert parse_emf(line(SPEC_EXAMPLE)) == [
        MetricDatum(
            namespace="lambda-function-metrics",
            name="time",
            dimensions={"functionVersion": "$LATEST"},
            values=(100.0,),
            unit="Milliseconds",
            storage_resolution=60,
            timestamp=1574109732.004,
        )
    ]


def test_every_dimension_set_times_every_metric_is_a_metric():
    document = doc(
        dimension_sets=[["Service"], ["Service", "Operation"], []],
        metrics=[{"Name": "Orders", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}],
        Operation="create",
        Latency=[10, 20.5, 30],
    )
    found = {(d.name, tuple(sorted(d.dimensions.items())), d.values) for d in parse_emf(line(document))}
    assert found == {
        ("Orders", (("Service", "checkout"),), (1.0,)),
        ("Orders", (("Operation", "create"), ("Service", "checkout")), (1.0,)),
        ("Orders", (), (1.0,)),  # an empty DimensionSet: the metric without dimensions
        ("Latency", (("Service", "checkout"),), (10.0, 20.5, 30.0)),
        ("Latency", (("Operation", "create"), ("Service", "checkout")), (10.0, 20.5, 30.0)),
        ("Latency", (), (10.0, 20.5, 30.0)),
    }


def test_several_directives_in_one_document():
    document = doc()
    document["_aws"]["CloudWatchMetrics"].append(
        {"Namespace": "Other", "Dimensions": [["Queue"]], "Metrics": [{"Name": "Depth"}]}
    )
    document.update(Queue="dlq", Depth=[3])
    found = [(d.namespace, d.name, d.dimensions, d.unit) for d in parse_emf(line(document))]
    assert found == [
        ("OrderLab", "Orders", {"Service": "checkout"}, "Count"),
        ("Other", "Depth", {"Queue": "dlq"}, "None"),
    ]  # Unit defaults to None


def test_what_powertools_metrics_prints_is_extracted(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "orders")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OrderLab")
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricResolution, MetricUnit

    metrics = Metrics()
    metrics.add_metric(name="OrdersRejected", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="OrdersRejected", unit=MetricUnit.Count, value=2)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=12.5, resolution=MetricResolution.High)
    metrics.add_dimension(name="environment", value="lab")
    metrics.flush_metrics()
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    found = {d.name: d for d in parse_emf(printed)}
    assert found["OrdersRejected"].values == (1.0, 2.0)
    assert found["OrdersRejected"].dimensions == {"environment": "lab", "service": "orders"}
    assert (found["Latency"].unit, found["Latency"].storage_resolution) == ("Milliseconds", 1)
    assert found["OrdersRejected"].storage_resolution == 60


@pytest.mark.parametrize(
    "message",
    [
        "START RequestId: 1 Version: $LATEST",
        '{"level": "INFO", "message": "order created"}',
        '[{"_aws": {}}]',
        '{"_aws": ',
        "",
    ],
)
def test_ordinary_log_lines_publish_nothing(message):
    assert parse_emf(message) == []


def broken(mutate) -> dict:
    document = doc()
    mutate(document)
    return document


@pytest.mark.parametrize(
    "document, reason",
    [
        (broken(lambda d: d["_aws"].pop("Timestamp")), "Timestamp"),
        (broken(lambda d: d["_aws"].update(Timestamp="2024-01-01")), "Timestamp"),
        (broken(lambda d: d["_aws"].pop("CloudWatchMetrics")), "CloudWatchMetrics"),
        (broken(lambda d: d.update(_aws=[])), "_aws must be an object"),
        (broken(lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Namespace")), "lacks Namespace"),
        (broken(lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Dimensions")), "lacks Dimensions"),
        (broken(lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Metrics")), "lacks Metrics"),
        (broken(lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="")), "Namespace"),
        (broken(lambda d: d.pop("Orders")), "metric 'Orders' is not a member of the root node"),
        (broken(lambda d: d.pop("Service")), "dimension 'Service' is not a member of the root node"),
        (broken(lambda d: d.update(Orders="1")), "must be a number or an array of numbers"),
        (broken(lambda d: d.update(Orders=[1, "2"])), "must be a number or an array of numbers"),
        (broken(lambda d: d.update(Orders=True)), "must be a number or an array of numbers"),
        (broken(lambda d: d.update(Orders=list(range(101)))), "101 values"),
        (broken(lambda d: d.update(Service=7)), "must have a string value"),
        (broken(lambda d: d.update(Service="")), "must have a string value"),
        (
            broken(lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Widgets")),
            "not a CloudWatch unit",
        ),
        (
            broken(lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(StorageResolution=5)),
            "StorageResolution",
        ),
        (broken(lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].pop("Name")), "with a Name"),
        (
            broken(lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"d{i}" for i in range(31)]])),
            "31 keys",
        ),
        (broken(lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Metrics=[{"Name": "Orders"}] * 101)), "101 metrics"),
    ],
)
def test_a_document_that_breaks_the_specification_is_rejected_whole(document, reason):
    with pytest.raises(EmfError, match=reason):
        parse_emf(line(document))


def test_non_finite_numbers_are_rejected():
    with pytest.raises(EmfError, match="NaN"):
        parse_emf(line(doc()).replace('"Orders": 1', '"Orders": NaN'))


def test_extract_ignores_invalid_documents_logs_why_and_keeps_the_valid_ones(caplog):
    events = [
        {"message": "plain"},
        {"message": line(broken(lambda d: d.pop("Orders")))},
        {"message": line(doc(Orders=5))},
    ]
    with caplog.at_level(logging.WARNING, logger="localcloud.logs"):
        found = extract(events)
    assert [d.values for d in found] == [(5.0,)]
    assert "embedded metric format ignored (metric 'Orders' is not a member of the root node)" in caplog.text


def test_a_document_after_the_lambda_runtimes_prefix_counts_only_for_lambda_output():
    prefixed = "[INFO]\t2024-01-01T00:00:00.000Z\t3f1c...\t" + line(doc())
    assert parse_emf(prefixed) == []
    assert [d.name for d in parse_emf(prefixed, lambda_output=True)] == ["Orders"]


def test_a_lambda_batch_is_recognised_by_ministacks_start_line():
    assert logs.is_lambda_batch([{"message": "START RequestId: abc Version: $LATEST"}, {"message": "x"}])
    assert not logs.is_lambda_batch([{"message": "x"}])
    assert not logs.is_lambda_batch([])


_IN_PROCESS = r"""
import json, sys
from localcloud.patches import apply_all
from ministack.services import cloudwatch, cloudwatch_logs, lambda_svc

apply_all(); apply_all()   # idempotent
assert cloudwatch_logs._append_log_events.__orderlab_patched__
valid, invalid, lambda_line = json.loads(sys.argv[1])

cloudwatch_logs._create_log_group({"logGroupName": "/emf/unit"})
cloudwatch_logs._create_log_stream({"logGroupName": "/emf/unit", "logStreamName": "s"})
status, _, _ = cloudwatch_logs._put_log_events({"logGroupName": "/emf/unit", "logStreamName": "s", "logEvents": [
    {"timestamp": 1, "message": "not a metric"},
    {"timestamp": 2, "message": valid},
    {"timestamp": 3, "message": invalid},
]})
assert status == 200
points = cloudwatch._metrics.get(("OrderLab", "Orders", "Service=checkout"))
assert [(p["Value"], p["Count"], p["Unit"], p["Timestamp"]) for p in points] == [
    (1.0, 1.0, "Count", 1700000000.0), (2.0, 1.0, "Count", 1700000000.0), (3.0, 1.0, "Count", 1700000000.0)], points
assert len(cloudwatch._metrics.get(("OrderLab", "Orders", ""))) == 3
assert sorted(k[0] for k in cloudwatch._metrics.keys()) == ["OrderLab", "OrderLab"], "the invalid one published nothing"

# A Lambda function's output, as MiniStack writes it after an invocation.
lambda_svc._emit_lambda_logs(
    {"config": {"FunctionName": "emf-unit", "MemorySize": 128}}, "req-1", lambda_line, False, 3
)
assert [p["Value"] for p in cloudwatch._metrics.get(("OrderLab", "Orders", "Service=lambda"))] == [7.0]
print("ok")
"""


def test_log_events_written_to_ministack_become_metrics_in_its_store():
    """Through PutLogEvents and MiniStack's Lambda log writer; in a fresh interpreter (patching
    this one would change MiniStack for every other test)."""
    lines = [
        line(doc(dimension_sets=[["Service"], []], Orders=[1, 2, 3])),
        line(broken(lambda d: d.update(Service="invalid", Orders="x"))),
        "[INFO]\t2024-01-01T00:00:00.000Z\treq-1\t" + line(doc(Service="lambda", Orders=7)),
    ]
    out = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, json.dumps(lines)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ, "GATEWAY_PORT": "4599"},
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr
