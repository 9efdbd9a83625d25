"""SNS topics of the lab and their subscribers: create or converge, tag, find.

>>> topic = ensure_topic(lab, "alerts", display_name="Order pipeline alerts")       # doctest: +SKIP
>>> topic.name, topic.created                                                         # doctest: +SKIP
('alice-alerts', True)
>>> inbox = ensure_queue(lab, "alert-inbox")                                          # doctest: +SKIP
>>> ensure_sqs_subscription(lab, topic.arn, inbox).raw_message_delivery              # doctest: +SKIP
False
>>> ensure_email_subscription(lab, topic.arn, "learner@example.com").pending         # doctest: +SKIP
True

Every call converges: the topic keeps its ARN, an existing subscription is reused (Subscribe
is never called twice for one endpoint, so no second confirmation e-mail is sent), and only
what differs is changed.

- An **SQS subscriber** needs the queue's resource policy to let ``sns.amazonaws.com`` send to
  it, and only from this topic (``aws:SourceArn``): without a policy SNS's deliveries are
  silently dropped; without the condition any topic could fill the queue.
  https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
  Raw message delivery stays **off**, so each SQS message is the SNS envelope
  (``Type``, ``MessageId``, ``TopicArn``, ``Subject``, ``Message``, ``Timestamp``...).
  https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html
- An **e-mail subscriber** must confirm: SNS mails a link and the subscription stays
  ``PendingConfirmation`` (no alerts) until it is clicked.
  https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html
- ``DeleteTopic`` deletes the topic's subscriptions too.
  https://docs.aws.amazon.com/sns/latest/api/API_DeleteTopic.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from helpers.aws.common import Ensured, error_code, paginate, partition, tags_missing
from helpers.core.naming import tag_list

if TYPE_CHECKING:
    from helpers.aws.sqs import QueueInfo
    from helpers.core.lab import Lab

__all__ = [
    "PENDING",
    "SubscriptionInfo",
    "TopicInfo",
    "ensure_email_subscription",
    "ensure_sqs_subscription",
    "ensure_topic",
    "find_subscriptions",
    "get_topic_attributes",
    "sns_publish_queue_policy",
    "topic_arn",
]

# What ListSubscriptionsByTopic shows instead of an ARN while a subscription awaits confirmation.
PENDING = "PendingConfirmation"
_NOT_FOUND = {"NotFound", "NotFoundException", "ResourceNotFoundException"}
_POLICY_SID = "AllowSnsTopic"


@dataclass(frozen=True)
class TopicInfo(Ensured):
    """A topic of the lab. ``created``/``updated`` say what this call changed."""

    name: str
    arn: str


@dataclass(frozen=True)
class SubscriptionInfo(Ensured):
    """One subscription. ``arn`` is ``"PendingConfirmation"`` until an e-mail subscriber confirms."""

    topic_arn: str
    protocol: str
    endpoint: str
    arn: str
    raw_message_delivery: bool = False

    @property
    def pending(self) -> bool:
        """True while the subscriber has not confirmed (SNS delivers nothing to it yet)."""
        return self.arn.replace(" ", "").lower() in (PENDING.lower(), "pendingconfirmation")


def topic_arn(lab: Lab, component: str) -> str:
    """The ARN topic ``lab.name(component)`` has (or will have): ``arn:aws:sns:{region}:{account}:{name}``."""
    return f"arn:{partition(lab.region)}:sns:{lab.region}:{lab.account_id}:{lab.name(component)}"


def get_topic_attributes(lab: Lab, arn: str) -> dict[str, str] | None:
    """GetTopicAttributes of ``arn``, or None when the topic does not exist."""
    try:
        return dict(lab.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"])
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise


def ensure_topic(lab: Lab, component: str, *, display_name: str = "") -> TopicInfo:
    """Create standard topic ``lab.name(component)`` with the lab's tags, or converge it.

    ``display_name`` is the sender name of e-mail notifications (at most 100 characters).
    CreateTopic is refused for an existing topic with other tags, so an existing topic is
    looked up first and only its missing tags / a different display name are set.

    >>> ensure_topic(lab, "alerts", display_name="Order pipeline alerts")   # doctest: +SKIP
    TopicInfo(name='alice-alerts', arn='arn:aws:sns:us-east-1:123456789012:alice-alerts')
    """
    if len(display_name) > 100:
        raise ValueError(f"display_name is at most 100 characters for e-mail, got {len(display_name)}")
    sns = lab.client("sns")
    name = lab.name(component)
    if len(name) > 256:
        raise ValueError(f"Topic name {name!r} is longer than SNS's 256 characters")
    arn = topic_arn(lab, component)
    attributes = get_topic_attributes(lab, arn)
    if attributes is None:
        create_attributes = {"DisplayName": display_name} if display_name else {}
        arn = sns.create_topic(Name=name, Attributes=create_attributes, Tags=tag_list(lab.tags))["TopicArn"]
        return TopicInfo(name=name, arn=arn, created=True)
    updated: list[str] = []
    if attributes.get("DisplayName", "") != display_name:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue=display_name)
        updated.append("DisplayName")
    current_tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn).get("Tags", [])}
    missing = tags_missing(current_tags, lab.tags)
    if missing:
        sns.tag_resource(ResourceArn=arn, Tags=tag_list(missing))
        updated.append("Tags")
    return TopicInfo(name=name, arn=arn, updated=tuple(updated))


def find_subscriptions(
    lab: Lab, topic_arn: str, *, protocol: str | None = None, endpoint: str | None = None
) -> list[SubscriptionInfo]:
    """The topic's subscriptions (ListSubscriptionsByTopic, paginated), optionally filtered.

    A subscription awaiting confirmation has ``arn == "PendingConfirmation"``.

    >>> [s.protocol for s in find_subscriptions(lab, topic.arn)]          # doctest: +SKIP
    ['email', 'sqs']
    """
    found = []
    for sub in paginate(lab.client("sns"), "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn):
        if protocol is not None and sub.get("Protocol") != protocol:
            continue
        if endpoint is not None and sub.get("Endpoint") != endpoint:
            continue
        found.append(
            SubscriptionInfo(
                topic_arn=topic_arn,
                protocol=sub.get("Protocol", ""),
                endpoint=sub.get("Endpoint", ""),
                arn=sub.get("SubscriptionArn", ""),
            )
        )
    return found


def sns_publish_queue_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """The queue policy that lets exactly one SNS topic send to the queue.

    >>> policy = sns_publish_queue_policy("arn:aws:sqs:us-east-1:1:alice-alert-inbox",
    ...                                   "arn:aws:sns:us-east-1:1:alice-alerts")
    >>> statement = policy["Statement"][0]
    >>> statement["Principal"], statement["Action"], statement["Condition"]  # doctest: +NORMALIZE_WHITESPACE
    ({'Service': 'sns.amazonaws.com'}, 'sqs:SendMessage',
     {'ArnEquals': {'aws:SourceArn': 'arn:aws:sns:us-east-1:1:alice-alerts'}})
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": _POLICY_SID,
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def _same_policy(current: str | None, wanted: dict[str, Any]) -> bool:
    """Compare a queue's ``Policy`` attribute with the wanted document (JSON, order-insensitive)."""
    if not current:
        return False
    try:
        return json.loads(current) == wanted
    except ValueError:
        return False


