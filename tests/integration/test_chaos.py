"""Chaos on a real local cloud: the ledger accounts for every order (helpers/load, ledger, chaos).

- a small burst with transient and poison faults while the order worker's execution
  environments are killed *in the middle of* their batches: every order is final (decision
  applied exactly once) or, for the poison ones, in the DLQ with its reason;
- the worker's side effect is applied once even when many copies of one order's message are
  decided at the same moment (lambdas/order_worker/order_worker/store.py: the conditional
  update with ``ADD appliedCount``);
- a killed execution environment of the API's function (create_order) is replaced by a cold
  start: the next request is served at once by a new environment, which records its
  ``Init Duration``, and under load with kills no invocation waits for its timeout;
- a graceful restart of a local cloud with persistence on, in the middle of a steady flow of
  orders, loses and duplicates nothing (localcloud/persistence.py).

Local cloud only: killing execution environments and restarting the cloud need it. Bounded
waits throughout; a crashed batch waits out the queue's 30 s visibility timeout (as on AWS).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cloudtest import external_target, free_port, own_prefix

from helpers import Lab
from helpers.aws.sqs import queue_counts
from helpers.core.target import resolve_target
from helpers.core.waiters import wait_until
from helpers.load.chaos import WorkerKiller, kill_lambda_workers, lambda_workers
from helpers.load.ledger import collect, wait_until_settled
from helpers.load.traffic import FaultPlan, plan_orders, send_orders
from helpers.ops.tracking import get_orders, wait_for_statuses
from helpers.pipeline.step5 import PipelineStack, deploy_pipeline

MAX_RECEIVE_COUNT = 3

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.slow,  # a local cloud of its own, stopped, killed and restarted
    pytest.mark.long,
    pytest.mark.skipif(external_target() is not None, reason="chaos needs the local cloud (worker processes, restart)"),
]


@pytest.fixture(scope="module")
def chaos_lab(lab: Lab):
    """A prefix of its own on the session's cloud (the chaos worker settings must not leak into other modules)."""
    with own_prefix(lab, "x") as own:
        yield own


@pytest.fixture(scope="module")
def stack(chaos_lab: Lab) -> PipelineStack:
    # One failing receive per transient order: with maxReceiveCount 3 a crash still leaves a spare receive.
    return deploy_pipeline(chaos_lab, max_receive_count=MAX_RECEIVE_COUNT, transient_failures=1)


def _warm(chaos_lab: Lab, stack: PipelineStack, clients: int) -> None:
    warm = send_orders(stack.api.endpoint_url, plan_orders(clients * 2), concurrency=clients, progress=False)
    wait_for_statuses(chaos_lab, stack.table.name, [s.order_id for s in warm.accepted], timeout=60)


def test_burst_with_faults_and_crashed_workers_loses_nothing(chaos_lab: Lab, stack: PipelineStack) -> None:
    port = chaos_lab.target.port
    worker_name = chaos_lab.name("order-worker")
    _warm(chaos_lab, stack, clients=4)
    plan = plan_orders(120, faults=FaultPlan(transient_rate=0.1, poison_rate=0.02), seed=11)
    kills = []

    def crash_while_busy() -> None:
        # Kill the worker's environments while batches are in flight.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(kills) < 2:
            # in flight: a worker holds a batch now (killing an idle spare environment alone would hit none)
            if queue_counts(chaos_lab, stack.queues.queue.url).in_flight > 0 and lambda_workers(port, worker_name):
                kill = kill_lambda_workers(port, worker_name)
                if kill.pids:
                    kills.append(kill)
                    time.sleep(0.5)
            time.sleep(0.02)

    crasher = threading.Thread(target=crash_while_busy, daemon=True)
    crasher.start()
    result = send_orders(stack.api.endpoint_url, plan, concurrency=4, progress=False)
    crasher.join(timeout=30)
    assert kills, "no order-worker environment was alive to kill while messages waited"

    # 30 s visibility timeout for a crashed batch (the poison path is retried at once): bounded at 120 s.
    wait_until_settled(
        chaos_lab, stack.table.name, stack.queues, result.sent, max_receive_count=MAX_RECEIVE_COUNT, timeout=120
    )
    ledger = collect(chaos_lab, stack.table.name, stack.queues, result.sent)

    ledger.assert_nothing_lost()
    summary = ledger.summary()
    assert summary["accepted"] == 120 and summary["accounted_pct"] == 100.0
    assert summary["dlq_orders"] == summary["poison_sent"] == 2
    assert summary["applied_twice"] == 0
    items = get_orders(chaos_lab, stack.table.name, [s.order_id for s in result.accepted])
    # Proof that a crash hit a batch in flight: an order without a fault decided on a later receive.
    redelivered = [
        i for s in result.accepted if s.fault is None and int((i := items[s.order_id]).get("attempts", 1)) > 1
    ]
    assert redelivered, "no crash hit a batch in flight (every order without a fault was decided on its first receive)"


def _log_events(lab: Lab, function_name: str, pattern: str, since: float) -> list[dict[str, Any]]:
    return lab.client("logs").filter_log_events(
        logGroupName=f"/aws/lambda/{function_name}", filterPattern=pattern, startTime=int(since * 1000)
    )["events"]


