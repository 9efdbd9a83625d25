"""Message visibility: the :class:`MessageVisibility` protocol and its SQS implementation.

The worker shortens a failed message's visibility timeout so its retry comes after a short,
growing backoff instead of the queue's full visibility timeout::

    import boto3
    visibility = SqsMessageVisibility("https://sqs.us-east-1.amazonaws.com/123456789012/orders", boto3.client("sqs"))
    visibility.change_visibility(record.receipt_handle, 4)  # back on the queue in ~4 s
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["MessageVisibility", "SqsMessageVisibility"]


class MessageVisibility(Protocol):
    """Changes when a received message becomes visible again."""

    def change_visibility(self, receipt_handle: str, timeout_seconds: int) -> None:
        """Make the message visible again ``timeout_seconds`` from now."""
        ...


class SqsMessageVisibility:
    """:class:`MessageVisibility` for one SQS queue (``client`` is a ``boto3.client("sqs")``)."""

    def __init__(self, queue_url: str, client: Any) -> None:
        if not queue_url:
            raise ValueError("queue_url is required")
        self.queue_url = queue_url
        self._client = client

    def change_visibility(self, receipt_handle: str, timeout_seconds: int) -> None:
        """Call ``ChangeMessageVisibility``; errors are raised (the caller decides)."""
        self._client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=int(timeout_seconds)
        )
