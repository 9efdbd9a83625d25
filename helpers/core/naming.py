"""Resource names and tags: every lab resource is ``<prefix>-<component>`` and tagged.

Cleanup finds resources by these tags, so a learner's prefix isolates their resources
from everyone else's in the same account or local cloud.

>>> tags_for("alice")["orderlab:prefix"]
'alice'
>>> resource_name("alice", "orders")
'alice-orders'
"""

from __future__ import annotations

import re

DEFAULT_PREFIX = "orderlab"
PROJECT_TAG = "orderlab:project"
PREFIX_TAG = "orderlab:prefix"
PROJECT = "order-pipeline-lab"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


def validate_prefix(prefix: str) -> str:
    """Check a learner prefix: 1-20 of a-z, 0-9, '-', starting with a letter."""
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix) or prefix.endswith("-"):
        raise ValueError(
            f"Invalid prefix {prefix!r}: use 1-20 lowercase letters, digits or '-', "
            "starting with a letter (e.g. 'orderlab' or 'alice')"
        )
    return prefix


def resource_name(prefix: str, component: str) -> str:
    """The name of one lab resource, e.g. ``orderlab-orders``."""
    return f"{validate_prefix(prefix)}-{component}"


def tags_for(prefix: str, **extra: str) -> dict[str, str]:
    """The tags every resource of this prefix carries (as a plain dict)."""
    return {PROJECT_TAG: PROJECT, PREFIX_TAG: validate_prefix(prefix), **extra}


def tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """Tags in the ``[{"Key": ..., "Value": ...}]`` shape DynamoDB and IAM take."""
    return [{key: k, value: v} for k, v in tags.items()]
