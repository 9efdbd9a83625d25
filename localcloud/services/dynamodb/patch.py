"""Hooks the DynamoDB fixes (request rules, stream records) into MiniStack."""

from __future__ import annotations

from localcloud.services.dynamodb import requests, streams


def apply() -> None:
    """Apply the DynamoDB fixes; e.g. ``apply()`` twice is a no-op."""
    requests.apply()
    streams.apply()
