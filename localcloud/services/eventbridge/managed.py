"""Rules an AWS service manages for the account (``ManagedBy`` set, e.g. an archive's rule): AWS refuses
to change them, and deletes them or removes their targets only with ``Force``.

>>> rule = {"Name": "Events-Archive-orders", "ManagedBy": "prod.vhs.events.aws.internal"}
>>> refusal("DisableRule", rule)
'Events-Archive-orders is a managed rule.'
>>> refusal("DeleteRule", rule)
"Events-Archive-orders is a managed rule. Set 'force' parameter to true to override."
>>> refusal("DeleteRule", rule, force=True) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localcloud.services.eventbridge import buses

# What the ManagedRuleException documentation lists (API_DisableRule.html and the other calls' pages).
MODIFYING_ACTIONS = frozenset({"PutRule", "DisableRule", "EnableRule", "PutTargets", "TagResource", "UntagResource"})
FORCEABLE_ACTIONS = frozenset({"DeleteRule", "RemoveTargets"})
TAGGING_ACTIONS = frozenset({"TagResource", "UntagResource"})
# The member that names the rule in each call's request (the tagging calls name it by ARN).
_RULE_MEMBER = {"PutRule": "Name", "DeleteRule": "Name", "EnableRule": "Name", "DisableRule": "Name"}
_RULE_MEMBER.update(dict.fromkeys(("PutTargets", "RemoveTargets"), "Rule"))


def refusal(action: str, rule: Mapping[str, Any] | None, *, force: bool = False) -> str | None:
    """The ManagedRuleException message AWS answers ``action`` on ``rule`` with, or None when it is allowed
    (an ordinary rule, a missing one, a read, or ``Force`` on DeleteRule / RemoveTargets).

    >>> refusal("PutTargets", {"Name": "mine", "ManagedBy": ""}) is None
    True
    """
    if not rule or not rule.get("ManagedBy"):
        return None
    name = rule.get("Name", "")
    if action in FORCEABLE_ACTIONS and not force:
        return f"{name} is a managed rule. Set 'force' parameter to true to override."
    if action in MODIFYING_ACTIONS:
        return f"{name} is a managed rule."
    return None


def rule_in_arn(arn: str) -> tuple[str, str] | None:
    """``(bus, rule)`` named by a rule's ARN (a default-bus rule's ARN has no bus), None for other ARNs.

    >>> rule_in_arn("arn:aws:events:eu-west-1:123456789012:rule/orders/Events-Archive-orders")
    ('orders', 'Events-Archive-orders')
    >>> rule_in_arn("arn:aws:events:eu-west-1:123456789012:rule/nightly")
    ('default', 'nightly')
    >>> rule_in_arn("arn:aws:events:eu-west-1:123456789012:event-bus/orders") is None
    True
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "events" or not parts[5].startswith("rule/"):
        return None
    path = parts[5].split("/")[1:]
    if len(path) == 1 and path[0]:
        return "default", path[0]
    if len(path) == 2 and all(path):
        return path[0], path[1]
    return None


def rule_reference(action: str, request: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(bus, rule)`` a rule call's request names; the bus given by name or ARN, ``default`` when omitted.

    >>> rule_reference("PutTargets", {"Rule": "r", "EventBusName": "arn:aws:events:eu-west-1:1:event-bus/orders"})
    ('orders', 'r')
    >>> rule_reference("TagResource", {"ResourceARN": "arn:aws:events:eu-west-1:1:rule/r"})
    ('default', 'r')
    """
    if action in TAGGING_ACTIONS:
        return rule_in_arn(str(request.get("ResourceARN") or ""))
    member = _RULE_MEMBER.get(action)
    name = request.get(member) if member else None
    if not name:
        return None
    return buses.bus_name(str(request.get("EventBusName") or "default")), str(name)
