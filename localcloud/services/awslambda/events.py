"""What the Lambda service tells other services (through :data:`localcloud.events.bus`).

>>> invoked = FunctionInvoked({"FunctionName": "f"}, {}, started=0.0, elapsed_ms=3.5,
...                           concurrent=1, concurrent_in_region=2)
>>> invoked.elapsed_ms
3.5
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FunctionInvoked:
    """One invocation finished (direct Invoke, event source mapping, asynchronous, API Gateway, Pipes).

    ``config`` is the function's configuration, ``result`` MiniStack's outcome (``throttle`` /
    ``error`` keys), ``concurrent`` the invocations of this function running when it started (itself
    included), ``concurrent_in_region`` those of every function of its account and region.
    """

    config: dict[str, Any]
    result: Any
    started: float
    elapsed_ms: float
    concurrent: int
    concurrent_in_region: int
