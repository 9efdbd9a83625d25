"""IAM policy enforcement (MiniStack ``AUTH=true``, ``core/iam_actions.py``, ``services/lambda_svc.py``).

What it changes and why: docs/local-cloud-services.md, `localcloud/services/iam/enforcement.py`.

>>> BATCH_ACTIONS["sqs:SendMessageBatch"]   # a batch is authorised by its single-message action
'sqs:SendMessage'
"""

from __future__ import annotations

from typing import Any

from localcloud.patches import wrap
from localcloud.services.awslambda.hooks import log_hooks, mapping_checks

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api-actions.html
BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
SQS_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
STREAM_SOURCE_ACTIONS = (
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:DescribeStream",
    "dynamodb:ListStreams",
)


def _batch_as_single(original):
    def extract_iam_action(*args: Any, **kwargs: Any) -> str | None:
        action = original(*args, **kwargs)
        return BATCH_ACTIONS.get(action, action) if action else action

    return extract_iam_action


def role_allows(
    role_arn: str,
    function_name: str,
    action: str,
    resource_arn: str,
    *,
    account: str | None = None,
    region: str | None = None,
) -> bool:
    """Whether role ``role_arn``'s policies (as the function's session) allow ``action`` on ``resource_arn``."""
    from ministack.core import iam_evaluator
    from ministack.core.responses import get_account_id, get_region

    account = account or get_account_id()
    role_name = role_arn.rsplit("/", 1)[-1]
    policies = iam_evaluator._gather_role_policies(role_name, account)
    context = iam_evaluator.EvalContext(
        principal_arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{function_name}",
        principal_type="AssumedRole",
        principal_account=account,
        action=action,
        resource_arn=resource_arn,
        region=region or get_region(),
        service_context={"aws:tagkeys": None},
    )
    return iam_evaluator.evaluate(context, policies).decision == "Allow"


def may_write_logs(config: dict[str, Any], group_exists: bool) -> bool:
    """Whether the function's role lets Lambda write its logs (create the group first, if it is missing)."""
    function_arn = str(config.get("FunctionArn", ""))
    parts = function_arn.split(":")
    if len(parts) < 7 or not config.get("Role"):
        return True  # not a function record we can judge: leave MiniStack's behaviour
    region, account, name = parts[3], parts[4], str(config.get("FunctionName", parts[6]))
    group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"
    group_arn = f"arn:{parts[1]}:logs:{region}:{account}:log-group:{group}"
    stream_arn = f"{group_arn}:log-stream:2000/01/01/[$LATEST]0"

    def allowed(action: str, *resources: str) -> bool:
        return any(role_allows(config["Role"], name, action, r, account=account, region=region) for r in resources)

    if not group_exists and not allowed("logs:CreateLogGroup", group_arn, f"{group_arn}:*"):
        return False
    return allowed("logs:CreateLogStream", stream_arn) and allowed("logs:PutLogEvents", stream_arn)


def logs_allowed(func: dict) -> bool:
    """Whether the function's role may write its logs (always, without AUTH)."""
    from ministack.app import AUTH

    if not AUTH:
        return True
    from ministack.services import cloudwatch_logs

    config = func.get("config") or func
    group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{config.get('FunctionName', '')}"
    return may_write_logs(config, group in cloudwatch_logs._log_groups)


def mapping_refusal(role_arn: str, function_name: str, source_arn: str) -> str | None:
    """AWS's refusal message when the role cannot read ``source_arn``; None when it can."""
    if ":sqs:" in source_arn:
        for action in SQS_SOURCE_ACTIONS:
            if not role_allows(role_arn, function_name, action, source_arn):
                return f"The provided execution role does not have permissions to call {action.split(':', 1)[1]} on SQS"
    elif (
        ":dynamodb:" in source_arn
        and "/stream/" in source_arn
        and not all(role_allows(role_arn, function_name, a, source_arn) for a in STREAM_SOURCE_ACTIONS)
    ):
        return (
            f"Cannot access stream {source_arn}. Please ensure the role can perform the GetRecords, "
            "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
        )
    return None


def create_mapping_refusal(data: dict) -> str | None:
    """CreateEventSourceMapping refused when the function's role cannot read the source (only with AUTH)."""
    from ministack.app import AUTH
    from ministack.services import lambda_svc

    if not AUTH:
        return None
    func_name, qualifier, err = lambda_svc._resolve_existing_esm_function(data.get("FunctionName", ""))
    if err:
        return None
    record, _config = lambda_svc._get_func_record_for_qualifier(func_name, qualifier)
    role = ((record or {}).get("config") or {}).get("Role", "")
    return (role and mapping_refusal(role, func_name, str(data.get("EventSourceArn", "")))) or None


def apply() -> None:
    from ministack.core import iam_actions

    wrap(iam_actions, "extract_iam_action", _batch_as_single)
    # The role is checked before anything else about the mapping, as on AWS.
    mapping_checks.add_create_check(create_mapping_refusal, first=True)
    log_hooks.add_gate(logs_allowed)


__all__ = ["BATCH_ACTIONS", "apply", "mapping_refusal", "may_write_logs", "role_allows"]
