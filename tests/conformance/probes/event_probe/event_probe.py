"""Conformance probe for event source mappings (DynamoDB Streams and SQS).

Every invocation is written to the DynamoDB table named by ``INVOCATIONS_TABLE`` before the
probe acts, so a test can count invocations and read the exact events Lambda delivered:
``{id: request id, source: eventSourceARN, at: epoch seconds, outcome, records: JSON}``.

What the probe does is driven by the data:

* DynamoDB stream record: the item's ``behaviour`` attribute (new image, else old image):
  ``raise`` fails the invocation; ``report`` reports that record in ``batchItemFailures``.
* SQS message: its JSON body ``{"behaviour": ..., "until": n, "visibility": s}``, acting only
  while the message's ApproximateReceiveCount is below ``until`` (always when absent):
  ``raise``; ``report`` (its messageId in ``batchItemFailures``); ``bad-id`` (an
  ``itemIdentifier`` that names no message of the batch); ``extend-then-raise``
  (ChangeMessageVisibility of its own receipt handle to ``visibility`` seconds, then raise).
"""

import json
import os
import time

import boto3

_dynamodb = boto3.client("dynamodb")
_sqs = None


class ProbeFailure(Exception):
    """The failure a record asked for."""


def _stream_behaviour(record):
    change = record.get("dynamodb") or {}
    image = change.get("NewImage") or change.get("OldImage") or {}
    return (image.get("behaviour") or {}).get("S", "")


def _message_instruction(record):
    try:
        body = json.loads(record.get("body") or "{}")
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    until = body.get("until")
    received = int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
    if until is not None and received >= int(until):
        return {}
    return body


def _queue_url(source_arn):
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    _, _, _, _, account, name = source_arn.split(":", 5)
    return _sqs, _sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _plan(records):
    """(outcome, batchItemFailures, visibility changes) for this batch."""
    failures, raise_it, extend = [], False, []
    for record in records:
        if record.get("eventSource") == "aws:dynamodb":
            behaviour = _stream_behaviour(record)
            if behaviour == "raise":
                raise_it = True
            elif behaviour == "report":
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        elif record.get("eventSource") == "aws:sqs":
            instruction = _message_instruction(record)
            behaviour = instruction.get("behaviour")
            if behaviour == "raise":
                raise_it = True
            elif behaviour == "report":
                failures.append({"itemIdentifier": record["messageId"]})
            elif behaviour == "bad-id":
                failures.append({"itemIdentifier": "no-such-message-" + record["messageId"]})
            elif behaviour == "extend-then-raise":
                extend.append((record, int(instruction.get("visibility", 0))))
                raise_it = True
    outcome = "raise" if raise_it else ("partial" if failures else "ok")
    return outcome, failures, extend


def handler(event, context):
    records = event.get("Records") or []
    outcome, failures, extend = _plan(records)
    source = records[0].get("eventSourceARN", "") if records else ""
    _dynamodb.put_item(
        TableName=os.environ["INVOCATIONS_TABLE"],
        Item={
            "id": {"S": context.aws_request_id},
            "source": {"S": source},
            "at": {"N": repr(time.time())},
            "outcome": {"S": outcome},
            "records": {"S": json.dumps(records, sort_keys=True)},
        },
    )
    for record, seconds in extend:
        sqs, url = _queue_url(record["eventSourceARN"])
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=seconds)
    if outcome == "raise":
        raise ProbeFailure("a record of this batch asked the probe to fail")
    return {"batchItemFailures": failures}
