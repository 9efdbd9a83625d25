"""The ledger: account for every order a load run sent, after the pipeline settled.

Each accepted order must end in exactly one place: a final status (CONFIRMED / REJECTED,
the decision applied exactly once: ``appliedCount == 1``) or the dead-letter queue with the
reason it failed. The dead-letter queue must hold exactly this run's poison orders.

>>> result = send_orders(api, plan_orders(200, faults=FaultPlan(0.1, 0.01)))     # doctest: +SKIP
>>> wait_until_settled(lab, stack.table.name, stack.queues, result.sent, max_receive_count=3)  # doctest: +SKIP
>>> ledger = collect(lab, stack.table.name, stack.queues, result.sent)            # doctest: +SKIP
>>> ledger.table()                                                                # doctest: +SKIP
>>> ledger.assert_nothing_lost()                                                  # doctest: +SKIP

:func:`account` is the pure part (what the checks are); :func:`collect` reads the table and
the queues and calls it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from helpers.core.waiters import WaitTimeout
from helpers.ops.observability import AlertInbox, alarm_state, utcnow, wait_for_alarm_state
from helpers.ops.tracking import FINAL_STATUSES, get_orders
from helpers.pipeline.step6 import alerting_status

if TYPE_CHECKING:
    from helpers.core.lab import Lab
    from helpers.load.traffic import SentOrder
    from helpers.pipeline.step2 import OrderQueues

__all__ = [
    "OUTCOMES",
    "AlertEvidence",
    "DeadLetter",
    "DlqAlarmWatch",
    "Ledger",
    "LedgerRow",
    "account",
    "collect",
    "dead_letters",
    "read_queue",
    "wait_until_settled",
]

OUTCOMES = ("CONFIRMED", "REJECTED", "DLQ", "PENDING", "MISSING", "NOT_ACCEPTED")
"""Where an order can end: the first three are accounted for; the others are losses."""


@dataclass(frozen=True)
class DeadLetter:
    """One message of a dead-letter queue: the order it carries, and why it failed."""

    message_id: str
    order_id: str | None
    fault: str | None
    receive_count: int
    reason: str | None = None


@dataclass(frozen=True)
class AlertEvidence:
    """Did the DLQ alarm fire and its alert arrive? (None: not checked in this run.)"""

    alarm_name: str
    alarm_fired: bool
    alert_arrived: bool
    detail: str = ""


@dataclass(frozen=True)
class LedgerRow:
    """One order of the run and where it ended."""

    key: str
    order_id: str | None
    fault: str | None
    outcome: str
    status: str | None = None
    reason: str | None = None
    applied_count: int = 0
    dead_letters: int = 0


@dataclass
class Ledger:
    """Every order of a run, where it ended, and what is wrong (``problems``; empty = nothing lost)."""

    rows: list[LedgerRow]
    problems: list[str]
    foreign_dead_letters: int = 0
    stream_failures: int = 0
    alert: AlertEvidence | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(1 for r in self.rows if r.outcome != "NOT_ACCEPTED")

    @property
    def accounted(self) -> int:
        """Orders that ended in a final status or (poison) in the DLQ with a reason."""
        return sum(1 for r in self.rows if r.outcome in ("CONFIRMED", "REJECTED") or (r.outcome == "DLQ" and r.reason))

    @property
    def accounted_pct(self) -> float:
        return round(100.0 * self.accounted / self.accepted, 3) if self.accepted else 100.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def frame(self) -> pd.DataFrame:
        """One row per order."""
        return pd.DataFrame(
            [r.__dict__ for r in self.rows],
            columns=["key", "order_id", "fault", "outcome", "status", "reason", "applied_count", "dead_letters"],
        )

    def table(self) -> pd.DataFrame:
        """Orders per outcome (rows) and fault (columns), with totals: the ledger at a glance."""
        frame = self.frame()
        frame["fault"] = frame["fault"].fillna("none")
        table = pd.crosstab(frame["outcome"], frame["fault"], margins=True, margins_name="total")
        order = [o for o in OUTCOMES if o in table.index] + ["total"]
        columns = [c for c in ("none", "transient", "poison") if c in table.columns] + ["total"]
        return table.reindex(index=order, columns=columns, fill_value=0)

    def summary(self) -> dict[str, Any]:
        """The figures a report needs (JSON-friendly)."""
        outcomes = Counter(r.outcome for r in self.rows)
        faults = Counter(r.fault or "none" for r in self.rows if r.outcome != "NOT_ACCEPTED")
        return {
            "accepted": self.accepted,
            "accounted": self.accounted,
            "accounted_pct": self.accounted_pct,
            "outcomes": {o: outcomes.get(o, 0) for o in OUTCOMES},
            "faults_sent": dict(faults),
            "poison_sent": faults.get("poison", 0),
            "dlq_orders": sum(1 for r in self.rows if r.dead_letters),
            "dlq_messages": sum(r.dead_letters for r in self.rows),
            "duplicate_dead_letters": sum(max(r.dead_letters - 1, 0) for r in self.rows),
            "foreign_dead_letters": self.foreign_dead_letters,
            "applied_twice": sum(1 for r in self.rows if r.applied_count > 1),
            "stream_failures": self.stream_failures,
            "alert": None if self.alert is None else self.alert.__dict__,
            "problems": list(self.problems),
            **self.figures,
        }

    def assert_nothing_lost(self) -> None:
        """Raise AssertionError listing every problem, unless the ledger balances."""
        if self.problems:
            listed = "\n - ".join(self.problems[:20]) + ("\n - …" if len(self.problems) > 20 else "")
            raise AssertionError(
                f"The ledger does not balance ({self.accounted}/{self.accepted} accounted):\n - {listed}"
            )


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def account(
    sent: Sequence[SentOrder],
    items: Mapping[str, Mapping[str, Any]],
    dead: Sequence[DeadLetter],
    *,
    stream_failures: int = 0,
    alert: AlertEvidence | None = None,
) -> Ledger:
    """Account for every order of ``sent`` given the table's ``items`` (by orderId) and the DLQ's messages.

    Checks, each failure a line in ``problems``:

    - every order the API was sent was accepted (after retries with the same key);
    - every accepted order is in the table; it is final (CONFIRMED/REJECTED) or in the DLQ
      with the reason it failed — nothing left PENDING outside the DLQ;
    - the DLQ holds exactly this run's poison orders, and no poison order was decided. The
      count is of orders: a poison order may be dead-lettered more than once, because the
      stream-to-queue step is at-least-once (a crash mid-batch makes Lambda retry the batch,
      re-sending what it had already sent: on a function error Lambda retries the whole batch,
      https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-errors.html); such duplicates are counted
      (``duplicate_dead_letters``), never a problem, whereas a healthy order's duplicate in
      the DLQ is one;
    - every decided order's decision was applied exactly once (``appliedCount == 1``), and
      no order in the DLQ had one applied;
    - the stream mapping gave up on nothing (``stream_failures``);
    - if ``alert`` is given: the DLQ alarm fired and its alert arrived.

    >>> from helpers.load.traffic import SentOrder
    >>> sent = [SentOrder(0, "k0", None, 201, "o0", 0.0, 0.0, 5.0, 1),
    ...         SentOrder(1, "k1", "poison", 201, "o1", 0.0, 0.0, 5.0, 1)]
    >>> items = {"o0": {"orderId": "o0", "status": "CONFIRMED", "appliedCount": 1},
    ...          "o1": {"orderId": "o1", "status": "PENDING", "lastError": "PoisonOrder: poison order o1"}}
    >>> ledger = account(sent, items, [DeadLetter("m1", "o1", "poison", 4)])
    >>> ledger.problems, ledger.accounted_pct
    ([], 100.0)
    """
    by_order: dict[str, list[DeadLetter]] = {}
    for letter in dead:
        if letter.order_id:
            by_order.setdefault(letter.order_id, []).append(letter)
    ours = {s.order_id for s in sent if s.accepted}
    foreign = sum(len(v) for k, v in by_order.items() if k not in ours) + sum(1 for d in dead if not d.order_id)

    rows: list[LedgerRow] = []
    problems: list[str] = []
    for s in sent:
        if not s.accepted:
            rows.append(LedgerRow(s.key, s.order_id, s.fault, "NOT_ACCEPTED", reason=s.error or f"HTTP {s.status}"))
            problems.append(
                f"order {s.key} was not accepted by the API after {s.attempts} attempt(s): "
                f"HTTP {s.status} {s.error}".rstrip()
            )
            continue
        item = items.get(s.order_id)  # type: ignore[arg-type]
        letters = by_order.get(s.order_id, [])  # type: ignore[arg-type]
        if item is None:
            rows.append(LedgerRow(s.key, s.order_id, s.fault, "MISSING", dead_letters=len(letters)))
            problems.append(f"order {s.order_id} ({s.key}) was accepted but is not in the orders table")
            continue
        status = item.get("status")
        applied = _as_int(item.get("appliedCount"))
        if status in FINAL_STATUSES:
            outcome, reason = str(status), item.get("statusReason")
        elif letters:
            outcome = "DLQ"
            reason = item.get("lastError") or next((d.reason for d in letters if d.reason), None)
        else:
            outcome, reason = "PENDING", item.get("lastError")
        rows.append(LedgerRow(s.key, s.order_id, s.fault, outcome, status, reason, applied, len(letters)))

        if outcome == "PENDING":
            problems.append(
                f"order {s.order_id} ({s.fault or 'no fault'}) is still PENDING and not in the DLQ"
                + (f" (last error: {reason})" if reason else "")
            )
        if outcome == "DLQ" and not reason:
            problems.append(f"order {s.order_id} is in the DLQ without a reason")
        if outcome in FINAL_STATUSES and applied != 1:
            problems.append(f"order {s.order_id} is {outcome} but its decision was applied {applied} time(s)")
        if outcome == "DLQ" and applied:
            problems.append(f"order {s.order_id} is in the DLQ yet a decision was applied {applied} time(s)")
        if letters and outcome in FINAL_STATUSES:
            problems.append(
                f"order {s.order_id} ({s.fault or 'no fault'}) is {outcome} and also in the DLQ "
                f"({len(letters)} message(s), received {max(d.receive_count for d in letters)} times; "
                f"decided on receive {item.get('attempts')}, failed receives noted "
                f"{item.get('failedAttempts', 0)}, last error {item.get('lastError')!r})"
            )
        if len(letters) > 1 and s.fault != "poison":
            problems.append(f"order {s.order_id} is in the DLQ {len(letters)} times")
        if s.fault == "poison" and outcome != "DLQ":
            problems.append(f"poison order {s.order_id} ended {outcome}, not in the DLQ")
        if s.fault != "poison" and outcome == "DLQ":
            problems.append(f"order {s.order_id} ({s.fault or 'no fault'}) ended in the DLQ: {reason}")

    poison = sum(1 for r in rows if r.fault == "poison" and r.outcome != "NOT_ACCEPTED")
    dlq_orders = sum(1 for r in rows if r.dead_letters)
    if dlq_orders != poison:
        problems.append(f"the DLQ holds {dlq_orders} of this run's orders, but {poison} poison order(s) were sent")
    if stream_failures:
        problems.append(f"the stream mapping gave up on {stream_failures} batch(es) (stream-failures queue)")
    if alert is not None:
        if not alert.alarm_fired:
            problems.append(f"the DLQ alarm {alert.alarm_name} did not fire {alert.detail}".rstrip())
        if not alert.alert_arrived:
            problems.append(f"the alert of {alert.alarm_name} did not arrive {alert.detail}".rstrip())
    return Ledger(rows, problems, foreign_dead_letters=foreign, stream_failures=stream_failures, alert=alert)


def _body(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def read_queue(
    lab: Lab, queue_url: str, *, hold_seconds: int = 30, max_messages: int = 100_000
) -> list[dict[str, Any]]:
    """Every message of a queue, each once, then leave them all where they were.

    Receives with a visibility timeout of ``hold_seconds`` (so a message is not seen twice)
    until two empty receives, then makes them visible again at once
    (ChangeMessageVisibilityBatch, timeout 0). Only for queues nobody consumes, such as a
    dead-letter queue: a receive counts towards a redrive policy's maxReceiveCount.
    Returns ``{"messageId", "body" (parsed JSON when it is), "receiveCount", "attributes"}``.
    """
    sqs = lab.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    handles: list[tuple[str, str]] = []
    empty = 0
    try:
        while empty < 2 and len(seen) < max_messages:
            reply = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=0 if seen else 1,
                MessageSystemAttributeNames=["All"],
            )
            messages = reply.get("Messages", [])
            empty = 0 if messages else empty + 1
            for message in messages:
                handles.append((message["MessageId"], message["ReceiptHandle"]))
                attributes = message.get("Attributes", {})
                seen.setdefault(
                    message["MessageId"],
                    {
                        "messageId": message["MessageId"],
                        "body": _body(message.get("Body", "")),
                        "receiveCount": int(attributes.get("ApproximateReceiveCount", 0)),
                        "attributes": attributes,
                    },
                )
    finally:
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, (_, handle) in enumerate(handles[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return list(seen.values())


def dead_letters(lab: Lab, dlq_url: str) -> list[DeadLetter]:
    """The dead-letter queue's messages as :class:`DeadLetter` (the order message the worker failed on)."""
    letters = []
    for message in read_queue(lab, dlq_url):
        body = message["body"] if isinstance(message["body"], dict) else {}
        letters.append(
            DeadLetter(
                message["messageId"],
                body.get("orderId"),
                body.get("fault"),
                message["receiveCount"],
                body.get("reason") or body.get("error"),
            )
        )
    return letters


