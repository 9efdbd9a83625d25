"""API Gateway HTTP APIs (MiniStack ``services/apigateway.py``, the v2 Lambda proxy path).

What AWS does, and MiniStack 1.5.33 does not: when the integrated Lambda function fails
(an unhandled error, a timeout), an HTTP API answers the client
``500 {"message":"Internal Server Error"}`` and never forwards the function's error
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html).
MiniStack answers 502 with the function's error object, which leaks the stack trace.
"""
from __future__ import annotations

import contextvars
import json
from typing import Any

from localcloud.patches import wrap

_in_http_api: contextvars.ContextVar[bool] = contextvars.ContextVar("orderlab_in_http_api", default=False)
INTERNAL_SERVER_ERROR = {
    "statusCode": 500,
    "headers": {"Content-Type": "application/json"},
    "body": json.dumps({"message": "Internal Server Error"}, separators=(",", ":")),
}


def apply() -> None:
    from ministack.services import apigateway, lambda_svc

    def make_proxy(original):
        async def _invoke_lambda_proxy(*args: Any, **kwargs: Any):
            token = _in_http_api.set(True)
            try:
                return await original(*args, **kwargs)
            finally:
                _in_http_api.reset(token)
        return _invoke_lambda_proxy

    def make_shape(original):
        def lambda_execute_result_to_api_proxy_response(exec_result: dict):
            if _in_http_api.get() and exec_result.get("error") and not exec_result.get("throttle"):
                return dict(INTERNAL_SERVER_ERROR, headers=dict(INTERNAL_SERVER_ERROR["headers"])), None
            return original(exec_result)
        return lambda_execute_result_to_api_proxy_response

    wrap(apigateway, "_invoke_lambda_proxy", make_proxy)
    wrap(lambda_svc, "lambda_execute_result_to_api_proxy_response", make_shape)
