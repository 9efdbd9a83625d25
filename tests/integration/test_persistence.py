"""The local cloud keeps its state: a stop and start loses nothing, a kill -9 only what followed the last snapshot.

Each test starts a cloud of its own on a spare port, from a clean slate (``localcloud.reset``),
and resets it after. See docs/local-cloud.md, "State and persistence".

- stop then start: every kind of resource the lab builds is still there, unchanged (re-deploying
  changes nothing), with its data (items, stream records, a message in flight, alarm history),
  and an order placed after the start flows to CONFIRMED (and a high-value one through the pipe);
- kill -9 in the middle of a flow of orders, then start: the start says what it recovered; every
  order answered before the last snapshot is there and ends final or in the DLQ; the ledger
  accounts for every order but those answered between the snapshot and the crash, which may be
  lost (computed from the snapshot's time, read from the state directory).
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
import zipfile
from typing import Any

import psutil
import pytest
from cloudtest import external_target, free_port

import localcloud
from helpers import Lab
from helpers.core.target import resolve_target
from helpers.core.waiters import wait_until
from helpers.load.chaos import lambda_workers
from helpers.load.ledger import collect, wait_until_settled
from helpers.load.traffic import FaultPlan, plan_orders, send_orders
from helpers.ops.tracking import get_orders, wait_for_statuses
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.step4 import deploy_high_value_routing, routing_status, wait_for_marks
from helpers.pipeline.step5 import deploy_pipeline, pipeline_status
from helpers.pipeline.step6 import alerting_status, deploy_alerting
from localcloud import code_cache, persistence, snapshots

MAX_RECEIVE_COUNT = 3

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.slow,  # a local cloud of its own, stopped, killed and restarted
    pytest.mark.long,
    pytest.mark.skipif(external_target() is not None, reason="stopping and killing the cloud needs the local one"),
]


@pytest.fixture
def own_cloud():
    """A persistent cloud on a spare port, from a clean slate; reset (stopped, state deleted) after."""
    port = free_port()
    localcloud.reset(port)
    localcloud.start(port)
    lab = Lab(resolve_target("endpoint", endpoint_url=f"http://127.0.0.1:{port}"), prefix="keep")
    try:
        yield port, lab
    finally:
        localcloud.reset(port)


def _order(total: float, customer: str = "cust-001") -> dict[str, Any]:
    return {
        "customer": {"id": customer, "name": "Test Buyer"},
        "items": [{"sku": "ITEM-1", "quantity": 1, "unitPrice": total}],
    }


def test_stop_and_start_keep_every_resource_and_the_pipeline_still_works(own_cloud) -> None:
    port, lab = own_cloud
    pipeline = deploy_pipeline(lab, max_receive_count=MAX_RECEIVE_COUNT)
    routing = deploy_high_value_routing(lab, threshold=1000)
    alerting = deploy_alerting(lab, alert_email=None)
    api = OrdersApi.for_lab(lab)
    first = api.create(_order(50)).json["orderId"]
    wait_for_statuses(lab, pipeline.table.name, [first], timeout=60)
    sqs, cloudwatch = lab.client("sqs"), lab.client("cloudwatch")
    scratch = sqs.create_queue(QueueName=lab.name("scratch"))["QueueUrl"]
    sqs.send_message(QueueUrl=scratch, MessageBody="one")
    sqs.send_message(QueueUrl=scratch, MessageBody="two")
    [held] = sqs.receive_message(QueueUrl=scratch, MaxNumberOfMessages=1, VisibilityTimeout=600)["Messages"]
    alarm = next(iter(alerting.alarms.values())).name
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="before the restart")
    streams = lab.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=pipeline.table.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def stream_records() -> int:
        iterator = streams.get_shard_iterator(
            StreamArn=pipeline.table.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return len(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])

    records_before = stream_records()

    stopped = localcloud.stop(port)
    assert stopped.stopped and not stopped.forced
    started = localcloud.start(port)
    assert started.persistent and started.note == "", started.note  # a graceful stop: nothing to report

    # Every resource is there, as it was: re-deploying changes nothing.
    assert pipeline_status(lab)["ready"] and routing_status(lab)["ready"] and alerting_status(lab)["ready"]
    again = deploy_pipeline(lab, max_receive_count=MAX_RECEIVE_COUNT)
    assert not again.changed and again.queues == pipeline.queues
    assert again.worker.mapping.uuid == pipeline.worker.mapping.uuid
    assert not deploy_alerting(lab, alert_email=None).changed
    rerouted = deploy_high_value_routing(lab)
    assert rerouted.pipe.arn == routing.pipe.arn and not rerouted.pipe.created and rerouted.pipe.updated == ()
    role = lab.client("lambda").get_function(FunctionName=pipeline.worker.function.name)["Configuration"]["Role"]
    assert lab.client("iam").get_role(RoleName=role.rsplit("/", 1)[1])["Role"]["Arn"] == role
    # Their data too: items, stream records, the message in flight still hidden, the alarm's history.
    assert get_orders(lab, pipeline.table.name, [first])[first]["status"] in ("CONFIRMED", "REJECTED")
    assert stream_records() == records_before
    counts = sqs.get_queue_attributes(QueueUrl=scratch, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("1", "1")
    waiting = sqs.receive_message(QueueUrl=scratch, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    assert {m["Body"] for m in waiting} == {"one", "two"} - {held["Body"]}  # the held one is still hidden
    history = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert any(
        "before the restart" in item["HistorySummary"] or "before the restart" in item.get("HistoryData", "")
        for item in history
    ), history
    topic_arn = alerting.topic.arn
    endpoints = [
        s["Endpoint"] for s in lab.client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    ]
    assert alerting.inbox.arn in endpoints

    # And it works: orders placed now flow (the stream positions were kept: the first is not replayed).
    regular = api.create(_order(60)).json["orderId"]
    high = api.create(_order(1500)).json["orderId"]
    final = wait_for_statuses(lab, pipeline.table.name, [regular, high], timeout=60)
    assert final[regular]["status"] == "CONFIRMED", final[regular]
    assert wait_for_marks(lab, pipeline.table.name, [high], timeout=60)[high]["priority"] == "P2"
    assert int(get_orders(lab, pipeline.table.name, [first])[first]["appliedCount"]) == 1


def _server_pid(port: int) -> int:
    status = localcloud.status(port)
    assert status.running and status.pid
    return status.pid


def test_kill_9_mid_run_loses_only_what_followed_the_last_snapshot(own_cloud) -> None:
    port, lab = own_cloud
    directory = persistence.state_dir(port)
    stack = deploy_pipeline(lab, max_receive_count=MAX_RECEIVE_COUNT, transient_failures=1)
    warm = send_orders(stack.api.endpoint_url, plan_orders(8, seed=3), concurrency=4, progress=False)
    wait_for_statuses(lab, stack.table.name, [s.order_id for s in warm.accepted], timeout=60)
    plan = plan_orders(200, faults=FaultPlan(transient_rate=0.1), seed=5)
    answered: dict[str, float] = {}  # key -> when its answer was in hand (after the server wrote the order)
    crash: dict[str, Any] = {}

    def kill_then_start() -> None:
        wait_until(lambda: len(answered) > 0, timeout=30, what="the first order of the run to be answered")
        run_began = min(answered.values())
        # A snapshot holding some of the run's orders, then a second more of orders it will not hold.
        wait_until(
            lambda: (info := snapshots.read_info(directory)) is not None and info.taken_at > run_began + 0.5,
            timeout=30,
            interval=0.1,
            what="a snapshot taken during the run",
        )
        time.sleep(1.0)
        pid = _server_pid(port)
        workers = [p.pid for p in lambda_workers(port)]
        os.kill(pid, signal.SIGKILL)
        crash["killed_at"] = time.time()
        psutil.Process(pid).wait(timeout=10) if psutil.pid_exists(pid) else None
        crash["report"] = persistence.crash_report(port)
        crash["status"] = localcloud.start(port)
        crash["restarted_at"] = time.time()
        crash["workers_left"] = [
            w for w in workers if psutil.pid_exists(w) and psutil.Process(w).status() != psutil.STATUS_ZOMBIE
        ]

    killer = threading.Thread(target=kill_then_start, daemon=True)
    killer.start()
    result = send_orders(
        stack.api.endpoint_url,
        plan,
        concurrency=4,
        rate=50,
        progress=False,
        retry_for=60,
        on_sent=lambda s: answered.setdefault(s.key, time.time()),
    )
    killer.join(timeout=90)
    assert "restarted_at" in crash, "the cloud was not killed and restarted during the run"

    report = crash["report"]
    assert report is not None and report.snapshot_at is not None, "no crash marker or no snapshot after kill -9"
    assert "recovered from a crash: state as of" in crash["status"].note
    assert crash["workers_left"] == [], "Lambda workers of the killed server still run after the restart"
    snapshot_at = report.snapshot_at
    # Answered between the snapshot and the restart: the old server had them, the snapshot not.
    may_be_lost = {s.order_id for s in result.accepted if snapshot_at < answered[s.key] < crash["restarted_at"]}
    must_survive = [s for s in result.sent if s.order_id not in may_be_lost]
    assert sum(1 for s in result.accepted if answered[s.key] <= snapshot_at) > 0, "the snapshot held none of the run"
    present = get_orders(lab, stack.table.name, sorted(may_be_lost))
    kept = must_survive + [s for s in result.sent if s.order_id in present]

    wait_until_settled(lab, stack.table.name, stack.queues, kept, max_receive_count=MAX_RECEIVE_COUNT, timeout=120)
    ledger = collect(lab, stack.table.name, stack.queues, kept)
    ledger.assert_nothing_lost()
    assert ledger.summary()["applied_twice"] == 0
    # Across the whole run, the only losses are orders answered after the snapshot.
    whole = collect(lab, stack.table.name, stack.queues, result.sent)
    missing = {row.order_id for row in whole.rows if row.outcome == "MISSING"}
    assert missing <= may_be_lost, missing - may_be_lost
    assert not [row for row in whole.rows if row.outcome in ("PENDING", "NOT_ACCEPTED")]
    print(
        f"kill -9 {crash['killed_at'] - snapshot_at:.1f} s after the last snapshot: {len(result.accepted)} "
        f"orders answered, {len(may_be_lost)} after the snapshot, {len(missing)} of them lost"
    )


def test_reset_is_a_clean_slate(own_cloud) -> None:
    port, lab = own_cloud
    lab.client("sqs").create_queue(QueueName="before-reset")
    _deploy_sleeper(lab)
    lab.client("lambda").invoke(FunctionName="sleeper", Payload=b'{"s": 0}')
    assert any(code_cache.code_root(port).iterdir()), "the invoke extracted no code"
    localcloud.stop(port)
    assert (persistence.state_dir(port) / snapshots.SNAPSHOT).exists()
    localcloud.start(port)
    assert lab.client("sqs").list_queues().get("QueueUrls"), "the queue did not survive a stop and start"

    report = localcloud.reset(port)
    assert report.stopped and report.files_removed >= 1 and "clean slate" in report.describe()
    assert not localcloud.status(port).running and not persistence.state_dir(port).exists()
    assert not code_cache.code_root(port).exists() and not code_cache.pycache_dir(port).exists()
    localcloud.start(port)
    assert not lab.client("sqs").list_queues().get("QueueUrls")


def _deploy_sleeper(lab: Lab) -> None:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr(
            "app.py", "import time\ndef handler(event, context):\n    time.sleep(event['s'])\n    return 'ok'\n"
        )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = lab.client("iam").create_role(RoleName="sleeper", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    functions = lab.client("lambda")
    functions.create_function(
        FunctionName="sleeper",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        Timeout=60,
    )
    functions.get_waiter("function_active_v2").wait(FunctionName="sleeper")


def test_a_crash_is_reported_and_its_orphaned_lambda_workers_are_reaped(own_cloud) -> None:
    port, lab = own_cloud
    _deploy_sleeper(lab)
    lab.client("lambda").invoke(FunctionName="sleeper", InvocationType="Event", Payload=b'{"s": 60}')
    busy = wait_until(lambda: lambda_workers(port, "sleeper"), timeout=30, interval=0.1, what="the sleeper to run")
    wait_until(
        lambda: snapshots.read_info(persistence.state_dir(port)), timeout=10, interval=0.1, what="the first snapshot"
    )
    pid = _server_pid(port)
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(timeout=10)
    assert localcloud.status(port).running is False
    assert all(psutil.pid_exists(w.pid) for w in busy), "the busy worker should outlive its server (until reaped)"

    note = localcloud.start(port).note
    assert note.startswith("recovered from a crash: state as of") and "changes after it are lost" in note
    assert not [
        w.pid for w in busy if psutil.pid_exists(w.pid) and psutil.Process(w.pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert lab.client("lambda").invoke(FunctionName="sleeper", Payload=b'{"s": 0}')["Payload"].read() == b'"ok"'
    # A graceful stop leaves no crash behind.
    localcloud.stop(port)
    assert localcloud.start(port).note == ""
