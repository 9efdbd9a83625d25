"""Conformance fixtures: probe functions and an HTTP API, deployed through helpers/.

Deployed with the lab's own helpers, so the suite runs unchanged against real AWS
(``ORDERLAB_TARGET=aws``) — which is how the local cloud's claims are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.aws.runtime import lambda_runtime

PROBES = Path(__file__).resolve().parent / "probes"
RUNTIME = lambda_runtime()  # the lab's: the Python running the suite, or ORDERLAB_LAMBDA_RUNTIME


def _module_client(name: str, service: str) -> Callable[..., Any]:
    """A module-scoped fixture ``name``: ``lab.client(service)``, e.g. ``def test_x(ddb): ddb.scan(...)``."""

    @pytest.fixture(scope="module", name=name)
    def client(lab: Any) -> Any:
        return lab.client(service)

    return client


ddb = _module_client("ddb", "dynamodb")
logs = _module_client("logs", "logs")
s3 = _module_client("s3", "s3")
sns = _module_client("sns", "sns")
sqs = _module_client("sqs", "sqs")


@pytest.fixture(scope="module")
def probe(lab: Any) -> Any:
    """The event probe (conformance._esm): a function recording every invocation, deployed once per module."""
    from conformance._esm import deploy_event_probe

    return deploy_event_probe(lab)


@dataclass(frozen=True)
class Probes:
    function: str
    forgot_dependency: str
    http_function: str
    api_id: str
    api_name: str
    api_url: str


@pytest.fixture(scope="session")
def probes(lab) -> Probes:
    from helpers.aws.apigateway import ensure_http_api
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import deploy_function

    role = ensure_lambda_role(lab, "probe", statements=[])
    probe = deploy_function(
        lab,
        PROBES / "probe",
        component="probe",
        handler="probe.handler",
        role_arn=role,
        environment={"PROBE_VARIABLE": "set-by-deploy"},
        runtime=RUNTIME,
    )
    http_probe = deploy_function(
        lab,
        PROBES / "probe",
        component="http-probe",
        handler="probe.http_handler",
        role_arn=role,
        environment={},
        runtime=RUNTIME,
    )
    forgot = deploy_function(
        lab,
        PROBES / "forgot_dependency",
        component="forgot-dependency",
        handler="handler.handler",
        role_arn=role,
        environment={},
        runtime=RUNTIME,
    )
    api = ensure_http_api(
        lab,
        component="probe-api",
        routes={"ANY /echo": http_probe.arn, "GET /boom": http_probe.arn, "GET /plain": http_probe.arn},
        cors_allow_origins=["http://127.0.0.1:8000"],
    )
    return Probes(probe.name, forgot.name, http_probe.name, api.api_id, api.name, api.endpoint_url)


@pytest.fixture(scope="session")
def redeploy_probe_api(lab, probes):
    """Re-run the API provisioning (restores the invoke permission)."""
    from helpers.aws.apigateway import ensure_http_api

    def redeploy():
        arn = lab.client("lambda").get_function(FunctionName=probes.http_function)["Configuration"]["FunctionArn"]
        return ensure_http_api(
            lab,
            component="probe-api",
            routes={"ANY /echo": arn, "GET /boom": arn, "GET /plain": arn},
            cors_allow_origins=["http://127.0.0.1:8000"],
        )

    return redeploy
