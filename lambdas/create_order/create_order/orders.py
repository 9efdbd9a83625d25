"""Pure order logic: request validation, ids, hashing, and the stored/returned shapes.

Nothing here touches AWS, the clock or the environment, so every function can be
called (and tested) directly::

    >>> parsed = parse_create_order(
    ...     '{"customer": {"id": "c-1", "name": "Ada"},'
    ...     ' "items": [{"sku": "BOOK-1", "quantity": 2, "unitPrice": 19.99},'
    ...     '           {"sku": "PEN", "quantity": 1, "unitPrice": 5}]}',
    ...     {"idempotency-key": "k-1"},
    ... )
    >>> order_id = derive_order_id(parsed.request.customer.id, parsed.idempotency_key)
    >>> item = build_order_item(
    ...     parsed.request,
    ...     order_id=order_id,
    ...     created_at="2024-05-01T12:00:00.000Z",
    ...     idempotency_key=parsed.idempotency_key,
    ... )
    >>> created_response(item)["total"], item["status"], item["createdAt"]
    ('44.98', 'PENDING', '2024-05-01T12:00:00.000Z')

Money is handled as :class:`~decimal.Decimal` end to end (JSON numbers are parsed
straight into ``Decimal``, never through ``float``) and is returned to clients as an
exact string with two decimal places.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

# typing_extensions' TypedDict (a dependency of pydantic): pydantic documents the response shapes
# below from it, and refuses typing.TypedDict before Python 3.12.
from typing_extensions import TypedDict

__all__ = [
    "CREATED_STATUS",
    "FAULTS",
    "IDEMPOTENCY_HEADER",
    "IDEMPOTENCY_KEY_PATTERN",
    "MAX_BODY_BYTES",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_UNIT_PRICE",
    "ORDER_ID_NAMESPACE",
    "ORDER_ID_PATTERN",
    "PRICE_DECIMAL_PLACES",
    "CreateOrderRequest",
    "CreatedOrder",
    "Customer",
    "ErrorBody",
    "Fault",
    "FieldError",
    "IdempotencyConflict",
    "MessageBody",
    "OrderLine",
    "OrderView",
    "ParsedCreateOrder",
    "ValidationFailure",
    "build_order_item",
    "created_response",
    "derive_order_id",
    "format_money",
    "order_total",
    "parse_create_order",
    "parse_idempotency_key",
    "parse_order_id",
    "parse_threshold",
    "request_hash",
    "to_api",
    "value_tier",
]

CREATED_STATUS: Final = "PENDING"
# valueTier: a *string* attribute, because EventBridge Pipes / Lambda event filters cannot
# compare a DynamoDB stream's numbers (``{"N": "1500"}`` is a string to them): routing on
# ``total`` with a ``numeric`` rule never matches on AWS, routing on ``valueTier`` does.
HIGH_TIER = "HIGH"
STANDARD_TIER = "STANDARD"
DEFAULT_HIGH_VALUE_THRESHOLD = Decimal("1000")
"""Status of every newly created order."""

Fault = Literal["transient", "poison"]
"""The lab's fault-injection switch, carried by an order down the pipeline.

``transient``: the order worker fails the first few receives, then succeeds (retries);
``poison``: the order worker always fails it, so it ends in the dead-letter queue.
"""

FAULTS: tuple[str, ...] = ("transient", "poison")
"""Accepted values of the optional ``fault`` field."""

IDEMPOTENCY_HEADER = "Idempotency-Key"
"""Request header that makes ``POST /orders`` safe to retry (HTTP APIs deliver it lower-cased)."""

MAX_BODY_BYTES = 16 * 1024
"""Largest accepted request body, in bytes after base64 decoding."""

MAX_IDEMPOTENCY_KEY_LENGTH = 255

IDEMPOTENCY_KEY_PATTERN = rf"^[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$"
"""What an ``Idempotency-Key`` may be: 1-255 printable ASCII characters."""

ORDER_ID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""What an ``orderId`` path parameter may be: a UUID, either case."""

