"""Where other services add to Lambda's behaviour, each MiniStack function wrapped once, here.

* CreateEventSourceMapping / UpdateEventSourceMapping: checks that refuse a request (filter
  criteria, stream settings, and the execution role when IAM is enforced), run in order.
* A function's logs: gates that drop them (IAM: a role that may not write them) and writers that
  write them themselves (CloudWatch Logs: the execution environment's own stream).

>>> mapping_hooks = MappingChecks()
>>> mapping_hooks.add_create_check(lambda data: "no" if data.get("bad") else None)
>>> mapping_hooks.create_refusal({"bad": True}), mapping_hooks.create_refusal({})
('no', None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MappingCheck = Callable[[dict[str, Any]], "str | None"]
"""A request's refusal message (InvalidParameterValueException), or None to let it through."""
LogGate = Callable[[dict[str, Any]], bool]
"""Whether the function (MiniStack's record) may have its logs written."""
LogWriter = Callable[..., bool]
"""Writes an invocation's logs itself (``_emit_lambda_logs``' arguments); False leaves them to MiniStack."""


class MappingChecks:
    def __init__(self) -> None:
        self._create: list[MappingCheck] = []
        self._update: list[MappingCheck] = []

    def add_create_check(self, check: MappingCheck, *, first: bool = False) -> None:
        """Refuse a CreateEventSourceMapping when ``check`` says so; ``first``: before the others."""
        _add(self._create, check, first)

    def add_update_check(self, check: MappingCheck, *, first: bool = False) -> None:
        _add(self._update, check, first)

    def create_refusal(self, data: dict[str, Any]) -> str | None:
        return _first_refusal(self._create, data)

    def update_refusal(self, data: dict[str, Any]) -> str | None:
        return _first_refusal(self._update, data)


class LogHooks:
    def __init__(self) -> None:
        self.gates: list[LogGate] = []
        self.writers: list[LogWriter] = []

    def add_gate(self, gate: LogGate) -> None:
        _add(self.gates, gate, False)

    def add_writer(self, writer: LogWriter) -> None:
        _add(self.writers, writer, False)


def _add(hooks: list[Any], hook: Any, first: bool) -> None:
    if hook not in hooks:  # applying a patch twice adds nothing
        hooks.insert(0, hook) if first else hooks.append(hook)


def _first_refusal(checks: list[MappingCheck], data: dict[str, Any]) -> str | None:
    for check in checks:
        refusal = check(data)
        if refusal:
            return refusal
    return None


mapping_checks = MappingChecks()
log_hooks = LogHooks()


def make_create_esm(original: Callable[..., Any]) -> Callable[..., Any]:
    from ministack.services import lambda_svc

    from localcloud.services.awslambda.event_sources import with_stream_defaults

    def _create_esm(data: dict) -> Any:
        refusal = mapping_checks.create_refusal(data)
        if refusal:
            return lambda_svc.error_response_json("InvalidParameterValueException", refusal, 400)
        return original(with_stream_defaults(data))

    return _create_esm


def make_update_esm(original: Callable[..., Any]) -> Callable[..., Any]:
    from ministack.services import lambda_svc

    def _update_esm(esm_id: str, data: dict) -> Any:
        refusal = mapping_checks.update_refusal(data)
        if refusal:
            return lambda_svc.error_response_json("InvalidParameterValueException", refusal, 400)
        return original(esm_id, data)

    return _update_esm


def make_emit_lambda_logs(original: Callable[..., Any]) -> Callable[..., Any]:
    def _emit_lambda_logs(
        func: dict, request_id: str, log_text: str, error: bool, duration_ms: int, *args: Any, **kwargs: Any
    ) -> Any:
        if not all(gate(func) for gate in log_hooks.gates):
            return None  # AWS: the invocation runs, its logs are lost
        for writer in log_hooks.writers:
            if writer(func, request_id, log_text, error, duration_ms, *args, **kwargs):
                return None
        return original(func, request_id, log_text, error, duration_ms, *args, **kwargs)

    return _emit_lambda_logs
