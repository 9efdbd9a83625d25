"""CloudFormation (step 8: the pipeline as a stack), checked against the AWS contract.

References (AWS documentation followed):
- Capabilities (IAM, named IAM, macros; change sets do not need CAPABILITY_AUTO_EXPAND):
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html
- A function's role and code must exist: https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
- AWS::Pipes::Pipe: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-pipes-pipe.html
- HTTP API from OpenAPI (what AWS::Serverless::HttpApi generates):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html,
  https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-httpapi.html

Every stack is named after the lab's prefix, tagged ``lab.tags`` (CloudFormation propagates stack tags
to its resources, so the session cleanup finds what a failed test leaves) and deleted by the test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from conformance._esm import ON_AWS, PATIENCE, POLL, RUNTIME
from helpers.aws.common import error_code, error_message
from helpers.core.naming import tag_list
from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

WAITER = {"Delay": 10 if ON_AWS else 1, "MaxAttempts": 90 if ON_AWS else 120}
SAM = "AWS::Serverless-2016-10-31"
# Inline handlers (ZipFile / InlineCode): no packaging needed on either target.
ECHO_HANDLER = (
    "import json\n"
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'body': json.dumps({'path': event.get('rawPath')})}\n"
)
ENRICH_HANDLER = "def handler(event, context):\n    return [dict(record, enriched='yes') for record in event]\n"


def template(resources: dict[str, Any], *, transform: bool = False) -> str:
    body: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    if transform:
        body["Transform"] = SAM
    return json.dumps(body)


def topic(lab: Any, component: str) -> dict[str, Any]:
    return {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": lab.name(component), "Tags": tag_list(lab.tags)}}


def stack_exists(lab: Any, name: str) -> bool:
    try:
        stacks = lab.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error_message(error):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "DELETE_COMPLETE"


@contextmanager
def stack(lab: Any, body: str, *, capabilities: list[str] = (), expect: str = "CREATE_COMPLETE") -> Iterator[str]:
    """Create a stack, wait until it settles in ``expect``, yield its name; delete it after."""
    name = lab.name(f"cfn-{uuid.uuid4().hex[:6]}")
    cloudformation = lab.client("cloudformation")
    cloudformation.create_stack(
        StackName=name, TemplateBody=body, Capabilities=list(capabilities), Tags=tag_list(lab.tags)
    )
    try:
        status = wait_until(
            lambda: (lambda s: None if s.endswith("_IN_PROGRESS") else s)(
                cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
            ),
            timeout=PATIENCE * 4,
            interval=POLL,
            what=f"stack {name} to settle",
        )
        assert status == expect, f"stack {name} is {status}: {failures(lab, name)}"
        yield name
    finally:
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAITER)


def failures(lab: Any, name: str) -> dict[str, str]:
    """``{logical id: reason}`` of the stack's CREATE_FAILED events."""
    events = lab.client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    return {
        e["LogicalResourceId"]: e.get("ResourceStatusReason", "")
        for e in events
        if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] != name
    }


def refused(lab: Any, body: str, capabilities: list[str]) -> ClientError:
    name = lab.name(f"cfn-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ClientError) as raised:
        lab.client("cloudformation").create_stack(
            StackName=name, TemplateBody=body, Capabilities=capabilities, Tags=tag_list(lab.tags)
        )
    assert not stack_exists(lab, name), "a refused CreateStack creates no stack"
    return raised.value


# --------------------------------------------------------------------------- capabilities


def test_a_transform_needs_capability_auto_expand(lab) -> None:
    error = refused(lab, template({"Topic": topic(lab, "cfn-topic")}, transform=True), [])
    assert error_code(error) == "InsufficientCapabilitiesException"
    assert error_message(error) == "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"


def test_a_change_set_of_a_transform_needs_no_capability(lab) -> None:
    name = lab.name(f"cfn-{uuid.uuid4().hex[:6]}")
    cloudformation = lab.client("cloudformation")
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName="review",
        ChangeSetType="CREATE",
        TemplateBody=template({"Topic": topic(lab, "cfn-cs-topic")}, transform=True),
        Tags=tag_list(lab.tags),
    )
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName="review", WaiterConfig=WAITER
        )
        changes = cloudformation.describe_change_set(StackName=name, ChangeSetName="review")["Changes"]
        assert [c["ResourceChange"]["LogicalResourceId"] for c in changes] == ["Topic"]
    finally:
        cloudformation.delete_stack(StackName=name)  # the REVIEW_IN_PROGRESS stack the change set made


