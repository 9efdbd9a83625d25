"""Execution roles for the lab's Lambda functions: least privilege, one inline policy each.

>>> table = ensure_orders_table(lab)                                       # doctest: +SKIP
>>> role_arn = ensure_lambda_role(lab, "create-order", [                   # doctest: +SKIP
...     dynamodb_statement(table.arn, ["dynamodb:PutItem", "dynamodb:GetItem"]),
... ])

The role ``<prefix>-create-order-role`` (path ``/orderlab/``) trusts ``lambda.amazonaws.com``
and carries ONE inline policy: the statements given (each scoped to named resources) plus
CloudWatch Logs writes to the function's own log group only.

Least privilege is checked by :mod:`helpers.aws.policy_lint` (a document), :mod:`helpers.aws.code_scan`
(what a package's code calls) and :mod:`helpers.aws.iam_audit` (every deployed role against its user).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, log_group_arn, log_group_name, paginate, tags_missing
from helpers.aws.common import partition as _partition
from helpers.aws.policy_lint import as_list
from helpers.core.naming import PREFIX_TAG, tag_list
from helpers.core.waiters import boto_wait

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "ROLE_PATH",
    "RoleConflict",
    "dynamodb_statement",
    "ensure_lambda_role",
    "ensure_pipe_role",
    "ensure_service_role",
    "lambda_trust_policy",
    "logs_statement",
    "pipe_trust_policy",
    "policy_document",
    "role_name",
]

ROLE_PATH = "/orderlab/"
POLICY_NAME = "orderlab-least-privilege"


class RoleConflict(RuntimeError):
    """A role of that name exists but is not this lab's, or cannot be converged."""


def role_name(lab: Lab, function_component: str) -> str:
    """``<prefix>-<component>-role``. IAM role names are at most 64 characters."""
    name = lab.name(f"{function_component}-role")
    if len(name) > 64:
        raise ValueError(f"Role name {name!r} is longer than IAM's 64 characters: use a shorter component name")
    return name


def lambda_trust_policy() -> dict[str, Any]:
    """The trust policy that lets Lambda assume a role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def dynamodb_statement(
    table_arn: str,
    actions: Iterable[str],
    *,
    include_indexes: bool = False,
    sid: str | None = None,
) -> dict[str, Any]:
    """An Allow statement for exactly ``actions`` on one table (and its indexes if asked).

    >>> s = dynamodb_statement("arn:aws:dynamodb:us-east-1:1:table/a-orders", ["dynamodb:PutItem"])
    >>> s["Sid"], s["Effect"], s["Action"], s["Resource"]
    ('DynamoDBAOrders', 'Allow', ['dynamodb:PutItem'], ['arn:aws:dynamodb:us-east-1:1:table/a-orders'])
    """
    actions = sorted(set(actions))
    if not actions:
        raise ValueError("Give at least one DynamoDB action, e.g. ['dynamodb:PutItem']")
    bad = [a for a in actions if not a.startswith("dynamodb:") or "*" in a]
    if bad:
        raise ValueError(f"Name DynamoDB actions explicitly (dynamodb:PutItem...), not {bad}")
    if ":table/" not in table_arn:
        raise ValueError(f"{table_arn!r} is not a DynamoDB table ARN")
    resources = [table_arn] + ([f"{table_arn}/index/*"] if include_indexes else [])
    table = table_arn.rsplit("/", 1)[1]
    default_sid = "DynamoDB" + "".join(ch for ch in table.title() if ch.isalnum())
    return {"Sid": sid or default_sid[:100], "Effect": "Allow", "Action": actions, "Resource": resources}


def logs_statement(lab: Lab, function_name: str) -> dict[str, Any]:
    """Log streams and events in ``/aws/lambda/<function_name>`` only.

    No ``logs:CreateLogGroup``: the lab creates the group itself, with its retention and tags, before
    the function (:func:`helpers.aws.lambda_.ensure_log_group`), so that grant would be unused —
    and a late invocation after cleanup cannot re-create the group behind the learner's back.
    """
    arn = log_group_arn(lab.region, lab.account_id, log_group_name(function_name))
    return {
        "Sid": "OwnLogGroup",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [f"{arn}:*"],
    }


def _check_scoped(statements: list[dict[str, Any]]) -> None:
    """Refuse what is never least privilege: a ``*`` resource, a wildcard action, NotAction/NotResource,
    a resource that is not an ARN, an Effect other than Allow/Deny.

    Name patterns in resources (``table/alice-*``) are not refused here (test probes use them); the
    lab's own roles are held to :func:`policy_findings` by the tests and :func:`audit_lab_roles`.
    """
    for statement in statements:
        problems = []
        for key in ("NotAction", "NotResource", "NotPrincipal"):
            if key in statement:
                problems.append(f"uses {key}")
        if statement.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"Effect must be Allow or Deny, not {statement.get('Effect')!r}")
        actions = [str(a) for a in as_list(statement.get("Action"))]
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        if not actions or any("*" in a or "?" in a or ":" not in a for a in actions):
            problems.append(f"name the actions (no wildcards): {actions}")
        if not resources or any(r == "*" or not r.startswith("arn:") for r in resources):
            problems.append(f"name the resources by ARN (no Resource '*'): {resources}")
        if problems:
            raise ValueError(
                f"Scope every statement to named actions on named resources: {'; '.join(problems)} in {statement}"
            )


def policy_document(lab: Lab, function_component: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The inline policy document: ``statements`` plus the function's own logs statement."""
    _check_scoped(statements)
    return {"Version": "2012-10-17", "Statement": [*statements, logs_statement(lab, lab.name(function_component))]}


