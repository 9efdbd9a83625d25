"""Find every resource of one lab prefix: by tag first, per service where tags are not enough.

>>> for r in find_lab_resources(lab):                      # doctest: +SKIP
...     print(r.service, r.kind, r.name)
apigateway api alice-orders-api
dynamodb table alice-orders
iam role alice-create-order-role
lambda function alice-create-order
logs log-group /aws/lambda/alice-create-order

Two sources, merged by ARN:

1. The Resource Groups Tagging API (``GetResources`` filtered on the lab's project and prefix
   tags, paginated): on AWS it covers DynamoDB, Lambda, Logs, API Gateway, SQS, SNS, Pipes,
   CloudWatch alarms, S3 buckets. The local cloud (MiniStack 1.5.33) only returns DynamoDB
   tables, Lambda functions, SQS queues, SNS topics and S3 buckets there.
2. Per-service listings for what the tagging API misses (on either cloud): IAM roles under
   path ``/orderlab/`` (IAM is global; the tagging API does not list roles), event source
   mappings of the lab's functions, log groups named ``/aws/lambda/<prefix>-*``, HTTP APIs,
   Pipes, alarms and S3 buckets named ``<prefix>-*`` (the order page's website on AWS) — each
   kept only if it carries this prefix's tag.

What only the tagging API reported is checked to still exist (on AWS it can list a deleted
resource for minutes), so a fresh search right after cleanup comes back empty.

A name prefix alone never decides: ``alice-2-orders`` starts with ``alice-`` but belongs to
prefix ``alice-2``. The one exception is a log group Lambda created by itself (untagged):
it is ours when its function name starts with ``<prefix>-`` and no longer known prefix claims it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, EndpointConnectionError

from helpers.aws.apigateway import api_arn
from helpers.aws.common import error_code, log_group_arn, paginate, partition
from helpers.aws.iam import ROLE_PATH
from helpers.core.naming import PREFIX_TAG, PROJECT, PROJECT_TAG
from helpers.pipeline.catalog import DASHBOARD_COMPONENT

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = ["LabResource", "Sweep", "find_lab_resources", "parse_arn", "sweep"]

# Codes an endpoint answers for a service or operation it does not implement.
_UNSUPPORTED = {"UnknownOperationException", "InvalidAction", "NotImplemented", "NotImplementedException"}


@dataclass(frozen=True)
class LabResource:
    """One resource of the lab. ``owner_evidence`` says why it is considered the lab's.

    ``detail`` holds what deleting it needs beyond the ARN (e.g. an API's id, a queue's URL).
    """

    service: str
    kind: str
    name: str
    arn: str
    owner_evidence: str = field(default="tag", compare=False)
    detail: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.service} {self.kind} {self.name}"


def parse_arn(arn: str) -> tuple[str, str, str]:
    """``(service, kind, name)`` of an ARN the lab uses.

    >>> parse_arn("arn:aws:lambda:us-east-1:1:function:alice-create-order")
    ('lambda', 'function', 'alice-create-order')
    >>> parse_arn("arn:aws:logs:us-east-1:1:log-group:/aws/lambda/alice-x:*")
    ('logs', 'log-group', '/aws/lambda/alice-x')
    >>> parse_arn("arn:aws:apigateway:us-east-1::/apis/a1b2c3")
    ('apigateway', 'api', 'a1b2c3')
    >>> parse_arn("arn:aws:s3:::alice-frontend-123456789012")
    ('s3', 'bucket', 'alice-frontend-123456789012')
    >>> parse_arn("arn:aws:cloudformation:us-east-1:1:stack/alice-order-pipeline/0f1e2d3c")
    ('cloudformation', 'stack', 'alice-order-pipeline')
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return ("unknown", "unknown", arn)
    service, resource = parts[2], parts[5]
    if service == "apigateway":
        segments = resource.strip("/").split("/")
        if segments[:1] == ["apis"] and len(segments) >= 2:
            return (service, "api" if len(segments) == 2 else segments[2].rstrip("s"), segments[1])
        return (service, segments[0] if segments else "unknown", segments[-1])
    if service == "cloudformation":  # stack/<name>/<id>
        kind, _, rest = resource.partition("/")
        return (service, kind, rest.split("/", 1)[0])
    if service == "s3":
        bucket, _, key = resource.partition("/")
        return (service, "object" if key else "bucket", resource if key else bucket)
    if service in ("sqs", "sns"):
        return (service, "queue" if service == "sqs" else "topic", resource)
    if service == "iam":
        kind, _, rest = resource.partition("/")
        return (service, kind, rest.rsplit("/", 1)[-1])
    if service == "logs":
        kind, _, rest = resource.partition(":")
        return (service, kind, rest.removesuffix(":*"))
    for separator in (":", "/"):
        kind, sep, rest = resource.partition(separator)
        if sep and ("/" not in kind and ":" not in kind):
            return (service, kind, rest)
    return (service, "unknown", resource)


