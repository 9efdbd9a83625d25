"""Lambda behaviours step 1 relies on, checked against the AWS contract.

References (AWS documentation followed):
- Invoke API, response x-amzn-RequestId / X-Amz-Function-Error:
  https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
- Context object, aws_request_id: https://docs.aws.amazon.com/lambda/latest/dg/python-context.html
- Python errors (errorMessage, errorType = exception class, stackTrace):
  https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html
- Runtimes (python3.12 runs Python 3.12; the runtime includes the SDK for Python):
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
- Deployment packages must carry their dependencies:
  https://docs.aws.amazon.com/lambda/latest/dg/python-package.html
- An invocation error does not reset the execution environment (only a crash or a timeout does):
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
- Reserved environment variables: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
"""

from __future__ import annotations

import json

import pytest

from helpers.aws.runtime import python_version

pytestmark = pytest.mark.cloud


def _invoke(lab, name: str, payload: dict) -> tuple[dict, dict]:
    response = lab.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return response, json.loads(response["Payload"].read())


def test_request_id_is_the_context_request_id(lab, probes):
    response, body = _invoke(lab, probes.function, {"action": "inspect"})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert body["functionName"] == probes.function


def test_each_invoke_gets_a_new_request_id(lab, probes):
    ids = {_invoke(lab, probes.function, {})[1]["requestId"] for _ in range(3)}
    assert len(ids) == 3


def test_function_runs_on_the_python_its_runtime_names(lab, probes):
    _, body = _invoke(lab, probes.function, {})
    assert body["python"] == python_version()  # the probes are deployed on the lab's runtime


def test_runtime_provides_the_sdk_and_nothing_from_the_host(lab, probes):
    _, body = _invoke(lab, probes.function, {})
    imports = body["imports"]
    assert imports["boto3"] and imports["botocore"] and imports["json"]
    leaked = [name for name, ok in imports.items() if ok and name not in ("boto3", "botocore", "json")]
    assert leaked == [], f"a function could import packages it does not carry: {leaked}"


def test_function_sees_its_variables_and_the_reserved_ones(lab, probes):
    _, body = _invoke(lab, probes.function, {})
    env = set(body["env"])
    assert {
        "PROBE_VARIABLE",
        "AWS_REGION",
        "AWS_LAMBDA_FUNCTION_NAME",
        "LAMBDA_TASK_ROOT",
        "_HANDLER",
        "AWS_EXECUTION_ENV",
    } <= env
    assert body["region"] == lab.region
    assert not env & {"VIRTUAL_ENV", "PYTHONPATH", "ORDERLAB_PORT", "ORDERLAB_HOME", "PYTEST_CURRENT_TEST"}


def test_unhandled_exception_payload(lab, probes):
    response, body = _invoke(lab, probes.function, {"action": "raise", "message": "quantity must be > 0"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "quantity must be > 0"
    assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
    trace = "".join(body["stackTrace"])
    assert "probe.py" in trace and "in handler" in trace and "raise ValueError" in trace


def test_a_dependency_the_package_does_not_carry_fails_to_import(lab, probes):
    response, body = _invoke(lab, probes.forgot_dependency, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'handler': No module named 'pydantic'"


def test_an_invocation_error_keeps_the_execution_environment(lab, probes):
    """Sequential invokes reuse one warm environment; a raised exception must not reset it."""
    before = _invoke(lab, probes.function, {"action": "count"})[1]["invocations"]
    response, _ = _invoke(lab, probes.function, {"action": "raise"})
    assert response["FunctionError"] == "Unhandled"
    after = _invoke(lab, probes.function, {"action": "count"})[1]["invocations"]
    assert after == before + 2, "module state was lost: the environment was reset after a function error"
