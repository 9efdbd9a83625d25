"""AWS-shaped test events: API Gateway HTTP API (payload format 2.0) events and a Lambda context.

Used by the unit tests and by notebooks that invoke a function directly (the console's "Test").

The event mirrors what AWS sends to a Lambda proxy integration on the ``$default`` stage::

    event = http_api_event("POST", "/orders", body={"customer": ...}, headers={"Idempotency-Key": "k1"})
    event = http_api_event("GET", f"/orders/{order_id}", path_parameters={"orderId": order_id})
"""

from __future__ import annotations

import base64 as b64
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT_ID = "123456789012"
API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
DOMAIN_NAME = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
SOURCE_IP = "203.0.113.10"
USER_AGENT = "orderlab-http-api-client/1.0"


def _route_key(method: str, path: str, path_parameters: dict[str, str] | None) -> str:
    """Rebuild the API's route template, e.g. ``GET /orders/{orderId}``."""
    template = path
    for name, value in (path_parameters or {}).items():
        template = template.replace(value, "{" + name + "}", 1)
    return f"{method} {template}"


def http_api_event(
    method: str,
    path: str,
    body: str | bytes | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    base64: bool = False,
    path_parameters: dict[str, str] | None = None,
    *,
    query_string: str = "",
    route_key: str | None = None,
) -> dict[str, Any]:
    """Return an HTTP API payload-2.0 event as API Gateway delivers it to Lambda.

    ``body`` may be a str/bytes (sent as is) or a dict/list (JSON-encoded). With
    ``base64=True`` the body is base64-encoded and ``isBase64Encoded`` is true, as API
    Gateway does for non-text content types. Header names are lower-cased like AWS does.
    """
    method = method.upper()
    if isinstance(body, (dict, list)):
        raw: bytes | None = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raw = body

    all_headers: dict[str, str] = {
        "accept": "*/*",
        "host": DOMAIN_NAME,
        "user-agent": USER_AGENT,
        "x-amzn-trace-id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if raw is not None:
        all_headers["content-length"] = str(len(raw))
        all_headers["content-type"] = "application/octet-stream" if base64 else "application/json"
    for name, value in (headers or {}).items():
        all_headers[name.lower()] = value

    now = datetime.now(UTC)
    key = route_key or _route_key(method, path, path_parameters)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": DOMAIN_NAME,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": f"{uuid.uuid4().hex[:14]}=",
            "routeKey": key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(base64 and raw is not None),
    }
    if raw is not None:
        event["body"] = b64.b64encode(raw).decode("ascii") if base64 else raw.decode("utf-8")
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if query_string:
        event["queryStringParameters"] = dict(
            pair.split("=", 1) if "=" in pair else (pair, "") for pair in query_string.split("&")
        )
    return event


@dataclass
class FakeLambdaContext:
    """The parts of the Lambda context object that Powertools and handlers read."""

    function_name: str = "create-order"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:create-order"
    log_group_name: str = "/aws/lambda/create-order"
    log_stream_name: str = "2024/01/01/[$LATEST]0123456789abcdef"
    remaining_millis: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis
