"""Hooks the API Gateway (HTTP API) fixes into MiniStack."""

from __future__ import annotations

from localcloud.events import bus
from localcloud.patches import wrap
from localcloud.services.apigateway import metering, responses
from localcloud.services.awslambda.events import FunctionInvoked


def apply() -> None:
    """Apply the API Gateway fixes; e.g. ``apply()`` twice is a no-op."""
    from ministack.services import apigateway

    responses.apply()
    wrap(apigateway, "handle_execute", metering.make_handle_execute(apigateway))
    bus.subscribe(FunctionInvoked, metering.on_function_invoked)
