"""One package per AWS service, each hooked into MiniStack by its ``patch.apply()``.

>>> SERVICE_NAMES[:2]
('awslambda', 'apigateway')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

# The order patches are applied in (and listed in the server log). No service depends on another's
# being applied first: they meet through the event bus and Lambda's hooks, never through wrappers.
SERVICE_NAMES: tuple[str, ...] = (
    "awslambda",
    "apigateway",
    "dynamodb",
    "sqs",
    "iam",
    "sns",
    "logs",
    "pipes",
    "cloudwatch",
    "cloudformation",
    "eventbridge",
)


def _patch(name: str) -> Callable[[], None]:
    module = importlib.import_module(f"localcloud.services.{name}.patch")
    apply: Callable[[], None] = module.apply
    return apply


def patches() -> list[tuple[str, Callable[[], None]]]:
    """Each service's name and ``apply``, in :data:`SERVICE_NAMES` order."""
    return [(name, _patch(name)) for name in SERVICE_NAMES]
