"""Log export tasks, an archive's managed rule, what AWS refuses to do to a managed rule and Metrics Insights
queries (localcloud/services/), without a server; end to end in tests/conformance/test_logs_export_tasks.py,
test_eventbridge_archives.py and test_cloudwatch_insights.py.
"""

from __future__ import annotations

import doctest
import gzip
import json

import pytest

from localcloud.services.cloudwatch import insights
from localcloud.services.eventbridge import archives, managed
from localcloud.services.logs import exports


@pytest.mark.parametrize("module", [exports, archives, managed, insights])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


# ---------------------------------------------------------------- export tasks

REQUEST = {"logGroupName": "g", "from": 1, "to": 2, "destination": "b"}


@pytest.mark.parametrize(
    "request_, group, bucket, code",
    [
        ({**REQUEST, "destination": None}, True, True, "ValidationException"),
        (REQUEST, False, False, "InvalidParameterException"),  # the bucket is checked first
        (REQUEST, False, True, "ResourceNotFoundException"),
        ({**REQUEST, "from": 3}, True, True, "InvalidParameterException"),
    ],
)
def test_create_export_task_refusals(request_, group, bucket, code) -> None:
    with pytest.raises(exports.ExportError) as refused:
        exports.validate_request(request_, group_exists=group, bucket_exists=bucket)
    assert refused.value.code == code


def test_a_valid_request_passes() -> None:
    exports.validate_request(REQUEST, group_exists=True, bucket_exists=True)


def test_streams_without_events_in_range_write_no_object() -> None:
    streams = {"a": exports.in_range([{"timestamp": 5, "message": "x"}], 1, 2), "b": [{"timestamp": 1, "message": "y"}]}
    objects = exports.export_objects("logs/", "t", streams)
    assert list(objects) == ["logs/t/b/000000.gz"]
    assert gzip.decompress(objects["logs/t/b/000000.gz"]).decode() == "1970-01-01T00:00:00.001Z y\n"


def _task(task_id: str, code: str, created: int) -> exports.ExportTask:
    task = exports.ExportTask(task_id, "g", "b", "p", 1, 2, created_ms=created)
    task.status = {"code": code, "message": ""}
    return task


def test_describe_filters_by_status_newest_first_and_refuses_an_unknown_id() -> None:
    tasks = {
        t.task_id: t for t in (_task("old", "COMPLETED", 1), _task("new", "COMPLETED", 2), _task("p", "PENDING", 3))
    }
    assert [t["taskId"] for t in exports.select_tasks(tasks, {"statusCode": "COMPLETED"})] == ["new", "old"]
    assert exports.select_tasks(tasks, {"taskId": "p"})[0]["status"]["code"] == "PENDING"
    with pytest.raises(exports.ExportError):
        exports.select_tasks(tasks, {"taskId": "nope"})


def test_only_an_unfinished_task_can_be_cancelled() -> None:
    tasks = {"p": _task("p", "PENDING", 1), "c": _task("c", "COMPLETED", 1)}
    exports.cancel(tasks, "p", now_ms=9)
    assert tasks["p"].status["code"] == "CANCELLED" and tasks["p"].describe()["executionInfo"]["completionTime"] == 9
    with pytest.raises(exports.ExportError) as refused:
        exports.cancel(tasks, "c", now_ms=9)
    assert refused.value.code == "InvalidOperationException"


# ---------------------------------------------------------------- archives


def test_the_managed_rule_matches_every_event_but_replays_without_a_pattern() -> None:
    assert json.loads(archives.managed_rule("a", None)["EventPattern"]) == {"replay-name": [{"exists": False}]}


def test_only_the_archive_target_of_a_managed_rule_is_skipped() -> None:
    target = archives.managed_target("a", "arn:aws:events:eu-west-1:123456789012:archive/a", "eu-west-1")
    assert archives.is_archive_target({"ManagedBy": archives.MANAGED_BY}, target)
    assert not archives.is_archive_target({}, target)
    assert not archives.is_archive_target({"ManagedBy": archives.MANAGED_BY}, {"Arn": "arn:aws:sqs:eu-west-1:1:q"})


# ---------------------------------------------------------------- managed rules

MANAGED = {"Name": "Events-Archive-a", "ManagedBy": archives.MANAGED_BY}


@pytest.mark.parametrize("action", sorted(managed.MODIFYING_ACTIONS))
def test_a_managed_rule_is_never_modified_force_or_not(action) -> None:
    assert managed.refusal(action, MANAGED) == "Events-Archive-a is a managed rule."
    assert managed.refusal(action, MANAGED, force=True) == "Events-Archive-a is a managed rule."


