"""Which Python runtimes CreateFunction and UpdateFunctionConfiguration accept, checked against the AWS contract.

References (AWS documentation and AWS's own error texts):
- Supported runtimes (python3.9 ... python3.14) and deprecated ones, with the date each is blocked
  for function create/update (python3.8: create blocked from 2025-02-28):
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
- ``AWS_EXECUTION_ENV`` is the runtime identifier prefixed by ``AWS_Lambda_``:
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
- CreateFunction's ``Runtime`` is an enum (botocore's service model of the Lambda API lists it);
  a refused value is ``InvalidParameterValueException``:
  https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
- The refusal messages, as AWS answered real accounts: for a deprecated runtime "The runtime
  parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. We
  recommend you use a supported runtime while creating or updating functions." (quoted in
  github.com/vittorio-nardone/disposable_app/issues/3, 2025); for a value outside the enum
  "Value <runtime> at 'runtime' failed to satisfy constraint: Member must satisfy enum value set:
  [...] or be a valid ARN" with code InvalidParameterValueException (quoted in
  github.com/aws/aws-cli/issues/3789).
"""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

HANDLER = """
import os
import sys

def handler(event, context):
    return {"python": "%d.%d" % sys.version_info[:2], "executionEnv": os.environ.get("AWS_EXECUTION_ENV")}
"""
DEPRECATED = (
    "The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
    "functions. We recommend you use a supported runtime while creating or updating functions."
)


@pytest.fixture(scope="module")
def role(lab) -> str:
    from helpers.aws.iam import ensure_lambda_role

    return ensure_lambda_role(lab, "runtimes", statements=[])


@pytest.fixture(scope="module")
def py314(lab, role, tmp_path_factory) -> str:
    """A function on python3.14, the newest runtime the lab supports (this machine may lack its interpreter)."""
    from helpers.aws.lambda_ import deploy_function

    source: Path = tmp_path_factory.mktemp("py314")
    (source / "which.py").write_text(textwrap.dedent(HANDLER))
    return deploy_function(
        lab, source, component="py314", handler="which.handler", role_arn=role, environment={}, runtime="python3.14"
    ).name


def _create(lab, role: str, name: str, runtime: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("which.py", textwrap.dedent(HANDLER))
    lab.client("lambda").create_function(
        FunctionName=lab.name(name),
        Runtime=runtime,
        Role=role,
        Handler="which.handler",
        Code={"ZipFile": buf.getvalue()},
        Tags=lab.tags,
    )


def _refusal(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_python_3_14_is_accepted_and_invoked(lab, py314):
    lam = lab.client("lambda")
    assert lam.get_function_configuration(FunctionName=py314)["Runtime"] == "python3.14"
    response = lam.invoke(FunctionName=py314, Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200 and "FunctionError" not in response, body
    assert body["executionEnv"] == "AWS_Lambda_python3.14"


@pytest.mark.parametrize("runtime", ["python2.7", "python3.8"])
def test_a_deprecated_runtime_is_refused(lab, role, runtime):
    code, message = _refusal(lambda: _create(lab, role, "deprecated-runtime", runtime))
    assert code == "InvalidParameterValueException"
    assert message == DEPRECATED.format(runtime=runtime)


def test_a_runtime_lambda_does_not_have_is_refused(lab, role):
    code, message = _refusal(lambda: _create(lab, role, "unknown-runtime", "python3.99"))
    assert code == "InvalidParameterValueException"
    prefix = "Value python3.99 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ["
    assert message.startswith(prefix) and message.endswith("] or be a valid ARN"), message
    listed = message[len(prefix) : -len("] or be a valid ARN")].split(", ")
    assert {"python3.12", "python3.13", "python3.14"} <= set(listed) and "python3.99" not in listed


def test_update_to_a_refused_runtime_changes_nothing(lab, py314):
    lam = lab.client("lambda")
    code, message = _refusal(lambda: lam.update_function_configuration(FunctionName=py314, Runtime="python2.7"))
    assert code == "InvalidParameterValueException"
    assert message == DEPRECATED.format(runtime="python2.7")
    assert lam.get_function_configuration(FunctionName=py314)["Runtime"] == "python3.14"
