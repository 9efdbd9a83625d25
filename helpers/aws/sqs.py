"""SQS queues of the lab: create or converge attributes, redrive policies, tags; counts; IAM statements.

>>> dlq = ensure_queue(lab, "order-dlq", message_retention_seconds=1_209_600)          # doctest: +SKIP
>>> queue = ensure_queue(lab, "order-queue", visibility_timeout=30,                      # doctest: +SKIP
...                      dead_letter_target_arn=dlq.arn, max_receive_count=3)
>>> queue.name, queue.created, queue.updated                                             # doctest: +SKIP
('alice-order-queue', True, ())
>>> queue_counts(lab, queue.url)                                                         # doctest: +SKIP
QueueCounts(visible=0, in_flight=0, delayed=0)

``ensure_queue`` is declarative: the attributes it manages (visibility timeout, long-poll
wait, retention, ``RedrivePolicy``, ``RedriveAllowPolicy``) end up exactly as asked — a
redrive policy that is not asked for is removed — and only the attributes that differ are
sent with ``SetQueueAttributes``. Missing tags are put back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from helpers.aws.common import Ensured, error_code, partition, retry_on, tags_missing

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "MAX_RETENTION_SECONDS",
    "QueueCounts",
    "QueueInfo",
    "describe_queue",
    "ensure_queue",
    "find_queue_url",
    "queue_arn",
    "queue_counts",
    "redrive_allow_policy",
    "redrive_policy",
    "sqs_consumer_statement",
    "sqs_sender_statement",
]

MAX_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum
# AWS: "After you delete a queue, you must wait at least 60 seconds before creating a queue with the same name."
QUEUE_DELETED_RECENTLY_TIMEOUT = 75.0
_NOT_FOUND = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_MANAGED = (
    "VisibilityTimeout",
    "ReceiveMessageWaitTimeSeconds",
    "MessageRetentionPeriod",
    "RedrivePolicy",
    "RedriveAllowPolicy",
)


@dataclass(frozen=True)
class QueueInfo(Ensured):
    """A queue of the lab. ``created``/``updated`` say what this call changed (``updated``: attribute names)."""

    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class QueueCounts:
    """SQS's approximate counts: ``visible`` (waiting), ``in_flight`` (received, not deleted), ``delayed``."""

    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def queue_arn(lab: Lab, component: str) -> str:
    """The ARN queue ``lab.name(component)`` has (or will have): ``arn:aws:sqs:{region}:{account}:{name}``."""
    return f"arn:{partition(lab.region)}:sqs:{lab.region}:{lab.account_id}:{lab.name(component)}"


def redrive_policy(dead_letter_target_arn: str, max_receive_count: int) -> str:
    """The ``RedrivePolicy`` attribute: after ``max_receive_count`` receives, SQS moves a message to the DLQ.

    >>> redrive_policy("arn:aws:sqs:us-east-1:123456789012:alice-order-dlq", 3)
    '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:alice-order-dlq", "maxReceiveCount": 3}'
    >>> redrive_policy("arn:aws:sqs:us-east-1:1:q", 0)
    Traceback (most recent call last):
    ...
    ValueError: maxReceiveCount must be an integer from 1 to 1000, got 0
    """
    if (
        isinstance(max_receive_count, bool)
        or not isinstance(max_receive_count, int)
        or not 1 <= max_receive_count <= 1000
    ):
        raise ValueError(f"maxReceiveCount must be an integer from 1 to 1000, got {max_receive_count!r}")
    _check_queue_arn(dead_letter_target_arn, "dead_letter_target_arn")
    return json.dumps({"deadLetterTargetArn": dead_letter_target_arn, "maxReceiveCount": max_receive_count})


def redrive_allow_policy(source_queue_arns: Iterable[str] | None) -> str:
    """The ``RedriveAllowPolicy`` of a dead-letter queue: which source queues may use it.

    ``None`` allows every queue (SQS's default); a list allows exactly those (1-10 queues).

    >>> redrive_allow_policy(["arn:aws:sqs:us-east-1:1:alice-order-queue"])
    '{"redrivePermission": "byQueue", "sourceQueueArns": ["arn:aws:sqs:us-east-1:1:alice-order-queue"]}'
    >>> redrive_allow_policy(None)
    '{"redrivePermission": "allowAll"}'
    """
    if source_queue_arns is None:
        return json.dumps({"redrivePermission": "allowAll"})
    arns = sorted(set(source_queue_arns))
    if not 1 <= len(arns) <= 10:
        raise ValueError(f"A redrive allow policy names 1 to 10 source queues, got {len(arns)}")
    for arn in arns:
        _check_queue_arn(arn, "redrive_allow_source_arns")
    return json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": arns})


def _check_queue_arn(arn: str, what: str) -> None:
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5]:
        raise ValueError(f"{what}: {arn!r} is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)")


