"""AWS-shaped test events: API Gateway HTTP API (payload format 2.0), DynamoDB Streams and SQS
events, and a Lambda context.

Used by the unit tests and by notebooks that invoke a function directly (the console's "Test").

The HTTP event mirrors what AWS sends to a Lambda proxy integration on the ``$default`` stage::

    event = http_api_event("POST", "/orders", body={"customer": ...}, headers={"Idempotency-Key": "k1"})
    event = http_api_event("GET", f"/orders/{order_id}", path_parameters={"orderId": order_id})

The stream and queue events mirror what an event source mapping delivers::

    event = dynamodb_stream_event([dynamodb_stream_record("INSERT", {"orderId": "o-1", "total": Decimal("9.99")})])
    event = sqs_event([sqs_record({"orderId": "o-1"}, receive_count=2)])
"""

from __future__ import annotations

import base64 as b64
import hashlib
import itertools
import json
import struct
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

ACCOUNT_ID = "123456789012"
API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
DOMAIN_NAME = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
SOURCE_IP = "203.0.113.10"
USER_AGENT = "orderlab-http-api-client/1.0"


def _route_key(method: str, path: str, path_parameters: dict[str, str] | None) -> str:
    """Rebuild the API's route template, e.g. ``GET /orders/{orderId}``."""
    template = path
    for name, value in (path_parameters or {}).items():
        template = template.replace(value, "{" + name + "}", 1)
    return f"{method} {template}"


def http_api_event(
    method: str,
    path: str,
    body: str | bytes | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    base64: bool = False,
    path_parameters: dict[str, str] | None = None,
    *,
    query_string: str = "",
    route_key: str | None = None,
) -> dict[str, Any]:
    """Return an HTTP API payload-2.0 event as API Gateway delivers it to Lambda.

    ``body`` may be a str/bytes (sent as is) or a dict/list (JSON-encoded). With
    ``base64=True`` the body is base64-encoded and ``isBase64Encoded`` is true, as API
    Gateway does for non-text content types. Header names are lower-cased like AWS does.
    """
    method = method.upper()
    if isinstance(body, (dict, list)):
        raw: bytes | None = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raw = body

    all_headers: dict[str, str] = {
        "accept": "*/*",
        "host": DOMAIN_NAME,
        "user-agent": USER_AGENT,
        "x-amzn-trace-id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if raw is not None:
        all_headers["content-length"] = str(len(raw))
        all_headers["content-type"] = "application/octet-stream" if base64 else "application/json"
    for name, value in (headers or {}).items():
        all_headers[name.lower()] = value

    now = datetime.now(UTC)
    key = route_key or _route_key(method, path, path_parameters)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": DOMAIN_NAME,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": f"{uuid.uuid4().hex[:14]}=",
            "routeKey": key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(base64 and raw is not None),
    }
    if raw is not None:
        event["body"] = b64.b64encode(raw).decode("ascii") if base64 else raw.decode("utf-8")
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if query_string:
        event["queryStringParameters"] = {
            key: value for key, _, value in (pair.partition("=") for pair in query_string.split("&"))
        }
    return event


@dataclass
class FakeLambdaContext:
    """The parts of the Lambda context object that Powertools and handlers read."""

    function_name: str = "create-order"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:create-order"
    log_group_name: str = "/aws/lambda/create-order"
    log_stream_name: str = "2024/01/01/[$LATEST]0123456789abcdef"
    remaining_millis: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


# --------------------------------------------------------------------------- DynamoDB Streams

STREAM_LABEL = "2024-05-01T12:00:00.000"
"""The stream's label (its creation time), the last part of a stream ARN."""

_SEQUENCE_BASE = 4421584500000000017450439091
_sequence_counter = itertools.count(1)


def next_sequence_number() -> str:
    """Return a new, increasing DynamoDB Streams sequence number (a decimal string, 28 digits)."""
    return str(_SEQUENCE_BASE + 100 * next(_sequence_counter))


