"""AWS, one module per service: idempotent provisioning (call again and it converges), packaging, IAM tools.

>>> from helpers.aws import ensure_orders_table, ensure_lambda_role, dynamodb_statement
>>> from helpers.aws import deploy_function, ensure_http_api
>>> table = ensure_orders_table(lab)                                                    # doctest: +SKIP
>>> role = ensure_lambda_role(lab, "create-order",                                      # doctest: +SKIP
...                           [dynamodb_statement(table.arn, ["dynamodb:PutItem"])])

Every resource is named ``lab.name(component)`` and carries ``lab.tags``.
"""

from helpers.aws.apigateway import HttpApiInfo, ensure_http_api, find_http_apis
from helpers.aws.dynamodb import TableInfo, TableSchemaMismatch, describe_table, ensure_orders_table
from helpers.aws.iam import RoleConflict, dynamodb_statement, ensure_lambda_role, role_name
from helpers.aws.lambda_ import FunctionInfo, deploy_function, ensure_log_group, get_function

__all__ = [
    "FunctionInfo",
    "HttpApiInfo",
    "RoleConflict",
    "TableInfo",
    "TableSchemaMismatch",
    "deploy_function",
    "describe_table",
    "dynamodb_statement",
    "ensure_http_api",
    "ensure_lambda_role",
    "ensure_log_group",
    "ensure_orders_table",
    "find_http_apis",
    "get_function",
    "role_name",
]