def _canonical_attribute(name: str, value: Any) -> Any:
    """An attribute value in a comparable form (JSON policies parsed, counts as ints).

    >>> _canonical_attribute("RedrivePolicy", '{"maxReceiveCount":"3","deadLetterTargetArn":"a"}')
    {'deadLetterTargetArn': 'a', 'maxReceiveCount': 3}
    >>> _canonical_attribute("RedriveAllowPolicy", None)
    {'redrivePermission': 'allowAll'}
    """
    if name == "RedrivePolicy":
        if not value:
            return None
        policy = json.loads(value) if isinstance(value, str) else dict(value)
        return {
            "deadLetterTargetArn": policy.get("deadLetterTargetArn"),
            "maxReceiveCount": int(policy.get("maxReceiveCount", 0)),
        }
    if name == "RedriveAllowPolicy":
        policy = json.loads(value) if isinstance(value, str) and value else (value or {"redrivePermission": "allowAll"})
        result = {"redrivePermission": policy.get("redrivePermission", "allowAll")}
        if result["redrivePermission"] == "byQueue":
            result["sourceQueueArns"] = sorted(policy.get("sourceQueueArns", []))
        return result
    return str(value) if value is not None else None


def wanted_attributes(
    *,
    visibility_timeout: int,
    receive_wait_time: int,
    message_retention_seconds: int,
    dead_letter_target_arn: str | None,
    max_receive_count: int | None,
    redrive_allow_source_arns: Iterable[str] | None,
) -> dict[str, str]:
    """The queue attributes :func:`ensure_queue` manages, as SQS takes them (strings).

    ``RedrivePolicy`` is ``""`` when no dead-letter queue is wanted (that removes one).

    >>> wanted_attributes(visibility_timeout=30, receive_wait_time=0, message_retention_seconds=345600,
    ...                   dead_letter_target_arn=None, max_receive_count=None,
    ...                   redrive_allow_source_arns=None)  # doctest: +NORMALIZE_WHITESPACE
    {'VisibilityTimeout': '30', 'ReceiveMessageWaitTimeSeconds': '0', 'MessageRetentionPeriod': '345600',
     'RedrivePolicy': '', 'RedriveAllowPolicy': '{"redrivePermission": "allowAll"}'}
    """
    if not 0 <= visibility_timeout <= 43_200:
        raise ValueError(f"visibility_timeout must be 0-43200 seconds, got {visibility_timeout}")
    if not 0 <= receive_wait_time <= 20:
        raise ValueError(f"receive_wait_time must be 0-20 seconds, got {receive_wait_time}")
    if not 60 <= message_retention_seconds <= MAX_RETENTION_SECONDS:
        raise ValueError(
            f"message_retention_seconds must be 60-{MAX_RETENTION_SECONDS}, got {message_retention_seconds}"
        )
    if (dead_letter_target_arn is None) != (max_receive_count is None):
        raise ValueError("Give both dead_letter_target_arn and max_receive_count (a redrive policy), or neither")
    return {
        "VisibilityTimeout": str(int(visibility_timeout)),
        "ReceiveMessageWaitTimeSeconds": str(int(receive_wait_time)),
        "MessageRetentionPeriod": str(int(message_retention_seconds)),
        "RedrivePolicy": (
            redrive_policy(dead_letter_target_arn, max_receive_count)  # type: ignore[arg-type]
            if dead_letter_target_arn is not None
            else ""
        ),
        "RedriveAllowPolicy": redrive_allow_policy(redrive_allow_source_arns),
    }


