"""Read a Lambda package's source (without running it) for the AWS calls it can make, as IAM actions.

>>> sorted(code_actions(LAMBDAS_DIR / "create_order" / "create_order"))   # doctest: +SKIP
['dynamodb:GetItem', 'dynamodb:PutItem']
"""

from __future__ import annotations

import ast
from pathlib import Path

import botocore.session
from botocore import xform_name

__all__ = ["code_actions"]

# IAM action prefix of a boto3 service name where the two differ.
_IAM_PREFIX = {"monitoring": "cloudwatch", "dynamodbstreams": "dynamodb", "apigatewayv2": "apigateway"}
# SQS authorises a batch call with the permission of its single-message action
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html).
_BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def code_actions(package_dir: str | Path) -> set[str]:
    """The IAM actions a Lambda package's own code can call, read from its source (not run).

    Finds the services it makes clients for (``boto3.client("sqs")``) and every method called on
    anything that is an operation of one of them (``.send_message_batch(`` → ``sqs:SendMessage``).
    Bundled dependencies are not read: only ``package_dir`` itself.

    >>> sorted(code_actions(LAMBDAS_DIR / "create_order" / "create_order"))   # doctest: +SKIP
    ['dynamodb:GetItem', 'dynamodb:PutItem']
    """
    services: set[str] = set()
    methods: set[str] = set()
    for source in sorted(Path(package_dir).rglob("*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if (
                node.func.attr in ("client", "resource")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
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
