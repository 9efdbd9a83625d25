"""Lambda (MiniStack ``services/lambda_svc.py``): response shapes as AWS's.

>>> without_empty_vpc({"FunctionName": "f", "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": ""}})
{'FunctionName': 'f'}

* ``GetFunction`` of a function never attached to a VPC has no ``VpcConfig``; asked with
  a ``Qualifier`` (``$LATEST`` or a version; and ``$LATEST`` in a ``FunctionVersion="ALL"`` listing)
  the ARN ends in it.
* ``ListFunctions(FunctionVersion="ALL")`` lists every published version after ``$LATEST``
  (https://docs.aws.amazon.com/lambda/latest/api/API_ListFunctions.html: "Set to ALL to include
  entries for all published versions of each function"); MiniStack listed ``$LATEST`` only.

Checked by tests/conformance/test_lambda_shapes.py, from AWS's reference and moto's
``aws_verified`` tests/test_awslambda/test_lambda.py (test_get_function, test_list_functions).
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.patches import wrap


def without_empty_vpc(configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration without a ``VpcConfig`` that names no subnet, group or VPC."""
    vpc = configuration.get("VpcConfig")
    if isinstance(vpc, dict) and not any(vpc.get(k) for k in ("SubnetIds", "SecurityGroupIds", "VpcId")):
        return {k: v for k, v in configuration.items() if k != "VpcConfig"}
    return configuration


def qualified(configuration: dict[str, Any], qualifier: str = "$LATEST") -> dict[str, Any]:
    """A version asked for by its qualifier (``$LATEST`` or a number): its ARN carries it, as AWS answers."""
    arn = configuration.get("FunctionArn")
    if isinstance(arn, str) and (qualifier == "$LATEST" or qualifier.isdigit()) and not arn.endswith(f":{qualifier}"):
        return {**configuration, "FunctionArn": f"{arn}:{qualifier}"}
    return configuration


def with_versions(functions: list[dict[str, Any]], versions_of: Any) -> list[dict[str, Any]]:
    """Each ``$LATEST`` configuration followed by its published versions, oldest first."""
    listed: list[dict[str, Any]] = []
    for configuration in functions:
        listed.append(qualified(configuration))
        versions = versions_of(configuration.get("FunctionName")) or {}
        listed.extend(versions[number]["config"] for number in sorted(versions, key=int))
    return listed


def apply() -> None:
    from ministack.services import lambda_svc

    def make_get_function(original):
        def _get_function(name: str, qualifier: str | None = None):
            status, headers, body = original(name, qualifier)
            if status != 200:
                return status, headers, body
            answer = json.loads(body)
            configuration = without_empty_vpc(answer.get("Configuration") or {})
            answer["Configuration"] = qualified(configuration, qualifier) if qualifier else configuration
            return status, headers, json.dumps(answer).encode()

        return _get_function

    def make_list_functions(original):
        def _list_functions(query_params: dict):
            status, headers, body = original(query_params)
            if status != 200 or lambda_svc._qp_first(query_params, "FunctionVersion") != "ALL":
                return status, headers, body
            answer = json.loads(body)
            answer["Functions"] = with_versions(
                answer.get("Functions") or [], lambda name: (lambda_svc._functions.get(name) or {}).get("versions")
            )
            return status, headers, json.dumps(answer).encode()

        return _list_functions

    wrap(lambda_svc, "_get_function", make_get_function)
    wrap(lambda_svc, "_list_functions", make_list_functions)
