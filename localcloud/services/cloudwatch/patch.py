"""Hooks CloudWatch metrics and alarms into MiniStack."""
from __future__ import annotations

from localcloud.services.cloudwatch import runtime


def apply() -> None:
    """Apply the CloudWatch fixes; e.g. ``apply()`` twice is a no-op."""
    runtime.apply()
