"""Hooks the SQS fixes, and the reports other services count, into MiniStack."""

from __future__ import annotations

from localcloud.services.sqs import reporting, responses


def apply() -> None:
    """Apply the SQS fixes; e.g. ``apply()`` twice is a no-op."""
    responses.apply()
    reporting.apply()
