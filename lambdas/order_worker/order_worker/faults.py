"""Pure fault injection (the lab's ``fault`` switch) and the retry backoff of failed messages.

``TRANSIENT_FAILURES`` (environment, default 2) is how many receives of a ``transient``
order fail, so such an order succeeds on receive ``TRANSIENT_FAILURES + 1``.
``FAULT_INJECTION`` (environment, ``on`` by default) set to ``off`` ignores every order's
``fault``: "the fix" that lets redriven poison orders through::

    >>> from order_worker.messages import parse_message
    >>> order = parse_message('{"orderId": "o-1", "customerId": "c-1", "currency": "EUR", "total": "1.00",'
    ...                       ' "items": [{"sku": "PEN", "quantity": 1, "unitPrice": "1.00"}], "fault": "transient"}')
    >>> inject_fault(order, receive_count=2, transient_failures=2)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    order_worker.errors.TransientFailure: transient failure of order o-1 on receive 2 of 2 failing receives
        (lab fault injection)
    >>> inject_fault(order, receive_count=3, transient_failures=2)  # succeeds: no exception
    >>> [backoff_seconds(n) for n in range(1, 7)]
    [2, 4, 8, 16, 30, 30]

A permanent failure (a poison order) is not worth waiting for: its retry delay is 0 s, so it
reaches the queue's ``maxReceiveCount`` and the dead-letter queue within a second::

    >>> from order_worker.errors import PermanentFailure, PoisonOrder, TransientFailure
    >>> retry_delay_seconds(PoisonOrder("o-1"), 1), retry_delay_seconds(TransientFailure("o-1", 1, 2), 1)
    (0, 2)
"""

from __future__ import annotations

from collections.abc import Mapping

from order_worker.errors import PermanentFailure, PoisonOrder, TransientFailure
from order_worker.messages import OrderMessage
from order_worker.settings import whole_number

__all__ = [
    "DEFAULT_TRANSIENT_FAILURES",
    "MAX_BACKOFF_SECONDS",
    "backoff_seconds",
    "fault_injection_from_env",
    "inject_fault",
    "parse_receive_count",
    "retry_delay_seconds",
    "transient_failures_from_env",
]

DEFAULT_TRANSIENT_FAILURES = 2
MAX_BACKOFF_SECONDS = 30

_ON = frozenset({"on", "true", "1", "yes"})
_OFF = frozenset({"off", "false", "0", "no"})


def inject_fault(order: OrderMessage, *, receive_count: int, transient_failures: int) -> None:
    """Raise the failure the order's ``fault`` asks for on this receive, if any.

    ``poison``: always :class:`~order_worker.errors.PoisonOrder`. ``transient``:
    :class:`~order_worker.errors.TransientFailure` while ``receive_count <= transient_failures``.
    """
    if order.fault == "poison":
        raise PoisonOrder(order.order_id)
    if order.fault == "transient" and receive_count <= transient_failures:
        raise TransientFailure(order.order_id, receive_count, transient_failures)


def backoff_seconds(receive_count: int) -> int:
    """Visibility timeout to give a failed message: ``min(2 ** receive_count, 30)`` seconds.

    So retries come after 2, 4, 8, 16, 30, 30... seconds instead of the queue's full
    visibility timeout.
    """
    exponent = max(receive_count, 0)
    if exponent >= 5:  # 2 ** 5 = 32 > 30; also keeps huge counts cheap
        return MAX_BACKOFF_SECONDS
    return min(2**exponent, MAX_BACKOFF_SECONDS)


def retry_delay_seconds(error: BaseException, receive_count: int) -> int:
    """Visibility timeout to give a message that failed with ``error`` on receive ``receive_count``.

    0 for a :class:`~order_worker.errors.PermanentFailure`: it fails the same way every time, so
    waiting only delays its trip to the DLQ (SQS still counts each receive: the redrive policy,
    not the worker, decides when it moves). Anything else may heal: :func:`backoff_seconds`.
    """
    if isinstance(error, PermanentFailure):
        return 0
    return backoff_seconds(receive_count)


def parse_receive_count(value: str | int | None) -> int:
    """Return SQS's ``ApproximateReceiveCount`` attribute as an int (1 if absent or unreadable).

    >>> parse_receive_count("3"), parse_receive_count(None), parse_receive_count("x")
    (3, 1, 1)
    """
    try:
        count = int(value) if value is not None else 1
    except (TypeError, ValueError):
        return 1
    return max(count, 1)


def transient_failures_from_env(env: Mapping[str, str]) -> int:
    """Read ``TRANSIENT_FAILURES`` (default 2): a whole number >= 0, else ``ValueError``.

    >>> transient_failures_from_env({}), transient_failures_from_env({"TRANSIENT_FAILURES": "0"})
    (2, 0)
    """
    return whole_number(env, "TRANSIENT_FAILURES", DEFAULT_TRANSIENT_FAILURES, minimum=0)


def fault_injection_from_env(env: Mapping[str, str]) -> bool:
    """Read ``FAULT_INJECTION``: ``on`` (the default; also true/1/yes) or ``off`` (false/0/no).

    >>> fault_injection_from_env({}), fault_injection_from_env({"FAULT_INJECTION": "OFF"})
    (True, False)
    """
    raw = env.get("FAULT_INJECTION", "").strip().lower()
    if not raw or raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise ValueError(f"FAULT_INJECTION must be 'on' or 'off', got {env.get('FAULT_INJECTION')!r}")
