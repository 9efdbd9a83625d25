"""What SNS tells other services (through :data:`localcloud.events.bus`).

>>> DeliveredToQueue("arn:aws:sqs:us-east-1:000000000000:q").queue_arn.endswith(":q")
True
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveredToQueue:
    """A notification was appended to the SQS queue ``queue_arn`` (an ``sqs`` subscription)."""

    queue_arn: str
