"""HTTP APIs (API Gateway v2) in front of the lab's Lambda functions.

>>> api = ensure_http_api(                                            # doctest: +SKIP
...     lab, component="orders-api",
...     routes={"POST /orders": fn.arn, "GET /orders/{orderId}": fn.arn},
...     cors_allow_origins=["http://127.0.0.1:8000"],
... )
>>> requests.post(f"{api.endpoint_url}/orders", json={...})          # doctest: +SKIP

Converges on every call: one API per name (found by name and the lab's tags), CORS as asked,
one ``AWS_PROXY`` integration (payload 2.0) per function, exactly the routes asked for (missing
ones added, changed targets updated, others deleted), a ``$default`` stage with auto-deploy and
stage throttling, and one ``lambda:InvokeFunction`` permission per function scoped to this API.

Throttling: the ``$default`` stage's ``DefaultRouteSettings`` cap every route at
``ThrottlingRateLimit`` requests/s in steady state with bursts of ``ThrottlingBurstLimit``
(a token bucket: the burst is the bucket size, the rate its refill); requests over the limit
get ``429 Too Many Requests`` (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html).
Without it a stage gets the account's limits (10,000 requests/s, burst 5,000), which on a
learner's own account is a bill, not a safety net. The local cloud stores and returns these
settings but does not enforce them.

``endpoint_url`` is the API's ``ApiEndpoint``, the ``$default`` stage's base URL, on every
target: ``https://{api-id}.execute-api.{region}.amazonaws.com`` on AWS; the local cloud
answers an address reachable from this machine (see ``localcloud/services/apigateway/responses.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, error_message, paginate, partition, tags_missing
from helpers.core.naming import PREFIX_TAG, PROJECT, PROJECT_TAG

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = [
    "CORS_ALLOW_HEADERS",
    "CORS_ALLOW_METHODS",
    "DEFAULT_THROTTLING_BURST_LIMIT",
    "DEFAULT_THROTTLING_RATE_LIMIT",
    "HttpApiInfo",
    "allow_api_invoke",
    "api_arn",
    "default_route_settings_update",
    "ensure_http_api",
    "execution_arn",
    "find_http_apis",
    "stage_throttling",
]

DEFAULT_STAGE = "$default"
API_DESCRIPTION = "Order pipeline lab"
# API Gateway's own limit for an HTTP API integration is 30 s; a little less, so the gateway answers first.
INTEGRATION_TIMEOUT_MILLIS = 29000
CORS_ALLOW_METHODS = ["GET", "OPTIONS", "POST"]
CORS_ALLOW_HEADERS = ["content-type", "idempotency-key"]
# The $default stage's throttle (requests/s steady, and burst): a cap on what a runaway client
# (or a load test left running) can cost on a real account — 100/s is ~$0.36 of API requests an
# hour at most — while leaving room for the lab's own bursts (notebook 07's load, 8 clients).
DEFAULT_THROTTLING_BURST_LIMIT = 200
DEFAULT_THROTTLING_RATE_LIMIT = 100.0
_THROTTLE_KEYS = ("ThrottlingBurstLimit", "ThrottlingRateLimit")


@dataclass(frozen=True)
class HttpApiInfo:
    """An HTTP API of the lab. ``endpoint_url`` has no trailing slash: append ``/orders``."""

    api_id: str
    name: str
    endpoint_url: str
    api_endpoint: str
    arn: str
    execution_arn: str
    routes: dict[str, str] = field(default_factory=dict)  # route key -> route id
    integrations: dict[str, str] = field(default_factory=dict)  # function ARN -> integration id
    stage: str = DEFAULT_STAGE
    throttling: dict[str, Any] = field(default_factory=dict)  # the stage's ThrottlingBurstLimit/RateLimit
    stage_updated: bool = field(default=False, compare=False)  # this call changed the existing stage

    def url(self, path: str) -> str:
        """``endpoint_url`` + ``path``: ``api.url("/orders")``."""
        return self.endpoint_url + ("" if path.startswith("/") else "/") + path


def api_arn(region: str, api_id: str) -> str:
    """The API's resource ARN (for TagResource): ``arn:aws:apigateway:{region}::/apis/{id}``."""
    return f"arn:{partition(region)}:apigateway:{region}::/apis/{api_id}"