def _tags_ok(lab: Lab, tags: dict[str, str]) -> bool:
    return tags.get(PREFIX_TAG) == lab.prefix and tags.get(PROJECT_TAG) == PROJECT


def _as_dict(tags: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    if isinstance(tags, dict):
        return dict(tags)
    return {t[key]: t[value] for t in tags or []}


def _normal_arn(arn: str) -> str:
    return arn.removesuffix(":*")


class _Finder:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.found: dict[str, LabResource] = {}
        self.known_prefixes: set[str] = set()
        self.function_names: set[str] = set()
        self.confirmed: set[str] = set()  # ARNs a per-service listing saw (not only the tagging API)
        self.step = ""  # the listing running now (see sweep())
        self.sources: dict[str, set[str]] = {}  # ARN -> the listings that reported it
        self.tagging_listed: list[str] = []  # every ARN GetResources returned (before the existence check)

    def add(self, resource: LabResource, *, from_tagging: bool = False) -> None:
        key = _normal_arn(resource.arn)
        self.sources.setdefault(key, set()).add(self.step)
        if not from_tagging:
            self.confirmed.add(key)
        current = self.found.get(key)
        # A per-service entry (asked later) is richer than the tagging API's; tag evidence beats name evidence.
        if current is None or current.owner_evidence != "tag" or resource.owner_evidence == "tag":
            self.found[key] = resource
        if resource.service == "lambda" and resource.kind == "function":
            self.function_names.add(resource.name)

    def note_prefix(self, tags: dict[str, str]) -> None:
        if tags.get(PROJECT_TAG) == PROJECT and tags.get(PREFIX_TAG):
            self.known_prefixes.add(tags[PREFIX_TAG])

    # -- 1. the tagging API -------------------------------------------------------------
    def tagging_api(self) -> None:
        client = self.lab.client("resourcegroupstaggingapi")
        filters = [{"Key": PROJECT_TAG, "Values": [PROJECT]}, {"Key": PREFIX_TAG, "Values": [self.lab.prefix]}]
        for mapping in paginate(client, "get_resources", "ResourceTagMappingList", TagFilters=filters):
            arn = mapping["ResourceARN"]
            if not _tags_ok(self.lab, _as_dict(mapping.get("Tags"))):
                continue  # a filter the endpoint ignored: check ourselves
            self.tagging_listed.append(arn)
            service, kind, name = parse_arn(arn)
            if (service, kind) in (("apigateway", "stage"), ("apigateway", "route"), ("apigateway", "integration")):
                continue  # parts of an API: they go with it
            detail: dict[str, str] = {}
            if service == "apigateway" and kind == "api":
                detail["api_id"] = name
            if service == "lambda" and kind == "event-source-mapping":
                detail["uuid"] = name
            self.add(LabResource(service, kind, name, _normal_arn(arn), "tag", detail), from_tagging=True)

    def prefixes_in_use(self) -> None:
        """Every lab prefix the tagging API knows: a longer one may claim an untagged log group."""
        client = self.lab.client("resourcegroupstaggingapi")
        self.known_prefixes.update(paginate(client, "get_tag_values", "TagValues", Key=PREFIX_TAG))

    # -- the tagging API lags behind deletions: check what only it reported ------------------
    def drop_stale(self) -> None:
        """AWS's tagging API can list a resource for minutes after it was deleted. Keep a
        resource only the tagging API reported if it still exists (kinds we cannot check stay)."""
        for key, resource in list(self.found.items()):
            if key in self.confirmed:
                continue
            try:
                exists = self._exists(resource)
            except ClientError as error:
                if error_code(error) in _UNSUPPORTED:
                    continue
                raise
            if exists is False:
                del self.found[key]

    def _exists(self, r: LabResource) -> bool | None:
        gone = {
            "ResourceNotFoundException",
            "NotFoundException",
            "NotFound",
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "NoSuchBucket",
            "404",
        }
        client = self.lab.client
        calls: dict[tuple[str, str], Callable[[], Any]] = {
            ("lambda", "function"): lambda: client("lambda").get_function_configuration(FunctionName=r.arn),
            ("lambda", "event-source-mapping"): lambda: client("lambda").get_event_source_mapping(UUID=r.name),
            ("dynamodb", "table"): lambda: client("dynamodb").describe_table(TableName=r.name),
            ("apigateway", "api"): lambda: client("apigatewayv2").get_api(ApiId=r.name),
            ("sqs", "queue"): lambda: client("sqs").get_queue_url(
                QueueName=r.name, QueueOwnerAWSAccountId=r.arn.split(":")[4]
            ),
            ("sns", "topic"): lambda: client("sns").get_topic_attributes(TopicArn=r.arn),
            ("pipes", "pipe"): lambda: client("pipes").describe_pipe(Name=r.name),
            ("s3", "bucket"): lambda: client("s3").head_bucket(Bucket=r.name),
        }
        if (r.service, r.kind) == ("logs", "log-group"):
            groups = paginate(client("logs"), "describe_log_groups", "logGroups", logGroupNamePrefix=r.name)
            return any(g["logGroupName"] == r.name for g in groups)
        if (r.service, r.kind) == ("cloudwatch", "dashboard"):
            return any(
                d.get("DashboardName") == r.name
                for d in paginate(
                    client("cloudwatch"), "list_dashboards", "DashboardEntries", DashboardNamePrefix=r.name
                )
            )
        if (r.service, r.kind) == ("cloudwatch", "alarm"):
            found = client("cloudwatch").describe_alarms(
                AlarmNames=[r.name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            return bool(found.get("MetricAlarms") or found.get("CompositeAlarms"))
        call = calls.get((r.service, r.kind))
        if call is None:
            return None
        try:
            call()
        except ClientError as error:
            if error_code(error) in gone:
                return False
            raise
        return True

    # -- 2. per service -------------------------------------------------------------------
    def lambda_functions(self) -> None:
        lam = self.lab.client("lambda")
        for function in paginate(lam, "list_functions", "Functions"):
            name = function["FunctionName"]
            if not name.startswith(f"{self.lab.prefix}-") and function["FunctionArn"] not in self.found:
                continue
            tags = lam.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
            self.note_prefix(tags)
            if _tags_ok(self.lab, tags):
                self.add(LabResource("lambda", "function", name, function["FunctionArn"], "tag"))

    def event_source_mappings(self) -> None:
        lam = self.lab.client("lambda")
        for function_name in sorted(self.function_names):
            try:
                mappings = paginate(
                    lam, "list_event_source_mappings", "EventSourceMappings", FunctionName=function_name
                )
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":
                    continue
                raise
            for mapping in mappings:
                arn = mapping.get("EventSourceMappingArn") or (
                    f"{mapping['FunctionArn'].split(':function:')[0]}:event-source-mapping:{mapping['UUID']}"
                )
                self.add(
                    LabResource(
                        "lambda",
                        "event-source-mapping",
                        mapping["UUID"],
                        arn,
                        "function",
                        {
                            "uuid": mapping["UUID"],
                            "function": function_name,
                            "source": mapping.get("EventSourceArn", ""),
                        },
                    )
                )

    def log_groups(self) -> None:
        logs = self.lab.client("logs")
        prefix = f"/aws/lambda/{self.lab.prefix}-"
        untagged: list[tuple[str, str]] = []
        for group in paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=prefix):
            name = group["logGroupName"]
            arn = log_group_arn(self.lab.region, self.lab.account_id, name)
            try:
                tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":
                    continue  # deleted meanwhile
                raise
            self.note_prefix(tags)
            if _tags_ok(self.lab, tags):
                self.add(LabResource("logs", "log-group", name, arn, "tag"))
            elif not tags.get(PREFIX_TAG):
                untagged.append((name, arn))
        for name, arn in untagged:
            function_name = name.removeprefix("/aws/lambda/")
            longer = [
                p
                for p in self.known_prefixes
                if p != self.lab.prefix and len(p) > len(self.lab.prefix) and function_name.startswith(f"{p}-")
            ]
            if function_name in self.function_names or not longer:
                self.add(LabResource("logs", "log-group", name, arn, "name"))

    def iam_roles(self) -> None:
        iam = self.lab.client("iam")
        for role in paginate(iam, "list_roles", "Roles", PathPrefix=ROLE_PATH):
            if not role["RoleName"].startswith(f"{self.lab.prefix}-"):
                continue
            tags = (
                _as_dict(role["Tags"])
                if "Tags" in role
                else {t["Key"]: t["Value"] for t in paginate(iam, "list_role_tags", "Tags", RoleName=role["RoleName"])}
            )
            self.note_prefix(tags)
            if _tags_ok(self.lab, tags):
                self.add(LabResource("iam", "role", role["RoleName"], role["Arn"], "tag"))

    def http_apis(self) -> None:
        for api in paginate(self.lab.client("apigatewayv2"), "get_apis", "Items"):
            self.note_prefix(api.get("Tags") or {})
            if _tags_ok(self.lab, api.get("Tags") or {}):
                self.add(
                    LabResource(
                        "apigateway",
                        "api",
                        api["Name"],
                        api_arn(self.lab.region, api["ApiId"]),
                        "tag",
                        {"api_id": api["ApiId"]},
                    )
                )

    def dynamodb_tables(self) -> None:
        ddb = self.lab.client("dynamodb")
        for name in paginate(ddb, "list_tables", "TableNames"):
            if not name.startswith(f"{self.lab.prefix}-"):
                continue
            try:
                table = ddb.describe_table(TableName=name)["Table"]
                tags = {
                    t["Key"]: t["Value"]
                    for t in paginate(ddb, "list_tags_of_resource", "Tags", ResourceArn=table["TableArn"])
                }
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":
                    continue
                raise
            self.note_prefix(tags)
            if _tags_ok(self.lab, tags):
                self.add(LabResource("dynamodb", "table", name, table["TableArn"], "tag"))

    def sqs_queues(self) -> None:
        sqs = self.lab.client("sqs")
        for url in paginate(sqs, "list_queues", "QueueUrls", QueueNamePrefix=f"{self.lab.prefix}-"):
            try:
                tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
                if not _tags_ok(self.lab, tags):
                    continue
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            except ClientError as error:
                if "NonExistentQueue" in error_code(error) or error_code(error) == "QueueDoesNotExist":
                    continue
                raise
            self.add(LabResource("sqs", "queue", arn.rsplit(":", 1)[1], arn, "tag", {"url": url}))

    def sns_topics(self) -> None:
        sns = self.lab.client("sns")
        for topic in paginate(sns, "list_topics", "Topics"):
            arn = topic["TopicArn"]
            if not arn.rsplit(":", 1)[1].startswith(f"{self.lab.prefix}-") or arn in self.found:
                continue
            tags = _as_dict(sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))
            if _tags_ok(self.lab, tags):
                self.add(LabResource("sns", "topic", arn.rsplit(":", 1)[1], arn, "tag"))

    def sns_subscriptions(self) -> None:
        """Subscriptions to this lab's topics or delivering to its queues/functions (AWS deletes a topic's
        subscriptions with it; listed so the sweep proves none outlived it)."""
        topics = {r.arn for r in self.found.values() if (r.service, r.kind) == ("sns", "topic")}
        endpoints = {
            r.arn for r in self.found.values() if (r.service, r.kind) in (("sqs", "queue"), ("lambda", "function"))
        }
        for subscription in paginate(self.lab.client("sns"), "list_subscriptions", "Subscriptions"):
            arn = subscription.get("SubscriptionArn", "")
            if not arn.startswith("arn:"):  # PendingConfirmation / Deleted: nothing to unsubscribe
                continue
            if subscription.get("TopicArn") in topics or subscription.get("Endpoint") in endpoints:
                self.add(
                    LabResource(
                        "sns",
                        "subscription",
                        arn.rsplit(":", 1)[1],
                        arn,
                        "topic",
                        {"topic": subscription.get("TopicArn", ""), "protocol": subscription.get("Protocol", "")},
                    )
                )

    def pipes(self) -> None:
        client = self.lab.client("pipes")
        for pipe in paginate(client, "list_pipes", "Pipes", NamePrefix=f"{self.lab.prefix}-"):
            try:
                tags = client.list_tags_for_resource(resourceArn=pipe["Arn"]).get("tags", {})
            except ClientError as error:
                if error_code(error) == "NotFoundException":  # deleted since it was listed (a stack deletion)
                    continue
                raise
            if _tags_ok(self.lab, tags):
                self.add(LabResource("pipes", "pipe", pipe["Name"], pipe["Arn"], "tag"))

    def cloudformation_stacks(self) -> None:
        """Stacks named ``<prefix>-*`` carrying the lab's tags (``orderlab iac deploy`` tags its stack)."""
        cloudformation = self.lab.client("cloudformation")
        for summary in paginate(cloudformation, "list_stacks", "StackSummaries"):
            name = summary["StackName"]
            if summary.get("StackStatus") == "DELETE_COMPLETE" or not name.startswith(f"{self.lab.prefix}-"):
                continue
            try:
                stack = cloudformation.describe_stacks(StackName=summary["StackId"])["Stacks"][0]
            except ClientError as error:
                if error_code(error) == "ValidationError":  # deleted meanwhile
                    continue
                raise
            tags = _as_dict(stack.get("Tags"))
            self.note_prefix(tags)
            if stack.get("StackStatus") != "DELETE_COMPLETE" and _tags_ok(self.lab, tags):
                self.add(LabResource("cloudformation", "stack", name, stack["StackId"], "tag"))

    def s3_buckets(self) -> None:
        s3 = self.lab.client("s3")
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            if not name.startswith(f"{self.lab.prefix}-"):
                continue
            try:
                tags = _as_dict(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except ClientError as error:
                if error_code(error) in ("NoSuchTagSet", "NoSuchBucket", "404"):
                    continue  # untagged (not the lab's) or deleted meanwhile
                raise
            self.note_prefix(tags)
            if _tags_ok(self.lab, tags):
                self.add(LabResource("s3", "bucket", name, f"arn:{partition(self.lab.region)}:s3:::{name}", "tag"))

    def alarms(self) -> None:
        cloudwatch = self.lab.client("cloudwatch")
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=f"{self.lab.prefix}-", AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for page in pages:
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                tags = _as_dict(cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags"))
                if _tags_ok(self.lab, tags):
                    self.add(LabResource("cloudwatch", "alarm", alarm["AlarmName"], alarm["AlarmArn"], "tag"))

    def dashboards(self) -> None:
        """Dashboards named ``<prefix>-*`` that carry this prefix's tags (AWS tags dashboards). Where the
        endpoint cannot tag a dashboard (it answers ResourceNotFound for the dashboard's ARN), only a
        dashboard with the exact name of one the lab creates (``helpers.pipeline.step6``) counts, by name."""
        cloudwatch = self.lab.client("cloudwatch")
        lab_names = {self.lab.name(DASHBOARD_COMPONENT)}
        for entry in paginate(
            cloudwatch, "list_dashboards", "DashboardEntries", DashboardNamePrefix=f"{self.lab.prefix}-"
        ):
            name, arn = entry["DashboardName"], entry["DashboardArn"]
            try:
                tags = _as_dict(cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags"))
            except ClientError as error:
                if error_code(error) not in ("ResourceNotFound", "ResourceNotFoundException"):
                    raise
                if name in lab_names:
                    self.add(LabResource("cloudwatch", "dashboard", name, arn, "name"))
                continue
            self.note_prefix(tags)
            if _tags_ok(self.lab, tags):
                self.add(LabResource("cloudwatch", "dashboard", name, arn, "tag"))


def _attempt(step: Callable[[], None], failures: list[str], name: str) -> None:
    try:
        step()
    except EndpointConnectionError:
        raise
    except ClientError as error:
        if error_code(error) not in _UNSUPPORTED:
            raise
        failures.append(f"{name}: {error_code(error)}")


def find_lab_resources(
    lab: Lab, *, services: Iterable[str] | None = None, _trace: dict[str, Any] | None = None
) -> list[LabResource]:
    """Every resource carrying this lab's tags (plus its untagged Lambda log groups), sorted.

    ``services`` limits the per-service listings (``{"cloudformation", "lambda", "logs", "iam", "apigateway",
    "dynamodb", "sqs", "sns", "pipes", "cloudwatch", "s3"}``); the tagging API is always asked.
    """
    finder = _Finder(lab)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("tagging", finder.tagging_api),
        ("tagging", finder.prefixes_in_use),
        ("cloudformation", finder.cloudformation_stacks),
        ("lambda", finder.lambda_functions),
        ("lambda", finder.event_source_mappings),
        ("iam", finder.iam_roles),
        ("apigateway", finder.http_apis),
        ("dynamodb", finder.dynamodb_tables),
        ("sqs", finder.sqs_queues),
        ("sns", finder.sns_topics),
        ("sns", finder.sns_subscriptions),
        ("pipes", finder.pipes),
        ("cloudwatch", finder.alarms),
        ("cloudwatch", finder.dashboards),
        ("s3", finder.s3_buckets),
        ("logs", finder.log_groups),  # last: untagged groups are judged against every prefix seen
        ("tagging", finder.drop_stale),
    ]
    wanted = set(services) if services is not None else None
    unsupported: list[str] = []
    for service, step in steps:
        if service == "tagging" or wanted is None or service in wanted:
            finder.step = step.__name__
            _attempt(step, unsupported, service)
    if _trace is not None:
        _trace.update(finder=finder, unsupported=unsupported)
    if unsupported:
        warnings.warn(
            f"This endpoint does not support some listings, so resources there were not checked: "
            f"{', '.join(unsupported)}",
            stacklevel=2,
        )
    return sorted(finder.found.values(), key=lambda r: (r.service, r.kind, r.name, r.arn))


# What each listing of find_lab_resources() covers: the rows of the sweep's proof.
_SWEEP_SOURCES: list[tuple[str, str]] = [
    ("tagging_api", "Resource Groups Tagging API: GetResources with the lab's project and prefix tags"),
    ("cloudformation_stacks", "CloudFormation ListStacks (+ tags)"),
    ("lambda_functions", "Lambda ListFunctions (+ tags)"),
    ("event_source_mappings", "Lambda ListEventSourceMappings of the lab's functions"),
    ("iam_roles", f"IAM ListRoles under {ROLE_PATH} (+ tags): the tagging API does not list IAM"),
    ("http_apis", "API Gateway GetApis (+ tags)"),
    ("dynamodb_tables", "DynamoDB ListTables (+ tags)"),
    ("sqs_queues", "SQS ListQueues (+ tags)"),
    ("sns_topics", "SNS ListTopics (+ tags)"),
    ("sns_subscriptions", "SNS ListSubscriptions to the lab's topics / queues"),
    ("pipes", "EventBridge Pipes ListPipes (+ tags)"),
    ("alarms", "CloudWatch DescribeAlarms (+ tags)"),
    ("dashboards", "CloudWatch ListDashboards (+ tags)"),
    ("s3_buckets", "S3 ListBuckets (+ tags)"),
    ("log_groups", "CloudWatch Logs DescribeLogGroups /aws/lambda/<prefix>-* (+ tags)"),
]


@dataclass(frozen=True)
class Sweep:
    """The proof that a prefix is clean: every listing asked, what each found, what is left.

    ``tagging_listed`` is what GetResources returned; on AWS it can still list a deleted resource
    for a while, so each of those is checked to exist (``remaining`` holds only what does).
    """

    prefix: str
    remaining: list[LabResource]
    found_by: dict[str, list[LabResource]]
    tagging_listed: list[str]
    unsupported: list[str]

    @property
    def clean(self) -> bool:
        return not self.remaining and not self.unsupported

    def rows(self) -> list[dict[str, Any]]:
        """One row per listing: what it covers and what it still finds (for a table)."""
        rows = []
        for step, covers in _SWEEP_SOURCES:
            found = self.found_by.get(step, [])
            row: dict[str, Any] = {"listing": covers, "found": len(found), "names": ", ".join(str(r) for r in found)}
            if step == "tagging_api":
                stale = len(self.tagging_listed) - len(found)
                row["names"] += f" ({stale} listed but verified deleted: the tagging API lags)" if stale > 0 else ""
            rows.append(row)
        for failure in self.unsupported:
            rows.append({"listing": f"NOT CHECKED ({failure})", "found": None, "names": "endpoint lacks this listing"})
        return rows

    def frame(self) -> Any:
        """:meth:`rows` as a pandas DataFrame."""
        # pandas on use: discovery also runs where no table is shown (cleanup, the CLI)
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=["listing", "found", "names"])


def sweep(lab: Lab) -> Sweep:
    """Search for this prefix's resources through every listing and say which found what.

    >>> result = sweep(lab)                        # doctest: +SKIP
    >>> result.clean, result.frame()               # doctest: +SKIP
    (True, <one row per listing, all 0>)
    """
    trace: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reported in Sweep.unsupported instead
        remaining = find_lab_resources(lab, _trace=trace)
    finder: _Finder = trace["finder"]
    found_by: dict[str, list[LabResource]] = {}
    for resource in remaining:
        for step in finder.sources.get(_normal_arn(resource.arn), ()):
            found_by.setdefault(step, []).append(resource)
    return Sweep(lab.prefix, remaining, found_by, list(finder.tagging_listed), list(trace["unsupported"]))
