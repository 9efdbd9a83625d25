"""The in-process event bus through which one service observes another.

Services publish typed events (``services/<service>/events.py``) and subscribe to others'; delivery
is synchronous, on the publisher's thread and context (docs/local-cloud-services.md).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Pinged:
...     count: int
>>> bus = EventBus()
>>> seen = []
>>> bus.subscribe(Pinged, seen.append)
>>> bus.publish(Pinged(3))
>>> seen
[Pinged(count=3)]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("localcloud.events")

EventT = TypeVar("EventT")


class EventBus:
    """Subscribers per event type; publishing an event nobody listens to costs one dict look-up."""

    def __init__(self) -> None:
        self._subscribers: dict[type, tuple[Callable[[Any], None], ...]] = {}

    def subscribe(self, event_type: type[EventT], handler: Callable[[EventT], None]) -> None:
        """Call ``handler(event)`` for every published ``event_type``; subscribing twice is a no-op."""
        current = self._subscribers.get(event_type, ())
        if handler not in current:
            self._subscribers[event_type] = (*current, handler)

    def wants(self, event_type: type) -> bool:
        """Whether anyone listens to ``event_type`` (to skip building an event nobody reads)."""
        return event_type in self._subscribers

    def publish(self, event: object) -> None:
        """Deliver ``event`` to its type's subscribers; one that raises is logged, never the publisher's failure."""
        for handler in self._subscribers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                logger.exception("a subscriber to %s failed", type(event).__name__)

    def clear(self) -> None:
        """Forget every subscriber (tests)."""
        self._subscribers.clear()


bus = EventBus()
"""The local cloud's one bus."""
