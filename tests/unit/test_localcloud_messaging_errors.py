"""SQS and SNS errors worded and typed as AWS's (localcloud/services/sqs/responses.py, sns.py), without a server."""

from __future__ import annotations

import json

from localcloud.services.sns.responses import _error_codes, aws_error, subscription_error
from localcloud.services.sqs.responses import namespaced_error


def test_sqs_json_errors_carry_the_namespaced_type() -> None:
    status, headers, body = namespaced_error(
        400,
        {
            "x-amzn-errortype": "QueueDoesNotExist",
            "x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender",
        },
        json.dumps(
            {"__type": "QueueDoesNotExist", "message": "The specified queue does not exist for this wsdl version."}
        ).encode(),
    )
    assert status == 400 and headers["x-amzn-errortype"] == "com.amazonaws.sqs#QueueDoesNotExist"
    assert json.loads(body) == {
        "__type": "com.amazonaws.sqs#QueueDoesNotExist",
        "message": "The specified queue does not exist.",
    }
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"


def test_an_already_namespaced_error_is_left_alone() -> None:
    headers = {"x-amzn-errortype": "com.amazonaws.sqs#OverLimit"}
    assert namespaced_error(403, headers, b"{}") == (403, headers, b"{}")


def test_sns_codes_come_from_the_api_model() -> None:
    codes = _error_codes()
    assert codes["InvalidParameterException"] == "InvalidParameter"
    assert aws_error("InvalidParameterException", "Protocol is required", codes) == (
        "InvalidParameter",
        "Protocol is required",
    )
    assert aws_error("NotFound", "Topic does not exist: arn:aws:sns:us-east-1:000000000000:t", codes) == (
        "NotFound",
        "Topic does not exist",
    )


def test_sqs_subscriptions_are_checked_for_form_and_fifo_kind() -> None:
    arn = "arn:aws:sqs:us-east-1:000000000000:orders"
    assert subscription_error("sqs", arn, topic_is_fifo=False) is None
    assert subscription_error("email", "ada@example.com", topic_is_fifo=False) is None
    assert subscription_error("sqs", "https://sqs.us-east-1.amazonaws.com/000000000000/orders", False) == (
        "Invalid parameter: SQS endpoint ARN"
    )
    assert "FIFO SQS Queues can not be subscribed to standard SNS topics" in subscription_error(
        "sqs", arn + ".fifo", False
    )
    assert subscription_error("sqs", arn + ".fifo", topic_is_fifo=True) is None