def execution_arn(region: str, account: str, api_id: str) -> str:
    """``arn:aws:execute-api:{region}:{account}:{api-id}``; append ``/*/*`` for every stage and route."""
    return f"arn:{partition(region)}:execute-api:{region}:{account}:{api_id}"


def _is_ours(lab: Lab, api: dict[str, Any]) -> bool:
    tags = api.get("Tags") or {}
    return tags.get(PREFIX_TAG) == lab.prefix and tags.get(PROJECT_TAG) == PROJECT


def find_http_apis(lab: Lab, component: str | None = None) -> list[dict[str, Any]]:
    """The lab's HTTP APIs (GetApis, paginated, filtered on the lab's tags), oldest first.

    With ``component``, only those named ``lab.name(component)``.
    """
    apis = [
        a
        for a in paginate(lab.client("apigatewayv2"), "get_apis", "Items")
        if a.get("ProtocolType") == "HTTP" and _is_ours(lab, a)
    ]
    if component is not None:
        apis = [a for a in apis if a.get("Name") == lab.name(component)]
    return sorted(apis, key=lambda a: (str(a.get("CreatedDate", "")), a["ApiId"]))


def _cors(origins: list[str]) -> dict[str, Any]:
    return {
        "AllowOrigins": list(origins),
        "AllowMethods": list(CORS_ALLOW_METHODS),
        "AllowHeaders": list(CORS_ALLOW_HEADERS),
        "AllowCredentials": False,
        "MaxAge": 300,
    }


def _same_cors(current: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    current = current or {}

    def norm(cfg: dict[str, Any]) -> tuple[Any, ...]:
        return (
            sorted(o.rstrip("/") for o in cfg.get("AllowOrigins") or []),
            sorted(m.upper() for m in cfg.get("AllowMethods") or []),
            sorted(h.lower() for h in cfg.get("AllowHeaders") or []),
            sorted(h.lower() for h in cfg.get("ExposeHeaders") or []),
            bool(cfg.get("AllowCredentials", False)),
            cfg.get("MaxAge") or 0,
        )

    return norm(current) == norm(wanted)


def stage_throttling(
    burst_limit: int = DEFAULT_THROTTLING_BURST_LIMIT, rate_limit: float = DEFAULT_THROTTLING_RATE_LIMIT
) -> dict[str, Any]:
    """The throttle part of a stage's ``DefaultRouteSettings`` (RouteSettings: burst an integer, rate a double).

    https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis-apiid-stages-stagename.html

    >>> stage_throttling(50, 20)
    {'ThrottlingBurstLimit': 50, 'ThrottlingRateLimit': 20.0}
    """
    if isinstance(burst_limit, bool) or not isinstance(burst_limit, int) or burst_limit < 0:
        raise ValueError(f"throttling_burst_limit must be an integer >= 0, got {burst_limit!r}")
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)) or not 0 <= rate_limit < float("inf"):
        raise ValueError(f"throttling_rate_limit must be a number >= 0 (requests per second), got {rate_limit!r}")
    return {"ThrottlingBurstLimit": burst_limit, "ThrottlingRateLimit": float(rate_limit)}


