"""Small AWS facts shared by the provisioning modules: partitions, ARNs, error codes.

>>> partition("cn-north-1"), partition("us-gov-west-1"), partition("eu-west-1")
('aws-cn', 'aws-us-gov', 'aws')
>>> log_group_arn("eu-west-1", "123456789012", "/aws/lambda/alice-create-order")
'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/alice-create-order'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from helpers.core.waiters import WaitTimeout, wait_until

T = TypeVar("T")


@dataclass(frozen=True)
class Ensured:
    """What an ``ensure_*`` call changed, for the info it returns: ``created``, or ``updated`` (what it set).

    >>> @dataclass(frozen=True)
    ... class ThingInfo(Ensured):
    ...     name: str
    >>> ThingInfo("t").changed, ThingInfo("t", updated=("Tags",)).changed
    (False, True)
    >>> ThingInfo("t") == ThingInfo("t", created=True)
    True
    """

    created: bool = field(default=False, compare=False, kw_only=True)
    updated: tuple[str, ...] = field(default=(), compare=False, kw_only=True)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.updated)


def partition(region: str) -> str:
    """The ARN partition of ``region``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def log_group_name(function_name: str) -> str:
    """The log group Lambda writes ``function_name``'s logs to."""
    return f"/aws/lambda/{function_name}"


def log_group_arn(region: str, account: str, name: str) -> str:
    """The ARN of log group ``name`` (without the ``:*`` suffix DescribeLogGroups adds)."""
    return f"arn:{partition(region)}:logs:{region}:{account}:log-group:{name}"


def error_code(error: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (empty string otherwise)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Message", ""))
    return str(error)


def retry_on(
    call: Callable[[], T],
    *,
    should_retry: Callable[[ClientError], bool],
    timeout: float,
    what: str,
    first_delay: float = 1.0,
    max_delay: float = 8.0,
) -> T:
    """Call ``call``; on a ClientError that ``should_retry`` accepts, back off and try again.

    Bounded: after ``timeout`` seconds the last error is raised with a note saying what was retried.
    """
    results: list[T] = []
    errors: list[ClientError] = []

    def attempt() -> bool:
        try:
            results.append(call())
            return True
        except ClientError as error:
            if not should_retry(error):
                raise
            errors.append(error)
            return False

    try:
        wait_until(attempt, timeout=timeout, interval=first_delay, max_interval=max_delay, growth=2, what=what)
    except WaitTimeout:
        errors[-1].add_note(f"Still failing after retrying {what} for {timeout:.0f}s")
        raise errors[-1] from None
    return results[-1]


def tags_missing(current: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """The tags of ``wanted`` that ``current`` lacks or holds with another value.

    >>> tags_missing({"a": "1", "b": "x"}, {"a": "1", "b": "2", "c": "3"})
    {'b': '2', 'c': '3'}
    """
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def paginate(client: Any, operation: str, result_key: str, **params: Any) -> list[Any]:
    """All items of a paginated List/Describe call, through boto3's paginator."""
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**params):
        items.extend(page.get(result_key, []))
    return items
