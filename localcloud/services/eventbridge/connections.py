"""EventBridge connections keep their credentials in a Secrets Manager secret, as on AWS.

>>> secret_payload({"BasicAuthParameters": {"Username": "un", "Password": "pw"}})
{'username': 'un', 'password': 'pw'}
>>> secret_name("orders-api", "0f6a")
'events!connection/orders-api/0f6a'
"""

from __future__ import annotations

import re
from typing import Any

OWNING_SERVICE = "events"
OWNER_TAG = {"Key": "aws:secretsmanager:owningService", "Value": OWNING_SERVICE}
_CREDENTIALS = ("ApiKeyAuthParameters", "BasicAuthParameters", "OAuthParameters")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``IsValueSecret`` -> ``is_value_secret``, ``ClientID`` -> ``client_id``."""
    return _WORD_BOUNDARY.sub("_", name).lower()


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {snake_case(key): _snake(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_snake(member) for member in value]
    return value


def secret_payload(auth_parameters: dict[str, Any]) -> dict[str, Any]:
    """The secret's JSON: the credentials' fields at the top, other parameters beside them,
    every name in snake case (what AWS stores)."""
    payload: dict[str, Any] = {}
    for key, value in (auth_parameters or {}).items():
        if key in _CREDENTIALS and isinstance(value, dict):
            payload.update(_snake(value))
        else:
            payload[snake_case(key)] = _snake(value)
    return payload


def secret_name(connection: str, unique: str) -> str:
    """AWS names a connection's secret ``events!connection/<name>/<unique id>``."""
    return f"events!connection/{connection}/{unique}"
