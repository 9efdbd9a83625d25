"""Pure stream logic: DynamoDB Streams record -> order message -> SQS batch entry.

Nothing here touches AWS, the clock or the environment (``TypeDeserializer`` is plain
Python from boto3, which the Lambda runtime provides), so every function can be called
(and tested) directly::

    >>> record = {
    ...     "eventID": "c4ca4238a0b923820dcc509a6f75849b", "eventName": "INSERT",
    ...     "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
    ...     "dynamodb": {
    ...         "ApproximateCreationDateTime": 1714566645.0,
    ...         "Keys": {"orderId": {"S": "o-1"}},
    ...         "NewImage": {
    ...             "orderId": {"S": "o-1"}, "status": {"S": "PENDING"},
    ...             "customer": {"M": {"id": {"S": "c-1"}, "name": {"S": "Ada"}}},
    ...             "items": {"L": [{"M": {"sku": {"S": "PEN"}, "quantity": {"N": "2"},
    ...                                    "unitPrice": {"N": "5"}}}]},
    ...             "total": {"N": "10"}, "currency": {"S": "EUR"},
    ...             "createdAt": {"S": "2024-05-01T12:30:45.678Z"}},
    ...         "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 180,
    ...         "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    >>> message = to_order_message(record)
    >>> message["items"], message["total"], message["fault"]
    ([{'sku': 'PEN', 'quantity': 2, 'unitPrice': '5.00'}], '10.00', None)
    >>> message["source"]["sequenceNumber"]
    '4421584500000000017450439091'
    >>> entry = send_entry(message, "r0")
    >>> entry["MessageAttributes"]
    {'orderId': {'DataType': 'String', 'StringValue': 'o-1'}}
    >>> to_order_message({**record, "eventName": "MODIFY"}) is None
    True

Money stays exact: DynamoDB numbers come back as :class:`~decimal.Decimal` (never float) and
go out as strings with two decimal places (more only if the stored value has more).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Context, Decimal
from typing import Any, TypedDict, TypeVar

from boto3.dynamodb.types import TypeDeserializer

__all__ = [
    "MAX_BATCH_SIZE",
    "MalformedRecord",
    "OrderLineMessage",
    "OrderMessage",
    "SourceInfo",
    "batch_response",
    "chunked",
    "failure_to_report",
    "format_money",
    "message_attributes",
    "record_keys",
    "send_entry",
    "sequence_number",
    "to_order_message",
]

MAX_BATCH_SIZE = 10
"""Most entries SQS accepts in one ``SendMessageBatch`` call."""

INSERT = "INSERT"
"""The only stream event that becomes a message (a new order)."""

_CENT = Decimal("0.01")
_WIDE = Context(prec=80)  # quantize never fails on DynamoDB's 38-digit numbers
_deserializer = TypeDeserializer()

T = TypeVar("T")


class OrderLineMessage(TypedDict):
    """One order line in a message: ``unitPrice`` is an exact decimal string."""

    sku: str
    quantity: int
    unitPrice: str


class SourceInfo(TypedDict):
    """Where a message came from: the stream record (``approximateCreationDateTime`` is
    passed through as the event gives it, epoch seconds on AWS, or None)."""

    eventID: str | None
    sequenceNumber: str
    approximateCreationDateTime: int | float | str | None


class OrderMessage(TypedDict):
    """The body of an order message on the SQS order queue (serialised as JSON)."""

    orderId: str
    customerId: str
    customerName: str
    items: list[OrderLineMessage]
    total: str
    currency: str
    createdAt: str
    fault: str | None
    source: SourceInfo


class MalformedRecord(Exception):
    """An INSERT record whose ``NewImage`` cannot be turned into an order message.

    >>> str(MalformedRecord("total: missing", sequence_number="111"))
    'total: missing'
    """

    def __init__(self, reason: str, *, sequence_number: str | None = None) -> None:
        self.reason = reason
        self.sequence_number = sequence_number
        super().__init__(reason)


# --------------------------------------------------------------------------- record fields


def sequence_number(record: Mapping[str, Any]) -> str:
    """Return the record's ``dynamodb.SequenceNumber`` (the batch item identifier of a stream).

    >>> sequence_number({"dynamodb": {"SequenceNumber": "111"}})
    '111'

    A record without one is not a DynamoDB Streams record at all: ``ValueError``.
    """
    stream_record = record.get("dynamodb")
    value = stream_record.get("SequenceNumber") if isinstance(stream_record, Mapping) else None
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"Not a DynamoDB Streams record (no dynamodb.SequenceNumber): eventID={record.get('eventID')!r}"
        )
    return value


def record_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the record's ``dynamodb.Keys`` as plain values (raw if they cannot be read).

    >>> record_keys({"dynamodb": {"Keys": {"orderId": {"S": "o-1"}}}})
    {'orderId': 'o-1'}
    >>> record_keys({"dynamodb": {}})
    {}
    """
    stream_record = record.get("dynamodb")
    keys = stream_record.get("Keys") if isinstance(stream_record, Mapping) else None
    if not isinstance(keys, Mapping):
        return {}
    try:
        return {name: _plain_key(_deserializer.deserialize(value)) for name, value in keys.items()}
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError):
        return dict(keys)


