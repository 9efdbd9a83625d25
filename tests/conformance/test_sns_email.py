"""SNS e-mail subscribers (alerts, step 06), against the AWS contract — LOCAL CLOUD ONLY.

On AWS the mail goes to a real inbox that no test can read, so this module is skipped there
(and on any other endpoint); the local cloud writes every message it would mail to its mailbox
(``localcloud.services.sns.mailbox``), which is what these tests read.

References (AWS documentation followed):
- E-mail subscriptions: pending until confirmed, a confirmation mail with the link to visit,
  then notifications; the default subject "AWS Notification Message":
  https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html
- Subscribe ("pending confirmation"; ``ReturnSubscriptionArn``) and ConfirmSubscription (the
  token): https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html,
  https://docs.aws.amazon.com/sns/latest/api/API_ConfirmSubscription.html
- ``PendingConfirmation`` in the subscription list until confirmed:
  https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.confirm.html
- The JSON documents an ``email-json`` subscriber receives (SubscriptionConfirmation,
  Notification): https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html,
  https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html
- Message filtering applies to every subscriber:
  https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering.html
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from cloudtest import external_target

from helpers.aws.common import error_code

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(
        external_target() is not None,
        reason="local cloud only: on AWS the mail goes to a real inbox that a test cannot read",
    ),
]

WAIT = 10.0
FOOTER = (
    "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link "
    "below to unsubscribe:\n"
)


@pytest.fixture(scope="module")
def mailbox(cloud):
    from localcloud.services.sns.mailbox import Mailbox

    return Mailbox(cloud.port)


@pytest.fixture
def topic(lab):
    from helpers.aws.sns import ensure_topic

    return ensure_topic(lab, f"mail-{uuid.uuid4().hex[:8]}", display_name="Order pipeline alerts").arn


def _address(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def _listed_arn(lab, topic: str, endpoint: str) -> str:
    subs = lab.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    return next(s["SubscriptionArn"] for s in subs if s["Endpoint"] == endpoint)


def _url(body: str, action: str) -> str:
    match = re.search(rf"http://\S+\?Action={action}\S+", body)
    assert match, f"no {action} link in:\n{body}"
    return match.group(0)


def test_email_subscriber_confirms_by_link_then_receives_the_message_as_aws_formats_it(lab, mailbox, topic):
    sns, address = lab.client("sns"), _address("ada")
    answer = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    assert answer["SubscriptionArn"] == "pending confirmation"
    assert _listed_arn(lab, topic, address) == "PendingConfirmation"

    confirmation = mailbox.wait_for(lambda m: True, WAIT, address=address)
    assert confirmation.subject == "AWS Notification - Subscription Confirmation"
    assert confirmation.headers["From"] == "Order pipeline alerts <no-reply@sns.amazonaws.com>"
    assert confirmation.headers["To"] == address
    assert f"You have chosen to subscribe to the topic:\n{topic}\n" in confirmation.body

    sns.publish(TopicArn=topic, Message="before confirmation")  # a pending subscriber gets nothing
    with urllib.request.urlopen(_url(confirmation.body, "ConfirmSubscription"), timeout=WAIT) as response:
        assert response.status == 200
        confirmed_arn = re.search(r"<SubscriptionArn>([^<]+)</SubscriptionArn>", response.read().decode()).group(1)
    assert confirmed_arn.startswith(topic + ":")
    assert _listed_arn(lab, topic, address) == confirmed_arn
    attributes = sns.get_subscription_attributes(SubscriptionArn=confirmed_arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"

    sns.publish(TopicArn=topic, Message="DLQ depth is 3\nsecond line", Subject="ALARM: dlq depth")
    alarm = mailbox.wait_for(lambda m: m.subject == "ALARM: dlq depth", WAIT, address=address)
    assert alarm.body.startswith("DLQ depth is 3\nsecond line" + FOOTER)
    assert alarm.body.rstrip().endswith("please contact us at https://aws.amazon.com/support")
    assert alarm.headers["x-amz-sns-subscription-arn"] == confirmed_arn

    sns.publish(TopicArn=topic, Message="no subject given")
    plain = mailbox.wait_for(lambda m: m.body.startswith("no subject given"), WAIT, address=address)
    assert plain.subject == "AWS Notification Message"
    bodies = [m.body for m in mailbox.messages(address)]
    assert not any(b.startswith("before confirmation") for b in bodies), "nothing was delivered before confirmation"
    assert len(bodies) == 3  # confirmation + two notifications

    with urllib.request.urlopen(_url(plain.body, "Unsubscribe"), timeout=WAIT) as response:
        assert response.status == 200
    assert all(s["Endpoint"] != address for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"])


def test_email_json_subscriber_confirms_with_the_token_and_receives_the_json_notification(lab, mailbox, topic):
    sns, address = lab.client("sns"), _address("json")
    answer = sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=address, ReturnSubscriptionArn=True)
    arn = answer["SubscriptionArn"]
    assert arn.startswith(topic + ":"), "ReturnSubscriptionArn gives the ARN even while pending"
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "true"

    document = mailbox.wait_for(lambda m: True, WAIT, address=address).json()
    assert document["Type"] == "SubscriptionConfirmation" and document["TopicArn"] == topic
    assert set(document) >= {
        "MessageId",
        "Token",
        "Message",
        "SubscribeURL",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    }
    assert f"Token={document['Token']}" in document["SubscribeURL"]
    assert sns.confirm_subscription(TopicArn=topic, Token=document["Token"])["SubscriptionArn"] == arn

    published = sns.publish(
        TopicArn=topic,
        Message='{"orderId": "o-1"}',
        Subject="Order alert",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "dlq"}},
    )
    mail = mailbox.wait_for(lambda m: m.json()["Type"] == "Notification", WAIT, address=address)
    note = mail.json()
    assert mail.subject == "Order alert"
    assert {k: note[k] for k in ("Type", "MessageId", "TopicArn", "Subject", "Message")} == {
        "Type": "Notification",
        "MessageId": published["MessageId"],
        "TopicArn": topic,
        "Subject": "Order alert",
        "Message": '{"orderId": "o-1"}',
    }
    assert set(note) >= {"Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"}
    assert arn in note["UnsubscribeURL"]
    assert note["MessageAttributes"] == {"kind": {"Type": "String", "Value": "dlq"}}


def test_filter_policy_and_message_structure_apply_to_email(lab, mailbox, topic):
    sns, address = lab.client("sns"), _address("filtered")
    arn = sns.subscribe(
        TopicArn=topic,
        Protocol="email",
        Endpoint=address,
        ReturnSubscriptionArn=True,
        Attributes={"FilterPolicy": json.dumps({"severity": ["high"]})},
    )["SubscriptionArn"]
    token = re.search(r"Token=(\w+)", mailbox.wait_for(lambda m: True, WAIT, address=address).body).group(1)
    sns.confirm_subscription(TopicArn=topic, Token=token)

    low = {"severity": {"DataType": "String", "StringValue": "low"}}
    high = {"severity": {"DataType": "String", "StringValue": "high"}}
    sns.publish(TopicArn=topic, Message="filtered out", MessageAttributes=low)
    sns.publish(
        TopicArn=topic,
        MessageStructure="json",
        MessageAttributes=high,
        Message=json.dumps({"default": "for everyone", "email": "for e-mail"}),
    )
    mail = mailbox.wait_for(lambda m: m.subject == "AWS Notification Message", WAIT, address=address)
    assert mail.body.startswith("for e-mail" + FOOTER)
    assert [m.body.split("\n")[0] for m in mailbox.messages(address)][1:] == ["for e-mail"]
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"


def test_subscribing_again_while_pending_mails_a_new_confirmation(lab, mailbox, topic):
    sns, address = lab.client("sns"), _address("again")
    for _ in range(2):
        assert (
            sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)["SubscriptionArn"]
            == "pending confirmation"
        )
    mailbox.wait_for(lambda m: len(mailbox.messages(address)) == 2, WAIT, address=address)
    assert [
        s["Protocol"]
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if s["Endpoint"] == address
    ] == ["email"], "still one subscription"


def test_an_email_endpoint_must_be_an_email_address(lab, topic):
    with pytest.raises(ClientError) as caught:
        lab.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="not-an-address")
    assert error_code(caught.value) == "InvalidParameter"
    assert "Email address" in str(caught.value)


def test_an_alarm_mails_email_subscribers_a_readable_message_and_queues_the_json(lab, mailbox, topic):
    """CloudWatch publishes one message per protocol (https://docs.aws.amazon.com/sns/latest/dg/sns-send-custom-platform-specific-payloads-mobile-devices.html
    ``MessageStructure=json``): e-mail subscribers get the readable alarm mail, SQS/email-json the JSON
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-sns-notification.html)."""
    sns, address = lab.client("sns"), _address("oncall")
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    confirmation = mailbox.wait_for(lambda m: True, WAIT, address=address)
    with urllib.request.urlopen(_url(confirmation.body, "ConfirmSubscription"), timeout=WAIT) as response:
        assert response.status == 200
    cloudwatch, name = lab.client("cloudwatch"), lab.name(f"mail-{uuid.uuid4().hex[:6]}")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=f"OrderLab/{lab.prefix}/mail",
        MetricName="Quiet",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()],
    )
    try:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Fire drill")
        mail = mailbox.wait_for(lambda m: m.subject.startswith(f'ALARM: "{name}"'), WAIT * 3, address=address)
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])

    assert mail.body.startswith(
        f'You are receiving this email because your Amazon CloudWatch Alarm "{name}" in the '
        f'US East (N. Virginia) region has entered the ALARM state, because "Fire drill"'
    )
    assert (
        "- State Change:               OK -> ALARM" in mail.body
        or "- State Change:               INSUFFICIENT_DATA -> ALARM" in mail.body
    )
    assert f"- ALARM: [{topic}]" in mail.body and FOOTER in mail.body
    with pytest.raises(ValueError):
        json.loads(mail.body)  # not the JSON document
