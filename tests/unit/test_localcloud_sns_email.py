"""The local cloud's SNS e-mail delivery (localcloud/services/sns/responses.py) and its mailbox
(localcloud/services/sns/mailbox.py).

Formats follow https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html and
https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html; the end-to-end
contract (through the HTTP API) is tests/conformance/test_sns_email.py.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from localcloud.services.sns.mailbox import Mailbox, address_key, mailbox_dir
from localcloud.services.sns.responses import (
    LocalUrls,
    Notification,
    confirmation_mail,
    is_email_address,
    notification_mail,
)

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
SUB = TOPIC + ":5f1c"
URLS = LocalUrls("http://127.0.0.1:4599")
REPO_ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


@pytest.fixture
def box(tmp_path, monkeypatch) -> Mailbox:
    monkeypatch.setenv("ORDERLAB_HOME", str(tmp_path))
    return Mailbox(4599)


def mail(subject: str, to: str = "ada@example.com", body: str = "hi") -> EmailMessage:
    message = EmailMessage()
    message["To"], message["Subject"], message["Date"] = to, subject, "Mon, 06 May 2024 07:08:09 +0000"
    message.set_content(body)
    return message


# --- the mailbox -------------------------------------------------------------------------------


def test_the_mailbox_lives_in_the_clouds_state_dir(box, tmp_path):
    assert box.root == mailbox_dir(4599) == tmp_path / "cloud-4599" / "mailbox"


def test_addresses_cannot_escape_the_mailbox():
    assert address_key("Ada@Example.COM") == "ada@example.com"
    assert "/" not in address_key("../../x@y.z") and "/" not in address_key("a/b@c.d")
    with pytest.raises(ValueError):
        address_key("..")


def test_messages_come_back_in_delivery_order_per_address_and_overall(box):
    box.deliver(mail("first"), "ada@example.com")
    box.deliver(mail("other", to="bob@example.com"), "bob@example.com")
    box.deliver(mail("second", body="line 1\nline 2\n"), "Ada@Example.com")
    assert [m.subject for m in box.messages("ada@example.com")] == ["first", "second"]
    assert [m.subject for m in box.messages()] == ["first", "other", "second"]
    second = box.messages("ADA@example.com")[-1]
    assert second.body == "line 1\nline 2\n" and second.address == "ada@example.com"
    assert second.date == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert second.headers["Subject"] == "second" and second.path.suffix == ".eml"
    assert box.addresses() == ["ada@example.com", "bob@example.com"]


def test_each_message_is_one_rfc5322_file(box):
    path = box.deliver(mail("hello"), "ada@example.com")
    assert path.parent.name == "ada@example.com"
    assert b"Subject: hello" in path.read_bytes() and b"To: ada@example.com" in path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"


def test_clear_removes_one_address_or_everything(box):
    for subject in ("a", "b"):
        box.deliver(mail(subject), "ada@example.com")
    box.deliver(mail("c", to="bob@example.com"), "bob@example.com")
    assert box.clear("ada@example.com") == 2
    assert [m.subject for m in box.messages()] == ["c"]
    assert box.clear() == 1 and box.messages() == []


def test_an_empty_or_missing_mailbox_has_no_messages(box):
    assert box.messages() == [] and box.messages("nobody@example.com") == [] and box.addresses() == []


def test_wait_for_returns_a_message_delivered_meanwhile(box):
    timer = threading.Timer(0.1, lambda: box.deliver(mail("late"), "ada@example.com"))
    timer.start()
    try:
        started = time.monotonic()
        found = box.wait_for(lambda m: m.subject == "late", timeout=5, address="ada@example.com")
    finally:
        timer.cancel()
    assert found.subject == "late" and time.monotonic() - started < 5


def test_wait_for_times_out_saying_what_is_there(box):
    box.deliver(mail("unrelated"), "ada@example.com")
    with pytest.raises(TimeoutError, match=r"ada@example.com's mail after 0\.1s .*'unrelated'"):
        box.wait_for(lambda m: False, timeout=0.1, address="ada@example.com")


# --- what SNS mails ----------------------------------------------------------------------------


def notify(
    *, protocol: str = "email", address: str = "ada@example.com", display_name: str = "", **overrides: Any
) -> EmailMessage:
    """``notification_mail`` for the topic and subscription of these tests; ``overrides`` change the publish."""
    publish: dict[str, Any] = {"message_id": "m", "subject": "", "message": "x", "attributes": {}, **overrides}
    published = Notification(TOPIC, SUB, **publish)
    return notification_mail(protocol, address, published, display_name=display_name, urls=URLS, now=AT)


def confirm(protocol: str) -> EmailMessage:
    """``confirmation_mail`` to ada@example.com for the topic and subscription of these tests (token ``tok``)."""
    return confirmation_mail(
        protocol,
        "ada@example.com",
        topic_arn=TOPIC,
        subscription_arn=SUB,
        token="tok",
        display_name="",
        urls=URLS,
        now=AT,
    )


def test_email_notification_subject_body_and_footer():
    message = notify(message_id="m-1", message="DLQ depth 3", display_name="Order alerts")
    assert message["Subject"] == "AWS Notification Message"
    assert message["From"] == "Order alerts <no-reply@sns.amazonaws.com>"
    assert message["To"] == "ada@example.com"
    assert message["x-amz-sns-message-id"] == "m-1" and message["x-amz-sns-subscription-arn"] == SUB
    assert message.get_content() == (
        "DLQ depth 3\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the "
        "link below to unsubscribe:\nhttp://127.0.0.1:4599/?Action=Unsubscribe&SubscriptionArn=" + SUB + "\n\n"
        "Please do not reply directly to this email. If you have any questions or comments regarding this email, "
        "please contact us at https://aws.amazon.com/support\n"
    )


def test_the_publish_subject_is_the_mail_subject_and_the_sender_defaults_to_aws_notifications():
    message = notify(subject="ALARM: dlq")
    assert message["Subject"] == "ALARM: dlq"
    assert message["From"] == "AWS Notifications <no-reply@sns.amazonaws.com>"


def test_email_json_notification_is_the_json_document():
    message = notify(
        protocol="email-json",
        message_id="m-2",
        subject="Order alert",
        message='{"orderId": "o-1"}',
        attributes={"kind": {"DataType": "String", "StringValue": "dlq"}},
    )
    document = json.loads(message.get_content())
    assert list(document) == [
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
        "MessageAttributes",
    ]
    assert document["Type"] == "Notification" and document["Message"] == '{"orderId": "o-1"}'
    assert document["Timestamp"] == "2024-05-06T07:08:09.123Z" and document["SignatureVersion"] == "1"
    assert len(base64.b64decode(document["Signature"])) == 20  # a SHA1 digest, base64-encoded
    assert document["UnsubscribeURL"].endswith("SubscriptionArn=" + SUB)
    assert document["MessageAttributes"] == {"kind": {"Type": "String", "Value": "dlq"}}
    assert message["Subject"] == "Order alert"


def test_email_json_notification_without_subject_has_no_subject_member():
    message = notify(protocol="email-json", address="a@b.co")
    assert "Subject" not in json.loads(message.get_content())
    assert message["Subject"] == "AWS Notification Message"


def test_confirmation_mails_carry_the_subscribe_url_with_the_token():
    text = confirm("email")
    url = "http://127.0.0.1:4599/?Action=ConfirmSubscription&TopicArn=" + TOPIC + "&Token=tok"
    assert text["Subject"] == "AWS Notification - Subscription Confirmation"
    assert f"You have chosen to subscribe to the topic:\n{TOPIC}\n" in text.get_content()
    assert f"\n{url}\n" in text.get_content()
    document = json.loads(confirm("email-json").get_content())
    assert document["Type"] == "SubscriptionConfirmation" and document["Token"] == "tok"
    assert document["SubscribeURL"] == url
    assert document["Message"].startswith(f"You have chosen to subscribe to the topic {TOPIC}.\n")


@pytest.mark.parametrize(
    "text, ok",
    [
        ("ada@example.com", True),
        ("a.b+c@mail.example.co.uk", True),
        ("ada", False),
        ("ada@localhost", False),
        ("a b@c.de", False),
        ("", False),
    ],
)
def test_email_addresses(text, ok):
    assert is_email_address(text) is ok


# --- MiniStack's SNS with the patch (a fresh interpreter: patching this one would change ---------
# --- MiniStack for every other test) ------------------------------------------------------------

_IN_PROCESS = r"""
import json, sys
from localcloud.patches import apply_all
from localcloud.services.sns.mailbox import Mailbox
from ministack.services import sns

