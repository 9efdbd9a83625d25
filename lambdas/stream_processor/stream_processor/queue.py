"""The order queue: the :class:`OrderQueue` protocol, its SQS implementation, bounded retries.

Entries cross this boundary as ``SendMessageBatch`` entries (``Id``, ``MessageBody``,
``MessageAttributes``); what comes back is the list of entries SQS did *not* take::

    import boto3
    queue = SqsOrderQueue("https://sqs.us-east-1.amazonaws.com/123456789012/orders", boto3.client("sqs"))
    still_failed = send_with_retries(queue, entries)  # [] when every entry was accepted

``SendMessageBatch`` succeeds as a call even when some entries fail (``Failed`` in the
response): :func:`send_with_retries` sends only those again, a few times, with a short
exponential backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["FailedEntry", "OrderQueue", "SqsOrderQueue", "send_with_retries"]


@dataclass(frozen=True)
class FailedEntry:
    """One entry SQS did not accept. ``sender_fault`` True means retrying cannot help
    (the request itself is wrong); False means it can (SQS-side problem)."""

    id: str
    code: str
    message: str = ""
    sender_fault: bool = False


class OrderQueue(Protocol):
    """Where order messages go."""

    def send_batch(self, entries: Sequence[Mapping[str, Any]]) -> list[FailedEntry]:
        """Send 1-10 entries in one ``SendMessageBatch`` call; return the ones that failed."""
        ...


class SqsOrderQueue:
    """:class:`OrderQueue` backed by an SQS queue (standard queue).

    ``client`` is a ``boto3.client("sqs")``. An entry that SQS reports neither as
    ``Successful`` nor as ``Failed`` is treated as failed: nothing is dropped silently.
    Errors of the call itself (throttling after boto3's own retries, access denied...) are
    raised.
    """

    def __init__(self, queue_url: str, client: Any) -> None:
        if not queue_url:
            raise ValueError("queue_url is required")
        self.queue_url = queue_url
        self._client = client

    def send_batch(self, entries: Sequence[Mapping[str, Any]]) -> list[FailedEntry]:
        """One ``SendMessageBatch`` call; return the entries that were not accepted."""
        if not entries:
            return []
        response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=[dict(e) for e in entries])
        failed = [
            FailedEntry(
                id=entry["Id"],
                code=entry.get("Code", ""),
                message=entry.get("Message", ""),
                sender_fault=bool(entry.get("SenderFault", False)),
            )
            for entry in response.get("Failed") or []
        ]
        accepted = {entry["Id"] for entry in response.get("Successful") or []}
        reported = accepted | {entry.id for entry in failed}
        failed.extend(
            FailedEntry(id=entry["Id"], code="NotReported", message="SQS reported neither success nor failure")
            for entry in entries
            if entry["Id"] not in reported
        )
        return failed


def send_with_retries(
    queue: OrderQueue,
    entries: Sequence[Mapping[str, Any]],
    *,
    max_attempts: int = 3,
    base_delay: float = 0.1,
    sleep: Callable[[float], Any] = time.sleep,
) -> list[FailedEntry]:
    """Send ``entries`` (at most 10) and retry only the failed ones; return what still failed.

    At most ``max_attempts`` calls; before retry ``n`` it sleeps ``base_delay * 2 ** (n - 1)``
    (0.1 s, then 0.2 s by default). Entries failed with ``SenderFault`` are not retried (the
    same request would fail again). Exceptions from the queue propagate.

    >>> class FlakyQueue:
    ...     calls = []
    ...     def send_batch(self, entries):
    ...         self.calls.append([e["Id"] for e in entries])
    ...         return [FailedEntry("b", "ServiceUnavailable")] if len(self.calls) == 1 else []
    >>> queue = FlakyQueue()
    >>> send_with_retries(queue, [{"Id": "a"}, {"Id": "b"}], sleep=lambda seconds: None)
    []
    >>> queue.calls
    [['a', 'b'], ['b']]
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    pending = list(entries)
    permanent: list[FailedEntry] = []
    attempt = 0
    while pending:
        attempt += 1
        failed = queue.send_batch(pending)
        permanent.extend(entry for entry in failed if entry.sender_fault)
        retryable = [entry for entry in failed if not entry.sender_fault]
        if not retryable or attempt >= max_attempts:
            return permanent + retryable
        sleep(base_delay * 2 ** (attempt - 1))
        retry_ids = {entry.id for entry in retryable}
        pending = [entry for entry in pending if entry["Id"] in retry_ids]
    return permanent
