"""What every order-pipeline handler needs besides its own logic: settings, AWS clients, the clock.

Kept once, in ``lambdas/_shared/``; packaging (``helpers.aws.packaging``) copies it to the root of
each function's zip, next to the function's package, so handlers import it as a top-level
module and every zip stays deployable as is::

    import orderlab_runtime

    TABLE_NAME = orderlab_runtime.required_env("ORDERS_TABLE", "the DynamoDB orders table name")
    dynamodb = orderlab_runtime.client("dynamodb")

- :func:`required_env`: a setting the function cannot start without;
- :func:`client`: one boto3 client per service, made on first use, reused by every later
  invocation in the same execution environment; :func:`set_client` swaps it (tests);
- :func:`utcnow`, :func:`format_timestamp`, :func:`timestamp_now`: the timestamps orders carry;
- :func:`get_item`: a strongly consistent read of one DynamoDB item, as plain Python data;
- :class:`Dependency`: what a handler talks to (a store, a queue), made on first use, replaceable in tests.

Importing it needs only the standard library: boto3 (the Lambda runtime's own) is imported on
first use, so the functions' pure modules and their tests never need it.

Call :func:`client` and :func:`get_item` through the module (``orderlab_runtime.client("sqs")``):
the lab's IAM audit (``helpers.aws.code_scan.code_actions``) reads each handler's own source for
``.client("<service>")`` and ``.<operation>(`` calls to know which permissions its role needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

__all__ = [
    "Dependency",
    "client",
    "format_timestamp",
    "get_item",
    "required_env",
    "set_client",
    "timestamp_now",
    "utcnow",
]

T = TypeVar("T")

_clients: dict[str, Any] = {}


def required_env(name: str, meaning: str) -> str:
    """Return environment variable ``name``, stripped; raise a ``RuntimeError`` naming it when unset or blank.

    Handlers read their settings at import, so a missing one fails the cold start with this
    message instead of the first order.

    >>> required_env("ORDERLAB_EXAMPLE_UNSET", "an example setting")
    Traceback (most recent call last):
    ...
    RuntimeError: Environment variable ORDERLAB_EXAMPLE_UNSET is required (an example setting) but is not set
    """
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"Environment variable {name} is required ({meaning}) but is not set")
    return value


def client(service_name: str) -> Any:
    """Return the boto3 client for ``service_name``, creating it on first use.

    Created once per execution environment, not per invocation: warm invocations reuse its
    connections. boto3 honours ``AWS_ENDPOINT_URL_<SERVICE>`` / ``AWS_ENDPOINT_URL`` for a
    local cloud.
    """
    cached = _clients.get(service_name)
    if cached is None:
        import boto3

        cached = _clients[service_name] = boto3.client(service_name)
    return cached


def set_client(service_name: str, replacement: Any | None) -> None:
    """Make :func:`client` return ``replacement`` for ``service_name`` (tests inject fakes or stubbed
    clients); None drops it, so the next call creates a real one."""
    if replacement is None:
        _clients.pop(service_name, None)
    else:
        _clients[service_name] = replacement


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (tests replace it to freeze the clock)."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with milliseconds and ``Z``.

    >>> format_timestamp(datetime(2024, 5, 1, 14, 30, 5, 123999, tzinfo=UTC))
    '2024-05-01T14:30:05.123Z'
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the time must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def timestamp_now() -> str:
    """The current time as :func:`format_timestamp` writes it (``createdAt``, ``processedAt``...)."""
    return format_timestamp(utcnow())


def get_item(dynamodb: Any, table_name: str, key: Mapping[str, str]) -> dict[str, Any] | None:
    """Read one item with a strongly consistent ``GetItem``; return it as plain Python data, or None.

    ``dynamodb`` is a low-level ``boto3.client("dynamodb")``; ``key`` maps the key attributes to
    their string values (``{"orderId": "o-1"}``). Numbers come back as ``Decimal``. Strongly
    consistent, so a read right after a failed conditional write sees the write that won.
    """
    from boto3.dynamodb.types import TypeDeserializer

    response = dynamodb.get_item(
        TableName=table_name,
        Key={name: {"S": value} for name, value in key.items()},
        ConsistentRead=True,
    )
    stored = response.get("Item")
    if stored is None:
        return None
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in stored.items()}


class Dependency(Generic[T]):
    """A handler's dependency (a store, a queue): made by ``make`` on first use, then reused by every later
    invocation; tests swap it with ``set`` (None restores the default, made again on next use).

    >>> made = []
    >>> store = Dependency(lambda: made.append("real") or "real store")
    >>> store.get(), store.get(), made
    ('real store', 'real store', ['real'])
    >>> store.set("in-memory store"); store.get()
    'in-memory store'
    >>> store.set(None); store.get(), made
    ('real store', ['real', 'real'])
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._current: T | None = None

    def get(self) -> T:
        if self._current is None:
            self._current = self._make()
        return self._current

    def set(self, replacement: T | None) -> None:
        self._current = replacement
