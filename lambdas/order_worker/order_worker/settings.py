"""Reading the worker's settings from its environment: a malformed value fails the cold start, naming it."""

from __future__ import annotations

from collections.abc import Mapping


def whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """``env[name]`` as a whole number >= ``minimum``; ``default`` when unset or blank; else ``ValueError``.

    >>> whole_number({"MAX_QUANTITY_PER_ITEM": " 3 "}, "MAX_QUANTITY_PER_ITEM", 100, minimum=1)
    3
    >>> whole_number({}, "TRANSIENT_FAILURES", 2, minimum=0)
    2
    >>> whole_number({"TRANSIENT_FAILURES": "-1"}, "TRANSIENT_FAILURES", 2, minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: TRANSIENT_FAILURES must be a whole number >= 0, got '-1'
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {raw!r}")
    return value