MAX_UNIT_PRICE = 100_000
"""Largest accepted ``unitPrice``."""

PRICE_DECIMAL_PLACES = 2
"""Most decimal places a ``unitPrice`` may have: money is kept in cents."""

ORDER_ID_NAMESPACE = uuid.UUID("173e492e-5464-50ca-9857-86bbe63bd531")
"""Fixed namespace for idempotent order ids; never change it, or retries stop matching.

It is ``uuid5(NAMESPACE_URL, "urn:orders-lab:create-order:idempotency")``.
"""

INTERNAL_ATTRIBUTES = frozenset({"idempotencyKey", "requestHash"})
"""Stored attributes that :func:`to_api` never returns to clients."""

_CENT = Decimal(1).scaleb(-PRICE_DECIMAL_PLACES)  # 0.01
_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_CURRENCY_PATTERN = r"^[A-Z]{3}$"
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)
_UUID_RE = re.compile(ORDER_ID_PATTERN)


# --------------------------------------------------------------------------- errors


class FieldError(TypedDict):
    """One problem with a request, as returned to the client.

    ``field`` is a path such as ``items[0].quantity``, ``customer.id``, ``body`` (the
    request body as a whole), ``Idempotency-Key`` (the header) or ``orderId`` (the path).
    """

    field: str
    message: str


class ErrorBody(TypedDict):
    """The body of a ``400`` (invalid request) or ``422`` (idempotency conflict): every problem found."""

    message: str
    errors: Annotated[list[FieldError], Field(min_length=1)]


class MessageBody(TypedDict):
    """The body of the other errors (``404``, and API Gateway's own ``429``/``500``/``503``)."""

    message: str


class ValidationFailure(Exception):
    """The request is invalid; maps to HTTP 400 and nothing is written.

    >>> failure = ValidationFailure([FieldError(field="items", message="Field required")])
    >>> failure.to_body()
    {'message': 'Invalid order: items: Field required', 'errors': [{'field': 'items', 'message': 'Field required'}]}
    """

    def __init__(self, errors: list[FieldError], summary: str = "Invalid order") -> None:
        self.errors = list(errors)
        self.summary = summary
        details = "; ".join(f"{error['field']}: {error['message']}" for error in self.errors)
        self.message = f"{summary}: {details}"
        super().__init__(self.message)

    def to_body(self) -> ErrorBody:
        """Return the JSON body of the 400 response."""
        return {"message": self.message, "errors": [error.copy() for error in self.errors]}


class IdempotencyConflict(Exception):
    """An ``Idempotency-Key`` was reused with a different request; maps to HTTP 422.

    >>> IdempotencyConflict("k-1").to_body()["message"]
    "Idempotency-Key 'k-1' was already used with a different request"
    """

    def __init__(self, idempotency_key: str) -> None:
        self.idempotency_key = idempotency_key
        self.message = f"{IDEMPOTENCY_HEADER} {idempotency_key!r} was already used with a different request"
        super().__init__(self.message)

    def to_body(self) -> ErrorBody:
        """Return the JSON body of the 422 response."""
        return {
            "message": self.message,
            "errors": [
                {
                    "field": IDEMPOTENCY_HEADER,
                    "message": "Key was already used with a different request; send a new key for a new order",
                }
            ],
        }


# --------------------------------------------------------------------------- models


