"""EventBridge connections' secret payloads and bus names (localcloud/services/eventbridge/),
without a server; end to end in tests/conformance/test_eventbridge_wrong_calls.py.
"""

from __future__ import annotations

import doctest

import pytest

from localcloud.services.eventbridge import buses, connections


@pytest.mark.parametrize("module", [buses, connections])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


def test_an_api_key_connection_with_headers_stores_every_parameter_in_snake_case() -> None:
    payload = connections.secret_payload(
        {
            "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"},
            "InvocationHttpParameters": {"HeaderParameters": [{"Key": "k2", "Value": "v2", "IsValueSecret": False}]},
        }
    )
    assert payload == {
        "api_key_name": "x-api-key",
        "api_key_value": "k",
        "invocation_http_parameters": {"header_parameters": [{"key": "k2", "value": "v2", "is_value_secret": False}]},
    }


def test_acronyms_become_one_word() -> None:
    assert connections.snake_case("ClientID") == "client_id"
    assert connections.secret_payload({"OAuthParameters": {"HttpMethod": "POST"}}) == {"http_method": "POST"}


def test_a_bus_name_stays_a_name() -> None:
    assert buses.bus_name("orders") == "orders"
