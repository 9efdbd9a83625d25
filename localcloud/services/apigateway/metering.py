"""Each ``execute-api`` request reported as an :class:`~.events.HttpApiRequestServed` on the event bus.

The Lambda time inside a request comes from the Lambda service's :class:`FunctionInvoked`
reports, delivered on the request's own context.

>>> timing = IntegrationTiming()
>>> on_function_invoked_in(timing, 2.5); on_function_invoked_in(timing, 1.0); timing.ms
3.5
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from typing import Any

from localcloud.events import bus
from localcloud.services.apigateway.events import HttpApiRequestServed
from localcloud.services.awslambda.events import FunctionInvoked


class IntegrationTiming:
    """The Lambda time of one request; ``ms`` is None until a function ran."""

    def __init__(self) -> None:
        self.ms: float | None = None


def on_function_invoked_in(timing: IntegrationTiming, elapsed_ms: float) -> None:
    timing.ms = (timing.ms or 0.0) + elapsed_ms


_timing: contextvars.ContextVar[IntegrationTiming | None] = contextvars.ContextVar(
    "orderlab_apigateway_integration", default=None
)


def on_function_invoked(event: FunctionInvoked) -> None:
    timing = _timing.get()
    if timing is not None:
        on_function_invoked_in(timing, event.elapsed_ms)


def make_handle_execute(apigateway: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        async def handle_execute(api_id, stage, path, method, headers, body, query_params, *args: Any, **kwargs: Any):
            scope = apigateway.find_api_scope(api_id)
            timing = IntegrationTiming()
            token = _timing.set(timing)
            started = time.time()
            status, size = 500, len(body or b"")
            try:
                response = await original(api_id, stage, path, method, headers, body, query_params, *args, **kwargs)
                status = int(response[0])
                size += len(response[2] or b"") if isinstance(response[2], (bytes, bytearray, str)) else 0
                return response
            finally:
                _timing.reset(token)
                if scope is not None:
                    account, region = scope
                    bus.publish(
                        HttpApiRequestServed(
                            account,
                            region,
                            api_id,
                            stage,
                            status,
                            started,
                            (time.time() - started) * 1000.0,
                            timing.ms,
                            size,
                        )
                    )

        return handle_execute

    return make