def _stream_failures(lab: Lab, url: str, since: float) -> int:
    """Batches the stream mapping gave up on since ``since`` (epoch s): its on-failure records."""
    return sum(1 for m in read_queue(lab, url) if _as_int(m["attributes"].get("SentTimestamp")) >= since * 1000)


def wait_until_settled(
    lab: Lab,
    table_name: str,
    queues: OrderQueues,
    sent: Iterable[SentOrder],
    *,
    max_receive_count: int,
    timeout: float = 120,
    interval: float = 0.5,
) -> dict[str, Any]:
    """Wait until nothing more will happen to the run's orders; return what was seen last.

    Settled: every accepted order without a poison fault is final, every poison order reached
    the worker (it notes ``failedAttempts`` on the order), and the order queue is empty — so
    each poison order's message has moved on to the DLQ. ``max_receive_count`` only shapes the
    message on timeout. Raises :class:`~helpers.core.waiters.WaitTimeout` naming what is still open.
    """
    accepted = [s for s in sent if s.accepted]
    poison = {s.order_id for s in accepted if s.fault == "poison"}
    ids = [s.order_id for s in accepted if s.order_id is not None]
    sqs = lab.client("sqs")
    deadline = time.monotonic() + timeout
    settled: set[str] = set()
    state: dict[str, Any] = {}
    while True:
        open_ids = [i for i in ids if i not in settled]
        for order_id, item in get_orders(lab, table_name, open_ids).items():
            if order_id in poison:
                if _as_int(item.get("failedAttempts")) >= 1:
                    settled.add(order_id)
            elif item.get("status") in FINAL_STATUSES:
                settled.add(order_id)
        attributes = sqs.get_queue_attributes(
            QueueUrl=queues.queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        queued = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        state = {"open_orders": len(ids) - len(settled), "order_queue": queued}
        if len(settled) == len(ids) and queued == 0:
            return state
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            still = [i for i in ids if i not in settled][:5]
            detail = (
                f"e.g. {', '.join(str(i) for i in still)}"
                if still
                else f"the order queue is not empty (a poison message needs {max_receive_count} failed receives, "
                "and a batch whose worker died waits out the queue's visibility timeout)"
            )
            raise WaitTimeout(f"the {len(ids)} orders of the run to settle", timeout, state, detail=detail)
        time.sleep(min(interval, remaining))


def collect(
    lab: Lab, table_name: str, queues: OrderQueues, sent: Sequence[SentOrder], *, alert: AlertEvidence | None = None
) -> Ledger:
    """Read the orders (consistent BatchGetItem), the DLQ and the stream-failures queue; :func:`account`.

    Stream failures count from the run's first POST (earlier ones belong to other runs).
    """
    items = get_orders(lab, table_name, [s.order_id for s in sent if s.accepted and s.order_id is not None])
    since = min((s.sent_at for s in sent), default=0.0)
    return account(
        sent,
        items,
        dead_letters(lab, queues.dlq.url),
        stream_failures=_stream_failures(lab, queues.stream_failures.url, since),
        alert=alert,
    )


class DlqAlarmWatch:
    """The DLQ alarm and its alert around a run (step 6's alarm, SNS topic and ``alert-inbox`` queue).

    Before the run it notes the alarm's state and reads the alerts already waiting (so they are
    not mistaken for this run's); after, :meth:`evidence` waits (bounded) for the alarm to be in
    ALARM and for the ALARM alert to arrive. ``ready`` is False when step 6 is not deployed:
    then :meth:`evidence` returns None (nothing to check).

    >>> watch = DlqAlarmWatch(lab)                         # doctest: +SKIP
    >>> result = send_orders(api, plan)                    # doctest: +SKIP
    >>> watch.evidence(timeout=60).alarm_fired             # doctest: +SKIP
    True
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        status = alerting_status(lab)
        self.ready = bool(status["ready"])
        self.missing: list[str] = list(status["missing"])
        self.alarm_name: str = status["alarms"]["dlq"]["name"] if "dlq" in status["alarms"] else ""
        self.started = utcnow()
        self.state_before: str | None = None
        self.inbox = None
        if self.ready:
            self.state_before = alarm_state(lab, self.alarm_name).get("StateValue")
            self.inbox = AlertInbox(lab, status["inbox"]["url"])
            self.inbox.poll(wait_seconds=0)

    def evidence(self, *, timeout: float) -> AlertEvidence | None:
        """Wait for the alarm to be ALARM and its alert (since the run began); None without step 6."""
        if not self.ready or self.inbox is None:
            return None
        fired, arrived, detail = False, False, ""
        try:
            wait_for_alarm_state(self.lab, self.alarm_name, "ALARM", timeout=timeout)
            fired = True
        except WaitTimeout as error:
            detail = str(error)
        if self.state_before == "ALARM":
            # Already in ALARM before the run (the DLQ held older messages): no new transition, no new alert.
            arrived = self.inbox.find(self.alarm_name, "ALARM") is not None or fired
            detail = detail or "the alarm was already in ALARM before the run"
        elif fired:
            try:
                self.inbox.wait_for(self.alarm_name, "ALARM", timeout=timeout, since=self.started)
                arrived = True
            except WaitTimeout as error:
                detail = str(error)
        return AlertEvidence(self.alarm_name, fired, arrived, detail)