def default_route_settings_update(current: dict[str, Any] | None, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The ``DefaultRouteSettings`` to send with UpdateStage, or None when ``current`` already has ``wanted``.

    What the stage has besides the throttle (``DetailedMetricsEnabled``) is kept. The
    WebSocket-only settings (``DataTraceEnabled``, ``LoggingLevel``) are left out: HTTP APIs refuse them.

    >>> default_route_settings_update({"DetailedMetricsEnabled": False, "ThrottlingBurstLimit": 50,
    ...                                "ThrottlingRateLimit": 20}, stage_throttling(50, 20.0)) is None
    True
    >>> default_route_settings_update({"DetailedMetricsEnabled": True}, stage_throttling(50, 20))
    {'DetailedMetricsEnabled': True, 'ThrottlingBurstLimit': 50, 'ThrottlingRateLimit': 20.0}
    """
    current = current or {}

    def same(key: str) -> bool:
        have = current.get(key)
        return have is not None and float(have) == float(wanted[key])

    if all(same(key) for key in _THROTTLE_KEYS):
        return None
    kept = {key: current[key] for key in ("DetailedMetricsEnabled",) if key in current}
    return {**kept, **{key: wanted[key] for key in _THROTTLE_KEYS}}


def _function_name(function_arn: str) -> str:
    parts = function_arn.split(":")
    if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
        raise ValueError(f"{function_arn!r} is not a Lambda function ARN")
    return parts[6]


def _integration_target(integration: dict[str, Any]) -> str:
    """The function ARN an AWS_PROXY integration calls (plain ARN or the ``.../functions/<arn>/invocations`` URI)."""
    uri = integration.get("IntegrationUri", "")
    if "/functions/" in uri:
        uri = uri.split("/functions/", 1)[1].removesuffix("/invocations")
    return uri


def _ensure_permission(lab: Lab, function_arn: str, api_name: str, api_id: str) -> None:
    """Let API Gateway invoke the function from this API only (a stable StatementId per API name)."""
    lam = lab.client("lambda")
    sid = f"{api_name}-invoke"
    source_arn = f"{execution_arn(lab.region, lab.account_id, api_id)}/*/*"
    try:
        policy = json.loads(lam.get_policy(FunctionName=function_arn)["Policy"])
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        policy = {"Statement": []}
    for statement in policy.get("Statement", []):
        if statement.get("Sid") != sid:
            continue
        condition = statement.get("Condition", {}).get("ArnLike", {})
        if condition.get("AWS:SourceArn") == source_arn:
            return  # already there
        lam.remove_permission(FunctionName=function_arn, StatementId=sid)  # stale: an earlier API's id
    try:
        lam.add_permission(
            FunctionName=function_arn,
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=source_arn,
        )
    except ClientError as error:
        if not (error_code(error) == "ResourceConflictException" and "already exists" in error_message(error)):
            raise


def allow_api_invoke(lab: Lab, function_arn: str, api_name: str, api_id: str) -> None:
    """Let HTTP API ``api_id`` (named ``api_name``) invoke ``function_arn``: AddPermission, idempotent."""
    _ensure_permission(lab, function_arn, api_name, api_id)


def ensure_http_api(
    lab: Lab,
    *,
    component: str,
    routes: dict[str, str],
    cors_allow_origins: list[str],
    throttling_burst_limit: int = DEFAULT_THROTTLING_BURST_LIMIT,
    throttling_rate_limit: float = DEFAULT_THROTTLING_RATE_LIMIT,
) -> HttpApiInfo:
    """Create or converge HTTP API ``lab.name(component)`` with ``routes`` (route key -> function ARN).

    The ``$default`` stage is throttled at ``throttling_rate_limit`` requests/s with bursts of
    ``throttling_burst_limit`` (every route; over the limit clients get 429). Raise them before
    a load test on AWS, e.g. ``throttling_rate_limit=500, throttling_burst_limit=1000``.

    >>> api = ensure_http_api(lab, component="orders-api", routes={"POST /orders": fn.arn},   # doctest: +SKIP
    ...                       cors_allow_origins=["http://127.0.0.1:8000"])
    >>> api.routes                                                                           # doctest: +SKIP
    {'POST /orders': 'ea4cbddd'}
    """
    if not routes:
        raise ValueError("Give at least one route, e.g. {'POST /orders': function_arn}")
    for route_key in routes:
        method, _, path = route_key.partition(" ")
        if route_key != "$default" and (not method or not path.startswith("/")):
            raise ValueError(f"Route key {route_key!r} should look like 'POST /orders' (or be '$default')")
    throttle = stage_throttling(throttling_burst_limit, throttling_rate_limit)
    apigw = lab.client("apigatewayv2")
    name = lab.name(component)
    cors = _cors(cors_allow_origins)

    # The API: find by name + tags, drop duplicates a crashed earlier run may have left.
    found = find_http_apis(lab, component)
    if found:
        api = apigw.get_api(ApiId=found[0]["ApiId"])
        for duplicate in found[1:]:
            apigw.delete_api(ApiId=duplicate["ApiId"])
        if not _same_cors(api.get("CorsConfiguration"), cors):
            api = apigw.update_api(ApiId=api["ApiId"], CorsConfiguration=cors)
        missing = tags_missing(api.get("Tags") or found[0].get("Tags") or {}, lab.tags)
        if missing:
            apigw.tag_resource(ResourceArn=api_arn(lab.region, api["ApiId"]), Tags=missing)
    else:
        api = apigw.create_api(
            Name=name,
            ProtocolType="HTTP",
            CorsConfiguration=cors,
            Description=API_DESCRIPTION,
            Tags=lab.tags,
        )
    api_id = api["ApiId"]

    # Integrations: one AWS_PROXY (payload 2.0) per function.
    integrations: dict[str, str] = {}
    existing_integrations = paginate(apigw, "get_integrations", "Items", ApiId=api_id)
    for integration in existing_integrations:
        target = _integration_target(integration)
        wanted = target in routes.values() and target not in integrations
        if integration.get("IntegrationType") == "AWS_PROXY" and wanted:
            if integration.get("PayloadFormatVersion") != "2.0":
                apigw.update_integration(
                    ApiId=api_id, IntegrationId=integration["IntegrationId"], PayloadFormatVersion="2.0"
                )
            integrations[target] = integration["IntegrationId"]
    for function_arn in dict.fromkeys(routes.values()):
        _function_name(function_arn)  # validates
        if function_arn not in integrations:
            created = apigw.create_integration(
                ApiId=api_id,
                IntegrationType="AWS_PROXY",
                IntegrationUri=function_arn,
                IntegrationMethod="POST",
                PayloadFormatVersion="2.0",
                TimeoutInMillis=INTEGRATION_TIMEOUT_MILLIS,
            )
            integrations[function_arn] = created["IntegrationId"]

    # Routes: exactly the ones asked for.
    route_ids: dict[str, str] = {}
    for route in paginate(apigw, "get_routes", "Items", ApiId=api_id):
        key = route["RouteKey"]
        if key not in routes:
            apigw.delete_route(ApiId=api_id, RouteId=route["RouteId"])
            continue
        wanted_target = f"integrations/{integrations[routes[key]]}"
        if route.get("Target") != wanted_target:
            apigw.update_route(ApiId=api_id, RouteId=route["RouteId"], Target=wanted_target)
        route_ids[key] = route["RouteId"]
    for key, function_arn in routes.items():
        if key not in route_ids:
            created = apigw.create_route(
                ApiId=api_id, RouteKey=key, Target=f"integrations/{integrations[function_arn]}"
            )
            route_ids[key] = created["RouteId"]

    # Integrations no route uses any more.
    used = set(integrations.values())
    for integration in existing_integrations:
        if integration["IntegrationId"] not in used:
            try:
                apigw.delete_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"])
            except ClientError as error:
                if error_code(error) != "NotFoundException":
                    raise

    # The $default stage, auto-deployed and throttled: one UpdateStage with only what differs.
    stage_updated = False
    try:
        stage = apigw.get_stage(ApiId=api_id, StageName=DEFAULT_STAGE)
    except ClientError as error:
        if error_code(error) != "NotFoundException":
            raise
        stage = apigw.create_stage(
            ApiId=api_id, StageName=DEFAULT_STAGE, AutoDeploy=True, DefaultRouteSettings=dict(throttle), Tags=lab.tags
        )
    else:
        stage_changes: dict[str, Any] = {}
        if not stage.get("AutoDeploy"):
            stage_changes["AutoDeploy"] = True
        route_settings = default_route_settings_update(stage.get("DefaultRouteSettings"), throttle)
        if route_settings is not None:
            stage_changes["DefaultRouteSettings"] = route_settings
        if stage_changes:
            stage = {**stage, **apigw.update_stage(ApiId=api_id, StageName=DEFAULT_STAGE, **stage_changes)}
            stage_updated = True
        missing = tags_missing(stage.get("Tags") or {}, lab.tags)
        if missing:
            apigw.tag_resource(ResourceArn=f"{api_arn(lab.region, api_id)}/stages/{DEFAULT_STAGE}", Tags=missing)

    # Permission for API Gateway to invoke each function, from this API only.
    for function_arn in integrations:
        _ensure_permission(lab, function_arn, name, api_id)

    api_endpoint = api.get("ApiEndpoint") or apigw.get_api(ApiId=api_id)["ApiEndpoint"]
    return HttpApiInfo(
        api_id=api_id,
        name=name,
        endpoint_url=api_endpoint.rstrip("/"),
        api_endpoint=api_endpoint,
        arn=api_arn(lab.region, api_id),
        execution_arn=execution_arn(lab.region, lab.account_id, api_id),
        routes=route_ids,
        integrations=integrations,
        throttling={key: (stage.get("DefaultRouteSettings") or {}).get(key) for key in _THROTTLE_KEYS},
        stage_updated=stage_updated,
    )