def attributes_diff(current: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """The attributes of ``wanted`` whose value differs from GetQueueAttributes' ``current``.

    A wanted empty ``RedrivePolicy`` differs only if the queue has one; a wanted allow-all
    ``RedriveAllowPolicy`` matches a queue without the attribute (that is SQS's default).

    >>> attributes_diff(
    ...     {"VisibilityTimeout": "30", "RedrivePolicy": '{"deadLetterTargetArn":"a","maxReceiveCount":5}'},
    ...     {"VisibilityTimeout": "30", "RedrivePolicy": '{"deadLetterTargetArn": "a", "maxReceiveCount": 3}'},
    ... )
    {'RedrivePolicy': '{"deadLetterTargetArn": "a", "maxReceiveCount": 3}'}
    >>> attributes_diff({"VisibilityTimeout": "30"}, {"VisibilityTimeout": "30", "RedrivePolicy": ""})
    {}
    """
    return {
        name: value
        for name, value in wanted.items()
        if _canonical_attribute(name, current.get(name)) != _canonical_attribute(name, value)
    }


def find_queue_url(lab: Lab, name: str) -> str | None:
    """The URL of queue ``name`` (a full name, e.g. ``lab.name("order-queue")``), or None."""
    try:
        return str(lab.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise


def describe_queue(lab: Lab, name: str) -> dict[str, str] | None:
    """All attributes of queue ``name`` plus ``QueueUrl``, or None when it does not exist."""
    url = find_queue_url(lab, name)
    if url is None:
        return None
    try:
        attributes = lab.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise
    return {**attributes, "QueueUrl": url}


def ensure_queue(
    lab: Lab,
    component: str,
    *,
    visibility_timeout: int = 30,
    receive_wait_time: int = 0,
    message_retention_seconds: int = 345_600,
    dead_letter_target_arn: str | None = None,
    max_receive_count: int | None = None,
    redrive_allow_source_arns: Iterable[str] | None = None,
) -> QueueInfo:
    """Create standard queue ``lab.name(component)`` or converge its attributes; return its name, URL and ARN.

    ``dead_letter_target_arn`` + ``max_receive_count`` set the ``RedrivePolicy`` (both or neither;
    neither removes an existing one). ``redrive_allow_source_arns`` restricts which queues may use
    this queue as their dead-letter queue (None: any queue, SQS's default).

    >>> ensure_queue(lab, "order-queue", dead_letter_target_arn=dlq.arn, max_receive_count=3)  # doctest: +SKIP
    QueueInfo(name='alice-order-queue', url='https://sqs.../alice-order-queue', arn='arn:aws:sqs:...')
    """
    name = lab.name(component)
    if len(name) > 80:
        raise ValueError(f"Queue name {name!r} is longer than SQS's 80 characters: use a shorter component name")
    wanted = wanted_attributes(
        visibility_timeout=visibility_timeout,
        receive_wait_time=receive_wait_time,
        message_retention_seconds=message_retention_seconds,
        dead_letter_target_arn=dead_letter_target_arn,
        max_receive_count=max_receive_count,
        redrive_allow_source_arns=redrive_allow_source_arns,
    )
    sqs = lab.client("sqs")
    created = False
    url = find_queue_url(lab, name)
    if url is None:
        # Only non-empty, non-default attributes on create: CreateQueue refuses an empty RedrivePolicy.
        create_attributes = {
            k: v
            for k, v in wanted.items()
            if v and not (k == "RedriveAllowPolicy" and redrive_allow_source_arns is None)
        }
        try:
            url = retry_on(
                lambda: sqs.create_queue(QueueName=name, Attributes=create_attributes, tags=lab.tags)["QueueUrl"],
                should_retry=lambda e: (
                    error_code(e) in ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently")
                ),
                timeout=QUEUE_DELETED_RECENTLY_TIMEOUT,
                what=f"CreateQueue {name} (a queue of that name was just deleted)",
                first_delay=5.0,
                max_delay=10.0,
            )
            created = True
        except ClientError as error:
            if error_code(error) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            url = find_queue_url(lab, name)  # created meanwhile with other attributes: converge it below
            if url is None:
                raise
    assert url is not None

    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    diff = attributes_diff(current, wanted)
    if diff:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=diff)
    tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
    missing = tags_missing(tags, lab.tags)
    if missing:
        sqs.tag_queue(QueueUrl=url, Tags=missing)
    return QueueInfo(
        name=name, url=url, arn=current["QueueArn"], created=created, updated=() if created else tuple(sorted(diff))
    )


def queue_counts(lab: Lab, url: str) -> QueueCounts:
    """How many messages the queue holds (SQS's approximate counts; they lag by a second or so on AWS).

    >>> queue_counts(lab, queues.dlq.url).visible                    # doctest: +SKIP
    1
    """
    attributes = lab.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return QueueCounts(
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def _sid(prefix: str, arn: str) -> str:
    name = arn.rsplit(":", 1)[-1]
    return (prefix + "".join(part.title() for part in name.replace("_", "-").split("-") if part.isalnum()))[:100]


def sqs_consumer_statement(
    queue_arn: str, *, sid: str | None = None, change_visibility: bool = False
) -> dict[str, Any]:
    """What a Lambda SQS event source mapping needs on one queue (ReceiveMessage, DeleteMessage,
    GetQueueAttributes: https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions);
    ``change_visibility`` adds ``sqs:ChangeMessageVisibility`` for a function whose code sets its own backoff.

    >>> s = sqs_consumer_statement("arn:aws:sqs:us-east-1:1:alice-order-queue", change_visibility=True)
    >>> s["Sid"], s["Action"], s["Resource"]  # doctest: +NORMALIZE_WHITESPACE
    ('SqsConsumeAliceOrderQueue',
     ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
     ['arn:aws:sqs:us-east-1:1:alice-order-queue'])
    """
    _check_queue_arn(queue_arn, "queue_arn")
    actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    if change_visibility:
        actions.append("sqs:ChangeMessageVisibility")
    return {
        "Sid": sid or _sid("SqsConsume", queue_arn),
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": [queue_arn],
    }


def sqs_sender_statement(queue_arn: str, *, sid: str | None = None) -> dict[str, Any]:
    """``sqs:SendMessage`` (SendMessageBatch is authorised by it too) on one queue.

    >>> sqs_sender_statement("arn:aws:sqs:us-east-1:1:alice-stream-failures")["Sid"]
    'SqsSendAliceStreamFailures'
    """
    _check_queue_arn(queue_arn, "queue_arn")
    return {
        "Sid": sid or _sid("SqsSend", queue_arn),
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": [queue_arn],
    }