def test_a_killed_api_environment_is_replaced_by_a_cold_start(chaos_lab: Lab, stack: PipelineStack) -> None:
    port = chaos_lab.target.port
    name = chaos_lab.name("create-order")
    api = stack.api.endpoint_url
    assert send_orders(api, plan_orders(1), progress=False).sent[0].accepted
    started = time.time()
    kill = kill_lambda_workers(port, name)
    assert kill.pids, "no create_order environment was alive to kill"
    wait_until(
        lambda: not {w.pid for w in lambda_workers(port, name)} & set(kill.pids),
        timeout=10,
        what="the killed environments to die",
    )

    # (A request that races the kill, before the process is gone, fails like one in flight: a 500, retried.)
    reply = send_orders(api, plan_orders(1), progress=False).sent[0]
    assert reply.accepted, reply
    assert {w.pid for w in lambda_workers(port, name)} - set(kill.pids), "no new environment serves the API"
    wait_until(
        lambda: _log_events(chaos_lab, name, '"Init Duration"', kill.wall_time),
        timeout=30,
        what="the new environment's REPORT line with its Init Duration (its cold start)",
    )

    # Kills while requests are in flight: each killed request fails (500) and is retried with its key.
    with WorkerKiller(port, name, every=1.0, times=3) as killer:
        result = send_orders(api, plan_orders(60), concurrency=4, rate=20, progress=False, retry_for=60)
    assert len(killer.kills) >= 2, killer.kills
    assert result.accepted_count == 60, [s.error for s in result.sent if not s.accepted][:3]
    assert not _log_events(chaos_lab, name, '"Task timed out"', started), "an invocation waited for its timeout"
    cold_starts = _log_events(chaos_lab, name, '"Init Duration"', killer.kills[0].wall_time)
    assert len(cold_starts) >= len(killer.kills), "the killed environments were not replaced by cold starts"


def test_the_decision_is_applied_once_whatever_the_duplicates(chaos_lab: Lab, stack: PipelineStack) -> None:
    from order_worker.rules import Decision  # lambdas/order_worker is on sys.path (tests/conftest.py)
    from order_worker.store import DynamoOrderStatusStore

    reply = send_orders(stack.api.endpoint_url, plan_orders(1), progress=False).sent[0]
    order_id = str(reply.order_id)
    wait_for_statuses(chaos_lab, stack.table.name, [order_id], timeout=60)
    # The pipeline decided it already: 16 more deliveries at once, each trying to apply a decision.
    ddb = chaos_lab.client("dynamodb")
    table = stack.table.name
    ddb.update_item(
        TableName=table,
        Key={"orderId": {"S": order_id}},  # back to PENDING, count cleared (test set-up)
        UpdateExpression="SET #s = :p REMOVE appliedCount",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": {"S": "PENDING"}},
    )
    store = DynamoOrderStatusStore(table, ddb)
    barrier = threading.Barrier(16)

    def deliver(n: int) -> bool:
        barrier.wait()
        return store.record_decision(
            order_id,
            Decision("CONFIRMED" if n % 2 else "REJECTED", "duplicate test"),
            timestamp="2024-05-01T12:00:00.000Z",
            attempts=n + 1,
        )

    with ThreadPoolExecutor(16) as pool:
        applied = list(pool.map(deliver, range(16)))

    item = get_orders(chaos_lab, table, [order_id])[order_id]
    assert applied.count(True) == 1, applied
    assert int(item["appliedCount"]) == 1
    assert item["status"] in ("CONFIRMED", "REJECTED")


def test_graceful_restart_with_persistence_loses_and_duplicates_nothing() -> None:
    import localcloud
    from localcloud import persistence

    port = free_port()
    localcloud.reset(port)
    localcloud.start(port)  # persistence is the default
    restarts: list[Any] = []
    restarted_at: list[float] = []
    try:
        lab = Lab(resolve_target("endpoint", endpoint_url=f"http://127.0.0.1:{port}"), prefix="restart")
        stack = deploy_pipeline(lab, transient_failures=1)
        _warm(lab, stack, clients=4)
        plan = plan_orders(160, faults=FaultPlan(transient_rate=0.1))

        def restart_midway() -> None:
            wait_until(lambda: len(lambda_workers(port)) > 0, timeout=10, what="the pipeline to run")
            time.sleep(1.0)
            at = time.time()
            restarts.append(persistence.restart(port))
            restarted_at.append(at)

        restarter = threading.Thread(target=restart_midway, daemon=True)
        restarter.start()
        result = send_orders(stack.api.endpoint_url, plan, concurrency=4, rate=60, progress=False, retry_for=60)
        restarter.join(timeout=60)

        assert restarts and not restarts[0].forced, restarts
        first, last = min(s.sent_at for s in result.sent), max(s.sent_at for s in result.sent)
        assert first < restarted_at[0] < last, "the restart did not happen while orders flowed"
        wait_until_settled(
            lab, stack.table.name, stack.queues, result.sent, max_receive_count=MAX_RECEIVE_COUNT, timeout=90
        )
        ledger = collect(lab, stack.table.name, stack.queues, result.sent)
        ledger.assert_nothing_lost()
        assert ledger.summary()["outcomes"]["CONFIRMED"] == 160
        # The stream records survived: orders created before the restart were delivered, and none twice.
        assert ledger.summary()["applied_twice"] == 0
        assert restarts[0].state_files > 0
    finally:
        localcloud.reset(port)