def _plain_key(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


# --------------------------------------------------------------------------- conversion


def to_order_message(record: Mapping[str, Any]) -> OrderMessage | None:
    """Turn one DynamoDB Streams record into an order message.

    Returns None for anything but ``INSERT`` (``MODIFY``/``REMOVE``: the order worker's own
    status updates and deletions are not new orders). Raises :class:`MalformedRecord` when
    an INSERT's ``NewImage`` is missing, is not valid DynamoDB JSON, or lacks an order field,
    naming every problem::

        >>> to_order_message({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "111",
        ...     "NewImage": {"orderId": {"S": "o-1"}, "items": {"L": []}}}})  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        stream_processor.messages.MalformedRecord: customer: missing; items: must be a non-empty list;
            total: missing; currency: missing; createdAt: missing
    """
    if record.get("eventName") != INSERT:
        return None
    sequence = sequence_number(record)
    stream_record = record["dynamodb"]
    image = stream_record.get("NewImage")
    if not isinstance(image, Mapping) or not image:
        raise MalformedRecord(
            "INSERT record has no NewImage (the stream view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES)",
            sequence_number=sequence,
        )
    try:
        item = {name: _deserializer.deserialize(value) for name, value in image.items()}
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        raise MalformedRecord(f"NewImage is not valid DynamoDB JSON: {exc}", sequence_number=sequence) from None

    problems: list[str] = []
    order_id = _text(item, "orderId", problems)
    customer_id = customer_name = None
    customer = item.get("customer")
    if customer is None:
        problems.append("customer: missing")
    elif not isinstance(customer, Mapping):
        problems.append("customer: must be a map")
    else:
        customer_id = _text(customer, "id", problems, where="customer.id")
        customer_name = _text(customer, "name", problems, where="customer.name")
    lines = _lines(item.get("items"), problems)
    total = _money(item, "total", problems)
    currency = _text(item, "currency", problems)
    created_at = _text(item, "createdAt", problems)
    fault = item.get("fault")
    if fault is not None and not isinstance(fault, str):
        problems.append("fault: must be a string")
        fault = None
    if problems:
        raise MalformedRecord("; ".join(problems), sequence_number=sequence)

    approximate = stream_record.get("ApproximateCreationDateTime")
    event_id = record.get("eventID")
    return OrderMessage(
        orderId=order_id or "",
        customerId=customer_id or "",
        customerName=customer_name or "",
        items=lines,
        total=total or "",
        currency=currency or "",
        createdAt=created_at or "",
        fault=fault,
        source=SourceInfo(
            eventID=event_id if isinstance(event_id, str) else None,
            sequenceNumber=sequence,
            approximateCreationDateTime=approximate
            if _is_number(approximate) or isinstance(approximate, str)
            else None,
        ),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(item: Mapping[str, Any], name: str, problems: list[str], *, where: str | None = None) -> str | None:
    where = where or name
    value = item.get(name)
    if value is None:
        problems.append(f"{where}: missing")
        return None
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: must be a non-empty string")
        return None
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def _money(item: Mapping[str, Any], name: str, problems: list[str], *, where: str | None = None) -> str | None:
    where = where or name
    value = item.get(name)
    if value is None:
        problems.append(f"{where}: missing")
        return None
    number = _number(value)
    if number is None:
        problems.append(f"{where}: must be a number")
        return None
    return format_money(number)


def _lines(value: Any, problems: list[str]) -> list[OrderLineMessage]:
    if not isinstance(value, list) or not value:
        problems.append("items: must be a non-empty list")
        return []
    lines: list[OrderLineMessage] = []
    for index, line in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(line, Mapping):
            problems.append(f"{where}: must be a map")
            continue
        sku = _text(line, "sku", problems, where=f"{where}.sku")
        unit_price = _money(line, "unitPrice", problems, where=f"{where}.unitPrice")
        quantity: int | None = None
        raw_quantity = line.get("quantity")
        number = _number(raw_quantity)
        if raw_quantity is None:
            problems.append(f"{where}.quantity: missing")
        elif number is None or number != number.to_integral_value():
            problems.append(f"{where}.quantity: must be a whole number")
        else:
            quantity = int(number)
        if sku is not None and unit_price is not None and quantity is not None:
            lines.append(OrderLineMessage(sku=sku, quantity=quantity, unitPrice=unit_price))
    return lines


def format_money(amount: Decimal | int) -> str:
    """Render an amount exactly: two decimal places, more only if the value has more.

    DynamoDB normalises numbers (``5.00`` is stored as ``5``), so format on the way out.
    Never rounds, never uses an exponent.

    >>> format_money(Decimal("5")), format_money(Decimal("44.98")), format_money(Decimal("1E+2"))
    ('5.00', '44.98', '100.00')
    >>> format_money(Decimal("0.125"))
    '0.125'
    """
    value = Decimal(amount)
    cents = value.quantize(_CENT, context=_WIDE)
    return format(cents if cents == value else value, "f")


# --------------------------------------------------------------------------- SQS entries


def message_attributes(message: OrderMessage) -> dict[str, dict[str, str]]:
    """Return the SQS ``MessageAttributes``: ``orderId``, and ``fault`` only when set.

    >>> message_attributes({"orderId": "o-1", "fault": "poison"})  # doctest: +NORMALIZE_WHITESPACE
    {'orderId': {'DataType': 'String', 'StringValue': 'o-1'},
     'fault': {'DataType': 'String', 'StringValue': 'poison'}}
    """
    attributes = {"orderId": {"DataType": "String", "StringValue": message["orderId"]}}
    if message.get("fault"):
        attributes["fault"] = {"DataType": "String", "StringValue": str(message["fault"])}
    return attributes


def message_body(message: OrderMessage) -> str:
    """Serialise a message body: compact JSON, keys in contract order, ASCII only.

    ASCII-escaping keeps any character of a customer's name inside what SQS accepts.

    >>> message_body({"orderId": "o-1", "customerName": "Zoë"})
    '{"orderId":"o-1","customerName":"Zo\\\\u00eb"}'
    """
    return json.dumps(message, separators=(",", ":"))


def send_entry(message: OrderMessage, entry_id: str) -> dict[str, Any]:
    """Return one ``SendMessageBatch`` entry (``entry_id`` unique within the call)."""
    return {
        "Id": entry_id,
        "MessageBody": message_body(message),
        "MessageAttributes": message_attributes(message),
    }


# --------------------------------------------------------------------------- batching and failures


def chunked(items: Sequence[T] | Iterable[T], size: int = MAX_BATCH_SIZE) -> Iterator[list[T]]:
    """Yield consecutive lists of at most ``size`` items, in order.

    >>> [len(chunk) for chunk in chunked(range(23))]
    [10, 10, 3]
    >>> list(chunked([]))
    []
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _sequence_key(sequence: str) -> tuple[int, int, str]:
    # Sequence numbers are decimal strings of varying length: compare them as numbers.
    return (0, int(sequence), "") if sequence.isdigit() else (1, 0, sequence)


def failure_to_report(failed_sequence_numbers: Iterable[str]) -> str | None:
    """Return the sequence number to report for a stream batch: the lowest failed one.

    Lambda resumes a shard from the lowest reported sequence number, so reporting the
    first failure is both sufficient and safe: every record after it is sent again
    (the order worker is idempotent). None when nothing failed.

    >>> failure_to_report(["4421584500000000017450439092", "999000000000000000000"])
    '999000000000000000000'
    >>> failure_to_report([]) is None
    True
    """
    failed = list(failed_sequence_numbers)
    return min(failed, key=_sequence_key) if failed else None


def batch_response(failed_sequence_number: str | None) -> dict[str, list[dict[str, str]]]:
    """Return the Lambda partial batch response (``ReportBatchItemFailures``).

    >>> batch_response("111")
    {'batchItemFailures': [{'itemIdentifier': '111'}]}
    >>> batch_response(None)
    {'batchItemFailures': []}
    """
    if failed_sequence_number is None:
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": failed_sequence_number}]}
