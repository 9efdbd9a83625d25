"""Least privilege, offline: every policy the stacks generate is parsed and linted.

Every ``*_role_statements`` function of the stack modules is found by name (so a role a stack adds
later is covered without touching this file: a function whose arguments this file cannot build
fails loudly), its statements are linted with :func:`helpers.aws.policy_lint.policy_findings` (no
wildcard actions, no ``*`` resources, wildcards only where AWS offers nothing narrower, no
NotAction/NotResource, every resource an ARN of the lab's account and region, no action granted
on another service's resource, no duplicate grant), and the full inline policy (statements + the
function's log streams) likewise. Which grants are *used* is checked against what each handler's
code calls (read from its source), and against the deployed stack in
tests/integration/test_iam_enforced.py.

AWS docs: https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege,
https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from helpers.aws.code_scan import code_actions
from helpers.aws.dynamodb import TableInfo
from helpers.aws.iam import _check_scoped, lambda_trust_policy, logs_statement, pipe_trust_policy, policy_document
from helpers.aws.iam_audit import pipe_required_grants
from helpers.aws.packaging import REPO_ROOT, SHARED_MODULES_DIR
from helpers.aws.policy_lint import policy_findings, policy_grants
from helpers.aws.sqs import QueueInfo
from helpers.core.lab import Lab
from helpers.core.target import Target

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = "alice"
# Modules whose *_role_statements functions build the lab's roles: one module per step.
STACK_MODULES = tuple(f"helpers.pipeline.step{number}" for number in range(1, 7))


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


TABLE = TableInfo(
    f"{PREFIX}-orders",
    arn("dynamodb", f"table/{PREFIX}-orders"),
    stream_arn=arn("dynamodb", f"table/{PREFIX}-orders/stream/2024-01-01T00:00:00.000"),
)


def queue(component: str) -> QueueInfo:
    name = f"{PREFIX}-{component}"
    return QueueInfo(name, f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}", arn("sqs", name))


# How to build each argument of a *_role_statements function, by parameter name.
ARGUMENTS: dict[str, Callable[[], Any]] = {
    "table": lambda: TABLE,
    "queues": lambda: importlib.import_module("helpers.pipeline.step2").OrderQueues(
        queue("order-queue"), queue("order-dlq"), queue("stream-failures")
    ),
    "table_arn": lambda: TABLE.arn,
    "stream_arn": lambda: TABLE.stream_arn,
    "queue_arn": lambda: queue("high-value-queue").arn,
    "target_queue_arn": lambda: queue("high-value-queue").arn,
    "dead_letter_arn": lambda: queue("high-value-pipe-dlq").arn,
    "enrichment_arn": lambda: arn("lambda", f"function:{PREFIX}-high-value-enricher"),
}


@pytest.fixture(scope="module")
def lab() -> Lab:
    lab = Lab(Target("local", REGION, "http://127.0.0.1:9"), PREFIX)
    lab.__dict__["account_id"] = ACCOUNT  # the cached STS answer: no cloud needed for pure policy building
    return lab


def statement_functions() -> list[tuple[str, Callable[..., list[dict[str, Any]]]]]:
    found = []
    for module_name in STACK_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue  # that step is not in the tree yet
            raise
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.endswith("_role_statements") and function.__module__ == module_name:
                found.append((f"{module_name}.{name}", function))
    return sorted(found)


def build(function: Callable[..., Any]) -> list[dict[str, Any]]:
    kwargs = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.default is not inspect.Parameter.empty and parameter.name not in ARGUMENTS:
            continue
        if parameter.name not in ARGUMENTS:
            pytest.fail(
                f"{function.__qualname__}: no builder for argument {parameter.name!r}: add it to ARGUMENTS "
                "in tests/unit/test_policies.py so this role's policy is checked"
            )
        kwargs[parameter.name] = ARGUMENTS[parameter.name]()
    return function(**kwargs)


FUNCTIONS = statement_functions()


def test_the_stacks_role_statement_functions_are_found():
    names = [name for name, _ in FUNCTIONS]
    for expected in (
        "step1.create_order_role_statements",
        "step2.stream_processor_role_statements",
        "step3.order_worker_role_statements",
        "step4.consumer_role_statements",
        "step4.pipe_role_statements",
    ):
        assert f"helpers.pipeline.{expected}" in names, names


@pytest.mark.parametrize("name,function", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_every_generated_statement_is_least_privilege(lab: Lab, name: str, function: Callable[..., Any]):
    statements = build(function)
    assert statements, f"{name} grants nothing: a function with no grants needs no statements function"
    document = {"Version": "2012-10-17", "Statement": statements}
    assert policy_findings(document, account=ACCOUNT, region=REGION) == []
    _check_scoped(statements)  # what ensure_lambda_role / ensure_pipe_role refuse
    full = policy_document(lab, "some-function", statements)
    assert policy_findings(full, account=ACCOUNT, region=REGION) == []
    for action, resource in policy_grants(full):
        assert "*" not in action
        assert resource.startswith(f"arn:aws:{action.split(':')[0]}:{REGION}:{ACCOUNT}:"), (action, resource)


def test_a_functions_logs_grant_is_its_own_log_streams_only(lab: Lab):
    statement = logs_statement(lab, "alice-create-order")
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]  # the lab creates the group
    assert statement["Resource"] == [arn("logs", "log-group:/aws/lambda/alice-create-order:*")]
    assert policy_findings({"Version": "2012-10-17", "Statement": [statement]}) == []


@pytest.mark.parametrize(
    "statement,expected",
    [
        ({"Action": "sqs:*", "Resource": arn("sqs", "q")}, "wildcard action 'sqs:*'"),
        ({"Action": "*", "Resource": arn("sqs", "q")}, "wildcard action '*'"),
        ({"Action": "sqs:Send*", "Resource": arn("sqs", "q")}, "wildcard action 'sqs:Send*'"),
        ({"Action": "sqs:SendMessage", "Resource": "*"}, "resource '*'"),
        ({"Action": "sqs:SendMessage", "Resource": arn("sqs", "alice-*")}, "wildcard resource"),
        ({"Action": "dynamodb:ListStreams", "Resource": "*"}, "resource '*'"),
        ({"Action": "dynamodb:GetRecords", "Resource": arn("dynamodb", "table/t/stream/*")}, "wildcard resource"),
        (
            {"Action": ["logs:CreateLogGroup"], "Resource": arn("logs", "log-group:/aws/lambda/f:*")},
            "wildcard resource",
        ),
        ({"Action": "logs:PutLogEvents", "Resource": arn("logs", "log-group:/aws/lambda/*:*")}, "wildcard resource"),
        ({"NotAction": "iam:*", "Resource": arn("sqs", "q")}, "uses NotAction"),
        ({"Action": "sqs:SendMessage", "NotResource": arn("sqs", "q")}, "uses NotResource"),
        ({"Action": "sqs:SendMessage", "Resource": "my-queue"}, "is not an ARN"),
        ({"Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:eu-west-1:999999999999:q"}, "not 123456789012"),
        ({"Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:q"}, "not eu-west-1"),
        ({"Action": "dynamodb:PutItem", "Resource": arn("sqs", "q")}, "granted on a sqs resource"),
    ],
)
def test_broad_or_foreign_grants_are_findings(statement: dict[str, Any], expected: str):
    document = {"Version": "2012-10-17", "Statement": [{"Sid": "S", "Effect": "Allow", **statement}]}
    findings = policy_findings(document, account=ACCOUNT, region=REGION)
    assert any(expected in f for f in findings), findings
    # Refused already when a role is provisioned: what is never least privilege. (Name patterns, other
    # accounts/regions and cross-service grants are findings of the lint, which the stacks' roles must pass.)
    if any(hard in expected for hard in ("wildcard action", "resource '*'", "uses Not", "is not an ARN")):
        with pytest.raises(ValueError):
            _check_scoped(document["Statement"])


def test_the_forms_aws_requires_are_accepted_and_duplicates_are_not():
    allowed = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": arn("logs", "log-group:/aws/lambda/alice-x:*"),
            },
            {
                "Sid": "Streams",
                "Effect": "Allow",
                "Action": "dynamodb:ListStreams",
                "Resource": arn("dynamodb", "table/alice-orders/stream/*"),
            },
            {
                "Sid": "Index",
                "Effect": "Allow",
                "Action": "dynamodb:Query",
                "Resource": arn("dynamodb", "table/alice-orders/index/*"),
            },
        ],
    }
    assert policy_findings(allowed, account=ACCOUNT, region=REGION) == []
    twice = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn("sqs", "q")},
            {"Sid": "B", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [arn("sqs", "q")]},
        ],
    }
    assert policy_findings(twice) == [f"B: sqs:SendMessage on {arn('sqs', 'q')} is already granted by A"]
    assert policy_findings({"Version": "2008-10-17", "Statement": []}) == [
        "policy Version is '2008-10-17', not '2012-10-17'"
    ]


def test_trust_policies_name_one_service_and_pipes_are_confused_deputy_safe(lab: Lab):
    lambda_trust = lambda_trust_policy()
    assert [s["Principal"] for s in lambda_trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    pipe_trust = pipe_trust_policy(lab, "alice-high-value-pipe")
    (statement,) = pipe_trust["Statement"]
    assert statement["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT,
        "aws:SourceArn": arn("pipes", "pipe/alice-high-value-pipe"),
    }


# What each handler's own code calls (read from its source). A change in a handler that calls a new
# API shows up here first — then grant it in its *_role_statements function.
CODE_ACTIONS = {
    "create_order": {"dynamodb:PutItem", "dynamodb:GetItem"},
    "stream_processor": {"sqs:SendMessage"},  # SendMessageBatch is authorised by sqs:SendMessage
    "order_worker": {"dynamodb:UpdateItem", "dynamodb:GetItem", "sqs:ChangeMessageVisibility"},
    "high_value": {"dynamodb:UpdateItem"},
    "high_value_enricher": set(),
}


@pytest.mark.parametrize(
    "package", sorted(p.name for p in (REPO_ROOT / "lambdas").iterdir() if p.is_dir() and p != SHARED_MODULES_DIR)
)
def test_each_handlers_code_calls_exactly_the_known_actions(package: str):
    assert package in CODE_ACTIONS, f"a new Lambda package {package}: add what its code calls to CODE_ACTIONS"
    assert code_actions(REPO_ROOT / "lambdas" / package / package) == CODE_ACTIONS[package]


SQS_TRIGGER = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
STREAM_TRIGGER = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}


@pytest.mark.parametrize(
    "function,package,extra",
    [
        ("helpers.pipeline.step1.create_order_role_statements", "create_order", set()),
        ("helpers.pipeline.step3.order_worker_role_statements", "order_worker", SQS_TRIGGER),
        ("helpers.pipeline.step2.stream_processor_role_statements", "stream_processor", STREAM_TRIGGER),
        ("helpers.pipeline.step4.consumer_role_statements", "high_value", SQS_TRIGGER),
    ],
)
def test_a_functions_role_grants_what_its_code_and_trigger_use_and_nothing_else(function, package, extra):
    """At the level of actions (resources are checked on the deployed stack): granted == code + trigger
    (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions,
    https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#events-dynamodb-permissions)."""
    module_name, name = function.rsplit(".", 1)
    module = pytest.importorskip(module_name)
    granted = {action for action, _ in policy_grants({"Statement": build(getattr(module, name))})}
    used = code_actions(REPO_ROOT / "lambdas" / package / package) | extra
    assert granted - used == set(), f"unused grants in {function}"
    assert used - granted == set(), f"missing grants in {function}"


def test_the_pipe_needs_exactly_source_enrichment_target_and_dead_letter_grants():
    pipe = {
        "Source": TABLE.stream_arn,
        "Enrichment": ARGUMENTS["enrichment_arn"](),
        "Target": queue("high-value-queue").arn,
        "SourceParameters": {
            "DynamoDBStreamParameters": {"DeadLetterConfig": {"Arn": queue("high-value-pipe-dlq").arn}}
        },
    }
    required = pipe_required_grants(pipe)
    table_streams = f"{TABLE.arn}/stream/*"
    assert required == {
        ("dynamodb:DescribeStream", TABLE.stream_arn),
        ("dynamodb:GetRecords", TABLE.stream_arn),
        ("dynamodb:GetShardIterator", TABLE.stream_arn),
        ("dynamodb:ListStreams", table_streams),
        ("lambda:InvokeFunction", ARGUMENTS["enrichment_arn"]()),
        ("sqs:SendMessage", queue("high-value-queue").arn),
        ("sqs:SendMessage", queue("high-value-pipe-dlq").arn),
    }
    routing = pytest.importorskip("helpers.pipeline.step4")
    statements = routing.pipe_role_statements(
        TABLE.stream_arn, queue("high-value-queue").arn, queue("high-value-pipe-dlq").arn, ARGUMENTS["enrichment_arn"]()
    )
    assert policy_grants({"Statement": statements}) == required
