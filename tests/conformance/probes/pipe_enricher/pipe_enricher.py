"""Conformance probes for EventBridge Pipes: an enrichment and a target that reports its batches.

Pipes invokes a Lambda enrichment or target with the batch as a JSON *array*
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html), so both
handlers take a list. Standard library and the runtime's boto3 only.

* ``pipe_enricher.enrich``: replaces each event by ``{"enrichedBy": "pipe_enricher", "orderId",
  "valueTier", "sourceEventId"}`` read from a DynamoDB stream record's ``NewImage`` (or an SQS
  record's JSON body); an item whose ``drop`` attribute is ``"yes"`` is left out (enrichment as a
  filter). What it returns replaces the batch
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes.html#pipes-enrichment).
* ``pipe_enricher.capture``: a target that sends ``{"requestId", "event"}`` (the whole batch it
  received) as one message to the queue ``CAPTURE_QUEUE_URL``, so a test can read what the pipe
  delivered; ``{"fail": true}`` in an SQS body makes it raise.

>>> enrich([{"eventID": "e1", "dynamodb": {"NewImage": {"orderId": {"S": "o-1"}, "valueTier": {"S": "HIGH"}}}}], None)
[{'enrichedBy': 'pipe_enricher', 'orderId': 'o-1', 'valueTier': 'HIGH', 'sourceEventId': 'e1'}]
"""

import json
import os

_sqs = None


def _fields(event):
    """(orderId, valueTier, drop) of a DynamoDB stream record or an SQS record with a JSON body."""
    if not isinstance(event, dict):
        return None, None, False
    image = (event.get("dynamodb") or {}).get("NewImage")
    if isinstance(image, dict):

        def text(name):
            return (image.get(name) or {}).get("S")

        return text("orderId"), text("valueTier"), text("drop") == "yes"
    try:
        body = json.loads(event.get("body") or "{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return body.get("orderId"), body.get("valueTier"), body.get("drop") == "yes"


def enrich(event, context):
    enriched = []
    for item in event if isinstance(event, list) else [event]:
        order_id, tier, drop = _fields(item)
        if drop:
            continue
        source_id = item.get("eventID") or item.get("messageId") if isinstance(item, dict) else None
        enriched.append(
            {"enrichedBy": "pipe_enricher", "orderId": order_id, "valueTier": tier, "sourceEventId": source_id}
        )
    return enriched


class CaptureFailure(Exception):
    """A message asked the capture target to fail."""


def capture(event, context):
    global _sqs
    if _sqs is None:
        import boto3

        _sqs = boto3.client("sqs")
    _sqs.send_message(
        QueueUrl=os.environ["CAPTURE_QUEUE_URL"],
        MessageBody=json.dumps({"requestId": context.aws_request_id, "event": event}),
    )
    for item in event if isinstance(event, list) else []:
        try:
            body = json.loads(item.get("body") or "{}") if isinstance(item, dict) else {}
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("fail"):
            raise CaptureFailure("a message of this batch asked the target to fail")
    return None
