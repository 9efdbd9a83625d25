"""AWS CloudFormation (MiniStack ``services/cloudformation/``): stacks are built, and refused, as on AWS.

What AWS does, and MiniStack 1.5.33 does not:

* **Capabilities are always required.** A template with IAM resources needs ``CAPABILITY_IAM``
  (``CAPABILITY_NAMED_IAM`` when one has a custom name), CreateStack/UpdateStack of a template with
  a ``Transform`` needs ``CAPABILITY_AUTO_EXPAND`` (CreateChangeSet does not): else
  ``InsufficientCapabilitiesException`` "Requires capabilities : [...]". MiniStack implements the rule
  but checks it only with ``AUTH=true``; here it is always checked.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
* **A function needs a role and code that exist.** ``AWS::Lambda::Function`` fails (and the stack
  rolls back) when its ``Role`` is not an existing role — "The role defined for the function cannot
  be assumed by Lambda." — or its S3 code is missing — "Error occurred while GetObject. S3 Error
  Code: NoSuchKey. ...". MiniStack created the function with a dummy role or no code.
  https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
* **A stack's pipe is a pipe.** ``AWS::Pipes::Pipe`` goes through the same local Pipes runtime as
  CreatePipe/UpdatePipe/DeletePipe (:mod:`localcloud.services.pipes`): its ``SourceParameters``
  (filter, batch, retries, dead-letter queue), ``Enrichment``, ``EnrichmentParameters`` and
  ``TargetParameters`` are validated and honoured. MiniStack registered a stub that dropped them.
  As on AWS, the resource is complete once the pipe has left CREATING/UPDATING (a pipe that ends
  CREATE_FAILED fails it), so a stack's pipe is RUNNING when the stack is.
* **An HTTP API's ``Body`` is imported.** ``AWS::ApiGatewayV2::Api`` with an OpenAPI ``Body`` (what
  the SAM transform generates for ``AWS::Serverless::HttpApi``) gets its name from ``info.title``,
  its CORS from ``x-amazon-apigateway-cors``, its tags from ``tags``, and one integration and route
  per operation with an ``x-amazon-apigateway-integration``; an update re-imports the routes.
  ``Fn::GetAtt Api.ApiEndpoint`` is the reachable endpoint GetApi answers
  (:mod:`localcloud.services.apigateway`). MiniStack ignored ``Body``: the API had no routes.
  A stack's stage keeps its ``DefaultRouteSettings``/``RouteSettings`` (the throttle): MiniStack stored
  the template's PascalCase members, which GetStage then answered as empty.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-api.html,
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from localcloud.patches import PatchError
from localcloud.services.pipes.models import FAILED_AFTER, TRANSITIONAL

# How long a stack waits for its pipe to leave CREATING/UPDATING (the local transition takes 0.2 s).
PIPE_STABILIZATION_SECONDS = 30.0
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method")
_PIPE_FIELDS = (
    "Source",
    "Target",
    "Enrichment",
    "SourceParameters",
    "EnrichmentParameters",
    "TargetParameters",
    "RoleArn",
    "Description",
    "DesiredState",
)


def handler_message(service: str, message: str, *, code: str = "InvalidRequest") -> str:
    """A failed resource's reason in the form CloudFormation's resource handlers give it."""
    return (
        f'Resource handler returned message: "{message} (Service: {service}, Status Code: 400)" '
        f"(HandlerErrorCode: {code})"
    )


def role_name_of(role_arn: str) -> str | None:
    """The role name of an IAM role ARN (the path dropped), or None if it is not one.

    >>> role_name_of("arn:aws:iam::000000000000:role/orderlab/alice-create-order-role")
    'alice-create-order-role'
    >>> role_name_of("alice-role") is None
    True
    """
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    return parts[5].rsplit("/", 1)[1] or None


def function_problem(
    props: dict[str, Any], role_exists: Callable[[str], bool], object_exists: Callable[[str, str], str | None]
) -> str | None:
    """Why Lambda would refuse to create a stack's function (None: it would not).

    ``object_exists(bucket, key)`` answers None when the object is there, else the S3 error code.
    """
    role = props.get("Role")
    name = role_name_of(role) if isinstance(role, str) else None
    if name is None or not role_exists(name):
        return handler_message("Lambda", "The role defined for the function cannot be assumed by Lambda.")
    code = props.get("Code") or {}
    if code.get("S3Bucket") and code.get("S3Key"):
        error = object_exists(code["S3Bucket"], code["S3Key"])
        if error is not None:
            message = {
                "NoSuchBucket": "The specified bucket does not exist",
                "NoSuchKey": "The specified key does not exist.",
            }.get(error, error)
            return handler_message(
                "Lambda", f"Error occurred while GetObject. S3 Error Code: {error}. S3 Error Message: {message}"
            )
    return None


def openapi_api_properties(props: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The API's properties with what an imported ``Body`` sets: name, description, CORS, tags.

    >>> openapi_api_properties({}, {"info": {"title": "alice-orders-api"},
    ...     "x-amazon-apigateway-cors": {"allowOrigins": ["http://127.0.0.1:8000"], "maxAge": 300},
    ...     "tags": [{"name": "team", "x-amazon-apigateway-tag-value": "a"}]})  # doctest: +NORMALIZE_WHITESPACE
    {'Name': 'alice-orders-api',
     'CorsConfiguration': {'AllowOrigins': ['http://127.0.0.1:8000'], 'MaxAge': 300}, 'Tags': {'team': 'a'}}
    """
    merged = dict(props)
    info = body.get("info") or {}
    if not merged.get("Name") and info.get("title"):
        merged["Name"] = info["title"]
    if not merged.get("Description") and info.get("description"):
        merged["Description"] = info["description"]
    cors = body.get("x-amazon-apigateway-cors")
    if cors and not merged.get("CorsConfiguration"):
        merged["CorsConfiguration"] = {key[:1].upper() + key[1:]: value for key, value in cors.items()}
    tags = {
        tag["name"]: tag.get("x-amazon-apigateway-tag-value", "")
        for tag in body.get("tags") or []
        if isinstance(tag, dict) and "name" in tag
    }
    if tags:
        merged["Tags"] = {**tags, **(merged.get("Tags") or {})}
    return merged


