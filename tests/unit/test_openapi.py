"""The order API's OpenAPI document (frontend/openapi.json): fresh, valid, and true to the handler.

No AWS: the handler runs with the in-memory store (tests/unit/conftest.py); its answers are checked
against the document's response schemas, and the request schema against the handler's validation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from helpers.learn.events import FakeLambdaContext, http_api_event
from helpers.pipeline import openapi
from helpers.pipeline.openapi import DOCUMENT_PATH, build_document, render

VALID_ORDER: dict[str, Any] = {
    "customer": {"id": "cust-123", "name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [{"sku": "BOOK-001", "quantity": 2, "unitPrice": 19.99}, {"sku": "PEN_42", "quantity": 1, "unitPrice": 5}],
    "currency": "EUR",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for ``schema``, resolving ``#/components/...`` in the document."""
    return Draft202012Validator({**schema, "components": document["components"]})


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"].startswith("#/components/responses/"):
        node = document["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    return node


def check_answer(document: dict[str, Any], path: str, method: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The handler's answer has a documented status, JSON body and headers; return the body."""
    responses = document["paths"][path][method]["responses"]
    status = str(answer["statusCode"])
    assert status in responses, f"{method.upper()} {path} answered {status}, which the document does not describe"
    described = resolve(document, responses[status])
    assert answer["headers"]["Content-Type"] == "application/json"
    body = json.loads(answer["body"])
    validator(document, described["content"]["application/json"]["schema"]).validate(body)
    for header in described.get("headers", {}):
        if header in answer["headers"]:
            validator(document, described["headers"][header]["schema"]).validate(answer["headers"][header])
    return body


def call(handler: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    return handler.lambda_handler(http_api_event(method, path, **kwargs), FakeLambdaContext())


# --------------------------------------------------------------------------- the document itself


def test_the_kept_document_is_what_the_generator_makes_now() -> None:
    fresh = render(build_document())
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == fresh, (
        f"{DOCUMENT_PATH.name} is stale (the handler's models changed): regenerate it with `{openapi.REGENERATE}`"
    )


def test_it_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    validate(document)
    assert document["openapi"] == "3.1.0"
    broken = json.loads(json.dumps(document))
    broken["paths"]["/orders"]["post"]["responses"]["201"] = {"content": {}}  # a response needs a description
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_its_operations_are_the_routes_the_api_is_deployed_with(document: dict[str, Any]) -> None:
    from helpers.pipeline.step1 import ROUTES

    described = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert described == set(ROUTES)
    assert "servers" not in document, "each deployment has its own URL: publishing adds it"


def test_the_check_command_says_how_to_regenerate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text(DOCUMENT_PATH.read_text(encoding="utf-8").replace('"maximum": 1000', '"maximum": 999'))
    monkeypatch.setattr(openapi, "DOCUMENT_PATH", stale)
    monkeypatch.setattr(openapi, "REPO_ROOT", tmp_path)
    assert openapi.main(["--check"]) == 1
    assert openapi.REGENERATE in capsys.readouterr().err
    assert openapi.main([]) == 0 and openapi.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == DOCUMENT_PATH.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the request schema vs the handler


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda o: o["items"][0].update(quantity=1001), "items[0].quantity"),
        (lambda o: o["items"][0].update(quantity=0), "items[0].quantity"),
        (lambda o: o["items"][0].update(unitPrice="5.00"), "items[0].unitPrice"),
        (lambda o: o["items"][0].update(unitPrice=100000.01), "items[0].unitPrice"),
        (lambda o: o["items"][0].update(sku="BOOK 1"), "items[0].sku"),
        (lambda o: o["customer"].update(email="not-an-email"), "customer.email"),
        (lambda o: o["customer"].update(name="x" * 101), "customer.name"),
        (lambda o: o.update(items=[]), "items"),
        (lambda o: o.update(items=o["items"] * 26), "items"),
        (lambda o: o.update(currency="eur"), "currency"),
        (lambda o: o.update(fault="sometimes"), "fault"),
        (lambda o: o.update(total=44.98), "total"),
    ],
    ids=[
        "quantity>max",
        "quantity=0",
        "price-as-string",
        "price>max",
        "sku-space",
        "email",
        "name-long",
        "no-items",
        "51-items",
        "currency-lower",
        "fault",
        "total",
    ],
)
def test_what_the_schema_refuses_the_handler_refuses_naming_the_field(
    document: dict[str, Any], handler_module: Any, store: Any, change: Any, field: str
) -> None:
    request_schema = validator(document, {"$ref": "#/components/schemas/CreateOrderRequest"})
    order = json.loads(json.dumps(VALID_ORDER))
    request_schema.validate(order)
    change(order)
    assert not request_schema.is_valid(order)
    answer = call(handler_module, "POST", "/orders", body=order)
    body = check_answer(document, "/orders", "post", answer)
    assert answer["statusCode"] == 400 and field in [error["field"] for error in body["errors"]]
    assert store.items == {}


def test_the_documented_example_is_accepted(document: dict[str, Any], handler_module: Any, store: Any) -> None:
    example = document["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["example"]
    answer = call(handler_module, "POST", "/orders", body=example)
    assert answer["statusCode"] == 201 and len(store.items) == 1


# --------------------------------------------------------------------------- every answer is documented


def test_every_answer_of_the_handler_is_described_by_the_document(
    document: dict[str, Any], handler_module: Any, store: Any
) -> None:
    key = {"Idempotency-Key": "k-doc-1"}
    created = call(handler_module, "POST", "/orders", body=VALID_ORDER, headers=key)
    body = check_answer(document, "/orders", "post", created)
    assert created["statusCode"] == 201 and created["headers"]["Location"] == f"/orders/{body['orderId']}"

    replayed = call(handler_module, "POST", "/orders", body=VALID_ORDER, headers=key)
    assert check_answer(document, "/orders", "post", replayed) == body
    assert replayed["headers"]["Idempotent-Replayed"] == "true"

    conflict = call(handler_module, "POST", "/orders", body={**VALID_ORDER, "currency": "USD"}, headers=key)
    assert conflict["statusCode"] == 422
    assert check_answer(document, "/orders", "post", conflict)["errors"][0]["field"] == "Idempotency-Key"

    for bad_body in (None, "not json", "[]", "x" * (16 * 1024 + 1)):
        refused = call(handler_module, "POST", "/orders", body=bad_body)
        assert refused["statusCode"] == 400
        assert check_answer(document, "/orders", "post", refused)["errors"][0]["field"] == "body"

    order_path = "/orders/{orderId}"
    found = call(handler_module, "GET", f"/orders/{body['orderId']}", path_parameters={"orderId": body["orderId"]})
    assert found["statusCode"] == 200
    assert check_answer(document, order_path, "get", found)["total"] == "44.98"
    unknown = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    missing = call(handler_module, "GET", f"/orders/{unknown}", path_parameters={"orderId": unknown})
    assert missing["statusCode"] == 404 and check_answer(document, order_path, "get", missing)["message"]
    invalid = call(handler_module, "GET", "/orders/42", path_parameters={"orderId": "42"})
    assert invalid["statusCode"] == 400
    assert check_answer(document, order_path, "get", invalid)["errors"][0]["field"] == "orderId"


def test_doctests() -> None:
    import doctest

    assert doctest.testmod(openapi).failed == 0
