"""HTTP API (API Gateway v2) behaviours step 1 relies on, checked against the AWS contract.

References (AWS documentation followed):
- Lambda proxy integrations for HTTP APIs, payload format 2.0 (event shape, lower-cased
  headers, isBase64Encoded, response inference when no statusCode is returned):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
- A failing integration gives the client 500 {"message":"Internal Server Error"}:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html
- API Gateway may invoke a function only with the function's resource-based permission
  (lambda:InvokeFunction for apigateway.amazonaws.com, SourceArn of the API):
  https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway.html
- ApiEndpoint is the $default stage's invoke URL:
  https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis-apiid.html
- CORS for HTTP APIs (preflight answered by API Gateway for configured origins only):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud


def test_payload_v2_event_shape(probes):
    resp = requests.post(f"{probes.api_url}/echo?a=1&b=2", json={"x": 1}, headers={"X-Custom-Header": "v"}, timeout=30)
    assert resp.status_code == 200
    event = resp.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /echo"
    assert event["rawPath"].endswith("/echo")
    assert event["rawQueryString"] == "a=1&b=2"
    assert event["queryStringParameters"] == {"a": "1", "b": "2"}
    assert event["headers"]["x-custom-header"] == "v"  # header names arrive lower-cased
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"x": 1}


def test_body_without_a_text_content_type_arrives_base64(probes):
    raw = b'{"customer": "c-1"}'
    resp = requests.post(
        f"{probes.api_url}/echo", data=raw, headers={"Content-Type": "application/octet-stream"}, timeout=30
    )
    event = resp.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_function_error_is_500_internal_server_error(probes):
    resp = requests.get(f"{probes.api_url}/boom", timeout=30)
    assert resp.status_code == 500
    assert resp.json() == {"message": "Internal Server Error"}
    assert "must not reach the client" not in resp.text


def test_response_without_status_code_is_inferred_as_200_json(probes):
    resp = requests.get(f"{probes.api_url}/plain", timeout=30)
    assert resp.status_code == 200
    assert resp.json() == {"hello": "world"}
    assert resp.headers["content-type"].startswith("application/json")


def test_unknown_route_is_404(probes):
    resp = requests.get(f"{probes.api_url}/no-such-route", timeout=30)
    assert resp.status_code == 404
    assert resp.json() == {"message": "Not Found"}


def test_cors_preflight_allows_the_configured_origin_only(probes):
    allowed = requests.options(
        f"{probes.api_url}/echo",
        headers={
            "Origin": "http://127.0.0.1:8000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert allowed.status_code in (200, 204)
    assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:8000"
    other = requests.options(
        f"{probes.api_url}/echo",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert other.headers.get("access-control-allow-origin") in (None, "")


def test_api_endpoint_is_the_invoke_url(lab, probes):
    api = lab.client("apigatewayv2").get_api(ApiId=probes.api_id)
    assert api["ApiEndpoint"].rstrip("/") == probes.api_url
    assert requests.get(f"{api['ApiEndpoint']}/plain", timeout=30).json() == {"hello": "world"}


def _wait_for_status(url: str, wanted: int, seconds: float) -> None:
    """Poll (bounded) until ``url`` answers ``wanted``: policy changes take seconds to apply on AWS."""
    wait_until(
        lambda: requests.get(url, timeout=30).status_code == wanted,
        timeout=seconds,
        interval=2,
        what=f"GET {url} to answer {wanted}",
    )


def test_invoking_needs_the_functions_permission(lab, probes, redeploy_probe_api):
    lam = lab.client("lambda")
    lam.remove_permission(FunctionName=probes.http_function, StatementId=f"{probes.api_name}-invoke")
    try:
        _wait_for_status(f"{probes.api_url}/plain", 500, 90)
        resp = requests.get(f"{probes.api_url}/plain", timeout=30)
        assert resp.json() == {"message": "Internal Server Error"}
    finally:
        redeploy_probe_api()
    _wait_for_status(f"{probes.api_url}/plain", 200, 90)


# --- $default stage throttling -------------------------------------------------------------------


def _mutating_calls(client):
    """A context manager recording the names of the non-read API calls ``client`` makes meanwhile."""
    from contextlib import contextmanager

    @contextmanager
    def recording():
        seen: list[str] = []

        def record(model, **_):
            if not model.name.startswith(("Get", "List")):
                seen.append(model.name)

        client.meta.events.register("before-call", record)
        try:
            yield seen
        finally:
            client.meta.events.unregister("before-call", record)

    return recording()


def test_default_stage_throttle_is_stored_returned_and_converges(lab, probes):
    """DefaultRouteSettings' ThrottlingBurstLimit/ThrottlingRateLimit are kept on the $default stage,
    answered by GetStage, changed by UpdateStage, and re-running the provisioning changes nothing
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html,
    https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis-apiid-stages-stagename.html)."""
    from helpers.aws.apigateway import ensure_http_api

    apigw = lab.client("apigatewayv2")
    lam = lab.client("lambda")
    arn = lam.get_function(FunctionName=probes.http_function)["Configuration"]["FunctionArn"]

    def provision(**throttle):
        return ensure_http_api(
            lab,
            component="throttle-api",
            routes={"GET /plain": arn},
            cors_allow_origins=["http://127.0.0.1:8000"],
            **throttle,
        )

    api = provision()
    try:
        settings = apigw.get_stage(ApiId=api.api_id, StageName="$default")["DefaultRouteSettings"]
        assert (settings["ThrottlingBurstLimit"], settings["ThrottlingRateLimit"]) == (200, 100.0)
        assert api.throttling == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100.0}
        with _mutating_calls(apigw) as calls:
            again = provision()
        assert calls == [] and not again.stage_updated and again.api_id == api.api_id

        changed = provision(throttling_burst_limit=100, throttling_rate_limit=40.5)
        assert changed.stage_updated
        stage = apigw.get_stage(ApiId=api.api_id, StageName="$default")
        assert stage["AutoDeploy"] is True
        assert (
            stage["DefaultRouteSettings"]["ThrottlingBurstLimit"],
            stage["DefaultRouteSettings"]["ThrottlingRateLimit"],
        ) == (100, 40.5)
        with _mutating_calls(apigw) as calls:
            again = provision(throttling_burst_limit=100, throttling_rate_limit=40.5)
        assert calls == [] and not again.stage_updated
        assert requests.get(f"{api.endpoint_url}/plain", timeout=30).status_code == 200  # well under the limit
    finally:
        apigw.delete_api(ApiId=api.api_id)
        lam.remove_permission(FunctionName=probes.http_function, StatementId=f"{api.name}-invoke")
