"""The pipeline as an AWS SAM template, generated from the declarations the steps provision from.

>>> template = pipeline_template()
>>> template["Transform"], sorted(template["Outputs"])[:2]
('AWS::Serverless-2016-10-31', ['AlertTopicArn', 'ApiUrl'])
>>> export_template(Path("infra/template.yaml"))                   # doctest: +SKIP

Nothing here is written twice and nothing is read from a live account: the roles' statements, the
queues' attributes, the functions' environments and event source mappings, the pipe, the alarms and
the dashboard come from the same functions and constants the notebooks' helpers call. They are
rendered for a *symbolic* lab whose prefix, region and account are placeholders; every string that
names one of the template's own resources becomes a ``Ref``/``Fn::GetAtt``, every other string with
a placeholder an ``Fn::Sub``. Change a helper's setting and the template follows.

Design notes: docs/infrastructure-as-code.md.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from helpers.aws import apigateway, dynamodb, iam, lambda_, pipes, sns, sqs
from helpers.aws.cloudwatch import alarm_params
from helpers.aws.common import log_group_name
from helpers.aws.dynamodb import TableInfo
from helpers.aws.runtime import LAB_RUNTIMES, lambda_runtime
from helpers.core import naming
from helpers.core.paths import REPO_ROOT
from helpers.pipeline import catalog, step1, step2, step3, step4, step6

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "DEFAULT_TEMPLATE_PATH",
    "OUTPUTS",
    "PARAMETERS",
    "LintFinding",
    "export_template",
    "lint_template",
    "pipeline_template",
    "render_template",
    "stack_name",
    "template_runtime",
]

DEFAULT_TEMPLATE_PATH = REPO_ROOT / "infra" / "template.yaml"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# The parameters a deployer chooses (sam deploy --guided asks for each).
PARAMETERS = ("Prefix", "HighValueThreshold", "MaxReceiveCount", "AlertEmail")
OUTPUTS = ("ApiUrl", "OrdersTableName", "OrderQueueUrl", "DeadLetterQueueUrl", "HighValueQueueUrl", "AlertTopicArn")

# Placeholders of the symbolic lab: valid where the helpers validate (a prefix, no ':' in region or account).
_PREFIX = "iacprefixtoken"
_REGION = "iacregiontoken"
_ACCOUNT = "iacaccounttoken"
_STREAM_LABEL = "iacstreamlabeltoken"
_API_ID = "iacapiidtoken"
_SUBSTITUTIONS = (
    ("arn:aws:", "arn:${AWS::Partition}:"),
    (_REGION, "${AWS::Region}"),
    (_ACCOUNT, "${AWS::AccountId}"),
    (_PREFIX, "${Prefix}"),
    (_API_ID, "${OrdersApi}"),
)


def stack_name(prefix: str) -> str:
    """The stack the pipeline of ``prefix`` is deployed as: ``<prefix>-order-pipeline``."""
    return f"{naming.validate_prefix(prefix)}-order-pipeline"


class _SymbolicLab:
    """Just what the declaring helpers read of a :class:`~helpers.core.lab.Lab`, with placeholders.

    It has no clients: rendering the template never calls AWS.
    """

    prefix, region, account_id = _PREFIX, _REGION, _ACCOUNT

    def name(self, component: str) -> str:
        return naming.resource_name(self.prefix, component)

    @property
    def tags(self) -> dict[str, str]:
        return naming.tags_for(self.prefix)

    def client(self, service: str) -> Any:
        raise RuntimeError(f"the template is rendered from declarations only: no {service} client")


def _logical_id(component: str, suffix: str = "") -> str:
    """``order-dlq`` -> ``OrderDlq`` (+ suffix): CloudFormation's alphanumeric logical IDs."""
    return "".join(part.capitalize() for part in component.replace("_", "-").split("-")) + suffix


def _default(function: Callable[..., Any], parameter: str) -> Any:
    """The default of ``function``'s keyword ``parameter``: the helpers' own default, read, not copied."""
    return inspect.signature(function).parameters[parameter].default