def _json_number(value: Any) -> Decimal:
    """Accept a JSON number (int or Decimal from :func:`json.loads`), nothing else."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise PydanticCustomError("decimal_type", "Input should be a JSON number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    return Decimal(value)


def _to_cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT)


Identifier = Annotated[str, StringConstraints(pattern=_ID_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=_EMAIL_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=_CURRENCY_PATTERN)]
Quantity = Annotated[int, Field(gt=0, le=1000)]
UnitPrice = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(gt=0, le=MAX_UNIT_PRICE, decimal_places=PRICE_DECIMAL_PLACES),
    AfterValidator(_to_cents),
    # The before-validator hides the constraints from pydantic's JSON schema (it would say "a number
    # or a string"): what a client may send is a JSON number, > 0, <= MAX_UNIT_PRICE, in cents. Not
    # "multipleOf": 0.01: binary floats make validators refuse 19.99; an x- annotation says it instead.
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_UNIT_PRICE,
            "x-decimal-places": PRICE_DECIMAL_PLACES,
            "description": f"A JSON number (not a string) with at most {PRICE_DECIMAL_PLACES} decimal places",
        }
    ),
]


class _StrictModel(BaseModel):
    # strict: no coercion ("2" is not 2, true is not 1); forbid: unknown fields are errors.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Customer(_StrictModel):
    """Who places the order."""

    id: Identifier
    name: Name
    email: Email | None = None


class OrderLine(_StrictModel):
    """One line of an order; ``unitPrice`` is a Decimal with exactly two places."""

    sku: Identifier
    quantity: Quantity
    unitPrice: UnitPrice


class CreateOrderRequest(_StrictModel):
    """A validated ``POST /orders`` body. There is deliberately no ``total``: it is computed.

    ``fault`` (optional, ``"transient"`` or ``"poison"``) is the lab's fault-injection switch;
    absent (or ``null``) for a normal order.
    """

    customer: Customer
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=50)]
    currency: Currency = "USD"
    fault: Fault | None = None


@dataclass(frozen=True)
class ParsedCreateOrder:
    """The outcome of :func:`parse_create_order`."""

    request: CreateOrderRequest
    idempotency_key: str | None


# --------------------------------------------------------------------------- parsing


def parse_create_order(
    body: str | None,
    headers: Mapping[str, str] | None,
    *,
    is_base64_encoded: bool = False,
) -> ParsedCreateOrder:
    """Validate a ``POST /orders`` request from the raw event body and headers.

    Raises :class:`ValidationFailure` listing every problem found (header and body).

    >>> parse_create_order('{"customer": {"id": "c-1", "name": " Ada "}, "items": '
    ...                    '[{"sku": "A", "quantity": 1, "unitPrice": 1.5}]}', {}).request.customer.name
    'Ada'
    >>> parse_create_order("eyJpdGVtcyI6IFtdfQ==", {}, is_base64_encoded=True)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    create_order.orders.ValidationFailure: Invalid order: customer: Field required;
        items: List should have at least 1 item after validation, not 0
    """
    errors: list[FieldError] = []
    idempotency_key: str | None = None
    try:
        idempotency_key = parse_idempotency_key(headers)
    except ValidationFailure as failure:
        errors.extend(failure.errors)

    request: CreateOrderRequest | None = None
    try:
        request = _parse_body(body, is_base64_encoded)
    except ValidationFailure as failure:
        errors.extend(failure.errors)

    if errors or request is None:
        raise ValidationFailure(errors)
    return ParsedCreateOrder(request=request, idempotency_key=idempotency_key)


def parse_idempotency_key(headers: Mapping[str, str] | None) -> str | None:
    """Return the ``Idempotency-Key`` header (looked up case-insensitively), if any.

    >>> parse_idempotency_key({"idempotency-key": "order-42"})
    'order-42'
    >>> parse_idempotency_key({}) is None
    True
    >>> parse_idempotency_key({"idempotency-key": ""})
    Traceback (most recent call last):
    ...
    create_order.orders.ValidationFailure: Invalid order: Idempotency-Key: Must be 1 to 255 printable ASCII characters
    """
    if not headers:
        return None
    wanted = IDEMPOTENCY_HEADER.lower()
    for name, value in headers.items():
        if name.lower() == wanted:
            if not isinstance(value, str) or not _IDEMPOTENCY_KEY_RE.fullmatch(value):
                raise ValidationFailure(
                    [
                        FieldError(
                            field=IDEMPOTENCY_HEADER,
                            message=f"Must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
                        )
                    ]
                )
            return value
    return None


def _body_error(message: str) -> ValidationFailure:
    return ValidationFailure([FieldError(field="body", message=message)])


def _too_large() -> ValidationFailure:
    return _body_error(f"Request body must be at most {MAX_BODY_BYTES} bytes")


def _decode_body(body: str | None, is_base64_encoded: bool) -> bytes:
    if body is None or body == "":
        raise _body_error("Request body is required")
    if is_base64_encoded:
        # Refuse before decoding anything larger than MAX_BODY_BYTES could encode to.
        if len(body) > 4 * ((MAX_BODY_BYTES + 2) // 3):
            raise _too_large()
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _body_error("Request body is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    if not raw:
        raise _body_error("Request body is required")
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_body(body: str | None, is_base64_encoded: bool) -> CreateOrderRequest:
    raw = _decode_body(body, is_base64_encoded)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _body_error("Request body must be UTF-8 encoded JSON") from None
    try:
        # parse_float=Decimal keeps 19.99 exact and lets strict int reject 2.0 / 2.5.
        document = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _body_error("Request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise _body_error("Request body must be a JSON object")
    try:
        return CreateOrderRequest.model_validate(document)
    except ValidationError as exc:
        raise ValidationFailure(
            [FieldError(field=_field_path(error["loc"]), message=error["msg"]) for error in exc.errors()]
        ) from None


def _field_path(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic location into a client-facing path.

    >>> _field_path(("items", 0, "quantity"))
    'items[0].quantity'
    >>> _field_path(())
    'body'
    """
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def parse_order_id(raw: str | None) -> str:
    """Validate an ``orderId`` path parameter and return it in canonical (lower-case) form.

    >>> parse_order_id("3F2504E0-4F89-41D3-9A0C-0305E82C3301")
    '3f2504e0-4f89-41d3-9a0c-0305e82c3301'
    >>> parse_order_id("42")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    create_order.orders.ValidationFailure: Invalid request: orderId:
        Must be a UUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301
    """
    if raw is None or not _UUID_RE.fullmatch(raw):
        raise ValidationFailure(
            [FieldError(field="orderId", message="Must be a UUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301")],
            summary="Invalid request",
        )
    return raw.lower()


