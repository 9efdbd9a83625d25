"""Hooks the SNS fixes (errors, subscriptions, e-mail) into MiniStack."""
from __future__ import annotations

from localcloud.services.sns import responses


def apply() -> None:
    """Apply the SNS fixes; e.g. ``apply()`` twice is a no-op."""
    responses.apply()
