"""Audit every deployed IAM role of a lab against what uses it: granted versus needed, grant by grant.

>>> [a.problems for a in audit_lab_roles(lab)]      # every deployed role vs what uses it    # doctest: +SKIP
[[], [], [], []]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from helpers.aws.code_scan import code_actions
from helpers.aws.common import error_code, log_group_arn, log_group_name, paginate
from helpers.aws.iam import ROLE_PATH
from helpers.aws.policy_lint import Grant, as_list, policy_findings, policy_grants
from helpers.core.lab import Lab
from helpers.core.naming import PREFIX_TAG, PROJECT, PROJECT_TAG
from helpers.core.paths import LAMBDAS_DIR

__all__ = [
    "LOG_ACTIONS",
    "SQS_SOURCE_ACTIONS",
    "STREAM_READ_ACTIONS",
    "RoleAudit",
    "audit_lab_roles",
    "function_required_grants",
    "pipe_required_grants",
]

# What a Lambda event source mapping does with the function's execution role, per source:
# https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions and
# https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#events-dynamodb-permissions
SQS_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


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


def _env_resources(lab: Lab, variables: dict[str, str]) -> dict[str, set[str]]:
    """ARNs named by a function's environment (a table name, a queue URL, an ARN), per service."""
    found: dict[str, set[str]] = {}
    for value in variables.values():
        arn = None
        if value.startswith("arn:"):
            arn = value
        elif value.startswith(("http://", "https://")) and f"/{lab.prefix}-" in value:
            try:
                arn = lab.client("sqs").get_queue_attributes(QueueUrl=value, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
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
    return {(action, stream_arn) for action in STREAM_READ_ACTIONS} | {
        ("dynamodb:ListStreams", f"{table_arn}/stream/*")
    }


def _destination_grants(arn: str) -> set[Grant]:
    service = arn.split(":")[2] if arn.startswith("arn:") else ""
    return {("sqs:SendMessage", arn)} if service == "sqs" else {("sns:Publish", arn)} if service == "sns" else set()


def function_required_grants(lab: Lab, configuration: dict[str, Any], code_dir: str | Path | None) -> set[Grant]:
    """What function ``configuration`` (GetFunctionConfiguration) needs its role for: its code's calls on
    the resources its environment names, its event source mappings, and its own log streams."""
    name = configuration["FunctionName"]
    required: set[Grant] = {
        (a, f"{log_group_arn(lab.region, lab.account_id, log_group_name(name))}:*") for a in LOG_ACTIONS
    }
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


def _function_code_dir(configuration: dict[str, Any]) -> Path | None:
    """``lambdas/<package>/<package>`` for a handler ``<package>.<module>.<function>``, if it exists here."""
    package = configuration.get("Handler", "").split(".", 1)[0]
    candidate = LAMBDAS_DIR / package / package
    return candidate if package and candidate.is_dir() else None


def audit_lab_roles(lab: Lab) -> list[RoleAudit]:
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
            users[function["Role"]].append(
                (
                    f"function {function['FunctionName']}",
                    function_required_grants(lab, configuration, _function_code_dir(configuration)),
                    "lambda.amazonaws.com",
                )
            )
    try:
        pipes_client = lab.client("pipes")
        for summary in paginate(pipes_client, "list_pipes", "Pipes", NamePrefix=f"{lab.prefix}-"):
            pipe = pipes_client.describe_pipe(Name=summary["Name"])
            if pipe.get("RoleArn") in users:
                users[pipe["RoleArn"]].append(
                    (f"pipe {pipe['Name']}", pipe_required_grants(pipe), "pipes.amazonaws.com")
                )
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
            findings += [
                f"{policy_name}: {f}" for f in policy_findings(document, account=lab.account_id, region=lab.region)
            ]
            granted |= policy_grants(document)
        for attached in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            findings.append(f"managed policy {attached['PolicyArn']} attached (use the one inline policy)")
        used = users[arn]
        if len(used) > 1:
            findings.append(f"shared by {', '.join(u for u, _, _ in used)} (one role per function and per pipe)")
        trust = role.get("AssumeRolePolicyDocument") or {}
        if isinstance(trust, str):
            trust = json.loads(trust)
        trusted = {
            p for s in as_list(trust.get("Statement")) for p in as_list((s.get("Principal") or {}).get("Service"))
        }
        required: set[Grant] = set()
        for user, needs, service in used:
            required |= needs
            if trusted != {service}:
                findings.append(f"trust policy names {sorted(trusted)}, but {user} needs exactly {service!r}")
        audits.append(
            RoleAudit(name, ", ".join(u for u, _, _ in used), frozenset(granted), frozenset(required), tuple(findings))
        )
    return audits
