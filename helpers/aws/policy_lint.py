"""Lint an IAM policy document for least privilege: wildcards, NotAction, foreign accounts, duplicates.

>>> policy_findings(document)                       # wildcards, NotAction, foreign ARNs...  # doctest: +SKIP
[]
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

__all__ = ["Grant", "as_list", "policy_findings", "policy_grants"]

# Wildcards are refused except in these forms, each one because AWS offers no narrower resource:
# - a function's log streams: ``log-group:/aws/lambda/<fn>:*`` (stream names are chosen by Lambda;
#   https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html#monitoring-cloudwatchlogs-prereqs);
# - one table's streams for ``dynamodb:ListStreams`` (the stream label changes whenever the stream is
#   re-enabled; AWS SAM's DynamoDBStreamReadPolicy uses the same form);
# - one table's indexes for Query/Scan.
_WILDCARD_FORMS: list[tuple[str, frozenset[str], str]] = [
    (
        r"arn:[a-z-]+:logs:[a-z0-9-]+:\d{12}:log-group:[^*?]+:\*",
        frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
        "the function's own log streams",
    ),
    (
        r"arn:[a-z-]+:dynamodb:[a-z0-9-]+:\d{12}:table/[^*?/]+/stream/\*",
        frozenset({"dynamodb:ListStreams"}),
        "the streams of one table",
    ),
    (
        r"arn:[a-z-]+:dynamodb:[a-z0-9-]+:\d{12}:table/[^*?/]+/index/\*",
        frozenset({"dynamodb:Query", "dynamodb:Scan"}),
        "the indexes of one table",
    ),
]

Grant = tuple[str, str]  # (action, resource ARN)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict)) else list(value)


def policy_findings(
    document: dict[str, Any] | str, *, account: str | None = None, region: str | None = None
) -> list[str]:
    """Everything that makes an identity policy broader than "these actions on these resources".

    Refused: ``*`` or ``?`` in an action, a ``*`` resource or any resource wildcard outside the
    forms AWS leaves no alternative to (see ``_WILDCARD_FORMS``), ``NotAction``/``NotResource``,
    a resource that is not an ARN (or of another account/region, when given), an action granted on
    a resource of another service, and the same grant twice. An empty list means the policy is tight.

    >>> policy_findings({"Version": "2012-10-17", "Statement": [
    ...     {"Sid": "A", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})
    ["A: wildcard action 'sqs:*'", "A: resource '*' (name the resources)"]
    >>> policy_findings({"Version": "2012-10-17", "Statement": [{"Sid": "L", "Effect": "Allow",
    ...     "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
    ...     "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/a-fn:*"}]})
    []
    """
    if isinstance(document, str):
        document = cast(dict[str, Any], json.loads(document))
    findings: list[str] = []
    if document.get("Version") != "2012-10-17":
        findings.append(f"policy Version is {document.get('Version')!r}, not '2012-10-17'")
    seen: dict[Grant, str] = {}
    for index, statement in enumerate(as_list(document.get("Statement"))):
        sid = statement.get("Sid") or f"statement {index}"
        for key in ("NotAction", "NotResource", "NotPrincipal", "Principal"):
            if key in statement:
                findings.append(f"{sid}: uses {key} (grant named actions on named resources instead)")
        if statement.get("Effect") not in ("Allow", "Deny"):
            findings.append(f"{sid}: Effect must be Allow or Deny, not {statement.get('Effect')!r}")
        actions = [str(a) for a in as_list(statement.get("Action"))]
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        if not actions:
            findings.append(f"{sid}: no Action")
        if not resources:
            findings.append(f"{sid}: no Resource")
        for action in actions:
            if "*" in action or "?" in action:
                findings.append(f"{sid}: wildcard action {action!r}")
            elif ":" not in action:
                findings.append(f"{sid}: action {action!r} is not service:Operation")
        for resource in resources:
            if resource == "*":
                findings.append(f"{sid}: resource '*' (name the resources)")
                continue
            parts = resource.split(":", 5)
            if len(parts) < 6 or parts[0] != "arn":
                findings.append(f"{sid}: resource {resource!r} is not an ARN")
                continue
            service, arn_region, arn_account = parts[2], parts[3], parts[4]
            if "*" in resource or "?" in resource:
                allowed = [
                    why
                    for pattern, acts, why in _WILDCARD_FORMS
                    if re.fullmatch(pattern, resource) and set(actions) <= acts
                ]
                if not allowed:
                    findings.append(f"{sid}: wildcard resource {resource!r} for {sorted(actions)}")
            if account and arn_account and arn_account != account:
                findings.append(f"{sid}: resource {resource!r} is in account {arn_account}, not {account}")
            if region and arn_region and arn_region != region:
                findings.append(f"{sid}: resource {resource!r} is in region {arn_region}, not {region}")
            for action in actions:
                if ":" in action and action.split(":", 1)[0] != service:
                    findings.append(f"{sid}: {action} granted on a {service} resource {resource!r}")
                grant = (action, resource)
                if grant in seen and statement.get("Effect") == "Allow":
                    findings.append(f"{sid}: {action} on {resource} is already granted by {seen[grant]}")
                seen.setdefault(grant, sid)
    return findings


def policy_grants(document: dict[str, Any] | str) -> set[Grant]:
    """The (action, resource) pairs an Allow-only policy grants.

    >>> sorted(policy_grants({"Statement": [{"Effect": "Allow", "Action": ["b:X", "a:Y"], "Resource": "r"}]}))
    [('a:Y', 'r'), ('b:X', 'r')]
    """
    if isinstance(document, str):
        document = cast(dict[str, Any], json.loads(document))
    return {
        (str(action), str(resource))
        for statement in as_list(document.get("Statement"))
        if statement.get("Effect") == "Allow"
        for action in as_list(statement.get("Action"))
        for resource in as_list(statement.get("Resource"))
    }
