"""AlertInbox.find: which alert of those already read answers a wait (no cloud needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers.ops.observability import Alert, AlertInbox

T0 = datetime(2026, 11, 26, 0, 15, 49, 400000, tzinfo=UTC)


def alert(old: str, new: str, at: datetime) -> Alert:
    return Alert(
        alarm_name="a-dlq",
        new_state=new,
        old_state=old,
        reason="Threshold Crossed",
        state_change_time=at,
        subject=f"{new}: a-dlq",
        topic_arn="arn:aws:sns:us-east-1:1:t",
        message_id=f"{old}-{new}",
        message={},
        envelope={},
    )


def test_recovery_from_alarm_is_not_the_first_evaluation_a_moment_before() -> None:
    # As seen in CI: the first evaluation (INSUFFICIENT_DATA -> OK) and the firing 0.6 s apart.
    inbox = AlertInbox(lab=None, queue_url="q")  # type: ignore[arg-type]
    fired = alert("OK", "ALARM", T0 + timedelta(seconds=0.6))
    inbox.alerts = [alert("INSUFFICIENT_DATA", "OK", T0), fired, alert("ALARM", "OK", T0 + timedelta(seconds=5))]

    assert inbox.find("a-dlq", "OK", since=fired.state_change_time).old_state == "INSUFFICIENT_DATA"
    assert inbox.find("a-dlq", "OK", since=fired.state_change_time, from_state="ALARM").old_state == "ALARM"
    assert inbox.find("a-dlq", "ALARM", from_state="INSUFFICIENT_DATA") is None
