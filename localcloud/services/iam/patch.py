"""Hooks the IAM response fixes into MiniStack (policy enforcement is separate: :mod:`.enforcement`)."""

from __future__ import annotations

from localcloud.services.iam import responses


def apply() -> None:
    """Apply the IAM response fixes; e.g. ``apply()`` twice is a no-op."""
    responses.apply()
