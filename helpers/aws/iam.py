"""Execution roles for the lab's Lambda functions: least privilege, one inline policy each.

>>> table = ensure_orders_table(lab)                                       # doctest: +SKIP
>>> role_arn = ensure_lambda_role(lab, "create-order", [                   # doctest: +SKIP
...     dynamodb_statement(table.arn, ["dynamodb:PutItem", "dynamodb:GetItem"]),
... ])

The role ``<prefix>-create-order-role`` (path ``/orderlab/``) trusts ``lambda.amazonaws.com``
and carries ONE inline policy: the statements given (each scoped to named resources) plus
CloudWatch Logs writes to the function's own log group only.

Checking least privilege (what the tests and a curious learner run):

>>> policy_findings(document)                       # wildcards, NotAction, foreign ARNs...  # doctest: +SKIP
[]
>>> [a.problems for a in audit_lab_roles(lab)]      # every deployed role vs what uses it    # doctest: +SKIP
[[], [], [], []]
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, log_group_arn, log_group_name, paginate, tags_missing
from helpers.aws.common import partition as _partition
from helpers.aws.packaging import REPO_ROOT
from helpers.core.naming import PREFIX_TAG, tag_list
from helpers.core.naming import PROJECT, PROJECT_TAG
from helpers.core.waiters import boto_wait

if TYPE_CHECKING:
    from pathlib import Path

    from helpers.core.lab import Lab

__all__ = [
    "ROLE_PATH",
    "RoleAudit",
    "RoleConflict",
    "audit_lab_roles",
    "code_actions",
    "function_required_grants",
    "pipe_required_grants",
    "policy_findings",
    "policy_grants",
    "dynamodb_statement",
    "ensure_lambda_role",
    "ensure_pipe_role",
    "ensure_service_role",
    "pipe_trust_policy",
    "lambda_trust_policy",
    "logs_statement",
    "policy_document",
    "role_name",
]

ROLE_PATH = "/orderlab/"
POLICY_NAME = "orderlab-least-privilege"


class RoleConflict(RuntimeError):
    """A role of that name exists but is not this lab's, or cannot be converged."""


def role_name(lab: "Lab", function_component: str) -> str:
    """``<prefix>-<component>-role``. IAM role names are at most 64 characters."""
    name = lab.name(f"{function_component}-role")
    if len(name) > 64:
        raise ValueError(f"Role name {name!r} is longer than IAM's 64 characters: use a shorter component name")
    return name


def lambda_trust_policy() -> dict[str, Any]:
    """The trust policy that lets Lambda assume a role."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
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


def logs_statement(lab: "Lab", function_name: str) -> dict[str, Any]:
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
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if not actions or any("*" in a or "?" in a or ":" not in a for a in actions):
            problems.append(f"name the actions (no wildcards): {actions}")
        if not resources or any(r == "*" or not r.startswith("arn:") for r in resources):
            problems.append(f"name the resources by ARN (no Resource '*'): {resources}")
        if problems:
            raise ValueError(f"Scope every statement to named actions on named resources: {'; '.join(problems)} "
                             f"in {statement}")


def policy_document(lab: "Lab", function_component: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The inline policy document: ``statements`` plus the function's own logs statement."""
    _check_scoped(statements)
    return {"Version": "2012-10-17",
            "Statement": [*statements, logs_statement(lab, lab.name(function_component))]}


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
    lab: "Lab",
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
        lab, function_component, trust=lambda_trust_policy(),
        document=policy_document(lab, function_component, statements),
        description=f"Execution role of Lambda function {lab.name(function_component)} (order pipeline lab)",
        timeout=timeout,
    )


def pipe_trust_policy(lab: "Lab", pipe_name: str) -> dict[str, Any]:
    """The trust policy that lets EventBridge Pipes assume a role, for this account's pipe only.

    The ``aws:SourceAccount``/``aws:SourceArn`` conditions guard against the confused-deputy problem, as
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html recommends.
    """
    pipe_arn = f"arn:{_partition(lab.region)}:pipes:{lab.region}:{lab.account_id}:pipe/{pipe_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "pipes.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": lab.account_id, "aws:SourceArn": pipe_arn}},
        }],
    }