def openapi_operations(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(route key, integration properties)`` for each operation of ``body`` that has an integration.

    >>> openapi_operations({"paths": {"/orders": {"post": {"x-amazon-apigateway-integration": {
    ...     "type": "aws_proxy", "uri": "arn:aws:lambda:us-east-1:1:function:f", "httpMethod": "POST",
    ...     "payloadFormatVersion": "2.0"}}}}})  # doctest: +NORMALIZE_WHITESPACE
    [('POST /orders', {'IntegrationType': 'AWS_PROXY', 'IntegrationUri': 'arn:aws:lambda:us-east-1:1:function:f',
                       'IntegrationMethod': 'POST', 'PayloadFormatVersion': '2.0', 'TimeoutInMillis': 30000})]
    """
    operations = []
    for path, item in (body.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if method.lower() not in _HTTP_METHODS or not isinstance(operation, dict):
                continue
            integration = operation.get("x-amazon-apigateway-integration")
            if not integration:
                continue
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            properties = {
                "IntegrationType": str(integration.get("type", "aws_proxy")).upper(),
                "IntegrationUri": integration.get("uri", ""),
                "IntegrationMethod": integration.get("httpMethod", "POST"),
                "PayloadFormatVersion": str(integration.get("payloadFormatVersion", "1.0")),
                "TimeoutInMillis": int(integration.get("timeoutInMillis", 30000)),
            }
            operations.append((f"{verb} {path}" if path != "$default" else "$default", properties))
    return operations


def stage_route_settings(props: dict[str, Any]) -> dict[str, Any]:
    """A stage's properties with its route settings in the API's wire form (camelCase members), the form
    CreateStage stores and GetStage answers.

    >>> stage_route_settings({"StageName": "$default", "DefaultRouteSettings": {"ThrottlingBurstLimit": 200}})
    {'StageName': '$default', 'DefaultRouteSettings': {'throttlingBurstLimit': 200}}
    """

    def camel(value: Any) -> Any:
        if isinstance(value, dict):
            return {key[:1].lower() + key[1:]: camel(item) for key, item in value.items()}
        return value

    converted = dict(props)
    if isinstance(props.get("DefaultRouteSettings"), dict):
        converted["DefaultRouteSettings"] = camel(props["DefaultRouteSettings"])
    if isinstance(props.get("RouteSettings"), dict):  # route key -> settings: the keys are route keys
        converted["RouteSettings"] = {route: camel(settings) for route, settings in props["RouteSettings"].items()}
    return converted


def _parsed_body(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        import yaml

        parsed = yaml.safe_load(value)  # JSON is YAML too
        return parsed if isinstance(parsed, dict) else None
    return None


def _pipe_error(body: bytes) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
    return str(answer.get("message") or answer.get("Message") or answer)


def apply() -> None:
    from ministack.services import iam as iam_service
    from ministack.services import s3 as s3_service
    from ministack.services.cloudformation import handlers, provisioners

    from localcloud.services.apigateway import responses as apigatewayv2_patch
    from localcloud.services.pipes import responses as pipes_patch

    needed = {
        "handlers": (handlers, ("_capabilities_enforced",)),
        "provisioners": (
            provisioners,
            (
                "_RESOURCE_HANDLERS",
                "_lambda_create",
                "_apigw_v2_api_create",
                "_apigw_v2_api_update",
                "_apigw_v2_integration_create",
                "_apigw_v2_stage_create",
                "_apigw_v2_stage_update",
                "_apigw_v2_route_create",
                "_pipes_pipe_create",
                "_pipes_pipe_update",
                "_pipes_pipe_delete",
            ),
        ),
        "iam": (iam_service, ("_roles",)),
        "s3": (s3_service, ("_get_object_data",)),
    }
    missing = [
        f"{where}.{name}" for where, (module, names) in needed.items() for name in names if not hasattr(module, name)
    ]
    if missing:
        raise PatchError(f"cannot patch CloudFormation: MiniStack lacks {', '.join(missing)}")
    if getattr(provisioners, "__orderlab_cloudformation__", False):
        return  # applied already
    registry = provisioners._RESOURCE_HANDLERS

    handlers._capabilities_enforced = lambda: True

    def object_error(bucket: str, key: str) -> str | None:
        buckets = getattr(s3_service, "_buckets", None)
        if buckets is not None and bucket not in buckets:
            return "NoSuchBucket"
        try:
            return None if s3_service._get_object_data(bucket, key) is not None else "NoSuchKey"
        except Exception:
            return "NoSuchKey"

    original_lambda_create = provisioners._lambda_create

    def lambda_create(logical_id: str, props: dict[str, Any], stack_name: str) -> Any:
        problem = function_problem(props, lambda name: name in iam_service._roles, object_error)
        if problem:
            raise ValueError(problem)
        return original_lambda_create(logical_id, props, stack_name)

    def import_routes(api_id: str, body: dict[str, Any], logical_id: str, stack_name: str) -> None:
        for route_key, integration in openapi_operations(body):
            integration_id, _ = provisioners._apigw_v2_integration_create(
                logical_id, {"ApiId": api_id, **integration}, stack_name
            )
            provisioners._apigw_v2_route_create(
                logical_id,
                {"ApiId": api_id, "RouteKey": route_key, "Target": f"integrations/{integration_id}"},
                stack_name,
            )

    original_api_create = provisioners._apigw_v2_api_create
    original_api_update = provisioners._apigw_v2_api_update

    def api_create(logical_id: str, props: dict[str, Any], stack_name: str) -> Any:
        body = _parsed_body(props.get("Body"))
        if body is not None:
            props = openapi_api_properties(props, body)
        api_id, attributes = original_api_create(logical_id, props, stack_name)
        if body is not None:
            import_routes(api_id, body, logical_id, stack_name)
        return api_id, {**attributes, "ApiEndpoint": apigatewayv2_patch.local_api_endpoint(api_id)}

    def api_update(
        physical_id: str,
        old_props: dict[str, Any],
        new_props: dict[str, Any],
        stack_name: str,
        logical_id: str | None = None,
    ) -> Any:
        body = _parsed_body(new_props.get("Body"))
        if body is not None:
            new_props = openapi_api_properties(new_props, body)
        api_id, attributes = original_api_update(physical_id, old_props, new_props, stack_name, logical_id)
        if body is not None and body != _parsed_body(old_props.get("Body")):
            provisioners._apigw_v2._routes[api_id] = {}  # a re-import replaces the routes
            provisioners._apigw_v2._integrations[api_id] = {}
            import_routes(api_id, body, logical_id or physical_id, stack_name)
        return api_id, {**attributes, "ApiEndpoint": apigatewayv2_patch.local_api_endpoint(api_id)}

    original_stage_create = provisioners._apigw_v2_stage_create
    original_stage_update = provisioners._apigw_v2_stage_update

    def stage_create(logical_id: str, props: dict[str, Any], stack_name: str) -> Any:
        return original_stage_create(logical_id, stage_route_settings(props), stack_name)

    def stage_update(
        physical_id: str,
        old_props: dict[str, Any],
        new_props: dict[str, Any],
        stack_name: str,
        logical_id: str | None = None,
    ) -> Any:
        return original_stage_update(
            physical_id, stage_route_settings(old_props), stage_route_settings(new_props), stack_name, logical_id
        )

    def pipe_body(props: dict[str, Any]) -> dict[str, Any]:
        body = {key: props[key] for key in _PIPE_FIELDS if props.get(key) not in (None, "", {})}
        tags = props.get("Tags")
        if tags:
            body["Tags"] = dict(tags) if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}
        return body

    def settled_pipe(name: str) -> dict[str, Any]:
        """The pipe once it left CREATING/UPDATING, as CloudFormation waits for it; a failed one fails the resource."""
        deadline = time.monotonic() + PIPE_STABILIZATION_SECONDS
        record = pipes_patch._pipes_module._pipes[name]
        while record.get("CurrentState") in TRANSITIONAL and time.monotonic() < deadline:
            time.sleep(0.05)
        state = str(record.get("CurrentState"))
        if state in TRANSITIONAL or state in FAILED_AFTER.values():
            reason = record.get("StateReason") or f"the pipe is {state}"
            raise ValueError(handler_message("Pipes", f"Pipe {name} did not stabilize: {reason}"))
        return record

    def pipe_create(logical_id: str, props: dict[str, Any], stack_name: str) -> Any:
        name = props.get("Name") or provisioners._physical_name(stack_name, logical_id, max_len=64)
        status, _headers, body = pipes_patch.create_pipe(name, pipe_body(props))
        if status >= 400:
            raise ValueError(handler_message("Pipes", _pipe_error(body), code="InvalidRequest"))
        record = settled_pipe(name)
        return name, {"Arn": record["Arn"], "Name": name}

    def pipe_update(
        physical_id: str,
        old_props: dict[str, Any],
        new_props: dict[str, Any],
        stack_name: str,
        logical_id: str | None = None,
    ) -> Any:
        if new_props.get("Source") != old_props.get("Source") or (new_props.get("Name") or physical_id) != physical_id:
            pipe_delete(physical_id, old_props)  # Name and Source require replacement
            return pipe_create(logical_id or physical_id, new_props, stack_name)
        update = pipe_body(new_props)
        update.pop("Source", None)
        update.pop("Tags", None)
        status, _headers, body = pipes_patch.update_pipe(physical_id, update)
        if status >= 400:
            raise ValueError(handler_message("Pipes", _pipe_error(body), code="InvalidRequest"))
        record = settled_pipe(physical_id)
        return physical_id, {"Arn": record["Arn"], "Name": physical_id}

    def pipe_delete(physical_id: str, props: dict[str, Any]) -> None:
        status, _headers, body = pipes_patch.set_state(physical_id, "delete")
        if status >= 400 and status != 404:
            raise ValueError(handler_message("Pipes", _pipe_error(body)))

    provisioners._lambda_create = lambda_create
    provisioners._apigw_v2_api_create = api_create
    provisioners._apigw_v2_api_update = api_update
    provisioners._apigw_v2_stage_create = stage_create
    provisioners._apigw_v2_stage_update = stage_update
    provisioners._pipes_pipe_create = pipe_create
    provisioners._pipes_pipe_update = pipe_update
    provisioners._pipes_pipe_delete = pipe_delete
    for resource_type, operations in (
        ("AWS::Lambda::Function", {"create": lambda_create}),
        ("AWS::ApiGatewayV2::Api", {"create": api_create, "update": api_update}),
        ("AWS::ApiGatewayV2::Stage", {"create": stage_create, "update": stage_update}),
        ("AWS::Pipes::Pipe", {"create": pipe_create, "update": pipe_update, "delete": pipe_delete}),
    ):
        registry[resource_type] = {**registry[resource_type], **operations}
    provisioners.__orderlab_cloudformation__ = True
