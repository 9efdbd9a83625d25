"""Hooks the CloudWatch Logs fixes (compact storage, EMF, identifiers) into MiniStack."""

from __future__ import annotations

from localcloud.services.logs import responses


def apply() -> None:
    """Apply the CloudWatch Logs fixes; e.g. ``apply()`` twice is a no-op."""
    responses.apply()
