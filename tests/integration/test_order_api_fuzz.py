"""Schemathesis against the real order API (step 1 deployed for a fresh prefix on the local cloud).

Schemathesis reads the API's OpenAPI document (``frontend/openapi.json``) and sends what it generates
from it, valid and invalid, to this session's deployment: the document's example, the boundary values
of every constraint and of every undocumented method (its coverage phase), then random requests
(fuzzing). For each request: no 5xx; the status, headers and body are those the document describes;
every 4xx is JSON, a 400/422 names the offending field, and nothing is written; a 201 writes one
order, or none for an idempotent replay (the table is counted before and after each request).

Bounded and reproducible: a fixed seed, a few fuzzed examples per operation, no example database.
Run with ``-s`` for the figures (requests per operation and status).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import schemathesis
from cloudtest import own_prefix

from helpers import Lab
from helpers.learn.demo import count_items
from helpers.pipeline.openapi import DOCUMENT_PATH
from helpers.pipeline.step1 import IngestionStack, deploy_ingestion

pytestmark = [pytest.mark.cloud, pytest.mark.slow]  # one fuzz run, which the last test reads too

SEED = 20240501
FUZZED_EXAMPLES = 25  # per operation, after the document's example and the coverage phase's boundary cases
# What every answer must satisfy (schemathesis' own checks); stateful and auth checks do not apply to
# this one-shot run, and undocumented methods are API Gateway's 404, not a 405 with Allow.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
FIELD_ERRORS = (400, 422)  # the handler's refusals: {"message", "errors": [{"field", "message"}]}

TALLY: Counter[str] = Counter()


def schemathesis_config() -> Any:
    from schemathesis.config import SchemathesisConfig

    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": FUZZED_EXAMPLES, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "request-timeout": 30,
        }
    )


@pytest.fixture(scope="module")
def fuzz_lab(lab: Lab):
    """A prefix of its own: fuzzed orders (a ``fault`` among them) must not reach the session's pipeline."""
    with own_prefix(lab, "f") as own:
        yield own


@pytest.fixture(scope="module")
def stack(fuzz_lab: Lab) -> IngestionStack:
    return deploy_ingestion(fuzz_lab)


# The kept document, loaded at collection (schemathesis parametrizes from it); each call goes to this
# session's deployment.
ORDER_API = schemathesis.openapi.from_dict(
    json.loads(DOCUMENT_PATH.read_text(encoding="utf-8")), config=schemathesis_config()
)


@ORDER_API.parametrize()
def test_every_generated_request_is_answered_as_documented_and_refusals_write_nothing(
    case: Any, fuzz_lab: Lab, stack: IngestionStack
) -> None:
    before = count_items(fuzz_lab, stack.table.name)
    response = case.call(base_url=stack.api.endpoint_url)
    written = count_items(fuzz_lab, stack.table.name) - before
    TALLY[f"{case.operation.label} -> {response.status_code}"] += 1
    TALLY["cases"] += 1

    case.validate_response(response)
    if response.status_code in FIELD_ERRORS:
        body = response.json()
        assert body["errors"] and all(isinstance(e.get("field"), str) and e["field"] for e in body["errors"]), body
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), f"{response.status_code} as {content_type!r}"
        json.loads(response.text)
        assert written == 0, f"a refused request ({response.status_code}) wrote {written} item(s)"
    elif case.operation.method.upper() == "POST":
        replayed = response.headers.get("idempotent-replayed") == ["true"]
        assert written == (0 if replayed else 1), f"a 201 (replayed={replayed}) wrote {written} item(s)"
    else:
        assert written == 0, "a GET wrote something"


def test_the_run_met_every_kind_of_answer() -> None:
    """The generated requests reached acceptance, refusal and conflict, not only one of them (run with -s
    for the figures)."""
    print(f"\nschemathesis: {dict(sorted(TALLY.items()))}")
    for kind in (
        "POST /orders -> 201",
        "POST /orders -> 400",
        "POST /orders -> 422",
        "GET /orders/{orderId} -> 400",
        "GET /orders/{orderId} -> 404",
    ):
        assert TALLY[kind] > 0, f"no {kind} among {dict(TALLY)}"
