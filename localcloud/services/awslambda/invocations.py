"""Every Lambda invocation, reported once as a :class:`~.events.FunctionInvoked` on the event bus.

MiniStack's ``_execute_function`` is where every invocation passes (direct Invoke, mappings,
asynchronous invokes, API Gateway, Pipes); wrapped with :func:`make_execute_function`.

>>> tracker = Concurrency()
>>> tracker.enter(("1", "us-east-1", "f")), tracker.enter(("1", "us-east-1", "g"))
((1, 1), (1, 2))
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from localcloud.events import bus
from localcloud.services.awslambda.events import FunctionInvoked
from localcloud.services.awslambda.runtime import started_environment_init_ms

logger = logging.getLogger("localcloud.lambda")

FunctionKey = tuple[str, str, str]  # account, region, function name


class Concurrency:
    """Invocations running now, per function."""

    def __init__(self) -> None:
        self._running: dict[FunctionKey, int] = {}
        self._lock = threading.Lock()

    def enter(self, key: FunctionKey) -> tuple[int, int]:
        """Count one more for ``key``; returns (this function's, its account and region's) running."""
        with self._lock:
            self._running[key] = self._running.get(key, 0) + 1
            total = sum(v for k, v in self._running.items() if k[:2] == key[:2])
            return self._running[key], total

    def leave(self, key: FunctionKey) -> None:
        with self._lock:
            left = self._running.get(key, 0) - 1
            if left > 0:
                self._running[key] = left
            else:
                self._running.pop(key, None)


concurrency = Concurrency()
_in_execution: contextvars.ContextVar[bool] = contextvars.ContextVar("orderlab_lambda_in_execution", default=False)


def function_key(config: dict[str, Any]) -> FunctionKey:
    """(account, region, name) of a function configuration (the request's scope when its ARN has none)."""
    from ministack.core.responses import get_account_id, get_region

    parts = str(config.get("FunctionArn") or "").split(":")
    name = str(config.get("FunctionName") or (parts[6] if len(parts) > 6 else "unknown"))
    if len(parts) > 6 and parts[2] == "lambda":
        return parts[4], parts[3], name
    return get_account_id(), get_region(), name


def make_execute_function(original: Callable[..., Any]) -> Callable[..., Any]:
    def _execute_function(func: dict, event: dict) -> dict:
        # MiniStack re-enters _execute_function to switch to the function's account scope:
        # only the outermost call is one invocation.
        if _in_execution.get():
            return original(func, event)
        config = func.get("config") or func
        key = function_key(config)
        token = _in_execution.set(True)
        started = time.time()
        running = concurrency.enter(key)
        init_token = started_environment_init_ms.set(None)
        try:
            result = original(func, event)
        finally:
            _in_execution.reset(token)
            concurrency.leave(key)
        # AWS's Duration is the handler's time: a cold start's init is its own figure (Init Duration).
        elapsed_ms = max(0.0, (time.time() - started) * 1000.0 - (started_environment_init_ms.get() or 0.0))
        started_environment_init_ms.reset(init_token)
        bus.publish(FunctionInvoked(config, result, started, elapsed_ms, running[0], running[1]))
        return result

    return _execute_function
