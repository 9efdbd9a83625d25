"""Hooks the API Gateway (HTTP API) fixes into MiniStack."""
from __future__ import annotations

from localcloud.services.apigateway import responses


def apply() -> None:
    """Apply the API Gateway fixes; e.g. ``apply()`` twice is a no-op."""
    responses.apply()
