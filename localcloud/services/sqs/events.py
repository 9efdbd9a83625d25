"""What SQS tells other services (through :data:`localcloud.events.bus`).

``queue`` is MiniStack's record of the queue (``attributes``, ``messages``), as it is after the action.

>>> MessagesDeleted({"attributes": {}}, 2).count
2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MessageSent:
    """A message was appended to ``queue``: by SendMessage (``message_id`` given) or another service."""

    queue: dict[str, Any]
    message_id: str | None = None


@dataclass(frozen=True)
class MessagesReceived:
    """``count`` messages were received (0: an empty receive of the API)."""

    queue: dict[str, Any]
    count: int


@dataclass(frozen=True)
class MessagesDeleted:
    queue: dict[str, Any]
    count: int


@dataclass(frozen=True)
class QueueAccessed:
    """An action touched ``queue`` without sending, receiving or deleting (it stays active)."""

    queue: dict[str, Any]


@dataclass(frozen=True)
class MessagesDeadLettered:
    """``messages`` (the last ones of ``dead_letter_queue`` now) were moved there by the redrive policy."""

    dead_letter_queue: dict[str, Any]
    messages: list[dict[str, Any]]