def ensure_pipe_role(lab: "Lab", pipe_component: str, statements: list[dict[str, Any]], *,
                     timeout: float = 60) -> str:
    """Create or converge the role of pipe ``lab.name(pipe_component)``: exactly ``statements``
    (read the source, invoke the enrichment, send to the target), nothing else; return its ARN.

    >>> ensure_pipe_role(lab, "high-value-pipe", [sqs_sender_statement(queue_arn)])   # doctest: +SKIP
    'arn:aws:iam::123456789012:role/orderlab/alice-high-value-pipe-role'
    """
    _check_scoped(statements)
    return ensure_service_role(
        lab, pipe_component, trust=pipe_trust_policy(lab, lab.name(pipe_component)),
        document={"Version": "2012-10-17", "Statement": list(statements)},
        description=f"Role of EventBridge pipe {lab.name(pipe_component)} (order pipeline lab)",
        timeout=timeout,
    )


def ensure_service_role(
    lab: "Lab",
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
            raise RoleConflict(f"IAM role {name} belongs to lab prefix {current_tags[PREFIX_TAG]!r}, "
                               f"not {lab.prefix!r}: choose another prefix")
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


# ---------------------------------------------------------------------------------------------
# Least-privilege checks: lint a policy document; audit every deployed role against what uses it
# ---------------------------------------------------------------------------------------------
# Wildcards are refused except in these forms, each one because AWS offers no narrower resource:
# - a function's log streams: ``log-group:/aws/lambda/<fn>:*`` (stream names are chosen by Lambda;
#   https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html#monitoring-cloudwatchlogs-prereqs);
# - one table's streams for ``dynamodb:ListStreams`` (the stream label changes whenever the stream is
#   re-enabled; AWS SAM's DynamoDBStreamReadPolicy uses the same form);
# - one table's indexes for Query/Scan.
_WILDCARD_FORMS: list[tuple[str, frozenset[str], str]] = [
    (r"arn:[a-z-]+:logs:[a-z0-9-]+:\d{12}:log-group:[^*?]+:\*",
     frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}), "the function's own log streams"),
    (r"arn:[a-z-]+:dynamodb:[a-z0-9-]+:\d{12}:table/[^*?/]+/stream/\*",
     frozenset({"dynamodb:ListStreams"}), "the streams of one table"),
    (r"arn:[a-z-]+:dynamodb:[a-z0-9-]+:\d{12}:table/[^*?/]+/index/\*",
     frozenset({"dynamodb:Query", "dynamodb:Scan"}), "the indexes of one table"),
]
# IAM action prefix of a boto3 service name where the two differ.
_IAM_PREFIX = {"monitoring": "cloudwatch", "dynamodbstreams": "dynamodb", "apigatewayv2": "apigateway"}
# SQS authorises a batch call with the permission of its single-message action
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html).
_BATCH_ACTIONS = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
                  "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
# What a Lambda event source mapping does with the function's execution role, per source:
# https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions and
# https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#events-dynamodb-permissions
SQS_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")

Grant = tuple[str, str]  # (action, resource ARN)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict)) else list(value)


def policy_findings(document: dict[str, Any] | str, *, account: str | None = None,
                    region: str | None = None) -> list[str]:
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
    import re

    if isinstance(document, str):
        document = json.loads(document)
    findings: list[str] = []
    if document.get("Version") != "2012-10-17":
        findings.append(f"policy Version is {document.get('Version')!r}, not '2012-10-17'")
    seen: dict[Grant, str] = {}
    for index, statement in enumerate(_as_list(document.get("Statement"))):
        sid = statement.get("Sid") or f"statement {index}"
        for key in ("NotAction", "NotResource", "NotPrincipal", "Principal"):
            if key in statement:
                findings.append(f"{sid}: uses {key} (grant named actions on named resources instead)")
        if statement.get("Effect") not in ("Allow", "Deny"):
            findings.append(f"{sid}: Effect must be Allow or Deny, not {statement.get('Effect')!r}")
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
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
                allowed = [why for pattern, acts, why in _WILDCARD_FORMS
                           if re.fullmatch(pattern, resource) and set(actions) <= acts]
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
        document = json.loads(document)
    return {(str(action), str(resource))
            for statement in _as_list(document.get("Statement")) if statement.get("Effect") == "Allow"
            for action in _as_list(statement.get("Action")) for resource in _as_list(statement.get("Resource"))}