def role(lab: Any, *, named: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        },
        "Tags": tag_list(lab.tags),
    }
    if named:
        properties["RoleName"] = lab.name("cfn-named-role")
    return {"Type": "AWS::IAM::Role", "Properties": properties}


def test_an_iam_resource_needs_capability_iam(lab) -> None:
    error = refused(lab, template({"Role": role(lab, named=False)}), [])
    assert error_code(error) == "InsufficientCapabilitiesException"
    assert error_message(error) == "Requires capabilities : [CAPABILITY_IAM]"


def test_a_named_iam_resource_needs_capability_named_iam(lab) -> None:
    error = refused(lab, template({"Role": role(lab, named=True)}), ["CAPABILITY_IAM"])
    assert error_code(error) == "InsufficientCapabilitiesException"
    assert error_message(error) == "Requires capabilities : [CAPABILITY_NAMED_IAM]"


# --------------------------------------------------------------------------- a function's role and code


def function(lab: Any, role_arn: Any, code: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": lab.name(f"cfn-fn-{uuid.uuid4().hex[:4]}"),
            "Runtime": RUNTIME,
            "Handler": "index.handler",
            "Role": role_arn,
            "Code": code,
            "Tags": tag_list(lab.tags),
        },
    }


def test_a_function_whose_role_does_not_exist_rolls_the_stack_back(lab) -> None:
    missing_role = f"arn:aws:iam::{lab.account_id}:role/{lab.name('cfn-no-such-role')}"
    body = template({"Function": function(lab, missing_role, {"ZipFile": ECHO_HANDLER})})
    with stack(lab, body, expect="ROLLBACK_COMPLETE") as name:
        assert "The role defined for the function cannot be assumed by Lambda." in failures(lab, name)["Function"]


def test_a_function_whose_code_does_not_exist_rolls_the_stack_back(lab) -> None:
    bucket = lab.name(f"cfn-no-such-bucket-{uuid.uuid4().hex[:8]}")
    body = template(
        {
            "Role": role(lab, named=False),
            "Function": function(lab, {"Fn::GetAtt": ["Role", "Arn"]}, {"S3Bucket": bucket, "S3Key": "code.zip"}),
        }
    )
    with stack(lab, body, capabilities=["CAPABILITY_IAM"], expect="ROLLBACK_COMPLETE") as name:
        reason = failures(lab, name)["Function"]
        assert "Error occurred while GetObject. S3 Error Code: NoSuchBucket." in reason


# --------------------------------------------------------------------------- a stack's pipe