apply_all(); apply_all()   # idempotent; GATEWAY_PORT=4599 (set by the test, as localcloud.server does)
assert sns._subscribe.__orderlab_patched__ and sns._fanout.__orderlab_patched__
box = Mailbox(4599)

def call(handler, **params):
    status, _, body = handler({k: [v] for k, v in params.items()})
    return status, body.decode()

def topic_of(body):
    return body.split("<TopicArn>")[1].split("<")[0]

topic = topic_of(call(sns._create_topic, Name="unit-alerts")[1])
status, body = call(sns._subscribe, TopicArn=topic, Protocol="email", Endpoint="ada@example.com")
assert status == 200 and "<SubscriptionArn>pending confirmation</SubscriptionArn>" in body, body
assert "<SubscriptionArn>PendingConfirmation</SubscriptionArn>" in call(sns._list_subscriptions)[1]
assert "<SubscriptionArn>PendingConfirmation</SubscriptionArn>" in call(
    sns._list_subscriptions_by_topic, TopicArn=topic)[1]

sns._fanout(topic, "m-0", "too early", "")
confirmation = box.messages("ada@example.com")
assert [m.subject for m in confirmation] == ["AWS Notification - Subscription Confirmation"], confirmation
assert "http://127.0.0.1:4599/?Action=ConfirmSubscription&TopicArn=" in confirmation[0].body
token = confirmation[0].body.split("&Token=")[1].split()[0]
status, body = call(sns._confirm_subscription, TopicArn=topic, Token=token)
assert status == 200 and f"<SubscriptionArn>{topic}:" in body, body

sns._fanout(topic, "m-1", "now delivered", "Subject 1")
assert [m.subject for m in box.messages("ada@example.com")][1:] == ["Subject 1"]
assert "PendingConfirmation" not in call(sns._list_subscriptions)[1]

fifo = topic_of(call(sns._create_topic, Name="unit.fifo", **{"Attributes.entry.1.key": "FifoTopic",
                                                            "Attributes.entry.1.value": "true"})[1])
status, body = call(sns._subscribe, TopicArn=fifo, Protocol="email", Endpoint="ada@example.com")
assert status == 400 and "<Code>InvalidParameter</Code>" in body and "Invalid protocol type: email" in body, body
print("ok")
"""


def test_the_patch_on_ministack_keeps_a_subscriber_pending_until_confirmed_then_mails_it(tmp_path):
    env = {**os.environ, "ORDERLAB_HOME": str(tmp_path), "GATEWAY_PORT": "4599"}
    out = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr
