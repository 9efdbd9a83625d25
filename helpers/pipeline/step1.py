"""Step 1 (notebook 01): the orders table, the create_order function and the HTTP API in front of it.

>>> stack = deploy_ingestion(lab)                                   # doctest: +SKIP
>>> stack.api.url("/orders")                                        # doctest: +SKIP
'http://127.0.0.1:4599/_aws/execute-api/0c00ffa6/orders'
>>> ingestion_status(lab)["ready"]                                  # doctest: +SKIP
True

Re-running converges: same table, function and API; nothing is updated that did not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from helpers.aws.apigateway import (
    DEFAULT_STAGE,
    DEFAULT_THROTTLING_BURST_LIMIT,
    DEFAULT_THROTTLING_RATE_LIMIT,
    HttpApiInfo,
    ensure_http_api,
    find_http_apis,
)
from helpers.aws.dynamodb import TableInfo, describe_table, ensure_orders_table
from helpers.aws.iam import dynamodb_statement, ensure_lambda_role
from helpers.aws.lambda_ import FunctionInfo, deploy_function, get_function
from helpers.core.lab import Lab
from helpers.pipeline.catalog import API_COMPONENT, CREATE_ORDER, ORDERS_COMPONENT

__all__ = [
    "API_COMPONENT",
    "CREATE_ORDER_COMPONENT",
    "CREATE_ORDER_DIR",
    "CREATE_ORDER_HANDLER",
    "DEFAULT_CORS_ORIGINS",
    "DEFAULT_HIGH_VALUE_THRESHOLD",
    "HIGH_VALUE_THRESHOLD_VARIABLE",
    "ORDERS_COMPONENT",
    "ROUTES",
    "IngestionStack",
    "check_threshold",
    "create_order_environment",
    "create_order_role_statements",
    "current_threshold",
    "deploy_create_order",
    "deploy_ingestion",
    "ensure_ingestion_table",
    "ensure_orders_api",
    "ingestion_status",
    "set_api_cors_origin",
]

CREATE_ORDER_COMPONENT = CREATE_ORDER.component
CREATE_ORDER_DIR = CREATE_ORDER.directory
CREATE_ORDER_HANDLER = CREATE_ORDER.handler
ROUTES = ("POST /orders", "GET /orders/{orderId}")
# The frontend is served from here (frontend/); keep it a parameter.
DEFAULT_CORS_ORIGINS = ["http://127.0.0.1:8000"]
# create_order's default (lambdas/create_order/create_order/orders.py DEFAULT_HIGH_VALUE_THRESHOLD).
DEFAULT_HIGH_VALUE_THRESHOLD = Decimal("1000")
HIGH_VALUE_THRESHOLD_VARIABLE = "HIGH_VALUE_THRESHOLD"


@dataclass(frozen=True)
class IngestionStack:
    """Step 1: the orders table, the create_order function and the HTTP API in front of it."""

    table: TableInfo
    function: FunctionInfo
    api: HttpApiInfo

    @property
    def orders_url(self) -> str:
        """``POST`` here to create an order; ``GET {orders_url}/{orderId}`` to read one."""
        return self.api.url("/orders")


def ensure_ingestion_table(lab: Lab) -> TableInfo:
    """Step 1a: the orders table (on-demand, key ``orderId``)."""
    return ensure_orders_table(lab, lab.name(ORDERS_COMPONENT))


def create_order_role_statements(table: TableInfo) -> list[dict[str, Any]]:
    """What create_order may do: PutItem and GetItem on the orders table, nothing else."""
    return [dynamodb_statement(table.arn, ["dynamodb:PutItem", "dynamodb:GetItem"])]


def deploy_create_order(
    lab: Lab,
    table: TableInfo,
    *,
    function_dir: Path = CREATE_ORDER_DIR,
    high_value_threshold: Decimal | int | str | None = None,
) -> FunctionInfo:
    """Step 1b: the create_order function with its least-privilege role.

    ``high_value_threshold`` (step 4): orders whose total is at least this get ``valueTier`` HIGH.
    None keeps what the function has (so re-running step 1 does not undo step 4's choice), else 1000.
    """
    role_arn = ensure_lambda_role(lab, CREATE_ORDER_COMPONENT, create_order_role_statements(table))
    if high_value_threshold is None:
        threshold = current_threshold(lab) or DEFAULT_HIGH_VALUE_THRESHOLD
    else:
        threshold = check_threshold(high_value_threshold)
    environment = create_order_environment(table.name, threshold)
    return deploy_function(
        lab,
        function_dir,
        component=CREATE_ORDER_COMPONENT,
        handler=CREATE_ORDER_HANDLER,
        role_arn=role_arn,
        environment=environment,
    )


def create_order_environment(table_name: str, threshold: Decimal) -> dict[str, str]:
    """create_order's environment: its table and the high-value threshold (:data:`HIGH_VALUE_THRESHOLD_VARIABLE`)."""
    return {
        "ORDERS_TABLE": table_name,
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        HIGH_VALUE_THRESHOLD_VARIABLE: str(threshold),
    }


def current_threshold(lab: Lab) -> Decimal | None:
    """The high-value threshold create_order uses now (None before step 1)."""
    function = get_function(lab, lab.name(CREATE_ORDER_COMPONENT))
    variables = ((function or {}).get("Configuration", {}).get("Environment") or {}).get("Variables", {})
    raw = variables.get(HIGH_VALUE_THRESHOLD_VARIABLE)
    return Decimal(raw) if raw else None


def check_threshold(value: Decimal | int | str) -> Decimal:
    """A high-value threshold as an exact amount > 0 (refused with a readable message otherwise).

    >>> check_threshold(1000), check_threshold("250.5")
    (Decimal('1000'), Decimal('250.5'))
    """
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        amount = Decimal(0)
    if isinstance(value, bool) or not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"The high-value threshold must be a positive amount with at most 2 decimals, got {value!r}")
    return amount


def ensure_orders_api(
    lab: Lab,
    function: FunctionInfo,
    *,
    cors_allow_origins: list[str] | None = None,
    throttling_burst_limit: int = DEFAULT_THROTTLING_BURST_LIMIT,
    throttling_rate_limit: float = DEFAULT_THROTTLING_RATE_LIMIT,
) -> HttpApiInfo:
    """Step 1c: the HTTP API (``POST /orders``, ``GET /orders/{orderId}``) in front of create_order.

    Its ``$default`` stage is throttled (rate in requests/s, burst): see ``ensure_http_api``.
    """
    return ensure_http_api(
        lab,
        component=API_COMPONENT,
        routes={route: function.arn for route in ROUTES},
        cors_allow_origins=list(cors_allow_origins if cors_allow_origins is not None else DEFAULT_CORS_ORIGINS),
        throttling_burst_limit=throttling_burst_limit,
        throttling_rate_limit=throttling_rate_limit,
    )


def deploy_ingestion(
    lab: Lab,
    *,
    cors_allow_origins: list[str] | None = None,
    function_dir: Path = CREATE_ORDER_DIR,
    throttling_burst_limit: int = DEFAULT_THROTTLING_BURST_LIMIT,
    throttling_rate_limit: float = DEFAULT_THROTTLING_RATE_LIMIT,
) -> IngestionStack:
    """Deploy (or converge) step 1: table -> role -> function -> HTTP API.

    ``cors_allow_origins`` defaults to the local frontend, ``http://127.0.0.1:8000``.
    ``function_dir`` is the create_order folder (tests may pass a stand-in).
    ``throttling_*``: the API stage's throttle (requests/s and burst), see ``ensure_http_api``.
    """
    table = ensure_ingestion_table(lab)
    function = deploy_create_order(lab, table, function_dir=function_dir)
    api = ensure_orders_api(
        lab,
        function,
        cors_allow_origins=cors_allow_origins,
        throttling_burst_limit=throttling_burst_limit,
        throttling_rate_limit=throttling_rate_limit,
    )
    return IngestionStack(table, function, api)


def ingestion_status(lab: Lab) -> dict[str, Any]:
    """Which parts of step 1 exist (read-only): for a notebook to check its prerequisites.

    >>> ingestion_status(lab)                                          # doctest: +SKIP
    {'table': {'exists': True, 'name': 'alice-orders', 'status': 'ACTIVE'}, 'function': {...},
     'api': {'exists': True, ..., 'routes': ['GET /orders/{orderId}', 'POST /orders'], 'orders_url': '...'},
     'ready': True, 'missing': []}
    """
    table_name = lab.name(ORDERS_COMPONENT)
    table = describe_table(lab, table_name)
    function_name = lab.name(CREATE_ORDER_COMPONENT)
    function = get_function(lab, function_name)
    apis = find_http_apis(lab, API_COMPONENT)

    status: dict[str, Any] = {
        "table": {"exists": table is not None, "name": table_name, "status": table["TableStatus"] if table else None},
        "function": {
            "exists": function is not None,
            "name": function_name,
            "state": function["Configuration"].get("State") if function else None,
            "last_update_status": function["Configuration"].get("LastUpdateStatus") if function else None,
        },
        "api": {
            "exists": bool(apis),
            "name": lab.name(API_COMPONENT),
            "api_id": None,
            "routes": [],
            "orders_url": None,
            "has_default_stage": False,
        },
    }
    if apis:
        apigw = lab.client("apigatewayv2")
        api = apis[0]
        routes = sorted(
            r["RouteKey"]
            for r in apigw.get_paginator("get_routes").paginate(ApiId=api["ApiId"]).build_full_result().get("Items", [])
        )
        stages = {
            s["StageName"]
            for s in apigw.get_paginator("get_stages").paginate(ApiId=api["ApiId"]).build_full_result().get("Items", [])
        }
        base = api.get("ApiEndpoint", "").rstrip("/")
        status["api"].update(
            api_id=api["ApiId"], routes=routes, orders_url=f"{base}/orders", has_default_stage=DEFAULT_STAGE in stages
        )
    missing = []
    if not status["table"]["exists"] or status["table"]["status"] != "ACTIVE":
        missing.append(f"table {table_name} (ACTIVE)")
    if not status["function"]["exists"] or status["function"]["state"] != "Active":
        missing.append(f"function {function_name} (Active)")
    api_ok = status["api"]["has_default_stage"] and set(ROUTES) <= set(status["api"]["routes"])
    if not api_ok:
        missing.append(f"HTTP API {lab.name(API_COMPONENT)} with routes {', '.join(ROUTES)} and a $default stage")
    status["missing"] = missing
    status["ready"] = not missing
    return status


def set_api_cors_origin(lab: Lab, origin: str) -> HttpApiInfo:
    """Allow exactly ``origin`` in the order API's CORS settings (the API must be deployed)."""
    found = get_function(lab, lab.name(CREATE_ORDER_COMPONENT))
    if found is None:
        raise RuntimeError(
            f"The create_order function of prefix {lab.prefix!r} is not deployed: "
            "run 01_order_ingestion.ipynb (steps 1-3) first"
        )
    function = FunctionInfo.from_configuration(found["Configuration"])
    return ensure_orders_api(lab, function, cors_allow_origins=[origin])