# --------------------------------------------------------------------------- derivations


def derive_order_id(customer_id: str, idempotency_key: str | None) -> str:
    """Return the order id: deterministic with an idempotency key, random without.

    >>> derive_order_id("c-1", "k-1") == derive_order_id("c-1", "k-1")
    True
    >>> derive_order_id("c-1", "k-1") == derive_order_id("c-2", "k-1")
    False
    >>> derive_order_id("c-1", None) == derive_order_id("c-1", None)
    False
    """
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(ORDER_ID_NAMESPACE, f"{customer_id}:{idempotency_key}"))


def request_hash(request: CreateOrderRequest) -> str:
    """Return the SHA-256 (hex) of the canonical JSON of a validated request.

    Canonical means: defaults filled in (``currency``), names stripped, prices at two
    places, keys sorted, no whitespace. So ``5`` and ``5.00`` hash alike. ``fault`` is part
    of the hash when present (an absent ``fault`` leaves the hash as it was before the field).

    >>> a = parse_create_order('{"customer": {"id": "c", "name": "A"}, "items": '
    ...                        '[{"sku": "S", "quantity": 1, "unitPrice": 5}]}', {}).request
    >>> b = parse_create_order('{"currency": "USD", "items": [{"unitPrice": 5.00, "quantity": 1, '
    ...                        '"sku": "S"}], "customer": {"name": "A ", "id": "c"}}', {}).request
    >>> request_hash(a) == request_hash(b), len(request_hash(a))
    (True, 64)
    >>> c = parse_create_order('{"customer": {"id": "c", "name": "A"}, "items": '
    ...                        '[{"sku": "S", "quantity": 1, "unitPrice": 5}], "fault": "poison"}', {}).request
    >>> request_hash(c) == request_hash(a)
    False
    """
    document = request.model_dump(mode="json", exclude_none=True)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def order_total(request: CreateOrderRequest) -> Decimal:
    """Return ``sum(quantity * unitPrice)`` as an exact Decimal with two places.

    >>> order_total(parse_create_order('{"customer": {"id": "c", "name": "A"}, "items": ['
    ...     '{"sku": "S", "quantity": 3, "unitPrice": 0.10}]}', {}).request)
    Decimal('0.30')
    """
    total = sum((line.unitPrice * line.quantity for line in request.items), Decimal(0))
    return total.quantize(_CENT)


def value_tier(total: Decimal, threshold: Decimal = DEFAULT_HIGH_VALUE_THRESHOLD) -> str:
    """Return ``"HIGH"`` when ``total >= threshold``, else ``"STANDARD"``.

    >>> value_tier(Decimal("1000.00")), value_tier(Decimal("999.99")), value_tier(Decimal("50"), Decimal("50"))
    ('HIGH', 'STANDARD', 'HIGH')
    """
    return HIGH_TIER if total >= threshold else STANDARD_TIER


def parse_threshold(raw: str | None) -> Decimal:
    """Parse the ``HIGH_VALUE_THRESHOLD`` setting: a positive amount, default 1000.

    >>> parse_threshold(None), parse_threshold(" 250.5 ")
    (Decimal('1000'), Decimal('250.50'))
    >>> parse_threshold("-1")
    Traceback (most recent call last):
    ...
    ValueError: HIGH_VALUE_THRESHOLD must be a positive amount such as 1000 or 250.50, got '-1'
    """
    if raw is None or not raw.strip():
        return DEFAULT_HIGH_VALUE_THRESHOLD
    try:
        value = Decimal(raw.strip())
    except ArithmeticError:
        value = Decimal(-1)
    if not value.is_finite() or value <= 0:
        raise ValueError(f"HIGH_VALUE_THRESHOLD must be a positive amount such as 1000 or 250.50, got {raw!r}")
    return value.quantize(_CENT)


def format_money(amount: Decimal | int) -> str:
    """Render an amount exactly, with two decimal places.

    DynamoDB normalises numbers (``5.00`` comes back as ``5``), so always format on the way out.

    >>> format_money(Decimal("5")), format_money(Decimal("44.98"))
    ('5.00', '44.98')
    """
    return str(Decimal(amount).quantize(_CENT))


# --------------------------------------------------------------------------- shapes

Money = Annotated[str, StringConstraints(pattern=r"^-?[0-9]+\.[0-9]{2}$")]
"""An exact amount as returned to clients: a string with two decimal places, ``"44.98"``."""

Timestamp = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$")
]
"""ISO-8601 UTC with milliseconds and ``Z`` (``orderlab_runtime.format_timestamp``)."""

OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
ValueTier = Literal["HIGH", "STANDARD"]


class CreatedOrder(TypedDict):
    """The ``201 Created`` body of ``POST /orders``: the same on an idempotent replay."""

    orderId: OrderId
    status: Literal["PENDING"]
    total: Money
    currency: str
    createdAt: Timestamp
    valueTier: NotRequired[ValueTier]


class CustomerView(TypedDict):
    """The customer as stored (name stripped)."""

    id: str
    name: str
    email: NotRequired[str]


class OrderLineView(TypedDict):
    """One order line as returned: ``unitPrice`` is an exact string."""

    sku: str
    quantity: int
    unitPrice: Money


class OrderView(TypedDict):
    """``GET /orders/{orderId}`` (:func:`to_api`): the order as stored, money as exact strings.

    ``status`` starts ``PENDING``; later steps of the pipeline set it (``CONFIRMED``, ``REJECTED``)
    and add attributes of their own (``statusReason``, ``processedAt``, ...), which pass through.
    """

    orderId: OrderId
    status: str
    customer: CustomerView
    items: list[OrderLineView]
    total: Money
    currency: str
    itemCount: int
    createdAt: Timestamp
    updatedAt: Timestamp
    valueTier: NotRequired[ValueTier]
    fault: NotRequired[Fault]


