"""Hooks the EventBridge Pipes runtime into MiniStack: its API, its poller (never started), its wake-up."""

from __future__ import annotations

import json
import threading
from typing import Any

from localcloud.patches import PatchError, wrap
from localcloud.services.pipes.lifecycle import _lock, _runtimes, _tokens, sync_runtimes, wake_all
from localcloud.services.pipes.responses import route

_REQUIRED = {
    "pipes": (
        "_pipes",
        "_positions",
        "_initial_position",
        "_dynamodb_stream_source",
        "check_same_region",
        "check_target_supported",
        "handle_request",
        "_ensure_poller",
        "_poll_once",
        "reset",
        "load_persisted_state",
    ),
    "lambda_svc": (
        "_resolve_name_and_qualifier",
        "_get_func_record_for_qualifier",
        "_execute_function",
        "invoke_async_with_retry",
    ),
    "sqs": (
        "_queue_by_arn",
        "_queues_lock",
        "_act_send_message",
        "_Err",
        "_receive_messages_for_esm",
        "_delete_messages_for_esm",
    ),
    "sns": ("publish_internal", "SnsPublishError"),
    "dynamodb": ("_tables", "stream_start_position", "stream_records_since"),
}


def apply() -> None:
    """Take over the Pipes API and runtime; e.g. ``apply()`` twice is a no-op."""
    from ministack.core import concurrency
    from ministack.services import dynamodb, lambda_svc, pipes, sns, sqs

    modules = {"pipes": pipes, "lambda_svc": lambda_svc, "sqs": sqs, "sns": sns, "dynamodb": dynamodb}
    missing = [f"{m}.{n}" for m, names in _REQUIRED.items() for n in names if not hasattr(modules[m], n)]
    if not isinstance(getattr(concurrency, "esm_wake", None), threading.Event):
        missing.append("core.concurrency.esm_wake")
    if missing:
        raise PatchError(f"cannot patch EventBridge Pipes: MiniStack lacks {', '.join(missing)}")

    def make_handle_request(original):
        async def handle_request(method, path, headers, body_bytes, query_params):
            try:
                body = json.loads(body_bytes) if body_bytes else {}
            except (ValueError, TypeError):
                body = {}
            answer = route(method, path, body if isinstance(body, dict) else {})
            if answer is not None:
                return answer
            return await original(method, path, headers, body_bytes, query_params)

        return handle_request

    def make_ensure_poller(original):
        def _ensure_poller() -> None:  # MiniStack's poll thread never starts: ours run instead
            sync_runtimes()

        return _ensure_poller

    def make_poll_once(original):
        def _poll_once() -> None:  # belt and braces: MiniStack's pass never delivers
            return None

        return _poll_once

    def make_reset(original):
        def reset(*args: Any, **kwargs: Any):
            result = original(*args, **kwargs)  # records gone: every pipe thread ends on its next pass
            wake_all()
            with _lock:
                _tokens.clear()
                for uid in [u for u, r in _runtimes.items() if not r.alive()]:
                    _runtimes.pop(uid, None)
            return result

        return reset

    def make_load_persisted_state(original):
        def load_persisted_state(data: Any) -> Any:  # restored pipes resume (MiniStack: only if one is RUNNING)
            result = original(data)
            sync_runtimes()
            return result

        return load_persisted_state

    def make_wake(original):
        def set() -> None:  # MiniStack's event-source wake also wakes the pipes
            original()
            wake_all()

        return set

    wrap(pipes, "handle_request", make_handle_request)
    wrap(pipes, "_ensure_poller", make_ensure_poller)
    wrap(pipes, "_poll_once", make_poll_once)
    wrap(pipes, "reset", make_reset)
    wrap(pipes, "load_persisted_state", make_load_persisted_state)
    wrap(concurrency.esm_wake, "set", make_wake)
