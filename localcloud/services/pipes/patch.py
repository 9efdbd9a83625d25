"""Hooks the EventBridge Pipes runtime into MiniStack."""
from __future__ import annotations

from localcloud.services.pipes import runtime


def apply() -> None:
    """Apply the Pipes fixes; e.g. ``apply()`` twice is a no-op."""
    runtime.apply()
