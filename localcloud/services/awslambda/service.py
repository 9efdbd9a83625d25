"""Lambda API (MiniStack ``services/lambda_svc.py``).

What it changes and why: docs/local-cloud-services.md, `localcloud/services/awslambda/service.py`.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import re
import uuid
from typing import Any

from localcloud import runtimes
from localcloud.patches import PatchError, patch_source, wrap
from localcloud.services.awslambda import runtime as runtime_patch

# How long a function stays Pending (its update InProgress) after a change before it is Active
# (Successful). AWS takes seconds and MiniStack simulates 0.5 s; nothing happens in that time
# locally (an environment starts at the next invocation), and every deploy waits it out.
STATE_TRANSITION_SECONDS = 0.1

_FUNCTIONS = re.compile(r"^/2015-03-31/functions/?$")
_CONFIGURATION = re.compile(r"^/2015-03-31/functions/[^/]+/configuration/?$")

# The request id an Invoke request promised its caller; taken by the first execution.
_pinned_request_id: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "orderlab_pinned_request_id", default=None
)
# The id MiniStack's front door stamps on the HTTP response (x-amzn-RequestId).
_http_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("orderlab_http_request_id", default=None)


def _runtime_refusal(method: str, path: str, body: bytes) -> str | None:
    """The InvalidParameterValueException message for the Runtime of a CreateFunction or
    UpdateFunctionConfiguration request, or None when it is accepted."""
    if not ((method == "POST" and _FUNCTIONS.match(path)) or (method == "PUT" and _CONFIGURATION.match(path))):
        return None
    try:
        runtime = json.loads(body or b"{}").get("Runtime")
    except (ValueError, AttributeError):
        return None
    refusal = runtimes.aws_refusal(runtime)
    if refusal:
        return refusal
    if (
        isinstance(runtime, str)
        and runtimes.python_version_of(runtime)
        and runtimes.strict()
        and runtimes.interpreter_for(runtime) is None
    ):
        return runtimes.unavailable_message(runtime)
    return None


def install_cached_threads() -> None:
    """Take MiniStack's per-invocation threads from :data:`localcloud.patches.threads`.

    ``run_reentrant`` (an API Gateway integration, Invoke) and ``Worker.invoke`` (the thread that
    waits for the worker's answer, so that the function's timeout can be enforced) each started
    a new thread per invocation; their text is patched, every other line stays MiniStack's.
    """
    from ministack.core import concurrency
    from ministack.core import lambda_runtime as lr

    patch_source(
        concurrency.run_reentrant,
        [("threading.Thread(target=_run, daemon=True, name=thread_name).start()", "_orderlab_threads.submit(_run)")],
        what="ministack run_reentrant (thread per call)",
    )
    invoke = inspect.unwrap(lr.Worker.invoke)  # under the wrappers of services/awslambda/runtime.py
    patch_source(
        invoke,
        [
            ("reader = threading.Thread(target=_read_response, daemon=True)", "answered = threading.Event()"),
            ("reader.start()", "_orderlab_threads.submit(lambda: (_read_response(), answered.set()))"),
            ("reader.join(timeout=timeout)", "answered.wait(timeout=timeout)"),
            ("if reader.is_alive():", "if not answered.is_set():"),
        ],
        what="ministack Worker.invoke (a reader thread per invocation)",
    )


def discard_only_the_failed_environment() -> None:
    """Make a failed init of one environment discard that environment only (see the module doc)."""
    from ministack.services import lambda_svc

    lambda_svc._orderlab_discard_environment = runtime_patch.discard_environment
    patch_source(
        inspect.unwrap(lambda_svc._execute_function_warm),
        [
            (
                "        invalidate_worker(func_name, qualifier=qualifier, "
                "account=get_account_id(), region=get_region())\n"
                "        worker = None  # invalidate_worker already dropped it from the pool\n",
                "        _orderlab_discard_environment(worker)\n        worker = None  # dropped from the pool\n",
            )
        ],
        what="ministack _execute_function_warm (a failed init kills every environment)",
    )


def apply() -> None:
    install_cached_threads()
    discard_only_the_failed_environment()
    import ministack.app as ministack_app
    from ministack.services import lambda_svc

    if not isinstance(getattr(lambda_svc, "_LAMBDA_STATE_TRANSITION_DELAY", None), float):
        raise PatchError("cannot shorten the Pending state: MiniStack lacks _LAMBDA_STATE_TRANSITION_DELAY")
    lambda_svc._LAMBDA_STATE_TRANSITION_DELAY = STATE_TRANSITION_SECONDS

    def make_dispatch_service_request(original):
        async def _dispatch_service_request(method, path, headers, body, query_params, request_id):
            token = _http_request_id.set(request_id)
            try:
                return await original(method, path, headers, body, query_params, request_id)
            finally:
                _http_request_id.reset(token)

        return _dispatch_service_request

    def make_handle_request(original):
        async def handle_request(method: str, path: str, headers: dict, body: bytes, query_params: dict) -> tuple:
            refusal = _runtime_refusal(method, path, body)
            if refusal:
                return lambda_svc.error_response_json("InvalidParameterValueException", refusal, 400)
            return await original(method, path, headers, body, query_params)

        return handle_request

    def make_invoke(original):
        async def _invoke(*args: Any, **kwargs: Any):
            # The front door answers with its own id (x-amzn-RequestId); the execution takes it.
            request_id = _http_request_id.get() or str(uuid.uuid4())
            token = _pinned_request_id.set([request_id])
            try:
                return await original(*args, **kwargs)
            finally:
                _pinned_request_id.reset(token)

        return _invoke

    def make_dispatch(original):
        def _execute_function_dispatch(func, config, event, request_id, started):
            pinned = _pinned_request_id.get()
            if pinned:
                request_id = pinned.pop()  # the first execution of this Invoke takes it
            return original(func, config, event, request_id, started)

        return _execute_function_dispatch

    def make_warm(original):
        def _execute_function_warm(func, event, request_id):
            runtime_patch.last_aws_error.set(None)
            result = original(func, event, request_id)
            if not (isinstance(result, dict) and result.get("error")):
                return result
            body = result.get("body") if isinstance(result.get("body"), dict) else {}
            aws_error = runtime_patch.last_aws_error.get() or runtime_patch.aws_error_from_init_failure(
                str(body.get("errorMessage", ""))
            )
            if aws_error and body.get("errorType") != "Sandbox.Timedout":
                if not aws_error.get("requestId"):
                    aws_error = {**aws_error, "requestId": request_id}
                result = {**result, "body": aws_error}
            return result

        return _execute_function_warm

    wrap(ministack_app, "_dispatch_service_request", make_dispatch_service_request)
    wrap(lambda_svc, "handle_request", make_handle_request)
    wrap(lambda_svc, "_invoke", make_invoke)
    wrap(lambda_svc, "_execute_function_dispatch", make_dispatch)
    wrap(lambda_svc, "_execute_function_warm", make_warm)
