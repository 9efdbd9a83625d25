"""The local cloud's CloudFormation fixes that need no cloud: how a stack's function, API body and stage are read."""

from __future__ import annotations

import doctest

from localcloud.services.cloudformation import patch as cloudformation
from localcloud.services.cloudformation.patch import (
    function_problem,
    openapi_api_properties,
    openapi_operations,
    role_name_of,
    stage_route_settings,
)

ROLE = "arn:aws:iam::000000000000:role/orderlab/alice-create-order-role"


def test_doctests() -> None:
    assert doctest.testmod(cloudformation).failed == 0


def test_a_function_needs_an_existing_role_then_existing_code() -> None:
    exists = {"alice-create-order-role"}.__contains__
    code = {"S3Bucket": "b", "S3Key": "k.zip"}
    assert function_problem({"Role": ROLE, "Code": code}, exists, lambda bucket, key: None) is None
    assert "cannot be assumed by Lambda" in function_problem(
        {"Role": ROLE.replace("alice", "bob"), "Code": code}, exists, lambda bucket, key: None
    )
    assert "cannot be assumed by Lambda" in function_problem({"Code": code}, exists, lambda bucket, key: None)
    missing_key = function_problem({"Role": ROLE, "Code": code}, exists, lambda bucket, key: "NoSuchKey")
    assert "S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist." in missing_key
    missing_bucket = function_problem({"Role": ROLE, "Code": code}, exists, lambda bucket, key: "NoSuchBucket")
    assert "S3 Error Code: NoSuchBucket." in missing_bucket
    assert (
        function_problem({"Role": ROLE, "Code": {"ZipFile": "x = 1"}}, exists, lambda bucket, key: "NoSuchKey") is None
    )


def test_role_names_come_from_role_arns_only() -> None:
    assert role_name_of(ROLE) == "alice-create-order-role"
    assert role_name_of("arn:aws:iam::000000000000:user/alice") is None
    assert role_name_of("arn:aws:lambda:us-east-1:000000000000:function:f") is None


def test_a_sam_body_gives_the_api_its_name_cors_tags_and_one_route_per_operation() -> None:
    uri = {"Fn::Sub": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/f/invocations"}
    body = {
        "openapi": "3.0.1",
        "info": {"title": "alice-orders-api", "description": "Order pipeline lab"},
        "x-amazon-apigateway-cors": {"allowOrigins": ["http://127.0.0.1:8000"], "allowMethods": ["GET", "POST"]},
        "tags": [{"name": "orderlab:prefix", "x-amazon-apigateway-tag-value": "alice"}],
        "paths": {
            "/orders": {
                "post": {
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "uri": uri,
                        "httpMethod": "POST",
                        "payloadFormatVersion": "2.0",
                        "timeoutInMillis": 29000,
                    }
                }
            },
            "/orders/{orderId}": {
                "get": {
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "uri": uri,
                        "httpMethod": "POST",
                        "payloadFormatVersion": "2.0",
                    }
                },
                "parameters": [{"name": "orderId", "in": "path"}],
            },
            "/docs": {"get": {"responses": {}}},
            "$default": {
                "x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": uri}}
            },
        },
    }
    properties = openapi_api_properties({"Tags": {"team": "a"}}, body)
    assert properties["Name"] == "alice-orders-api"
    assert properties["Description"] == "Order pipeline lab"
    assert properties["CorsConfiguration"] == {
        "AllowOrigins": ["http://127.0.0.1:8000"],
        "AllowMethods": ["GET", "POST"],
    }
    assert properties["Tags"] == {"orderlab:prefix": "alice", "team": "a"}
    routes = dict(openapi_operations(body))
    assert sorted(routes) == ["$default", "GET /orders/{orderId}", "POST /orders"]
    assert routes["POST /orders"] == {
        "IntegrationType": "AWS_PROXY",
        "IntegrationUri": uri,
        "IntegrationMethod": "POST",
        "PayloadFormatVersion": "2.0",
        "TimeoutInMillis": 29000,
    }
    assert routes["GET /orders/{orderId}"]["TimeoutInMillis"] == 30000


def test_an_explicit_name_wins_over_the_body_title() -> None:
    assert openapi_api_properties({"Name": "mine"}, {"info": {"title": "theirs"}})["Name"] == "mine"


def test_stage_route_settings_take_the_apis_wire_form() -> None:
    converted = stage_route_settings(
        {
            "StageName": "$default",
            "DefaultRouteSettings": {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100.0},
            "RouteSettings": {"POST /orders": {"ThrottlingBurstLimit": 5}},
        }
    )
    assert converted["DefaultRouteSettings"] == {"throttlingBurstLimit": 200, "throttlingRateLimit": 100.0}
    assert converted["RouteSettings"] == {"POST /orders": {"throttlingBurstLimit": 5}}