@dataclass
class _Builder:
    """Collects resources and the placeholder strings that stand for them."""

    lab: _SymbolicLab
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    references: dict[str, Any] = field(default_factory=dict)  # placeholder string -> intrinsic

    def add(self, logical_id: str, resource_type: str, properties: dict[str, Any], **extra: Any) -> None:
        if logical_id in self.resources:
            raise ValueError(f"two resources named {logical_id}")
        self.resources[logical_id] = {"Type": resource_type, **extra, "Properties": properties}

    def resolve(self, value: Any, *, references: bool = True) -> Any:
        """``value`` with placeholders turned into intrinsic functions.

        ``references=False`` writes every name with ``Fn::Sub``: where a ``Fn::GetAtt`` would make two
        resources depend on each other (a queue and its dead-letter queue's redrive allow policy).
        """
        if isinstance(value, dict):
            return {key: self.resolve(item, references=references) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.resolve(item, references=references) for item in value]
        if isinstance(value, str):
            if _PREFIX.capitalize() in value:  # a statement's Sid names its resource without '-': keep it static
                return value.replace(_PREFIX.capitalize(), "")
            if references and value in self.references:
                return dict(self.references[value])
            if value == _PREFIX:
                return {"Ref": "Prefix"}
            if any(placeholder in value for placeholder in (_PREFIX, _REGION, _ACCOUNT, _API_ID)):
                for placeholder, intrinsic in _SUBSTITUTIONS:
                    value = value.replace(placeholder, intrinsic)
                return {"Fn::Sub": value}
        return value


def _tag_list(lab: _SymbolicLab) -> list[dict[str, str]]:
    return naming.tag_list(lab.tags)