def _canonical(value: Any) -> Any:
    """A policy fragment in canonical form: sorted keys, sorted string lists, one-item lists unwrapped."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        if all(isinstance(v, str) for v in items):
            items = sorted(set(items))
            return items[0] if len(items) == 1 else items  # IAM may return ["x"] as "x"
        return items
    return value


def _same_policy(current: Any, wanted: dict[str, Any]) -> bool:
    """True when two policy documents say the same (``current`` may be a JSON string).

    >>> _same_policy('{"Statement": [{"Action": ["b", "a"]}]}', {"Statement": [{"Action": ["a", "b"]}]})
    True
    """
    if isinstance(current, str):
        current = json.loads(current)
    return _canonical(current) == _canonical(wanted)


def _get_role(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def ensure_lambda_role(
    lab: Lab,
    function_component: str,
    statements: list[dict[str, Any]],
    *,
    timeout: float = 60,
) -> str:
    """Create or converge the execution role of function ``lab.name(function_component)``; return its ARN.

    Updates the trust policy and the inline policy only where they differ, removes other inline
    policies (the role has exactly one), and puts back missing tags.

    >>> ensure_lambda_role(lab, "create-order", [dynamodb_statement(arn, ["dynamodb:GetItem"])])  # doctest: +SKIP
    'arn:aws:iam::123456789012:role/orderlab/alice-create-order-role'
    """
    return ensure_service_role(
        lab,
        function_component,
        trust=lambda_trust_policy(),
        document=policy_document(lab, function_component, statements),
        description=f"Execution role of Lambda function {lab.name(function_component)} (order pipeline lab)",
        timeout=timeout,
    )


def pipe_trust_policy(lab: Lab, pipe_name: str) -> dict[str, Any]:
    """The trust policy that lets EventBridge Pipes assume a role, for this account's pipe only.

    The ``aws:SourceAccount``/``aws:SourceArn`` conditions guard against the confused-deputy problem, as
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html recommends.
    """
    pipe_arn = f"arn:{_partition(lab.region)}:pipes:{lab.region}:{lab.account_id}:pipe/{pipe_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pipes.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": lab.account_id, "aws:SourceArn": pipe_arn}},
            }
        ],
    }


def ensure_pipe_role(lab: Lab, pipe_component: str, statements: list[dict[str, Any]], *, timeout: float = 60) -> str:
    """Create or converge the role of pipe ``lab.name(pipe_component)``: exactly ``statements``
    (read the source, invoke the enrichment, send to the target), nothing else; return its ARN.

    >>> ensure_pipe_role(lab, "high-value-pipe", [sqs_sender_statement(queue_arn)])   # doctest: +SKIP
    'arn:aws:iam::123456789012:role/orderlab/alice-high-value-pipe-role'
    """
    _check_scoped(statements)
    return ensure_service_role(
        lab,
        pipe_component,
        trust=pipe_trust_policy(lab, lab.name(pipe_component)),
        document={"Version": "2012-10-17", "Statement": list(statements)},
        description=f"Role of EventBridge pipe {lab.name(pipe_component)} (order pipeline lab)",
        timeout=timeout,
    )


def ensure_service_role(
    lab: Lab,
    component: str,
    *,
    trust: dict[str, Any],
    document: dict[str, Any],
    description: str,
    timeout: float = 60,
) -> str:
    """Create or converge role ``<prefix>-<component>-role`` with this trust policy and ONE inline policy."""
    iam = lab.client("iam")
    name = role_name(lab, component)
    role = _get_role(iam, name)
    if role is None:
        try:
            role = iam.create_role(
                RoleName=name,
                Path=ROLE_PATH,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=description,
                Tags=tag_list(lab.tags),
            )["Role"]
        except ClientError as error:
            if error_code(error) != "EntityAlreadyExists":  # created meanwhile by another run
                raise
            role = _get_role(iam, name)
            assert role is not None
        boto_wait(iam, "role_exists", RoleName=name, timeout=timeout, what=f"IAM role {name} to exist")
    else:
        current_tags = {t["Key"]: t["Value"] for t in paginate(iam, "list_role_tags", "Tags", RoleName=name)}
        if current_tags.get(PREFIX_TAG) not in (None, lab.prefix):
            raise RoleConflict(
                f"IAM role {name} belongs to lab prefix {current_tags[PREFIX_TAG]!r}, "
                f"not {lab.prefix!r}: choose another prefix"
            )
        if role.get("Path") != ROLE_PATH:
            raise RoleConflict(
                f"IAM role {name} exists with path {role.get('Path')!r}, but lab roles live under {ROLE_PATH!r} "
                "(a role's path cannot be changed): delete that role and run this again"
            )
        if not _same_policy(role.get("AssumeRolePolicyDocument", {}), trust):
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        missing = tags_missing(current_tags, lab.tags)
        if missing:
            iam.tag_role(RoleName=name, Tags=tag_list(missing))

    for other in paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
        if other != POLICY_NAME:
            iam.delete_role_policy(RoleName=name, PolicyName=other)
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"]
    except ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
        current = None
    if current is None or not _same_policy(current, document):
        iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(document))
    return str(role["Arn"])
