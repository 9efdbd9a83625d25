"""What API Gateway tells other services (through :data:`localcloud.events.bus`).

>>> HttpApiRequestServed("1", "us-east-1", "api", "$default", 201, 0.0, 4.0, None, 12).status
201
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpApiRequestServed:
    """An ``execute-api`` request to an HTTP API was answered.

    ``integration_ms`` is the time its Lambda integration ran, None when no function ran;
    ``size`` the bytes of request and response body.
    """

    account: str
    region: str
    api_id: str
    stage: str
    status: int
    started: float
    latency_ms: float
    integration_ms: float | None
    size: int