def _queue_properties(lab: _SymbolicLab, component: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``AWS::SQS::Queue`` properties from :func:`helpers.aws.sqs.ensure_queue` settings."""
    arguments = {
        name: settings.get(name, _default(sqs.ensure_queue, name))
        for name in (
            "visibility_timeout",
            "receive_wait_time",
            "message_retention_seconds",
            "dead_letter_target_arn",
            "max_receive_count",
            "redrive_allow_source_arns",
        )
    }
    attributes = sqs.wanted_attributes(**arguments)
    properties: dict[str, Any] = {
        "QueueName": lab.name(component),
        "VisibilityTimeout": int(attributes["VisibilityTimeout"]),
        "ReceiveMessageWaitTimeSeconds": int(attributes["ReceiveMessageWaitTimeSeconds"]),
        "MessageRetentionPeriod": int(attributes["MessageRetentionPeriod"]),
    }
    if attributes["RedrivePolicy"]:
        properties["RedrivePolicy"] = json.loads(attributes["RedrivePolicy"])
    if arguments["redrive_allow_source_arns"] is not None:
        properties["RedriveAllowPolicy"] = json.loads(attributes["RedriveAllowPolicy"])
    properties["Tags"] = _tag_list(lab)
    return properties


# ensure_event_source_mapping keyword -> the SAM event property it becomes
_MAPPING_PROPERTIES = {
    "batch_size": "BatchSize",
    "starting_position": "StartingPosition",
    "maximum_batching_window_seconds": "MaximumBatchingWindowInSeconds",
    "bisect_batch_on_function_error": "BisectBatchOnFunctionError",
    "maximum_retry_attempts": "MaximumRetryAttempts",
    "maximum_record_age_in_seconds": "MaximumRecordAgeInSeconds",
    "function_response_types": "FunctionResponseTypes",
}


def _event(
    event_type: str,
    source_key: str,
    source: str,
    mapping: dict[str, Any],
    on_failure_destination_arn: str | None = None,
) -> dict[str, Any]:
    """A SAM ``SQS``/``DynamoDB`` event from :func:`helpers.aws.event_sources.ensure_event_source_mapping` settings."""
    properties: dict[str, Any] = {source_key: source}
    for keyword, value in mapping.items():
        if keyword == "maximum_concurrency":
            properties["ScalingConfig"] = {"MaximumConcurrency": value}
        elif keyword in _MAPPING_PROPERTIES:
            properties[_MAPPING_PROPERTIES[keyword]] = list(value) if isinstance(value, tuple) else value
        else:
            raise ValueError(f"no SAM event property for the mapping setting {keyword!r}")
    if on_failure_destination_arn:
        properties["DestinationConfig"] = {"OnFailure": {"Type": "SQS", "Destination": on_failure_destination_arn}}
    return {"Type": event_type, "Properties": properties}


@dataclass(frozen=True)
class _FunctionSettings:
    """What the step that deploys a catalog function gives it: environment, role statements, event sources."""

    environment: dict[str, Any]
    statements: list[dict[str, Any]]
    events: dict[str, dict[str, Any]]


def _add_function(builder: _Builder, function: catalog.Function, settings: _FunctionSettings, runtime: str) -> None:
    """The function, its log group (created first, as the helpers do) and its least-privilege role."""
    lab = builder.lab
    logical = _logical_id(function.component)
    name = lab.name(function.component)
    symbolic = cast("Lab", lab)
    builder.add(
        f"{logical}Role",
        "AWS::IAM::Role",
        {
            "RoleName": iam.role_name(symbolic, function.component),
            "Path": iam.ROLE_PATH,
            "AssumeRolePolicyDocument": iam.lambda_trust_policy(),
            "Policies": [
                {
                    "PolicyName": iam.POLICY_NAME,
                    "PolicyDocument": iam.policy_document(symbolic, function.component, settings.statements),
                }
            ],
            "Tags": _tag_list(lab),
        },
    )
    builder.add(
        f"{logical}LogGroup",
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": log_group_name(name),
            "RetentionInDays": _default(lambda_.deploy_function, "log_retention_days"),
            "Tags": _tag_list(lab),
        },
    )
    try:
        code_uri = function.directory.relative_to(REPO_ROOT)
    except ValueError:
        code_uri = function.directory
    properties: dict[str, Any] = {
        "FunctionName": name,
        "CodeUri": f"../{code_uri.as_posix()}",
        "Handler": function.handler,
        "Runtime": runtime,
        "Architectures": [_default(lambda_.deploy_function, "architecture")],
        "MemorySize": _default(lambda_.deploy_function, "memory"),
        "Timeout": function.timeout,
        "Role": {"Fn::GetAtt": [f"{logical}Role", "Arn"]},
        "Environment": {"Variables": settings.environment},
        "Tags": dict(lab.tags),
    }
    if settings.events:
        properties["Events"] = settings.events
    builder.add(f"{logical}Function", "AWS::Serverless::Function", properties, DependsOn=[f"{logical}LogGroup"])
    builder.references[_function_arn(lab, function.component)] = {"Fn::GetAtt": [f"{logical}Function", "Arn"]}


def _function_arn(lab: _SymbolicLab, component: str) -> str:
    return f"arn:aws:lambda:{lab.region}:{lab.account_id}:function:{lab.name(component)}"


def pipeline_template(*, runtime: str | None = None, prefix: str | None = None) -> dict[str, Any]:
    """The SAM template of the whole pipeline (steps 1-6), as a dict.

    ``runtime`` defaults to the lab's (:func:`helpers.aws.runtime.lambda_runtime`); ``prefix`` is the
    default of the ``Prefix`` parameter (default ``orderlab``).
    """
    runtime = lambda_runtime(runtime)
    lab = _SymbolicLab()
    symbolic = cast("Lab", lab)
    builder = _Builder(lab)

    # Step 1 (+2): the orders table with its stream.
    table_name = lab.name(catalog.ORDERS_COMPONENT)
    table_arn = f"arn:aws:dynamodb:{lab.region}:{lab.account_id}:table/{table_name}"
    stream_arn = f"{table_arn}/stream/{_STREAM_LABEL}"
    table = TableInfo(table_name, table_arn, stream_arn=stream_arn)
    builder.references.update(
        {table_arn: {"Fn::GetAtt": ["OrdersTable", "Arn"]}, stream_arn: {"Fn::GetAtt": ["OrdersTable", "StreamArn"]}}
    )
    builder.add(
        "OrdersTable",
        "AWS::DynamoDB::Table",
        _table_properties(lab, table_name),
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )

    # Steps 2, 3, 5, 4 and 6: the queues.
    queue_settings = {
        **step2.order_queue_settings(symbolic, max_receive_count=step2.DEFAULT_MAX_RECEIVE_COUNT),
        **step4.high_value_queue_settings(symbolic),
        catalog.ALERT_INBOX_COMPONENT: step6.ALERT_INBOX_SETTINGS,
    }
    queues: dict[str, sqs.QueueInfo] = {}
    for component, settings in queue_settings.items():
        logical = _logical_id(component)
        info = sqs.QueueInfo(
            lab.name(component),
            f"https://sqs.{lab.region}.amazonaws.com/{lab.account_id}/{lab.name(component)}",
            sqs.queue_arn(symbolic, component),
        )
        queues[component] = info
        builder.references.update({info.url: {"Ref": logical}, info.arn: {"Fn::GetAtt": [logical, "Arn"]}})
        properties = _queue_properties(lab, component, settings)
        if "RedriveAllowPolicy" in properties:
            properties["RedriveAllowPolicy"] = builder.resolve(properties["RedriveAllowPolicy"], references=False)
        builder.add(logical, "AWS::SQS::Queue", properties, DeletionPolicy="Delete", UpdateReplacePolicy="Delete")
    order_queues = step2.OrderQueues(
        queue=queues[catalog.ORDER_QUEUE_COMPONENT],
        dlq=queues[catalog.ORDER_DLQ_COMPONENT],
        stream_failures=queues[catalog.STREAM_FAILURES_COMPONENT],
    )
    order_queue = builder.resources[_logical_id(catalog.ORDER_QUEUE_COMPONENT)]["Properties"]
    order_queue["RedrivePolicy"]["maxReceiveCount"] = {"Ref": "MaxReceiveCount"}
    high_value_queue = queues[catalog.HIGH_VALUE_QUEUE_COMPONENT]
    pipe_dlq = queues[catalog.HIGH_VALUE_PIPE_DLQ_COMPONENT]

    # The catalog's functions, each with its role and log group, set up as its step sets it up.
    create_order_environment: dict[str, Any] = step1.create_order_environment(
        table_name, step1.DEFAULT_HIGH_VALUE_THRESHOLD
    )
    create_order_environment[step1.HIGH_VALUE_THRESHOLD_VARIABLE] = {"Ref": "HighValueThreshold"}
    settings_of = {
        catalog.CREATE_ORDER.component: _FunctionSettings(
            create_order_environment,
            step1.create_order_role_statements(table),
            {_route_event_name(route): _api_event(route) for route in step1.ROUTES},
        ),
        catalog.STREAM_PROCESSOR.component: _FunctionSettings(
            step2.stream_processor_environment(order_queues.queue.url),
            step2.stream_processor_role_statements(table, order_queues),
            {
                "OrdersStream": _event(
                    "DynamoDB", "Stream", stream_arn, step2.STREAM_PROCESSOR_MAPPING, order_queues.stream_failures.arn
                )
            },
        ),
        catalog.ORDER_WORKER.component: _FunctionSettings(
            step3.order_worker_environment(table, order_queues),
            step3.order_worker_role_statements(table, order_queues),
            {"OrderQueue": _event("SQS", "Queue", order_queues.queue.arn, step3.ORDER_WORKER_MAPPING)},
        ),
        catalog.HIGH_VALUE_ENRICHER.component: _FunctionSettings(step4.enricher_environment(), [], {}),
        catalog.HIGH_VALUE_CONSUMER.component: _FunctionSettings(
            step4.consumer_environment(table_name),
            step4.consumer_role_statements(table_arn, high_value_queue.arn),
            {"HighValueQueue": _event("SQS", "Queue", high_value_queue.arn, step4.CONSUMER_MAPPING)},
        ),
    }
    unknown = sorted({f.component for f in catalog.FUNCTIONS} ^ set(settings_of))
    if unknown:
        raise ValueError(f"the template does not know how the steps set up function(s) {unknown}")
    for function in catalog.FUNCTIONS:
        _add_function(builder, function, settings_of[function.component], runtime)

    # Step 1: the HTTP API (SAM adds the routes, integrations, $default stage and invoke permissions).
    builder.add("OrdersApi", "AWS::Serverless::HttpApi", _api_properties(lab))
    builder.references[_API_ID] = {"Ref": "OrdersApi"}

    # Step 4: the pipe and its role.
    enricher_arn = _function_arn(lab, catalog.HIGH_VALUE_ENRICHER.component)
    pipe_settings = step4.high_value_pipe_settings(stream_arn, high_value_queue.arn, pipe_dlq.arn, enricher_arn)
    pipe_component = catalog.HIGH_VALUE_PIPE_COMPONENT
    pipe_role = _logical_id(pipe_component, "Role")
    builder.add(
        pipe_role,
        "AWS::IAM::Role",
        {
            "RoleName": iam.role_name(symbolic, pipe_component),
            "Path": iam.ROLE_PATH,
            "AssumeRolePolicyDocument": iam.pipe_trust_policy(symbolic, lab.name(pipe_component)),
            "Policies": [
                {
                    "PolicyName": iam.POLICY_NAME,
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": step4.pipe_role_statements(
                            stream_arn, high_value_queue.arn, pipe_dlq.arn, enricher_arn
                        ),
                    },
                }
            ],
            "Tags": _tag_list(lab),
        },
    )
    definition = pipes.pipe_definition(pipe_component, role_arn="iacpiperoletoken", **pipe_settings)
    builder.references["iacpiperoletoken"] = {"Fn::GetAtt": [pipe_role, "Arn"]}
    builder.add(
        _logical_id(pipe_component),
        "AWS::Pipes::Pipe",
        {
            "Name": lab.name(pipe_component),
            "Source": pipe_settings["source_arn"],
            "DesiredState": _default(pipes.ensure_pipe, "desired_state"),
            **definition,
            "Tags": dict(lab.tags),
        },
    )

    # Step 6: the alerts topic, its subscribers, the alarms, the dashboard.
    _add_alerting(builder, symbolic)

    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": SAM_TRANSFORM,
        "Description": (
            "Order Pipeline Lab: API Gateway + Lambda -> DynamoDB -> Streams -> SQS workers, "
            "EventBridge Pipes for high-value orders, DLQ, CloudWatch alarms + SNS. "
            "Generated by `orderlab iac export` from the lab's helpers; do not edit by hand."
        ),
        "Parameters": _parameters(naming.validate_prefix(prefix or naming.DEFAULT_PREFIX)),
        "Conditions": {"HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}},
        "Resources": {logical: builder.resolve(resource) for logical, resource in builder.resources.items()},
        "Outputs": _outputs(),
    }
    return template


def _parameters(prefix: str) -> dict[str, Any]:
    return {
        "Prefix": {
            "Type": "String",
            "Default": prefix,
            "AllowedPattern": "^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$",
            "Description": "Learner prefix: every resource is named <prefix>-<component> and tagged with it",
        },
        "HighValueThreshold": {
            "Type": "String",
            "Default": str(step1.DEFAULT_HIGH_VALUE_THRESHOLD),
            "AllowedPattern": r"^[0-9]+(\.[0-9]{1,2})?$",
            "Description": "Orders whose total is at least this get valueTier HIGH and are routed by the pipe",
        },
        "MaxReceiveCount": {
            "Type": "Number",
            "Default": step2.DEFAULT_MAX_RECEIVE_COUNT,
            "MinValue": 1,
            "MaxValue": 1000,
            "Description": "Receives of an order message before SQS moves it to the dead-letter queue",
        },
        "AlertEmail": {
            "Type": "String",
            "Default": step6.DEFAULT_ALERT_EMAIL,
            "Description": "Where the alarms' alerts are e-mailed (empty: no e-mail subscription)",
        },
    }


def _outputs() -> dict[str, Any]:
    outputs = {
        "ApiUrl": ({"Fn::GetAtt": ["OrdersApi", "ApiEndpoint"]}, "Base URL of the orders API (POST /orders)"),
        "OrdersTableName": ({"Ref": "OrdersTable"}, "DynamoDB table of the orders"),
        "OrderQueueUrl": ({"Ref": _logical_id(catalog.ORDER_QUEUE_COMPONENT)}, "SQS queue the order worker consumes"),
        "DeadLetterQueueUrl": (
            {"Ref": _logical_id(catalog.ORDER_DLQ_COMPONENT)},
            "Dead-letter queue of the order queue",
        ),
        "HighValueQueueUrl": (
            {"Ref": _logical_id(catalog.HIGH_VALUE_QUEUE_COMPONENT)},
            "SQS queue the pipe routes high-value orders to",
        ),
        "AlertTopicArn": ({"Ref": _logical_id(catalog.ALERTS_TOPIC_COMPONENT, "Topic")}, "SNS topic of the alarms"),
    }
    assert tuple(outputs) == OUTPUTS
    return {name: {"Description": description, "Value": value} for name, (value, description) in outputs.items()}


def _table_properties(lab: _SymbolicLab, table_name: str) -> dict[str, Any]:
    """``AWS::DynamoDB::Table`` properties: CreateTable's, as the helpers create the table (a template's
    stream specification has no ``StreamEnabled``: declaring it is enabling it)."""
    properties = dynamodb.orders_table_parameters(table_name, stream_view_type=step2.STREAM_VIEW_TYPE)
    properties["StreamSpecification"] = {
        key: value for key, value in properties["StreamSpecification"].items() if key != "StreamEnabled"
    }
    return {**properties, "Tags": _tag_list(lab)}


def _route_event_name(route: str) -> str:
    method, _, path = route.partition(" ")
    words = [part.strip("{}") for part in path.split("/") if part]
    return method.capitalize() + "".join(word[:1].upper() + word[1:] for word in words)


def _api_event(route: str) -> dict[str, Any]:
    method, _, path = route.partition(" ")
    return {
        "Type": "HttpApi",
        "Properties": {
            "ApiId": {"Ref": "OrdersApi"},
            "Method": method,
            "Path": path,
            "PayloadFormatVersion": "2.0",
            "TimeoutInMillis": apigateway.INTEGRATION_TIMEOUT_MILLIS,
        },
    }


def _api_properties(lab: _SymbolicLab) -> dict[str, Any]:
    throttle = apigateway.stage_throttling(
        apigateway.DEFAULT_THROTTLING_BURST_LIMIT, apigateway.DEFAULT_THROTTLING_RATE_LIMIT
    )
    return {
        "Name": lab.name(catalog.API_COMPONENT),
        "Description": apigateway.API_DESCRIPTION,
        "CorsConfiguration": apigateway._cors(list(step1.DEFAULT_CORS_ORIGINS)),
        "DefaultRouteSettings": dict(throttle),
        "Tags": dict(lab.tags),
    }


def _add_alerting(builder: _Builder, symbolic: Lab) -> None:
    lab = builder.lab
    topic = _logical_id(catalog.ALERTS_TOPIC_COMPONENT, "Topic")
    topic_arn = sns.topic_arn(symbolic, catalog.ALERTS_TOPIC_COMPONENT)
    builder.references[topic_arn] = {"Ref": topic}
    builder.add(
        topic,
        "AWS::SNS::Topic",
        {
            "TopicName": lab.name(catalog.ALERTS_TOPIC_COMPONENT),
            "DisplayName": step6.TOPIC_DISPLAY_NAME,
            "Tags": _tag_list(lab),
        },
    )
    inbox_arn = sqs.queue_arn(symbolic, catalog.ALERT_INBOX_COMPONENT)
    inbox = _logical_id(catalog.ALERT_INBOX_COMPONENT)
    builder.add(
        f"{inbox}Policy",
        "AWS::SQS::QueuePolicy",
        {"Queues": [{"Ref": inbox}], "PolicyDocument": sns.sns_publish_queue_policy(inbox_arn, topic_arn)},
    )
    builder.add(
        f"{inbox}Subscription",
        "AWS::SNS::Subscription",
        {"TopicArn": topic_arn, "Protocol": "sqs", "Endpoint": inbox_arn, "RawMessageDelivery": False},
    )
    builder.add(
        "AlertEmailSubscription",
        "AWS::SNS::Subscription",
        {"TopicArn": topic_arn, "Protocol": "email", "Endpoint": {"Ref": "AlertEmail"}},
        Condition="HasAlertEmail",
    )

    names = step6.PipelineNames(
        prefix=lab.prefix,
        region=lab.region,
        order_queue=lab.name(catalog.ORDER_QUEUE_COMPONENT),
        dlq=lab.name(catalog.ORDER_DLQ_COMPONENT),
        create_order=lab.name(catalog.CREATE_ORDER.component),
        stream_processor=lab.name(catalog.STREAM_PROCESSOR.component),
        order_worker=lab.name(catalog.ORDER_WORKER.component),
        api_id=_API_ID,
    )
    alarm_arns = []
    for spec in step6.alarm_specs(names).values():
        name = lab.name(spec.component)
        alarm_arns.append(f"arn:aws:cloudwatch:{lab.region}:{lab.account_id}:alarm:{name}")
        properties = alarm_params(spec, name, alarm_actions=[topic_arn], ok_actions=[topic_arn])
        if not properties["InsufficientDataActions"]:
            del properties["InsufficientDataActions"]
        builder.add(
            _logical_id(spec.component, "Alarm"), "AWS::CloudWatch::Alarm", {**properties, "Tags": _tag_list(lab)}
        )
    builder.add(
        _logical_id(catalog.DASHBOARD_COMPONENT, "Dashboard"),
        "AWS::CloudWatch::Dashboard",
        {
            "DashboardName": lab.name(catalog.DASHBOARD_COMPONENT),
            "DashboardBody": json.dumps(step6.pipeline_dashboard_body(names, alarm_arns), separators=(",", ":")),
        },
    )


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the template's order, long strings kept on one line, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_template(template: dict[str, Any]) -> str:
    """The template as YAML (the form ``infra/template.yaml`` keeps)."""
    header = (
        "# Generated by `orderlab iac export` from the lab's helpers (helpers/pipeline/template.py).\n"
        "# Do not edit: change the helpers and export again (a test fails when this file is stale).\n"
    )
    return header + yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def export_template(
    path: Path | str = DEFAULT_TEMPLATE_PATH, *, runtime: str | None = None, prefix: str | None = None
) -> Path:
    """Write the pipeline's template to ``path`` (default ``infra/template.yaml``); return the path.

    ``prefix`` becomes the ``Prefix`` parameter's default (the repository's copy keeps ``orderlab``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_template(pipeline_template(runtime=runtime, prefix=prefix)))
    return target


@dataclass(frozen=True)
class LintFinding:
    """One cfn-lint finding: rule (E… error, W… warning, I… informational), where, what."""

    rule: str
    level: str
    resource_path: str
    line: int
    message: str


def lint_template(text: str) -> list[LintFinding]:
    """cfn-lint's findings on a rendered template (every rule, the template's own region set)."""
    return list(_lint(text))


@functools.lru_cache(maxsize=16)
def _lint(text: str) -> tuple[LintFinding, ...]:
    # The same text always has the same findings: notebook 08 lints its template twice (seconds each).
    from cfnlint.api import ManualArgs, lint

    return tuple(
        LintFinding(
            rule=match.rule.id,
            level=match.rule.severity,
            line=match.linenumber,
            resource_path="/".join(str(p) for p in match.path),
            message=match.message,
        )
        for match in lint(text, config=ManualArgs(regions=["us-east-1"]))
    )


def template_runtime(text: str) -> str | None:
    """The Lambda runtime a rendered template's functions use (None if it names none of the lab's)."""
    for runtime in LAB_RUNTIMES:
        if f"Runtime: {runtime}\n" in text:
            return runtime
    return None