def _like_dynamodb_number(value: Any) -> Any:
    """Plain values with numbers as DynamoDB returns them (``5.00`` -> ``5``, ``100`` stays ``100``)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes, bytearray)):
        return value
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        return Decimal(format(number.normalize(), "f"))
    if isinstance(value, Mapping):
        return {key: _like_dynamodb_number(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_like_dynamodb_number(inner) for inner in value]
    if isinstance(value, (set, frozenset)):
        return {_like_dynamodb_number(inner) for inner in value}
    return value


def dynamodb_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """Serialise a plain item into DynamoDB JSON (``{"S": ...}``, ``{"N": ...}``) as a stream shows it.

    Numbers may be int, float or Decimal; they come out normalised as DynamoDB stores them.
    """
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {name: serializer.serialize(_like_dynamodb_number(value)) for name, value in item.items()}


def dynamodb_stream_record(
    event_name: str,
    new_image: Mapping[str, Any] | None = None,
    old_image: Mapping[str, Any] | None = None,
    sequence_number: str | None = None,
    *,
    key_names: Iterable[str] = ("orderId",),
    keys: Mapping[str, Any] | None = None,
    typed: bool = False,
    table_name: str = "orders",
    event_id: str | None = None,
    approximate_creation_time: float | None = None,
    stream_view_type: str = "NEW_AND_OLD_IMAGES",
) -> dict[str, Any]:
    """Return one DynamoDB Streams record as Lambda delivers it (``eventVersion`` 1.1).

    ``new_image`` / ``old_image`` are plain items (serialised here) or, with ``typed=True``,
    DynamoDB JSON used as is (to build malformed records). ``Keys`` are taken from the image
    (``key_names``) unless given. ``INSERT`` has only a ``NewImage``, ``REMOVE`` only an
    ``OldImage``, ``MODIFY`` both; pass what the event needs. ``sequence_number`` defaults to
    the next one of an increasing counter.
    """
    event_name = event_name.upper()
    if event_name not in {"INSERT", "MODIFY", "REMOVE"}:
        raise ValueError(f"event_name must be INSERT, MODIFY or REMOVE, got {event_name!r}")
    new_typed = None if new_image is None else (dict(new_image) if typed else dynamodb_json(new_image))
    old_typed = None if old_image is None else (dict(old_image) if typed else dynamodb_json(old_image))
    if keys is not None:
        typed_keys = dict(keys) if typed else dynamodb_json(keys)
    else:
        source = new_typed if new_typed is not None else (old_typed or {})
        typed_keys = {name: source[name] for name in key_names if name in source}

    stream: dict[str, Any] = {
        "ApproximateCreationDateTime": float(
            int(time.time()) if approximate_creation_time is None else approximate_creation_time
        ),
        "Keys": typed_keys,
    }
    if new_typed is not None:
        stream["NewImage"] = new_typed
    if old_typed is not None:
        stream["OldImage"] = old_typed
    size = len(json.dumps({"Keys": typed_keys, "NewImage": new_typed, "OldImage": old_typed}).encode("utf-8"))
    stream["SequenceNumber"] = sequence_number or next_sequence_number()
    stream["SizeBytes"] = size
    stream["StreamViewType"] = stream_view_type
    return {
        "eventID": event_id or uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": stream,
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table_name}/stream/{STREAM_LABEL}",
    }


def dynamodb_stream_event(records: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Return a DynamoDB Streams event (``{"Records": [...]}``) as an event source mapping delivers it."""
    return {"Records": [dict(record) for record in records or []]}


# --------------------------------------------------------------------------- SQS

SQS_SENDER_ID = "AROAIWPX5BD2BHG722MW4:stream-processor"
"""``SenderId`` of a message sent by a Lambda function's role (role id ``:`` session name)."""


def _message_attribute(value: Any) -> dict[str, Any]:
    """A message attribute in the Lambda event's shape (lower-camel keys, list fields empty)."""
    if isinstance(value, Mapping):
        attribute = {"stringListValues": [], "binaryListValues": [], **value}
        if "dataType" not in attribute:
            raise ValueError("a message attribute given as a mapping needs a dataType")
        return attribute
    if isinstance(value, (bytes, bytearray)):
        return {
            "binaryValue": b64.b64encode(bytes(value)).decode("ascii"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        }
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return {"stringValue": str(value), "stringListValues": [], "binaryListValues": [], "dataType": "Number"}
    return {"stringValue": str(value), "stringListValues": [], "binaryListValues": [], "dataType": "String"}


def md5_of_message_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """SQS's MD5 of message attributes (names sorted; each name, type and value length-prefixed)."""
    digest = hashlib.md5()  # SQS's checksum, not security

    def _put(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        attribute = attributes[name]
        _put(name.encode("utf-8"))
        _put(attribute["dataType"].encode("utf-8"))
        if attribute.get("binaryValue") is not None:
            digest.update(b"\x02")
            _put(b64.b64decode(attribute["binaryValue"]))
        else:
            digest.update(b"\x01")
            _put(str(attribute["stringValue"]).encode("utf-8"))
    return digest.hexdigest()


def sqs_record(
    body: str | Mapping[str, Any] | list[Any],
    receive_count: int = 1,
    message_id: str | None = None,
    *,
    message_attributes: Mapping[str, Any] | None = None,
    receipt_handle: str | None = None,
    sent_timestamp: int | None = None,
    first_receive_timestamp: int | None = None,
    sender_id: str = SQS_SENDER_ID,
    queue_name: str = "orders",
) -> dict[str, Any]:
    """Return one SQS message as the SQS event source mapping delivers it to Lambda.

    ``body`` is a string (as is) or JSON-encoded. ``message_attributes`` maps names to a
    string (``String``), a number (``Number``), bytes (``Binary``) or an attribute mapping
    already in the event's shape. Timestamps are epoch milliseconds, sent as strings like AWS.
    """
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    now_ms = int(time.time() * 1000)
    sent = sent_timestamp if sent_timestamp is not None else now_ms - 1000 * max(receive_count - 1, 0) - 5
    first = first_receive_timestamp if first_receive_timestamp is not None else sent + 5
    attributes = {name: _message_attribute(value) for name, value in (message_attributes or {}).items()}
    record: dict[str, Any] = {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": receipt_handle or "AQEB" + b64.b64encode(uuid.uuid4().bytes * 6).decode("ascii"),
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent),
            "SenderId": sender_id,
            "ApproximateFirstReceiveTimestamp": str(first),
        },
        "messageAttributes": attributes,
        "md5OfBody": hashlib.md5(text.encode("utf-8")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name}",
        "awsRegion": REGION,
    }
    if attributes:
        record["md5OfMessageAttributes"] = md5_of_message_attributes(attributes)
    return record


def sqs_event(messages: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Return an SQS event (``{"Records": [...]}``) as the SQS event source mapping delivers it."""
    return {"Records": [dict(message) for message in messages or []]}
