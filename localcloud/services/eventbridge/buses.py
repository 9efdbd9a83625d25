"""EventBridge event buses, named or given by ARN."""

from __future__ import annotations


def bus_name(name_or_arn: str) -> str:
    """``EventBusName`` takes a name or an ARN.

    >>> bus_name("arn:aws:events:eu-west-1:123456789012:event-bus/orders")
    'orders'
    """
    return name_or_arn.rpartition("event-bus/")[2] if name_or_arn.startswith("arn:") else name_or_arn