def code_actions(package_dir: "str | Path") -> set[str]:
    """The IAM actions a Lambda package's own code can call, read from its source (not run).

    Finds the services it makes clients for (``boto3.client("sqs")``) and every method called on
    anything that is an operation of one of them (``.send_message_batch(`` → ``sqs:SendMessage``).
    Bundled dependencies are not read: only ``package_dir`` itself.

    >>> sorted(code_actions(REPO_ROOT / "lambdas" / "create_order" / "create_order"))   # doctest: +SKIP
    ['dynamodb:GetItem', 'dynamodb:PutItem']
    """
    import ast
    from pathlib import Path

    import botocore.session
    from botocore import xform_name

    services: set[str] = set()
    methods: set[str] = set()
    for source in sorted(Path(package_dir).rglob("*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr in ("client", "resource") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                services.add(node.args[0].value)
            methods.add(node.func.attr)
    session = botocore.session.get_session()
    actions: set[str] = set()
    for service in sorted(services):
        model = session.get_service_model(service)
        prefix = _IAM_PREFIX.get(service, model.signing_name or service)
        for operation in model.operation_names:
            if xform_name(operation) in methods:
                action = f"{prefix}:{operation}"
                actions.add(_BATCH_ACTIONS.get(action, action))
    return actions


@dataclass(frozen=True)
class RoleAudit:
    """One lab role: what it grants, what its user needs, and the difference."""

    role: str
    used_by: str  # "function <name>", "pipe <name>", or "" (nothing uses it)
    granted: frozenset[Grant]
    required: frozenset[Grant]
    findings: tuple[str, ...] = ()

    @property
    def unused(self) -> set[Grant]:
        return set(self.granted - self.required)

    @property
    def missing(self) -> set[Grant]:
        return set(self.required - self.granted)

    @property
    def problems(self) -> list[str]:
        """Every reason this role is not least privilege (empty: it is exactly right)."""
        out = list(self.findings)
        if not self.used_by:
            out.append("no function or pipe uses this role")
        out += [f"unused grant {a} on {r}" for a, r in sorted(self.unused)]
        out += [f"missing grant {a} on {r}" for a, r in sorted(self.missing)]
        return out


def _env_resources(lab: "Lab", variables: dict[str, str]) -> dict[str, set[str]]:
    """ARNs named by a function's environment (a table name, a queue URL, an ARN), per service."""
    found: dict[str, set[str]] = {}
    for value in variables.values():
        arn = None
        if value.startswith("arn:"):
            arn = value
        elif value.startswith(("http://", "https://")) and f"/{lab.prefix}-" in value:
            try:
                arn = lab.client("sqs").get_queue_attributes(QueueUrl=value, AttributeNames=["QueueArn"])[
                    "Attributes"]["QueueArn"]
            except ClientError:
                continue
        elif value.startswith(f"{lab.prefix}-"):
            try:
                arn = lab.client("dynamodb").describe_table(TableName=value)["Table"]["TableArn"]
            except ClientError:
                continue
        if arn:
            found.setdefault(arn.split(":")[2], set()).add(arn)
    return found


def _stream_grants(stream_arn: str) -> set[Grant]:
    table_arn = stream_arn.split("/stream/")[0]
    return {(action, stream_arn) for action in STREAM_READ_ACTIONS} | {("dynamodb:ListStreams",
                                                                        f"{table_arn}/stream/*")}


def _destination_grants(arn: str) -> set[Grant]:
    service = arn.split(":")[2] if arn.startswith("arn:") else ""
    return {("sqs:SendMessage", arn)} if service == "sqs" else {("sns:Publish", arn)} if service == "sns" else set()


def function_required_grants(lab: "Lab", configuration: dict[str, Any], code_dir: "str | Path | None") -> set[Grant]:
    """What function ``configuration`` (GetFunctionConfiguration) needs its role for: its code's calls on
    the resources its environment names, its event source mappings, and its own log streams."""
    name = configuration["FunctionName"]
    required: set[Grant] = {(a, f"{log_group_arn(lab.region, lab.account_id, log_group_name(name))}:*")
                            for a in LOG_ACTIONS}
    env = _env_resources(lab, (configuration.get("Environment") or {}).get("Variables") or {})
    for action in code_actions(code_dir) if code_dir else set():
        service = action.split(":", 1)[0]
        required |= {(action, arn) for arn in env.get(service, set()) if ":table/" in arn or service != "dynamodb"}
    lam = lab.client("lambda")
    for mapping in paginate(lam, "list_event_source_mappings", "EventSourceMappings", FunctionName=name):
        source = mapping.get("EventSourceArn", "")
        if ":sqs:" in source:
            required |= {(action, source) for action in SQS_SOURCE_ACTIONS}
        elif ":dynamodb:" in source:
            required |= _stream_grants(source)
        destination = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if destination:
            required |= _destination_grants(destination)
    return required


def pipe_required_grants(pipe: dict[str, Any]) -> set[Grant]:
    """What pipe ``pipe`` (DescribePipe) needs its role for: read its source, invoke its enrichment,
    send to its target and its dead-letter queue
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html)."""
    required: set[Grant] = set()
    source = pipe.get("Source", "")
    if ":dynamodb:" in source:
        required |= _stream_grants(source)
    elif ":sqs:" in source:
        required |= {(action, source) for action in SQS_SOURCE_ACTIONS}
    if pipe.get("Enrichment"):
        required.add(("lambda:InvokeFunction", pipe["Enrichment"]))
    target = pipe.get("Target", "")
    if ":lambda:" in target:
        required.add(("lambda:InvokeFunction", target))
    else:
        required |= _destination_grants(target)
    for parameters in (pipe.get("SourceParameters") or {}).values():
        if isinstance(parameters, dict):
            dead_letter = (parameters.get("DeadLetterConfig") or {}).get("Arn")
            if dead_letter:
                required |= _destination_grants(dead_letter)
    return required


def _function_code_dir(configuration: dict[str, Any]) -> "Path | None":
    """``lambdas/<package>/<package>`` for a handler ``<package>.<module>.<function>``, if it exists here."""
    package = configuration.get("Handler", "").split(".", 1)[0]
    candidate = REPO_ROOT / "lambdas" / package / package
    return candidate if package and candidate.is_dir() else None


def audit_lab_roles(lab: "Lab") -> list[RoleAudit]:
    """Audit every IAM role of this lab (path ``/orderlab/``, prefix tag) against what uses it.

    For each role: the grants of its inline policies (read back from IAM), what its one user needs
    (:func:`function_required_grants` / :func:`pipe_required_grants`), and the lint of
    :func:`policy_findings`. Also flags a role shared by two users, attached managed policies, and a
    trust policy for another service. Roles the stacks add later are covered without changes here.

    >>> [a.problems for a in audit_lab_roles(lab)]                     # doctest: +SKIP
    [[], [], [], []]
    """
    iam, lam = lab.client("iam"), lab.client("lambda")
    roles = {}
    for role in paginate(iam, "list_roles", "Roles", PathPrefix=ROLE_PATH):
        if not role["RoleName"].startswith(f"{lab.prefix}-"):
            continue
        tags = {t["Key"]: t["Value"] for t in paginate(iam, "list_role_tags", "Tags", RoleName=role["RoleName"])}
        if tags.get(PREFIX_TAG) == lab.prefix and tags.get(PROJECT_TAG) == PROJECT:
            roles[role["Arn"]] = role
    users: dict[str, list[tuple[str, set[Grant], str]]] = {arn: [] for arn in roles}
    for function in paginate(lam, "list_functions", "Functions"):
        if function.get("Role") in users:
            configuration = lam.get_function_configuration(FunctionName=function["FunctionName"])
            users[function["Role"]].append((f"function {function['FunctionName']}", function_required_grants(
                lab, configuration, _function_code_dir(configuration)), "lambda.amazonaws.com"))
    try:
        pipes_client = lab.client("pipes")
        for summary in paginate(pipes_client, "list_pipes", "Pipes", NamePrefix=f"{lab.prefix}-"):
            pipe = pipes_client.describe_pipe(Name=summary["Name"])
            if pipe.get("RoleArn") in users:
                users[pipe["RoleArn"]].append((f"pipe {pipe['Name']}", pipe_required_grants(pipe),
                                               "pipes.amazonaws.com"))
    except ClientError as error:
        if error_code(error) not in ("UnknownOperationException", "InvalidAction", "NotImplemented"):
            raise
    audits = []
    for arn, role in sorted(roles.items()):
        name = role["RoleName"]
        granted: set[Grant] = set()
        findings: list[str] = []
        for policy_name in paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
            document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            findings += [f"{policy_name}: {f}" for f in policy_findings(document, account=lab.account_id,
                                                                          region=lab.region)]
            granted |= policy_grants(document)
        for attached in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            findings.append(f"managed policy {attached['PolicyArn']} attached (use the one inline policy)")
        used = users[arn]
        if len(used) > 1:
            findings.append(f"shared by {', '.join(u for u, _, _ in used)} (one role per function and per pipe)")
        trust = role.get("AssumeRolePolicyDocument") or {}
        if isinstance(trust, str):
            trust = json.loads(trust)
        trusted = {p for s in _as_list(trust.get("Statement"))
                   for p in _as_list((s.get("Principal") or {}).get("Service"))}
        required: set[Grant] = set()
        for user, needs, service in used:
            required |= needs
            if trusted != {service}:
                findings.append(f"trust policy names {sorted(trusted)}, but {user} needs exactly {service!r}")
        audits.append(RoleAudit(name, ", ".join(u for u, _, _ in used), frozenset(granted), frozenset(required),
                                tuple(findings)))
    return audits
