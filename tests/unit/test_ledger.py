"""The load-and-chaos ledger (helpers/load/ledger.py ``account``), the load plan (helpers/load/traffic.py) and the
worker-process recognition of helpers/load/chaos.py: pure logic, no cloud.

Each ledger test builds what the table and the dead-letter queue would hold after a run and
checks that the ledger says exactly what is wrong (or that nothing is).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from helpers.load.ledger import OUTCOMES, AlertEvidence, DeadLetter, account
from helpers.load.traffic import FaultPlan, LoadResult, SentOrder, latency_summary, plan_orders
from localcloud import lambda_worker_function


def sent(index: int, fault: str | None = None, *, status: int = 201) -> SentOrder:
    order_id = f"o{index}" if status == 201 else None
    return SentOrder(
        index,
        f"k{index}",
        fault,
        status,
        order_id,
        1000.0 + index,
        float(index),
        5.0,
        1,
        "" if status == 201 else "boom",
    )


def final(index: int, status: str = "CONFIRMED", applied: int = 1, **extra: Any) -> dict[str, Any]:
    return {"orderId": f"o{index}", "status": status, "appliedCount": applied, **extra}


def poisoned(index: int) -> dict[str, Any]:
    return {
        "orderId": f"o{index}",
        "status": "PENDING",
        "failedAttempts": 3,
        "lastError": f"PoisonOrder: poison order o{index}: this order always fails (lab fault injection)",
    }


def letter(index: int, message: str = "m", fault: str | None = "poison") -> DeadLetter:
    return DeadLetter(f"{message}{index}", f"o{index}", fault, 4)


def test_a_clean_run_balances_and_counts_every_outcome() -> None:
    run = [sent(0), sent(1, "transient"), sent(2, "poison"), sent(3)]
    items = {
        "o0": final(0),
        "o1": final(1, attempts=2),
        "o2": poisoned(2),
        "o3": final(3, "REJECTED", statusReason="customer cust-666 is blocked"),
    }

    ledger = account(run, items, [letter(2)])

    assert ledger.problems == []
    assert ledger.ok and ledger.accounted == ledger.accepted == 4 and ledger.accounted_pct == 100.0
    assert [r.outcome for r in ledger.rows] == ["CONFIRMED", "CONFIRMED", "DLQ", "REJECTED"]
    dlq_row = ledger.rows[2]
    assert dlq_row.reason.startswith("PoisonOrder") and dlq_row.dead_letters == 1 and dlq_row.applied_count == 0
    summary = ledger.summary()
    assert summary["outcomes"] == {
        "CONFIRMED": 2,
        "REJECTED": 1,
        "DLQ": 1,
        "PENDING": 0,
        "MISSING": 0,
        "NOT_ACCEPTED": 0,
    }
    assert (summary["poison_sent"], summary["dlq_orders"], summary["applied_twice"]) == (1, 1, 0)
    table = ledger.table()
    assert (
        table.loc["total", "total"] == 4
        and table.loc["DLQ", "poison"] == 1
        and table.loc["CONFIRMED", "transient"] == 1
    )
    ledger.assert_nothing_lost()


def test_an_order_left_pending_outside_the_dlq_is_lost() -> None:
    ledger = account([sent(0), sent(1)], {"o0": final(0), "o1": {"orderId": "o1", "status": "PENDING"}}, [])

    assert ledger.rows[1].outcome == "PENDING"
    assert ledger.accounted == 1 and ledger.accounted_pct == 50.0
    assert any("o1" in p and "still PENDING" in p for p in ledger.problems)
    with pytest.raises(AssertionError, match="1/2 accounted"):
        ledger.assert_nothing_lost()


def test_an_accepted_order_missing_from_the_table_is_lost() -> None:
    ledger = account([sent(0)], {}, [])

    assert ledger.rows[0].outcome == "MISSING"
    assert ledger.problems == ["order o0 (k0) was accepted but is not in the orders table"]


def test_an_order_the_api_never_accepted_is_reported() -> None:
    ledger = account([sent(0), sent(1, status=503)], {"o0": final(0)}, [])

    assert [r.outcome for r in ledger.rows] == ["CONFIRMED", "NOT_ACCEPTED"]
    assert ledger.accepted == 1 and ledger.accounted_pct == 100.0  # accounted over accepted orders ...
    assert any("k1 was not accepted" in p and "HTTP 503" in p for p in ledger.problems)  # ... but not ok
    assert not ledger.ok


def test_a_decision_applied_twice_or_never_is_caught() -> None:
    ledger = account([sent(0), sent(1)], {"o0": final(0, applied=2), "o1": final(1, applied=0)}, [])

    assert "order o0 is CONFIRMED but its decision was applied 2 time(s)" in ledger.problems
    assert "order o1 is CONFIRMED but its decision was applied 0 time(s)" in ledger.problems
    assert ledger.summary()["applied_twice"] == 1


def test_the_dlq_must_hold_exactly_the_poison_orders() -> None:
    run = [sent(0, "poison"), sent(1, "poison"), sent(2)]
    # one poison order never reached the DLQ, and an ordinary order did
    items = {
        "o0": poisoned(0),
        "o1": poisoned(1),
        "o2": {"orderId": "o2", "status": "PENDING", "lastError": "Runtime.ExitError"},
    }

    ledger = account(run, items, [letter(0), letter(2, fault=None)])

    assert [r.outcome for r in ledger.rows] == ["DLQ", "PENDING", "DLQ"]
    assert any("o1 (poison) is still PENDING" in p for p in ledger.problems)
    assert "order o2 (no fault) ended in the DLQ: Runtime.ExitError" in ledger.problems
    assert "poison order o1 ended PENDING, not in the DLQ" in ledger.problems
    # 2 of the run's orders in the DLQ and 2 poison orders sent: the count alone would match
    assert not any("the DLQ holds" in p for p in ledger.problems)


def test_dlq_count_differing_from_poison_count_is_a_problem() -> None:
    ledger = account([sent(0, "poison"), sent(1, "poison")], {"o0": poisoned(0), "o1": final(1)}, [letter(0)])

    assert "the DLQ holds 1 of this run's orders, but 2 poison order(s) were sent" in ledger.problems
    assert "poison order o1 ended CONFIRMED, not in the DLQ" in ledger.problems


def test_decided_and_dead_lettered_and_duplicate_dead_letters() -> None:
    ledger = account(
        [sent(0), sent(1, "poison"), sent(2, "transient")],
        {"o0": final(0), "o1": poisoned(1), "o2": poisoned(2)},
        [letter(0, fault=None), letter(1, "a"), letter(1, "b"), letter(2, "c"), letter(2, "d")],
    )

    assert any(
        p.startswith("order o0 (no fault) is CONFIRMED and also in the DLQ (1 message(s), received 4 times")
        for p in ledger.problems
    ), ledger.problems
    assert "order o2 is in the DLQ 2 times" in ledger.problems  # a healthy order twice in the DLQ
    assert ledger.summary()["dlq_messages"] == 5


def test_a_poison_order_dead_lettered_twice_is_one_order_in_the_dlq() -> None:
    # At-least-once: a stream-processor crash mid-batch re-sends the batch, so a poison order can
    # reach the DLQ twice. Nothing is lost and nothing applied: counted, not a problem.
    ledger = account(
        [sent(0, "poison"), sent(1)], {"o0": poisoned(0), "o1": final(1)}, [letter(0, "a"), letter(0, "b")]
    )

    assert ledger.ok, ledger.problems
    summary = ledger.summary()
    assert (summary["dlq_orders"], summary["dlq_messages"], summary["duplicate_dead_letters"]) == (1, 2, 1)


def test_a_dead_letter_needs_a_reason() -> None:
    ledger = account(
        [sent(0, "poison")], {"o0": {"orderId": "o0", "status": "PENDING"}}, [DeadLetter("m0", "o0", "poison", 4)]
    )

    assert ledger.rows[0].outcome == "DLQ"
    assert ledger.accounted == 0
    assert "order o0 is in the DLQ without a reason" in ledger.problems


def test_older_dead_letters_are_counted_apart() -> None:
    ledger = account(
        [sent(0, "poison")],
        {"o0": poisoned(0)},
        [letter(0), DeadLetter("x", "other-run", "poison", 4), DeadLetter("y", None, None, 1)],
    )

    assert ledger.ok, ledger.problems
    assert ledger.foreign_dead_letters == 2


def test_stream_failures_and_a_silent_alarm_are_problems() -> None:
    alert = AlertEvidence("p-order-dlq-not-empty", alarm_fired=True, alert_arrived=False, detail="(no alert)")
    ledger = account([sent(0)], {"o0": final(0)}, [], stream_failures=2, alert=alert)

    assert "the stream mapping gave up on 2 batch(es) (stream-failures queue)" in ledger.problems
    assert "the alert of p-order-dlq-not-empty did not arrive (no alert)" in ledger.problems
    assert not any("did not fire" in p for p in ledger.problems)
    assert ledger.summary()["alert"]["alarm_fired"] is True


def test_outcomes_are_the_documented_ones() -> None:
    assert OUTCOMES == ("CONFIRMED", "REJECTED", "DLQ", "PENDING", "MISSING", "NOT_ACCEPTED")


# ------------------------------------------------------------------------------- the load plan


def test_faults_come_in_exact_counts_at_seeded_positions() -> None:
    plan = plan_orders(1000, faults=FaultPlan(transient_rate=0.1, poison_rate=0.01), seed=3, run_id="r")
    again = plan_orders(1000, faults=FaultPlan(transient_rate=0.1, poison_rate=0.01), seed=3, run_id="r")
    other = plan_orders(1000, faults=FaultPlan(transient_rate=0.1, poison_rate=0.01), seed=4, run_id="r")

    assert Counter(o.fault for o in plan) == {None: 890, "transient": 100, "poison": 10}
    assert [o.fault for o in plan] == [o.fault for o in again]
    assert [o.fault for o in plan] != [o.fault for o in other]
    assert all(o.body.get("fault") == o.fault for o in plan if o.fault)
    assert all("fault" not in o.body for o in plan if o.fault is None)
    assert len({o.key for o in plan}) == 1000  # one Idempotency-Key per order


def test_two_runs_never_share_a_key() -> None:
    first, second = plan_orders(5), plan_orders(5)
    assert not {o.key for o in first} & {o.key for o in second}


@pytest.mark.parametrize(
    "kwargs", [{"transient_rate": -0.1}, {"poison_rate": 1.5}, {"transient_rate": 0.7, "poison_rate": 0.4}]
)
def test_fault_rates_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultPlan(**kwargs)


def test_latency_summary_is_nearest_rank() -> None:
    assert latency_summary([10.0, 1.0, 5.0]) == {"p50_ms": 5.0, "p95_ms": 10.0, "p99_ms": 10.0, "max_ms": 10.0, "n": 3}
    assert latency_summary([])["n"] == 0


def test_load_result_rates_and_timeline() -> None:
    result = LoadResult([sent(0), sent(1), sent(2, status=0)], seconds=2.0, concurrency=2)

    assert (result.accepted_count, result.rate) == (2, 1.0)
    timeline = result.ingest_timeline(1.0)
    assert timeline["rate"].sum() == 2 and list(timeline.columns) == ["t", "rate"]


# ------------------------------------------------------------------------------- chaos


@pytest.mark.parametrize(
    ("cmdline", "function"),
    [
        (
            ["/usr/bin/python3.11", "-I", "-S", "-B", "/tmp/ministack-lambda-alice-order-worker-y9xrw7ok/_worker.py"],
            "alice-order-worker",
        ),
        (["python", "/tmp/ministack-lambda-t1-create-order-6m5qpzm_/_worker.py"], "t1-create-order"),
        (["python", "-m", "localcloud.server", "--port", "4599"], None),
        (["python", "/tmp/ministack-lambda-x/_worker.py"], None),
    ],
)
def test_worker_processes_are_recognised_by_their_directory(cmdline: list[str], function: str | None) -> None:
    assert lambda_worker_function(cmdline) == function