def test_a_stack_pipe_filters_enriches_and_transforms_as_created_pipes_do(lab) -> None:
    table = lab.name(f"cfn-pipe-{uuid.uuid4().hex[:4]}")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "pipes.amazonaws.com"}}],
    }
    resources = {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": table,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                "Tags": tag_list(lab.tags),
            },
        },
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": f"{table}-target", "Tags": tag_list(lab.tags)},
        },
        "EnricherRole": role(lab, named=False),
        "Enricher": function(lab, {"Fn::GetAtt": ["EnricherRole", "Arn"]}, {"ZipFile": ENRICH_HANDLER}),
        "PipeRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": trust,
                "Tags": tag_list(lab.tags),
                "Policies": [
                    {
                        "PolicyName": "pipe",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Resource": {"Fn::GetAtt": ["Table", "StreamArn"]},
                                    "Action": [
                                        "dynamodb:DescribeStream",
                                        "dynamodb:GetRecords",
                                        "dynamodb:GetShardIterator",
                                        "dynamodb:ListStreams",
                                    ],
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "lambda:InvokeFunction",
                                    "Resource": {"Fn::GetAtt": ["Enricher", "Arn"]},
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "sqs:SendMessage",
                                    "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
                                },
                            ],
                        },
                    }
                ],
            },
        },
        "Pipe": {
            "Type": "AWS::Pipes::Pipe",
            "Properties": {
                "Name": table,
                "RoleArn": {"Fn::GetAtt": ["PipeRole", "Arn"]},
                "Source": {"Fn::GetAtt": ["Table", "StreamArn"]},
                "SourceParameters": {
                    "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 1},
                    "FilterCriteria": {
                        "Filters": [
                            {
                                "Pattern": json.dumps(
                                    {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"tier": {"S": ["HIGH"]}}}}
                                )
                            }
                        ]
                    },
                },
                "Enrichment": {"Fn::GetAtt": ["Enricher", "Arn"]},
                "Target": {"Fn::GetAtt": ["Queue", "Arn"]},
                "TargetParameters": {"InputTemplate": '{"pk": "<$.dynamodb.Keys.pk.S>", "enriched": "<$.enriched>"}'},
                "Tags": lab.tags,
            },
        },
    }
    with stack(lab, template(resources), capabilities=["CAPABILITY_IAM"]) as name:
        pipes = lab.client("pipes")
        described = pipes.describe_pipe(Name=table)
        assert described["SourceParameters"]["FilterCriteria"]["Filters"]
        assert described["Enrichment"].endswith(f":function:{resources['Enricher']['Properties']['FunctionName']}")
        assert "InputTemplate" in described["TargetParameters"]
        # CloudFormation completes a pipe once it has stabilized (left CREATING), so the stack's pipe runs.
        assert described["CurrentState"] == "RUNNING", described["CurrentState"]
        dynamodb = lab.client("dynamodb")
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "standard"}, "tier": {"S": "STANDARD"}})
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "high"}, "tier": {"S": "HIGH"}})
        queue_url = lab.client("sqs").get_queue_url(QueueName=f"{table}-target")["QueueUrl"]
        bodies: list[Any] = []

        def delivered() -> bool:
            answer = lab.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            bodies.extend(json.loads(m["Body"]) for m in answer.get("Messages", []))
            return bool(bodies)

        wait_until(delivered, timeout=PATIENCE, interval=POLL, what="the pipe to deliver the HIGH record")
        delivered()  # anything else would have arrived by now (one shard, in order: standard came first)
        assert bodies == [{"pk": "high", "enriched": "yes"}]

        # An update of the filter goes to the pipe itself (UpdatePipe), in place: same pipe, new pattern.
        arn = described["Arn"]
        medium = json.dumps({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"tier": {"S": ["MEDIUM"]}}}})
        resources["Pipe"]["Properties"]["SourceParameters"]["FilterCriteria"]["Filters"][0]["Pattern"] = medium
        cloudformation = lab.client("cloudformation")
        cloudformation.update_stack(
            StackName=name, TemplateBody=template(resources), Capabilities=["CAPABILITY_IAM"], Tags=tag_list(lab.tags)
        )
        status = wait_until(
            lambda: (lambda s: None if s.endswith("_IN_PROGRESS") else s)(
                cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
            ),
            timeout=PATIENCE * 4,
            interval=POLL,
            what=f"stack {name} to settle after the update",
        )
        assert status == "UPDATE_COMPLETE", failures(lab, name)
        updated = pipes.describe_pipe(Name=table)
        assert updated["Arn"] == arn
        assert [json.loads(f["Pattern"]) for f in updated["SourceParameters"]["FilterCriteria"]["Filters"]] == [
            json.loads(medium)
        ]


# --------------------------------------------------------------------------- an HTTP API from SAM


def test_a_sam_http_api_routes_to_its_function_behind_its_throttled_stage(lab) -> None:
    api_name = lab.name(f"cfn-api-{uuid.uuid4().hex[:4]}")
    resources = {
        "Api": {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {
                "Name": api_name,
                "Tags": lab.tags,
                "DefaultRouteSettings": {"ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 25.0},
            },
        },
        "Echo": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "FunctionName": f"{api_name}-echo",
                "Runtime": RUNTIME,
                "Handler": "index.handler",
                "InlineCode": ECHO_HANDLER,
                "Tags": lab.tags,
                "Events": {
                    "Hello": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "Api"}, "Path": "/hello/{name}", "Method": "GET"},
                    }
                },
            },
        },
    }
    body = json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Transform": SAM,
            "Resources": resources,
            "Outputs": {"Url": {"Value": {"Fn::GetAtt": ["Api", "ApiEndpoint"]}}, "ApiId": {"Value": {"Ref": "Api"}}},
        }
    )
    with stack(lab, body, capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]) as name:
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in lab.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
        }
        apigw = lab.client("apigatewayv2")
        assert apigw.get_api(ApiId=outputs["ApiId"])["Name"] == api_name
        assert [r["RouteKey"] for r in apigw.get_routes(ApiId=outputs["ApiId"])["Items"]] == ["GET /hello/{name}"]
        throttle = apigw.get_stage(ApiId=outputs["ApiId"], StageName="$default")["DefaultRouteSettings"]
        assert (throttle["ThrottlingBurstLimit"], throttle["ThrottlingRateLimit"]) == (50, 25.0)
        answers: list[requests.Response] = []

        def answered() -> bool:
            answers.append(requests.get(f"{outputs['Url']}/hello/ada", timeout=30))
            return answers[-1].status_code == 200

        wait_until(answered, timeout=PATIENCE, interval=POLL, what="the stack's API to answer GET /hello/ada")
        assert answers[-1].json() == {"path": "/hello/ada"}
        assert requests.get(f"{outputs['Url']}/nowhere", timeout=30).status_code == 404
