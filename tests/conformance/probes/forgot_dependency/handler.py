"""A function that imports a library its package does not carry (a classic deploy bug)."""

import pydantic  # noqa: F401  -- deliberately not packaged


def handler(event, context):
    return {"ok": True}
