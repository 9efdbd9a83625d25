"""Which cloud the lab talks to: the local cloud (default), real AWS, or any endpoint.

One code path for all targets: the target only decides the boto3 session and endpoint.
Real AWS is used only when it is chosen explicitly (``target="aws"`` or
``ORDERLAB_TARGET=aws``); nothing falls back to it.

>>> resolve_target("local").endpoint_url
'http://127.0.0.1:4599'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

TargetKind = Literal["local", "aws", "endpoint"]
KINDS: tuple[str, ...] = ("local", "aws", "endpoint")

DEFAULT_REGION = "us-east-1"
DEFAULT_LOCAL_PORT = 4599
# The local cloud accepts any credentials; fixed dummy ones make sure a local run can never
# pick up (and so never use) the learner's real AWS credentials.
LOCAL_ACCESS_KEY = "test"
LOCAL_SECRET_KEY = "test"


class TargetError(ValueError):
    """The target chosen cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Target:
    """A resolved target: where boto3 sends requests and with which credentials.

    ``endpoint_url`` is None only for ``aws``. ``profile`` is only used for ``aws``.
    """

    kind: TargetKind
    region: str
    endpoint_url: str | None = None
    profile: str | None = None

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    @property
    def is_aws(self) -> bool:
        return self.kind == "aws"

    @property
    def port(self) -> int | None:
        """The endpoint's port (the local cloud's, for ``local``); None for ``aws``.

        >>> Target("local", "us-east-1", "http://127.0.0.1:4599").port
        4599
        """
        if not self.endpoint_url:
            return None
        from urllib.parse import urlsplit

        parsed = urlsplit(self.endpoint_url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)

    def describe(self) -> str:
        """One line for a notebook: ``local cloud at http://127.0.0.1:4599 (us-east-1)``."""
        if self.kind == "aws":
            return f"real AWS, profile {self.profile or '(default chain)'}, region {self.region}"
        where = "local cloud" if self.kind == "local" else "custom endpoint"
        return f"{where} at {self.endpoint_url} ({self.region})"


def local_port() -> int:
    """The local cloud's port: ``ORDERLAB_PORT`` or 4599."""
    raw = os.environ.get("ORDERLAB_PORT", str(DEFAULT_LOCAL_PORT))
    try:
        port = int(raw)
    except ValueError:
        raise TargetError(f"ORDERLAB_PORT must be a port number, got {raw!r}") from None
    if not 1 <= port <= 65535:
        raise TargetError(f"ORDERLAB_PORT must be between 1 and 65535, got {port}")
    return port


def resolve_target(
    target: str | None = None,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> Target:
    """Resolve the target from arguments, then ``ORDERLAB_TARGET``, then the local default.

    >>> resolve_target("endpoint", endpoint_url="http://127.0.0.1:4566").kind
    'endpoint'
    >>> resolve_target("azure")
    Traceback (most recent call last):
    ...
    helpers.core.target.TargetError: Unknown target 'azure': choose one of local, aws, endpoint
    """
    kind = (target or os.environ.get("ORDERLAB_TARGET") or "local").strip().lower()
    if kind not in KINDS:
        raise TargetError(f"Unknown target {kind!r}: choose one of {', '.join(KINDS)}")
    region = (
        region
        or os.environ.get("ORDERLAB_REGION")
        or (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") if kind == "aws" else None)
        or DEFAULT_REGION
    )
    if kind == "local":
        return Target("local", region, f"http://127.0.0.1:{local_port()}")
    if kind == "endpoint":
        url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        if not url:
            raise TargetError(
                "Target 'endpoint' needs an endpoint URL: pass endpoint_url=... "
                "or set AWS_ENDPOINT_URL (e.g. http://127.0.0.1:4566 for a LocalStack you run)"
            )
        if not url.startswith(("http://", "https://")):
            raise TargetError(f"Endpoint URL must start with http:// or https://, got {url!r}")
        return Target("endpoint", region, url.rstrip("/"))
    return Target("aws", region, None, profile or os.environ.get("AWS_PROFILE") or None)
