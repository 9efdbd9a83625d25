"""API Gateway HTTP APIs (MiniStack ``services/apigateway.py``, control plane and v2 proxy path).

What it changes and why: docs/local-cloud-services.md, `localcloud/services/apigateway/responses.py`.

>>> internal_server_error()[2]          # what a client sees when the function fails
b'{"message":"Internal Server Error"}'
"""

from __future__ import annotations

import contextvars
import fnmatch
import json
import os
import re
from typing import Any

from localcloud.patches import wrap

_in_http_api: contextvars.ContextVar[bool] = contextvars.ContextVar("orderlab_in_http_api", default=False)
INTERNAL_SERVER_ERROR_BODY = json.dumps({"message": "Internal Server Error"}, separators=(",", ":")).encode()
_HOSTED_ENDPOINT = re.compile(r"^https?://([0-9a-z]+)\.execute-api\.[^/]+$")


def internal_server_error() -> tuple[int, dict[str, str], bytes]:
    return 500, {"Content-Type": "application/json"}, INTERNAL_SERVER_ERROR_BODY


def local_api_endpoint(api_id: str) -> str:
    return f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '4566')}/_aws/execute-api/{api_id}"


def _rewrite_endpoints(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            match = _HOSTED_ENDPOINT.match(item) if key == "apiEndpoint" and isinstance(item, str) else None
            out[key] = local_api_endpoint(match.group(1)) if match else _rewrite_endpoints(item)
        return out
    if isinstance(value, list):
        return [_rewrite_endpoints(item) for item in value]
    return value


def _statement_allows(statement: dict, source_arn: str) -> bool:
    if statement.get("Effect", "Allow") != "Allow":
        return False
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
        return False
    principal = statement.get("Principal", {})
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    services = [services] if isinstance(services, str) else services
    if "apigateway.amazonaws.com" not in services:
        return False
    condition = statement.get("Condition") or {}
    patterns = (condition.get("ArnLike") or {}).get("AWS:SourceArn") or (condition.get("ArnEquals") or {}).get(
        "AWS:SourceArn"
    )
    if patterns is None:
        return True  # no SourceArn condition: any API may invoke (allowed, though not advisable)
    patterns = [patterns] if isinstance(patterns, str) else patterns
    # ArnLike: '*' matches any run of characters (slashes included), '?' one character.
    return any(fnmatch.fnmatchcase(source_arn, pattern.replace("[", "[[]")) for pattern in patterns)


def invoke_permitted(func_data: dict, func_config: dict, api_id: str, stage: str, method: str, route_key: str) -> bool:
    """Does the function's resource policy let this API route invoke it?"""
    arn_parts = str(func_config.get("FunctionArn", "")).split(":")
    region, account = (arn_parts[3], arn_parts[4]) if len(arn_parts) > 4 else ("us-east-1", "000000000000")
    route_path = route_key.split(" ", 1)[1] if " " in route_key else ""
    source_arn = f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method.upper()}{route_path}"
    statements = ((func_data.get("policy") or {}).get("Statement")) or []
    return any(_statement_allows(s, source_arn) for s in statements)


def apply() -> None:
    from ministack.services import apigateway, lambda_svc

    def make_handle_request(original):
        async def handle_request(method, path, headers, body, query_params):
            status, resp_headers, resp_body = await original(method, path, headers, body, query_params)
            if path.startswith("/v2/apis") and 200 <= status < 300 and resp_body and b"apiEndpoint" in resp_body:
                try:
                    resp_body = json.dumps(_rewrite_endpoints(json.loads(resp_body))).encode()
                except ValueError:
                    pass
            return status, resp_headers, resp_body

        return handle_request

    def make_proxy(original):
        async def _invoke_lambda_proxy(
            integration,
            api_id,
            stage,
            path,
            method,
            headers,
            body,
            query_params,
            route_key="$default",
            *args: Any,
            **kwargs: Any,
        ):
            lambda_ref = apigateway._extract_lambda_ref_from_integration_uri(integration.get("integrationUri", ""))
            func_data, func_config, _ = lambda_svc._get_func_record_for_ref_in_scope(
                lambda_ref, account_id=kwargs.get("owner_account_id"), region=kwargs.get("owner_region")
            )
            if (
                func_data is not None
                and func_config is not None
                and not invoke_permitted(func_data, func_config, api_id, stage, method, route_key)
            ):
                return internal_server_error()
            token = _in_http_api.set(True)
            try:
                return await original(
                    integration, api_id, stage, path, method, headers, body, query_params, route_key, *args, **kwargs
                )
            finally:
                _in_http_api.reset(token)

        return _invoke_lambda_proxy

    def make_shape(original):
        def lambda_execute_result_to_api_proxy_response(exec_result: dict):
            if _in_http_api.get() and exec_result.get("error") and not exec_result.get("throttle"):
                status, resp_headers, resp_body = internal_server_error()
                return {"statusCode": status, "headers": resp_headers, "body": resp_body.decode()}, None
            return original(exec_result)

        return lambda_execute_result_to_api_proxy_response

    wrap(apigateway, "handle_request", make_handle_request)
    wrap(apigateway, "_invoke_lambda_proxy", make_proxy)
    wrap(lambda_svc, "lambda_execute_result_to_api_proxy_response", make_shape)
