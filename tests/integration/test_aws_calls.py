"""The AWS-call recorder on the session's cloud: a step's calls, and its generated code rebuilding the step."""

from __future__ import annotations

import threading

import pytest
from cloudtest import own_prefix

from helpers.core.calls import recording
from helpers.pipeline.step2 import enable_order_stream, ensure_order_queues
from helpers.pipeline.step3 import deploy_order_worker

pytestmark = pytest.mark.cloud


def _worker_shape(lab) -> dict:
    """What the order-worker step built for ``lab``, with its prefix written as ``<p>``."""
    fn = lab.client("lambda").get_function_configuration(FunctionName=lab.name("order-worker"))
    mapping = lab.client("lambda").list_event_source_mappings(FunctionName=fn["FunctionName"])["EventSourceMappings"][0]
    queue_url = lab.client("sqs").get_queue_url(QueueName=lab.name("order-queue"))["QueueUrl"]
    queue = lab.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    table = lab.client("dynamodb").describe_table(TableName=lab.name("orders"))["Table"]
    shape = {
        "function": {key: fn[key] for key in ("Handler", "Runtime", "Timeout", "MemorySize", "Role")},
        "environment": fn["Environment"]["Variables"],
        "mapping": {
            key: mapping.get(key)
            for key in (
                "BatchSize",
                "FunctionResponseTypes",
                "ScalingConfig",
                "MaximumBatchingWindowInSeconds",
                "EventSourceArn",
            )
        },
        "queue": {key: queue[key] for key in ("VisibilityTimeout", "RedrivePolicy", "MessageRetentionPeriod")},
        "table": {"keys": table["KeySchema"], "stream": table["StreamSpecification"]},
        "tags": lab.client("lambda").list_tags(Resource=fn["FunctionArn"])["Tags"],
    }
    return _unprefixed(shape, lab.prefix)


def _unprefixed(value, prefix: str):
    if isinstance(value, dict):
        return {key: _unprefixed(item, prefix) for key, item in value.items()}
    if isinstance(value, list):
        return [_unprefixed(item, prefix) for item in value]
    return value.replace(prefix, "<p>") if isinstance(value, str) else value


def test_a_steps_generated_code_rebuilds_it_on_a_fresh_prefix(lab) -> None:
    with own_prefix(lab, "rec") as recorded, own_prefix(lab, "gen") as fresh:
        with recording(recorded) as calls:
            table = enable_order_stream(recorded)
            queues = ensure_order_queues(recorded)
            deploy_order_worker(recorded, table, queues)
        operations = calls.operations()
        for expected in (
            "CreateTable",
            "CreateQueue",
            "CreateRole",
            "PutRolePolicy",
            "CreateFunction",
            "CreateEventSourceMapping",
        ):
            assert expected in operations, operations
        code = calls.code()
        assert recorded.prefix not in code, "names must be written as lab.prefix, not the recording lab's prefix"

        exec(compile(code, "<generated step 3>", "exec"), {"lab": fresh})

        lab.client("lambda").get_waiter("function_active_v2").wait(FunctionName=fresh.name("order-worker"))
        assert _worker_shape(fresh) == _worker_shape(recorded)


def test_a_converged_rerun_changes_nothing(lab) -> None:
    with own_prefix(lab, "rrun") as own:
        ensure_order_queues(own)
        with recording(own) as calls:
            ensure_order_queues(own)
        assert calls.changes == [], calls
        assert calls.summary().startswith("nothing changed: ")
        assert {call.operation for call in calls} <= {
            "GetQueueUrl",
            "GetQueueAttributes",
            "ListQueueTags",
            "GetCallerIdentity",
        }


def test_calls_from_other_threads_are_not_recorded(lab) -> None:
    sqs = lab.client("sqs")
    with recording(lab) as calls:
        background = threading.Thread(target=lambda: sqs.list_queues(QueueNamePrefix=lab.prefix))
        background.start()
        background.join()
        sqs.list_queues(QueueNamePrefix=lab.name("x"))
    assert [(call.operation, call.params) for call in calls] == [("ListQueues", {"QueueNamePrefix": lab.name("x")})]
