"""boto3 sessions and clients for a target: the only place that knows about endpoints.

>>> from helpers.core.target import resolve_target
>>> ddb = client("dynamodb", resolve_target("local"))   # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from helpers.core.calls import attach as attach_call_recorder
from helpers.core.target import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, Target

_lock = threading.Lock()
_sessions: dict[Target, boto3.Session] = {}
_clients: dict[tuple[Target, str], Any] = {}


def botocore_config(target: Target) -> Config:
    """Retries and timeouts per target; ``aws`` uses adaptive retries against throttling."""
    if target.is_aws:
        # ignore_configured_endpoint_urls: a stray AWS_ENDPOINT_URL must not redirect a real-AWS run.
        return Config(
            retries={"mode": "adaptive", "max_attempts": 10},
            ignore_configured_endpoint_urls=True,
            user_agent_extra="orderlab",
        )
    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=70,
        user_agent_extra="orderlab",
    )


def session(target: Target) -> boto3.Session:
    """A boto3 session for ``target`` (cached). Local targets get dummy credentials."""
    with _lock:
        if target not in _sessions:
            if target.is_aws:
                _sessions[target] = boto3.Session(profile_name=target.profile, region_name=target.region)
            else:
                _sessions[target] = boto3.Session(
                    aws_access_key_id=LOCAL_ACCESS_KEY,
                    aws_secret_access_key=LOCAL_SECRET_KEY,
                    region_name=target.region,
                )
            attach_call_recorder(_sessions[target])  # before any client exists: clients copy the handlers
        return _sessions[target]


def client(service: str, target: Target) -> Any:
    """A boto3 client for ``service`` on ``target`` (cached; boto3 clients are thread-safe)."""
    key = (target, service)
    with _lock:
        cached = _clients.get(key)
    if cached is not None:
        return cached
    made = session(target).client(service, endpoint_url=target.endpoint_url, config=botocore_config(target))
    with _lock:
        return _clients.setdefault(key, made)
