"""Amazon SNS (MiniStack ``services/sns.py``): e-mail subscribers, delivered to a local mailbox.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/sns/responses.py`.

>>> published = Notification("arn:aws:sns:us-east-1:1:alerts", "arn:aws:sns:us-east-1:1:alerts:s1", "m1",
...                          subject="", message="disk full", attributes={})
>>> mail = notification_mail("email", "ada@example.com", published, display_name="",
...                          urls=LocalUrls("http://127.0.0.1:4599"))
>>> mail["Subject"], mail.get_content().splitlines()[0]
('AWS Notification Message', 'disk full')
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

from localcloud.patches import require, wrap
from localcloud.services.sns.mailbox import Mailbox

logger = logging.getLogger("localcloud.sns")

EMAIL_PROTOCOLS = ("email", "email-json")
SENDER = "no-reply@sns.amazonaws.com"
DEFAULT_SENDER_NAME = "AWS Notifications"
DEFAULT_SUBJECT = "AWS Notification Message"
CONFIRMATION_SUBJECT = "AWS Notification - Subscription Confirmation"
PENDING_ARN = "PendingConfirmation"  # what ListSubscriptions shows for a pending subscriber
PENDING_RESPONSE = "pending confirmation"  # what Subscribe answers for one
SIGNING_CERT = "SimpleNotificationService-orderlab-local.pem"
UNSUBSCRIBE_FOOTER = (
    "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link below "
    "to unsubscribe:\n{url}\n\nPlease do not reply directly to this email. If you have any questions or comments "
    "regarding this email, please contact us at https://aws.amazon.com/support"
)
CONFIRMATION_TEXT = (
    "You have chosen to subscribe to the topic:\n{topic_arn}\n\n"
    "To confirm this subscription, click or visit the link below (If this was in error no action is necessary):\n"
    "{url}\n\n"
    "Please do not reply directly to this email. If you wish to remove yourself from receiving all future SNS "
    "subscription confirmation requests please send an email to sns-opt-out"
)
# One @, no spaces, a dot in the domain: what SNS's "Invalid parameter: Email address" refuses otherwise.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_email_address(text: str) -> bool:
    """Whether ``text`` looks like an address SNS accepts for an e-mail endpoint.

    >>> is_email_address("ada@example.com"), is_email_address("ada"), is_email_address("a b@c.d")
    (True, False, False)
    """
    return bool(_EMAIL.match(text or ""))


@dataclass(frozen=True)
class LocalUrls:
    """The links SNS puts in its messages, pointing at the local cloud (MiniStack serves both actions)."""

    base_url: str

    def subscribe(self, topic_arn: str, token: str) -> str:
        """The SubscribeURL: a GET confirms the subscription (MiniStack's ConfirmSubscription).

        >>> LocalUrls("http://127.0.0.1:4599").subscribe("arn:aws:sns:us-east-1:1:t", "abc")
        'http://127.0.0.1:4599/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:1:t&Token=abc'
        """
        return f"{self.base_url}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe=':')}&Token={quote(token)}"

    def unsubscribe(self, subscription_arn: str) -> str:
        return f"{self.base_url}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe=':')}"


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"


def signature(document: dict[str, Any]) -> str:
    """Base64 SHA1 of the string SNS signs (each signed key, newline, value, newline, in order).

    https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
    """
    if document.get("Type") == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{k}\n{document[k]}\n" for k in keys if document.get(k) is not None)
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


def confirmation_document(
    topic_arn: str, token: str, urls: LocalUrls, *, message_id: str, now: datetime
) -> dict[str, Any]:
    """The ``SubscriptionConfirmation`` JSON document (what an ``email-json`` subscriber is mailed)."""
    document: dict[str, Any] = {
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": urls.subscribe(topic_arn, token),
        "Timestamp": _timestamp(now),
        "SignatureVersion": "1",
    }
    document["Signature"] = signature(document)
    document["SigningCertURL"] = f"https://sns.{_region(topic_arn)}.amazonaws.com/{SIGNING_CERT}"
    return document


@dataclass(frozen=True)
class Notification:
    """One published message as it reaches one subscription (what its mail and JSON document carry)."""

    topic_arn: str
    subscription_arn: str
    message_id: str
    subject: str
    message: str
    attributes: dict[str, Any]


def notification_document(notification: Notification, *, urls: LocalUrls, now: datetime) -> dict[str, Any]:
    """The ``Notification`` JSON document (what an ``email-json`` subscriber is mailed)."""
    topic_arn, attributes = notification.topic_arn, notification.attributes
    document: dict[str, Any] = {"Type": "Notification", "MessageId": notification.message_id, "TopicArn": topic_arn}
    if notification.subject:
        document["Subject"] = notification.subject
    document.update({"Message": notification.message, "Timestamp": _timestamp(now), "SignatureVersion": "1"})
    document["Signature"] = signature(document)
    document["SigningCertURL"] = f"https://sns.{_region(topic_arn)}.amazonaws.com/{SIGNING_CERT}"
    document["UnsubscribeURL"] = urls.unsubscribe(notification.subscription_arn)
    if attributes:
        document["MessageAttributes"] = {
            name: {
                "Type": attr.get("DataType", "String"),
                "Value": attr.get("StringValue", attr.get("BinaryValue", "")),
            }
            for name, attr in attributes.items()
        }
    return document


def _json_body(document: dict[str, Any]) -> str:
    # The layout SNS mails (two-space indent, "key" : value).
    return json.dumps(document, indent=2, separators=(",", " : "), ensure_ascii=False)


def _mail(
    address: str,
    subject: str,
    body: str,
    *,
    display_name: str,
    now: datetime,
    message_id: str,
    topic_arn: str,
    subscription_arn: str,
) -> EmailMessage:
    """A mail from SNS's sender, with the ``x-amz-sns-*`` headers SNS adds to every mail it sends."""
    mail = EmailMessage()
    local, _, domain = SENDER.partition("@")
    mail["From"] = Address(display_name or DEFAULT_SENDER_NAME, local, domain)
    mail["To"] = address
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = make_msgid(domain="email.amazonses.com")
    mail["x-amz-sns-message-id"] = message_id
    mail["x-amz-sns-topic-arn"] = topic_arn
    mail["x-amz-sns-subscription-arn"] = subscription_arn
    mail.set_content(body)
    return mail


def confirmation_mail(
    protocol: str,
    address: str,
    *,
    topic_arn: str,
    subscription_arn: str,
    token: str,
    display_name: str,
    urls: LocalUrls,
    now: datetime | None = None,
) -> EmailMessage:
    """The confirmation SNS mails to a new ``email`` / ``email-json`` subscriber."""
    now = now or datetime.now(UTC)
    message_id = str(uuid.uuid4())
    if protocol == "email-json":
        body = _json_body(confirmation_document(topic_arn, token, urls, message_id=message_id, now=now))
    else:
        body = CONFIRMATION_TEXT.format(topic_arn=topic_arn, url=urls.subscribe(topic_arn, token))
    return _mail(
        address,
        CONFIRMATION_SUBJECT,
        body,
        display_name=display_name,
        now=now,
        message_id=message_id,
        topic_arn=topic_arn,
        subscription_arn=subscription_arn,
    )


def notification_mail(
    protocol: str,
    address: str,
    notification: Notification,
    *,
    display_name: str,
    urls: LocalUrls,
    now: datetime | None = None,
) -> EmailMessage:
    """One published message as SNS mails it to a confirmed ``email`` / ``email-json`` subscriber."""
    now = now or datetime.now(UTC)
    if protocol == "email-json":
        body = _json_body(notification_document(notification, urls=urls, now=now))
    else:
        body = notification.message + UNSUBSCRIBE_FOOTER.format(url=urls.unsubscribe(notification.subscription_arn))
    return _mail(
        address,
        notification.subject or DEFAULT_SUBJECT,
        body,
        display_name=display_name,
        now=now,
        message_id=notification.message_id,
        topic_arn=notification.topic_arn,
        subscription_arn=notification.subscription_arn,
    )


@dataclass
class _Config:
    mailbox: Mailbox | None = None
    urls: LocalUrls | None = None


_config = _Config()


def apply(mailbox: Mailbox | None = None, base_url: str | None = None) -> None:
    """Patch MiniStack's SNS; mail goes to ``mailbox`` (default: the mailbox of this server's port).

    Called again (tests), it only re-points the mailbox and the links.
    """
    from ministack.services import sns

    needed = (
        "_subscribe",
        "_fanout",
        "_list_subscriptions",
        "_list_subscriptions_by_topic",
        "_get_topic",
        "_topics",
        "_topic_by_arn_any_scope",
        "_refresh_subscription_counts",
        "_resolve_message_for_protocol",
        "_matches_filter_policy",
        "_is_fifo_topic",
        "_p",
        "_xml",
        "_error",
    )
    require(sns, needed, patching="SNS e-mail delivery")
    # localcloud.server sets GATEWAY_PORT before applying the patches; 4566 is MiniStack's own default.
    port = int(os.environ.get("GATEWAY_PORT") or 4566)
    _config.mailbox = mailbox or Mailbox(port)
    _config.urls = LocalUrls(base_url or f"http://127.0.0.1:{port}")

    def deliver(mail: EmailMessage, address: str, what: str) -> None:
        # Mail is best effort, as on AWS: a failed write never fails the API call that caused it.
        try:
            assert _config.mailbox is not None
            path = _config.mailbox.deliver(mail, address)
            logger.info("SNS %s mailed to %s (%s)", what, address, path.name)
        except Exception:
            logger.exception("SNS %s to %s could not be written to the local mailbox", what, address)

    def send_confirmation(topic: dict, sub: dict) -> None:
        assert _config.urls is not None
        mail = confirmation_mail(
            sub["protocol"],
            sub["endpoint"],
            topic_arn=topic["arn"],
            subscription_arn=sub["arn"],
            token=sub["token"],
            display_name=topic["attributes"].get("DisplayName", ""),
            urls=_config.urls,
        )
        deliver(mail, sub["endpoint"], "subscription confirmation")

    def find(topic: dict, protocol: str, endpoint: str) -> dict | None:
        return next(
            (s for s in topic["subscriptions"] if s.get("protocol") == protocol and s.get("endpoint") == endpoint), None
        )

    def make_subscribe(original):
        def _subscribe(params):
            protocol = sns._p(params, "Protocol")
            if protocol not in EMAIL_PROTOCOLS:
                return original(params)
            endpoint = sns._p(params, "Endpoint")
            topic, err = sns._get_topic(sns._p(params, "TopicArn"), "sns:Subscribe")
            if err is not None:
                return err
            if sns._is_fifo_topic(topic):
                return sns._error("InvalidParameter", f"Invalid parameter: Invalid protocol type: {protocol}", 400)
            if not is_email_address(endpoint):
                return sns._error("InvalidParameter", "Invalid parameter: Email address", 400)
            sub = find(topic, protocol, endpoint)
            if sub is not None and sub.get("confirmed"):
                return original(params)  # answers the existing subscription's ARN
            if sub is None:
                response = original(params)
                sub = find(topic, protocol, endpoint)
                if response[0] != 200 or sub is None:
                    return response
                sub["confirmed"] = False
                sub["token"] = secrets.token_hex(64)
                sub["attributes"]["PendingConfirmation"] = "true"
                sub["attributes"]["ConfirmationWasAuthenticated"] = "false"
                sns._refresh_subscription_counts(topic)
            send_confirmation(topic, sub)
            wants_arn = sns._p(params, "ReturnSubscriptionArn").lower() == "true"
            arn = sub["arn"] if wants_arn else PENDING_RESPONSE
            return sns._xml(
                200, "SubscribeResponse", f"<SubscribeResult><SubscriptionArn>{arn}</SubscriptionArn></SubscribeResult>"
            )

        return _subscribe

    def make_fanout(original):
        def _fanout(
            topic_arn,
            msg_id,
            message,
            subject,
            message_structure="",
            message_attributes=None,
            *args: Any,
            **kwargs: Any,
        ):
            result = original(
                topic_arn, msg_id, message, subject, message_structure, message_attributes, *args, **kwargs
            )
            try:
                mail_subscribers(
                    topic_arn, msg_id, message, subject or "", message_structure or "", message_attributes or {}
                )
            except Exception:
                logger.exception("SNS e-mail fan-out of %s failed", msg_id)
            return result

        return _fanout

    def mail_subscribers(
        topic_arn: str, msg_id: str, message: str, subject: str, structure: str, attributes: dict
    ) -> None:
        topic = sns._topic_by_arn_any_scope(topic_arn)
        if not topic:
            return
        for sub in list(topic["subscriptions"]):
            protocol = sub.get("protocol")
            if protocol not in EMAIL_PROTOCOLS or not sub.get("confirmed"):
                continue
            effective = sns._resolve_message_for_protocol(message, structure, protocol)
            if not sns._matches_filter_policy(sub, attributes, effective):
                continue
            assert _config.urls is not None
            published = Notification(topic["arn"], sub["arn"], msg_id, subject, effective, attributes)
            display_name = topic["attributes"].get("DisplayName", "")
            mail = notification_mail(protocol, sub["endpoint"], published, display_name=display_name, urls=_config.urls)
            deliver(mail, sub["endpoint"], f"notification {msg_id}")

    def pending_shown_as_pending(topics_of):
        def make(original):
            def listing(params):
                status, headers, body = original(params)
                if status != 200:
                    return status, headers, body
                text = body.decode("utf-8")
                for topic in topics_of(params):
                    for sub in topic.get("subscriptions", []):
                        if not sub.get("confirmed"):
                            text = text.replace(
                                f"<SubscriptionArn>{sub['arn']}</SubscriptionArn>",
                                f"<SubscriptionArn>{PENDING_ARN}</SubscriptionArn>",
                            )
                return status, headers, text.encode("utf-8")

            return listing

        return make

    def the_named_topic(params) -> list[dict]:
        topic, _ = sns._get_topic(sns._p(params, "TopicArn"))
        return [topic] if topic else []

    def make_checked_subscribe(original):
        # The protocol and endpoint checks answer first; e-mail subscriptions then start pending.
        return make_subscribe_checks(sns)(make_subscribe(original))

    wrap(sns, "_subscribe", make_checked_subscribe)
    wrap(sns, "_fanout", make_fanout)
    wrap(sns, "_list_subscriptions", pending_shown_as_pending(lambda _params: list(sns._topics.values())))
    wrap(sns, "_list_subscriptions_by_topic", pending_shown_as_pending(the_named_topic))
    wrap(sns, "_error", make_error)


def _error_codes() -> dict[str, str]:
    """SNS's error shape names -> the codes AWS sends (``InvalidParameterException`` -> ``InvalidParameter``)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sns")
    return {shape.name: shape.error_code for shape in model.error_shapes if shape.error_code}


def aws_error(code: str, message: str, codes: dict[str, str]) -> tuple[str, str]:
    """The code and message AWS sends for an SNS error MiniStack raises."""
    if code == "NotFound" and message.startswith("Topic does not exist: "):
        message = "Topic does not exist"  # AWS does not echo the ARN
    return codes.get(code, code), message


def make_error(original):
    codes = _error_codes()

    def _error(code: str, message: str, status: int) -> tuple:
        return original(*aws_error(code, message, codes), status)

    return _error


def subscription_error(protocol: str, endpoint: str, topic_is_fifo: bool) -> str | None:
    """What AWS refuses when subscribing an SQS queue (AWS's messages)."""
    if protocol != "sqs":
        return None
    if not endpoint.startswith("arn:"):
        return "Invalid parameter: SQS endpoint ARN"
    if endpoint.endswith(".fifo") and not topic_is_fifo:
        return (
            "Invalid parameter: Invalid parameter: Endpoint Reason: "
            "FIFO SQS Queues can not be subscribed to standard SNS topics"
        )
    return None


def make_subscribe_checks(sns: Any):
    def make(original):
        def _subscribe(params):
            topic, missing = sns._get_topic(sns._p(params, "TopicArn"), "sns:Subscribe")
            if missing is None:
                refused = subscription_error(
                    sns._p(params, "Protocol"), sns._p(params, "Endpoint") or "", sns._is_fifo_topic(topic)
                )
                if refused:
                    return sns._error("InvalidParameter", refused, 400)
            return original(params)

        return _subscribe

    return make