@pytest.mark.parametrize("action", sorted(managed.FORCEABLE_ACTIONS))
def test_a_managed_rule_is_deleted_or_its_targets_removed_only_with_force(action) -> None:
    assert managed.refusal(action, MANAGED) == (
        "Events-Archive-a is a managed rule. Set 'force' parameter to true to override."
    )
    assert managed.refusal(action, MANAGED, force=True) is None


@pytest.mark.parametrize("action", sorted(managed.MODIFYING_ACTIONS | managed.FORCEABLE_ACTIONS))
@pytest.mark.parametrize("rule", [None, {"Name": "mine"}, {"Name": "mine", "ManagedBy": ""}])
def test_an_ordinary_or_missing_rule_is_left_to_the_call(action, rule) -> None:
    assert managed.refusal(action, rule) is None


def test_reads_of_a_managed_rule_are_allowed() -> None:
    assert managed.refusal("DescribeRule", MANAGED) is None
    assert managed.refusal("ListTargetsByRule", MANAGED) is None


@pytest.mark.parametrize(
    "action, request_, reference",
    [
        ("PutRule", {"Name": "r"}, ("default", "r")),
        ("DeleteRule", {"Name": "r", "EventBusName": "orders"}, ("orders", "r")),
        ("RemoveTargets", {"Rule": "r", "EventBusName": "arn:aws:events:eu-west-1:1:event-bus/b"}, ("b", "r")),
        ("UntagResource", {"ResourceARN": "arn:aws:events:eu-west-1:1:rule/orders/r"}, ("orders", "r")),
        ("TagResource", {"ResourceARN": "arn:aws:events:eu-west-1:1:event-bus/orders"}, None),
        ("TagResource", {"ResourceARN": "arn:aws:events:eu-west-1:1:rule/a/b/c"}, None),
        ("TagResource", {"ResourceARN": "arn:aws:sqs:eu-west-1:1:rule/r"}, None),
        ("TagResource", {}, None),
        ("EnableRule", {}, None),
        ("ListRules", {"Name": "r"}, None),
    ],
)
def test_the_rule_a_request_names(action, request_, reference) -> None:
    assert managed.rule_reference(action, request_) == reference


# ---------------------------------------------------------------- Metrics Insights


def _stats(points: list[dict]) -> dict[str, float]:
    values = [p["Value"] for p in points]
    return {
        "Sum": sum(values),
        "SampleCount": len(values),
        "Average": sum(values) / len(values),
        "Minimum": min(values),
        "Maximum": max(values),
    }


METRICS = [
    (
        "Shop",
        "Latency",
        {"Path": "/a", "Host": "h1"},
        [{"Timestamp": 60.0, "Value": 1.0}, {"Timestamp": 130.0, "Value": 4.0}],
    ),
    ("Shop", "Latency", {"Path": "/b", "Host": "h1"}, [{"Timestamp": 70.0, "Value": 2.0}]),
    ("Shop", "Latency", {"Path": "/a"}, [{"Timestamp": 75.0, "Value": 9.0}]),
    ("Shop", "Errors", {"Path": "/a"}, [{"Timestamp": 75.0, "Value": 100.0}]),
]


def test_a_query_without_group_by_is_one_series_per_period() -> None:
    [series] = insights.run(insights.parse("SELECT SUM(Latency) FROM Shop"), METRICS, 0, 1000, 60, _stats)
    assert series.points == ((60, 12.0), (120, 4.0))


def test_where_group_by_and_order_by() -> None:
    query = insights.parse("select max(Latency) from \"Shop\" where Path != '/b' group by Host order by MAX() desc")
    assert [(s.label, s.points) for s in insights.run(query, METRICS, 0, 1000, 300, _stats)] == [
        ("Other", ((0, 9.0),)),
        ("h1", ((0, 4.0),)),
    ]


def test_the_time_range_is_start_inclusive_end_exclusive() -> None:
    [series] = insights.run(insights.parse("SELECT COUNT(Latency) FROM Shop"), METRICS, 70, 130, 60, _stats)
    assert series.points == ((60, 2.0),)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT P99(Latency) FROM Shop",
        "SELECT SUM(Latency) FROM Shop WHERE Path LIKE '/a'",
        "SELECT SUM(Latency) FROM Shop WHERE",
        "SELECT SUM(Latency) FROM Shop LIMIT 0",
        "SELECT SUM(Latency) FROM Shop ORDER BY MIN()",
        "SELECT SUM(Latency) FROM Shop extra",
        "SELECT SUM(Latency FROM Shop",
    ],
)
def test_what_is_not_supported_is_refused(text: str) -> None:
    with pytest.raises(insights.InsightsError):
        insights.parse(text)
