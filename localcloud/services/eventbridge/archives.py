"""The rule AWS manages for an archive: ``Events-Archive-<name>`` on the archive's source bus,
matching the archive's pattern except replayed events, with one target that stands for the archive.

>>> rule = managed_rule("orders", '{"source": ["shop"]}')
>>> rule["Name"], rule["ManagedBy"], json.loads(rule["EventPattern"])
('Events-Archive-orders', 'prod.vhs.events.aws.internal', {'source': ['shop'], 'replay-name': [{'exists': False}]})
"""

from __future__ import annotations

import json
from typing import Any

# What ListRules shows for an archive's rule on AWS (moto's aws_verified test_archive_actual_events).
MANAGED_BY = "prod.vhs.events.aws.internal"
RULE_PREFIX = "Events-Archive-"


def rule_name(archive: str) -> str:
    """The managed rule's name, e.g. ``Events-Archive-orders``."""
    return RULE_PREFIX + archive


def managed_pattern(archive_pattern: str | None) -> str:
    """The archive's EventPattern (none: every event) plus ``replay-name`` absent, so a replay is not
    archived again.

    >>> managed_pattern("")
    '{"replay-name": [{"exists": false}]}'
    """
    pattern = json.loads(archive_pattern) if archive_pattern else {}
    return json.dumps({**pattern, "replay-name": [{"exists": False}]})


def managed_rule(archive: str, archive_pattern: str | None) -> dict[str, Any]:
    """The rule's fields that differ from an ordinary PutRule."""
    return {
        "Name": rule_name(archive),
        "EventPattern": managed_pattern(archive_pattern),
        "ManagedBy": MANAGED_BY,
        "State": "ENABLED",
    }


def managed_target(archive: str, archive_arn: str, region: str) -> dict[str, Any]:
    """The rule's one target as ListTargetsByRule shows it on AWS."""
    return {
        "Id": rule_name(archive),
        "Arn": f"arn:aws:events:{region}:::",
        "InputTransformer": {
            "InputPathsMap": {},
            "InputTemplate": (
                f'{{"archive-arn": {json.dumps(archive_arn)}, "event": <aws.events.event.json>, '
                '"ingestion-time": <aws.events.event.ingestion-time>}'
            ),
        },
    }


def is_archive_target(rule: dict[str, Any], target: dict[str, Any]) -> bool:
    """True for the archive's own target, which delivers nothing here (the bus archives each event itself).

    >>> is_archive_target({"ManagedBy": MANAGED_BY}, {"Arn": "arn:aws:events:eu-west-1:::"})
    True
    """
    return rule.get("ManagedBy") == MANAGED_BY and str(target.get("Arn", "")).endswith(":::")
