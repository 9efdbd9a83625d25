"""Launch-time overrides of MiniStack behaviour that differs from AWS.

One module per AWS service (moto/MiniStack shape); each has ``apply()`` and says in its
docstring which AWS behaviour it restores and where AWS documents it. They patch one
exact MiniStack version: :func:`apply_all` refuses to start on any other, and every patch
checks that what it replaces is still there, so an upgrade fails loudly at start instead
of silently losing a fix. Upgrading MiniStack = bump :data:`PINNED_MINISTACK`, re-check
each patch, run ``tests/conformance``.
"""
from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PINNED_MINISTACK = "1.5.33"


class PatchError(RuntimeError):
    """MiniStack is not the version (or the shape) these patches were written for."""


def check_version() -> str:
    """Return the installed MiniStack version; raise unless it is the pinned one."""
    try:
        installed = importlib.metadata.version("ministack")
    except importlib.metadata.PackageNotFoundError:
        raise PatchError("MiniStack is not installed: pip install 'ministack==%s'" % PINNED_MINISTACK) from None
    if installed != PINNED_MINISTACK:
        raise PatchError(
            f"The local cloud's fixes were written for MiniStack {PINNED_MINISTACK}, but {installed} "
            f"is installed. Install the pinned version (pip install 'ministack=={PINNED_MINISTACK}') "
            "or, when upgrading on purpose, re-check every module in localcloud/patches/ and run "
            "tests/conformance."
        )
    return installed


def replace_once(text: str, old: str, new: str, *, what: str) -> str:
    """Replace ``old`` by ``new`` in ``text``, insisting that ``old`` occurs exactly once."""
    count = text.count(old)
    if count != 1:
        raise PatchError(f"cannot patch {what}: expected the original text once, found it {count} times")
    return text.replace(old, new)


def wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` by ``make(original)``; fail if MiniStack no longer has it."""
    original = getattr(owner, name, None)
    if original is None or not callable(original):
        raise PatchError(f"cannot patch {getattr(owner, '__name__', owner)}.{name}: not found")
    # Keyed by the patch that wraps, so two modules may layer wrappers on one function while
    # re-applying the same patch stays a no-op (apply_all is idempotent).
    key = f"{getattr(make, '__module__', '?')}.{getattr(make, '__qualname__', repr(make))}"
    applied: frozenset[str] = getattr(original, "__orderlab_patches__", frozenset())
    if key in applied:
        return
    replacement = make(original)
    if not isinstance(replacement, type):
        functools.update_wrapper(replacement, original)
    replacement.__orderlab_patched__ = True  # type: ignore[attr-defined]
    replacement.__orderlab_patches__ = applied | {key}  # type: ignore[attr-defined]
    setattr(owner, name, replacement)


@contextmanager
def request_scope(account_id: str, region: str) -> Iterator[None]:
    """Run MiniStack code as this account and region (its stores are scoped by context variables),
    e.g. from a background thread or task that serves no request."""
    from ministack.core import responses

    account_token = responses._request_account_id.set(account_id)
    region_token = responses._request_region.set(region)
    try:
        yield
    finally:
        responses._request_region.reset(region_token)
        responses._request_account_id.reset(account_token)


def apply_all() -> list[str]:
    """Check the MiniStack version and apply every patch; returns the patch names."""
    check_version()
    from localcloud.patches import (
        apigatewayv2,
        dynamodb_streams,
        event_filtering,
        lambda_event_sources,
        lambda_runtime,
        lambda_service,
        logs,
        pipes,
        sns,
        sqs,
    )
    from localcloud.patches import cloudwatch

    applied = []
    for module in (lambda_runtime, lambda_service, apigatewayv2, dynamodb_streams, lambda_event_sources, sqs,
                   event_filtering, sns, logs, pipes, cloudwatch):
        module.apply()
        applied.append(module.__name__.rsplit(".", 1)[1])
    return applied
