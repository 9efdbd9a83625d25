"""Lambda responses shaped as AWS's: qualified ARNs, published versions listed, no empty VpcConfig.

- ListFunctions with ``FunctionVersion="ALL"`` includes "entries for all published versions of
  each function" (https://docs.aws.amazon.com/lambda/latest/api/API_ListFunctions.html), the
  ``$LATEST`` entry's ARN qualified with ``:$LATEST``;
- GetFunction with a ``Qualifier`` answers that version's qualified ARN
  (https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html);
- a function never attached to a VPC has no ``VpcConfig``.
As recorded against real AWS by moto's ``aws_verified`` tests/test_awslambda/test_lambda.py
(test_list_functions, test_get_function).
"""

from __future__ import annotations

import pytest

from conformance.conftest import PROBES

pytestmark = pytest.mark.cloud


@pytest.fixture(scope="module")
def versioned(lab):
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    role = ensure_lambda_role(lab, "shape-probe", statements=[])
    function = deploy_function(
        lab, PROBES / "probe", component="shape-probe", handler="probe.handler", role_arn=role, environment={}
    )
    version = lab.client("lambda").publish_version(FunctionName=function.name, Description="v1")["Version"]
    return function, version


def test_list_functions_all_lists_each_published_version(lab, versioned):
    function, version = versioned
    pages = lab.client("lambda").get_paginator("list_functions").paginate(FunctionVersion="ALL")
    mine = {f["Version"]: f for page in pages for f in page["Functions"] if f["FunctionName"] == function.name}
    assert set(mine) == {"$LATEST", version}
    assert mine["$LATEST"]["FunctionArn"] == f"{function.arn}:$LATEST"
    assert mine[version]["FunctionArn"] == f"{function.arn}:{version}" and mine[version]["Description"] == "v1"

    default = [
        f
        for page in lab.client("lambda").get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"] == function.name
    ]
    assert [f["Version"] for f in default] == ["$LATEST"]


def test_get_function_answers_the_qualified_arn_and_no_empty_vpc_config(lab, versioned):
    function, version = versioned
    lam = lab.client("lambda")
    assert lam.get_function(FunctionName=function.name)["Configuration"]["FunctionArn"] == function.arn
    for qualifier in ("$LATEST", version):
        configuration = lam.get_function(FunctionName=function.name, Qualifier=qualifier)["Configuration"]
        assert configuration["FunctionArn"] == f"{function.arn}:{qualifier}"
        assert configuration["Version"] == qualifier
        assert "VpcConfig" not in configuration
