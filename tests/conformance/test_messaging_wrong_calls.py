"""SQS and SNS wrong calls a learner is likely to make, answered as AWS answers them.

Expected codes, messages and headers are those AWS returns, as recorded by tests run against
real AWS (moto's ``aws_verified`` tests: tests/test_sqs/test_sqs.py, tests/test_sns/
test_subscriptions.py and test_publishing.py in github.com/getmoto/moto), and the SNS codes
are the API's own (botocore's model: the ``InvalidParameterException`` shape has the code
``InvalidParameter``). AWS documentation:
- SQS JSON protocol errors: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html
- SendMessageBatch limits: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
- FIFO queue attributes: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html
- SNS to SQS subscriptions, FIFO: https://docs.aws.amazon.com/sns/latest/dg/fifo-sns-sqs-subscription.html
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud


def _queue(lab, sqs, component: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=lab.name(component), Attributes=attributes, tags=lab.tags)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


@pytest.fixture(scope="module")
def queue(lab, sqs):
    url, arn = _queue(lab, sqs, "wrong-calls")
    yield url, arn
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture(scope="module")
def fifo_queue(lab, sqs):
    url, arn = _queue(lab, sqs, "wrong-calls.fifo", FifoQueue="true")
    yield url, arn
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture(scope="module")
def topic(lab, sns):
    arn = sns.create_topic(Name=lab.name("wrong-calls"), Tags=[{"Key": k, "Value": v} for k, v in lab.tags.items()])
    yield arn["TopicArn"]
    sns.delete_topic(TopicArn=arn["TopicArn"])


def test_an_unknown_queue_raises_queue_does_not_exist(lab, sqs):
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as missing:
        sqs.get_queue_url(QueueName=lab.name("no-such-queue"))
    response = missing.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert response["Error"]["Message"] == "The specified queue does not exist."
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert (
        headers.get("x-amzn-errortype", "com.amazonaws.sqs#QueueDoesNotExist") == "com.amazonaws.sqs#QueueDoesNotExist"
    )
    assert headers.get("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender") == (
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    )


def test_a_deleted_or_mistyped_queue_url_raises_queue_does_not_exist(sqs, queue):
    wrong_url = queue[0] + "-typo"
    for call in (
        lambda: sqs.get_queue_attributes(QueueUrl=wrong_url, AttributeNames=["All"]),
        lambda: sqs.send_message(QueueUrl=wrong_url, MessageBody="x"),
    ):
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            call()


def test_a_batch_of_eleven_is_refused_and_nothing_is_sent(sqs, queue):
    url, _ = queue
    with pytest.raises(ClientError) as refused:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"id_{i}", "MessageBody": "b"} for i in range(11)])
    assert (
        refused.value.response["Error"]["Message"] == "Maximum number of entries per request are 10. You have sent 11."
    )
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_a_fifo_queue_reports_its_deduplication_scope_and_throughput_limit(sqs, fifo_queue):
    attributes = sqs.get_queue_attributes(QueueUrl=fifo_queue[0], AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["DeduplicationScope"] == "queue"
    assert attributes["FifoThroughputLimit"] == "perQueue"


def _sns_refusal(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    return refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]


def test_subscribing_to_an_unknown_topic_is_not_found(lab, sns, queue):
    account = lab.client("sts").get_caller_identity()["Account"]
    code, message = _sns_refusal(
        sns.subscribe,
        TopicArn=f"arn:aws:sns:{lab.region}:{account}:{lab.name('nope')}",
        Protocol="sqs",
        Endpoint=queue[1],
    )
    assert (code, message) == ("NotFound", "Topic does not exist")


@pytest.mark.parametrize("endpoint", ["unknown", "queue-url"])
def test_an_sqs_endpoint_must_be_a_queue_arn(sns, topic, queue, endpoint):
    code, message = _sns_refusal(
        sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint=queue[0] if endpoint == "queue-url" else endpoint
    )
    assert (code, message) == ("InvalidParameter", "Invalid parameter: SQS endpoint ARN")
    assert not sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]


def test_a_fifo_queue_cannot_subscribe_to_a_standard_topic(sns, topic, fifo_queue):
    code, message = _sns_refusal(sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint=fifo_queue[1])
    assert code == "InvalidParameter"
    assert message == (
        "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed "
        "to standard SNS topics"
    )
    assert not sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]


def test_a_queue_arn_subscribes_even_before_the_queue_exists(lab, sns, topic, queue):
    """AWS checks the endpoint's form, not that the queue exists."""
    unknown = queue[1].rsplit(":", 1)[0] + ":" + lab.name("not-yet")
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=unknown, ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.unsubscribe(SubscriptionArn=arn)