def build_order_item(
    request: CreateOrderRequest,
    *,
    order_id: str,
    created_at: str,
    idempotency_key: str | None = None,
    high_value_threshold: Decimal = DEFAULT_HIGH_VALUE_THRESHOLD,
) -> dict[str, Any]:
    """Build the DynamoDB item (Python types; numbers as Decimal/int) for a new order.

    ``valueTier`` is ``"HIGH"`` when the total is at least ``high_value_threshold``
    (see :func:`value_tier`), else ``"STANDARD"``: step 4's pipe routes on it.

    With an ``idempotency_key`` the item also carries ``idempotencyKey`` and
    ``requestHash`` (see :func:`request_hash`), used to recognise retries.
    ``itemCount`` is the number of order lines (not the sum of quantities).
    ``fault`` is stored only when the request set it. ``created_at`` (an ISO-8601 UTC timestamp,
    ``orderlab_runtime.timestamp_now()``) is both ``createdAt`` and ``updatedAt``.
    """
    total = order_total(request)
    customer: dict[str, Any] = {"id": request.customer.id, "name": request.customer.name}
    if request.customer.email is not None:
        customer["email"] = request.customer.email
    item: dict[str, Any] = {
        "orderId": order_id,
        "status": CREATED_STATUS,
        "customer": customer,
        "items": [{"sku": line.sku, "quantity": line.quantity, "unitPrice": line.unitPrice} for line in request.items],
        "total": total,
        "valueTier": value_tier(total, high_value_threshold),
        "currency": request.currency,
        "itemCount": len(request.items),
        "createdAt": created_at,
        "updatedAt": created_at,
    }
    if request.fault is not None:
        item["fault"] = request.fault
    if idempotency_key is not None:
        item["idempotencyKey"] = idempotency_key
        item["requestHash"] = request_hash(request)
    return item


def created_response(item: Mapping[str, Any]) -> CreatedOrder:
    """Return the ``201 Created`` body for a stored order item.

    It is the same on an idempotent replay as the first time, so ``status`` is always
    the creation status; ``GET /orders/{orderId}`` shows the current one.
    """
    body: CreatedOrder = {
        "orderId": item["orderId"],
        "status": CREATED_STATUS,
        "total": format_money(item["total"]),
        "currency": item["currency"],
        "createdAt": item["createdAt"],
    }
    if "valueTier" in item:
        body["valueTier"] = item["valueTier"]
    return body


def to_api(item: Mapping[str, Any]) -> dict[str, Any]:
    """Return a stored order as plain JSON-ready data for ``GET /orders/{orderId}``.

    Money (``total``, ``items[].unitPrice``) becomes an exact string with two places;
    ``quantity`` and ``itemCount`` become ints; other attributes (added by later pipeline
    steps) pass through with integral numbers as ints and others as exact strings.
    ``idempotencyKey`` and ``requestHash`` are internal and left out.

    >>> to_api({"orderId": "o", "total": Decimal("5"), "itemCount": Decimal("1"),
    ...         "items": [{"sku": "S", "quantity": Decimal("1"), "unitPrice": Decimal("5")}],
    ...         "requestHash": "ab"})
    {'orderId': 'o', 'total': '5.00', 'itemCount': 1, 'items': [{'sku': 'S', 'quantity': 1, 'unitPrice': '5.00'}]}
    """
    result: dict[str, Any] = {}
    for key, value in item.items():
        if key in INTERNAL_ATTRIBUTES:
            continue
        if key == "total":
            result[key] = format_money(value)
        elif key == "items" and isinstance(value, list):
            result[key] = [_line_to_api(line) for line in value]
        else:
            result[key] = _plain(value)
    return result


def _line_to_api(line: Any) -> Any:
    if not isinstance(line, Mapping):
        return _plain(line)
    converted = {key: _plain(value) for key, value in line.items()}
    if "unitPrice" in line:
        converted["unitPrice"] = format_money(line["unitPrice"])
    return converted


def _plain(value: Any) -> Any:
    """Convert DynamoDB-deserialised values into JSON-ready ones."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(inner) for inner in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(inner) for inner in value)
    return str(value)
