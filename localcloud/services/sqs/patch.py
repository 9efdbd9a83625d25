"""Hooks the SQS fixes into MiniStack."""
from __future__ import annotations

from localcloud.services.sqs import responses


def apply() -> None:
    """Apply the SQS fixes; e.g. ``apply()`` twice is a no-op."""
    responses.apply()
