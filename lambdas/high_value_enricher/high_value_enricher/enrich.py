"""Pure enrichment: a DynamoDB stream record of a new high-value order → the message the queue gets.

A pipe hands its enrichment the *batch* (a JSON array) of records that passed its filter, each shaped
as Lambda receives stream records; whatever array the enrichment returns becomes the events sent to the
target, one SQS message each (https://docs.aws.amazon.com/eventbridge/latest/userguide/pipes-enrichment.html).

>>> record = {"eventName": "INSERT", "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/a-orders/stream/x",
...           "dynamodb": {"SequenceNumber": "100", "NewImage": {
...               "orderId": {"S": "o-1"}, "total": {"N": "6200"}, "currency": {"S": "EUR"},
...               "valueTier": {"S": "HIGH"}, "itemCount": {"N": "2"}, "createdAt": {"S": "2024-05-01T12:00:00.000Z"},
...               "customer": {"M": {"id": {"S": "cust-vip-1"}, "name": {"S": "Ada"}}}}}}
>>> enrich_record(record, EnrichmentSettings(vip_customers=frozenset({"cust-vip-1"})))["priority"]
'P1'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["EnrichmentSettings", "InvalidRecord", "enrich_batch", "enrich_record", "priority_of", "settings_from_env"]

DEFAULT_P1_TOTAL = Decimal("5000")


class InvalidRecord(ValueError):
    """A record the enrichment cannot read: the pipe must not deliver a half-made message."""


@dataclass(frozen=True)
class EnrichmentSettings:
    """``vip_customers`` get tier VIP; orders of at least ``p1_total`` (or from a VIP) get priority P1."""

    vip_customers: frozenset[str] = frozenset()
    p1_total: Decimal = DEFAULT_P1_TOTAL


def settings_from_env(environ: Mapping[str, str]) -> EnrichmentSettings:
    """Read ``VIP_CUSTOMERS`` (comma-separated ids) and ``P1_TOTAL`` (default 5000).

    >>> settings = settings_from_env({"VIP_CUSTOMERS": "a, b", "P1_TOTAL": "2500"})
    >>> sorted(settings.vip_customers), settings.p1_total
    (['a', 'b'], Decimal('2500'))
    """
    vips = frozenset(part.strip() for part in environ.get("VIP_CUSTOMERS", "").split(",") if part.strip())
    raw = environ.get("P1_TOTAL", "").strip()
    try:
        p1_total = Decimal(raw) if raw else DEFAULT_P1_TOTAL
    except InvalidOperation:
        raise RuntimeError(f"P1_TOTAL must be an amount such as 5000, got {raw!r}") from None
    if not p1_total.is_finite() or p1_total <= 0:
        raise RuntimeError(f"P1_TOTAL must be a positive amount, got {raw!r}")
    return EnrichmentSettings(vip_customers=vips, p1_total=p1_total)


def priority_of(total: Decimal, tier: str, settings: EnrichmentSettings) -> str:
    """``P1`` for a VIP or a total of at least ``p1_total``, else ``P2``.

    >>> s = EnrichmentSettings()
    >>> (priority_of(Decimal("5000"), "STANDARD", s), priority_of(Decimal("1200"), "VIP", s),
    ...  priority_of(Decimal("1200"), "STANDARD", s))
    ('P1', 'P1', 'P2')
    """
    return "P1" if tier == "VIP" or total >= settings.p1_total else "P2"


def _attribute(image: Mapping[str, Any], name: str, kind: str) -> Any:
    value = image.get(name)
    if not isinstance(value, dict) or kind not in value:
        raise InvalidRecord(f"NewImage.{name} must be a DynamoDB {kind!r} attribute, got {value!r}")
    return value[kind]


def enrich_record(record: Mapping[str, Any], settings: EnrichmentSettings) -> dict[str, Any]:
    """Turn one stream record into ``{orderId, total, currency, customerId, customerTier, priority, ...}``.

    ``total`` stays an exact string ("6200.00"): JSON numbers would go through float on the way.
    """
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not isinstance(image, dict):
        raise InvalidRecord(
            f"record {record.get('eventID')!r} has no NewImage (the table's stream view must include new images)"
        )
    try:
        total = Decimal(_attribute(image, "total", "N"))
    except InvalidOperation:
        raise InvalidRecord(f"NewImage.total is not a number: {image.get('total')!r}") from None
    customer = _attribute(image, "customer", "M")
    customer_id = _attribute(customer, "id", "S")
    tier = "VIP" if customer_id in settings.vip_customers else "STANDARD"
    return {
        "orderId": _attribute(image, "orderId", "S"),
        "total": str(total.quantize(Decimal("0.01"))),
        "currency": _attribute(image, "currency", "S"),
        "valueTier": _attribute(image, "valueTier", "S"),
        "itemCount": int(_attribute(image, "itemCount", "N")),
        "createdAt": _attribute(image, "createdAt", "S"),
        "customerId": customer_id,
        "customerTier": tier,
        "priority": priority_of(total, tier, settings),
        "sequenceNumber": (record.get("dynamodb") or {}).get("SequenceNumber"),
    }


def enrich_batch(batch: Any, settings: EnrichmentSettings) -> list[dict[str, Any]]:
    """Enrich every record of the pipe's batch, in order. A batch that is not a list is refused.

    Any unreadable record fails the whole batch (the pipe retries it, then sends it to its
    dead-letter queue): better than delivering a message without a priority.
    """
    if isinstance(batch, dict):  # one event (a pipe with batch size 1 may still send a list; be lenient)
        batch = [batch]
    if not isinstance(batch, list):
        raise InvalidRecord(f"expected the pipe's batch (a JSON array), got {type(batch).__name__}")
    return [enrich_record(record, settings) for record in batch]
