"""Hooks the SNS fixes (errors, subscriptions, e-mail) into MiniStack, and reports SQS deliveries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localcloud.events import bus
from localcloud.patches import wrap
from localcloud.services.sns import responses
from localcloud.services.sns.events import DeliveredToQueue


def make_deliver_to_sqs(original: Callable[..., Any]) -> Callable[..., Any]:
    def _deliver_to_sqs(endpoint: str, *args: Any, **kwargs: Any) -> Any:
        result = original(endpoint, *args, **kwargs)
        bus.publish(DeliveredToQueue(endpoint))
        return result

    return _deliver_to_sqs


def apply() -> None:
    """Apply the SNS fixes; e.g. ``apply()`` twice is a no-op."""
    from ministack.services import sns

    responses.apply()
    wrap(sns, "_deliver_to_sqs", make_deliver_to_sqs)