def _attribute_bool(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def ensure_sqs_subscription(
    lab: Lab, topic_arn: str, queue: QueueInfo, *, raw_message_delivery: bool = False
) -> SubscriptionInfo:
    """Subscribe SQS queue ``queue`` to the topic, with the queue policy SNS needs; converge both.

    The queue's ``Policy`` becomes :func:`sns_publish_queue_policy` (this topic only). The
    subscription's ``RawMessageDelivery`` is set as asked (default off: the SNS envelope).
    An SQS subscription in the same account is confirmed at once.

    >>> sub = ensure_sqs_subscription(lab, topic.arn, inbox)               # doctest: +SKIP
    >>> sub.pending, sub.raw_message_delivery                              # doctest: +SKIP
    (False, False)
    """
    sqs = lab.client("sqs")
    sns = lab.client("sns")
    updated: list[str] = []
    policy = sns_publish_queue_policy(queue.arn, topic_arn)
    current = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["Policy"]).get("Attributes", {})
    if not _same_policy(current.get("Policy"), policy):
        sqs.set_queue_attributes(QueueUrl=queue.url, Attributes={"Policy": json.dumps(policy)})
        updated.append("QueuePolicy")

    raw = "true" if raw_message_delivery else "false"
    existing = find_subscriptions(lab, topic_arn, protocol="sqs", endpoint=queue.arn)
    if not existing:
        arn = sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue.arn,
            Attributes={"RawMessageDelivery": raw},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return SubscriptionInfo(
            topic_arn, "sqs", queue.arn, arn, raw_message_delivery, created=True, updated=tuple(updated)
        )
    sub = existing[0]
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub.arn)["Attributes"]
    if _attribute_bool(attributes.get("RawMessageDelivery", "false")) != raw_message_delivery:
        sns.set_subscription_attributes(SubscriptionArn=sub.arn, AttributeName="RawMessageDelivery", AttributeValue=raw)
        updated.append("RawMessageDelivery")
    return SubscriptionInfo(topic_arn, "sqs", queue.arn, sub.arn, raw_message_delivery, updated=tuple(updated))


def ensure_email_subscription(lab: Lab, topic_arn: str, address: str) -> SubscriptionInfo:
    """Subscribe e-mail ``address`` to the topic unless it already is (confirmed or pending).

    SNS then mails a confirmation link; until it is followed the subscription is pending and
    receives nothing. Calling this again does not subscribe again (no second e-mail).

    >>> ensure_email_subscription(lab, topic.arn, "learner@example.com")   # doctest: +SKIP
    SubscriptionInfo(topic_arn='arn:aws:sns:...:alice-alerts', protocol='email',
                     endpoint='learner@example.com', arn='PendingConfirmation', ...)
    """
    if "@" not in address or address.startswith("@") or address.endswith("@") or " " in address.strip():
        raise ValueError(f"{address!r} is not an e-mail address")
    address = address.strip()
    existing = find_subscriptions(lab, topic_arn, protocol="email", endpoint=address)
    if existing:
        return existing[0]
    arn = lab.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="email", Endpoint=address, ReturnSubscriptionArn=False
    )["SubscriptionArn"]
    # Without ReturnSubscriptionArn, SNS answers "pending confirmation" for an e-mail subscriber.
    return SubscriptionInfo(topic_arn, "email", address, PENDING if "pending" in arn.lower() else arn, created=True)
