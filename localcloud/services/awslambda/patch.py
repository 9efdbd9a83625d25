"""Hooks the Lambda service's fixes into MiniStack (runtime first: the service patch edits its workers)."""
from __future__ import annotations

from localcloud.services.awslambda import event_sources, filtering, responses, runtime, service


def apply() -> None:
    """Apply the Lambda fixes; e.g. ``apply()`` twice is a no-op."""
    runtime.apply()
    service.apply()
    event_sources.apply()
    filtering.apply()
    responses.apply()
