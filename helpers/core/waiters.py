"""Bounded waiting: poll until something is true, or fail saying what was awaited.

Never sleep blindly: every wait has a timeout, and a timeout says what it waited for,
for how long, and what it saw last.

>>> calls = iter([None, None, "ready"])
>>> wait_until(lambda: next(calls), timeout=5, interval=0.01, what="the thing to be ready")
'ready'
>>> wait_until(lambda: False, timeout=0.2, interval=0.05, what="pigs to fly")
Traceback (most recent call last):
...
helpers.core.waiters.WaitTimeout: Timed out after 0.2s waiting for pigs to fly (last state: False)

Where boto3 has a waiter, the thin wrappers below use it with a ``WaiterConfig`` derived
from a timeout, and turn its errors into :class:`WaitTimeout` / :class:`WaitFailed`::

    wait_table_active(lab.client("dynamodb"), "alice-orders", timeout=120)
    wait_function_updated(lab.client("lambda"), "alice-create-order", timeout=120)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import WaiterError

T = TypeVar("T")

__all__ = [
    "ResourceWait",
    "WaitFailed",
    "WaitTimeout",
    "boto_wait",
    "wait_function_active",
    "wait_function_updated",
    "wait_table_active",
    "wait_table_deleted",
    "wait_until",
    "waiter_config",
]


class WaitTimeout(TimeoutError):
    """A bounded wait ran out of time. ``what``, ``timeout`` and ``last_state`` say more."""

    def __init__(self, what: str, timeout: float, last_state: Any = None, detail: str = "") -> None:
        self.what = what
        self.timeout = timeout
        self.last_state = last_state
        message = f"Timed out after {timeout:.1f}s waiting for {what} (last state: {last_state!r})"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class WaitFailed(RuntimeError):
    """What we waited for reached a state it will not leave (e.g. a Lambda function ``Failed``)."""


def wait_until(
    check: Callable[[], T | bool | None],
    *,
    timeout: float,
    interval: float = 0.25,
    what: str,
    max_interval: float | None = None,
    growth: float = 1.5,
    on_wait: Callable[[], object] | None = None,
) -> T:
    """Call ``check`` until it returns something truthy; return that value. The lab's one polling loop.

    ``check`` is called at once, then every ``interval`` seconds (multiplied by ``growth`` each time
    up to ``max_interval`` if given), never past ``timeout``; ``on_wait`` (e.g. a progress bar) is
    called after each falsy answer. Exceptions from ``check`` propagate. On timeout raises
    :class:`WaitTimeout` with the last value ``check`` returned.

    >>> wait_until(lambda: 42, timeout=1, what="the answer")
    42
    """
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0, got {timeout}")
    deadline = time.monotonic() + timeout
    delay = max(interval, 0.001)
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if on_wait is not None:
            on_wait()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, timeout, last)
        time.sleep(min(delay, remaining))
        if max_interval is not None:
            delay = min(delay * growth, max_interval)


def waiter_config(timeout: float, delay: float = 1.0) -> dict[str, float | int]:
    """A boto3 ``WaiterConfig`` that polls every ``delay`` seconds for about ``timeout`` seconds.

    >>> waiter_config(30, delay=2)
    {'Delay': 2, 'MaxAttempts': 16}
    """
    if timeout <= 0 or delay <= 0:
        raise ValueError("timeout and delay must be positive")
    return {"Delay": delay, "MaxAttempts": max(1, math.ceil(timeout / delay) + 1)}


def _last_state(error: WaiterError) -> Any:
    response: dict[str, Any] = dict(error.last_response or {})
    if "Error" in response:
        return response["Error"].get("Code")
    for key in ("Table", "Configuration"):
        if key in response:  # DescribeTable / GetFunction
            body = response[key]
            return {
                k: body.get(k)
                for k in ("TableStatus", "State", "StateReason", "LastUpdateStatus", "LastUpdateStatusReason")
                if k in body
            }
    if "State" in response:  # GetFunctionConfiguration
        return {
            k: response.get(k)
            for k in ("State", "StateReason", "LastUpdateStatus", "LastUpdateStatusReason")
            if k in response
        }
    return None


def boto_wait(client: Any, waiter_name: str, *, timeout: float, what: str, delay: float = 1.0, **params: Any) -> None:
    """Run boto3 waiter ``waiter_name`` within ``timeout`` seconds.

    Raises :class:`WaitTimeout` when it runs out of attempts and :class:`WaitFailed` when the
    waiter hits a failure state (the message carries the resource's last reported state).

    >>> boto_wait(lab.client("lambda"), "function_active_v2", FunctionName="f",   # doctest: +SKIP
    ...           timeout=60, what="function f to become Active")
    """
    try:
        client.get_waiter(waiter_name).wait(**params, WaiterConfig=waiter_config(timeout, delay))
    except WaiterError as error:
        state = _last_state(error)
        if "Max attempts exceeded" in str(error.kwargs.get("reason", error)):
            raise WaitTimeout(what, timeout, state) from error
        raise WaitFailed(
            f"Gave up waiting for {what}: {error.kwargs.get('reason', error)} (last state: {state!r})"
        ) from error


@dataclass(frozen=True)
class ResourceWait:
    """A boto3 waiter on one named resource; ``what`` names the wait, ``{}`` standing for the resource.

    >>> ResourceWait("table_exists", "TableName", "DynamoDB table {} to become ACTIVE").what.format("t")
    'DynamoDB table t to become ACTIVE'
    >>> wait_table_active(lab.client("dynamodb"), "alice-orders", timeout=120)   # doctest: +SKIP
    """

    waiter_name: str
    parameter: str
    what: str

    def __call__(self, client: Any, name: str, *, timeout: float = 300, delay: float = 1.0) -> None:
        boto_wait(
            client,
            self.waiter_name,
            timeout=timeout,
            delay=delay,
            what=self.what.format(name),
            **{self.parameter: name},
        )


wait_table_active = ResourceWait("table_exists", "TableName", "DynamoDB table {} to become ACTIVE")
wait_table_deleted = ResourceWait("table_not_exists", "TableName", "DynamoDB table {} to be deleted")
wait_function_active = ResourceWait("function_active_v2", "FunctionName", "Lambda function {} to become Active")
wait_function_updated = ResourceWait(
    "function_updated_v2", "FunctionName", "the update of Lambda function {} to finish"
)
