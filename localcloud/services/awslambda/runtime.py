"""Lambda execution environment (MiniStack ``core/lambda_runtime.py``, warm Python workers).

What AWS does, and MiniStack 1.5.33 does not:

* **The interpreter the Runtime names, and nothing else on sys.path.** A ``python3.12``
  function runs on Python 3.12 and imports only the standard library, the runtime's bundled
  boto3/botocore and what its package and layers carry
  (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html,
  https://docs.aws.amazon.com/lambda/latest/dg/python-package.html). MiniStack runs every
  Python function on its own interpreter with its site-packages importable. Here workers
  start on :func:`localcloud.runtimes.launcher_for` (``-I -S``; the nearest Python here, with a
  line in the function's log, when this machine has no interpreter of the runtime's version),
  with the SDK appended to ``sys.path`` after the function's code and layers, and an
  environment reduced to what Lambda sets, ``AWS_EXECUTION_ENV`` naming the runtime
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
* **Error payloads.** An unhandled exception becomes
  ``{"errorMessage", "errorType": <exception class name>, "requestId", "stackTrace": [...]}``
  and import failures ``Runtime.ImportModuleError`` / ``Runtime.HandlerNotFound`` /
  ``Runtime.UserCodeSyntaxError``, an unserialisable result ``Runtime.MarshalError``
  (https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html; the Python runtime
  interface client's bootstrap). MiniStack answers ``Runtime.HandlerError`` with no trace.
* **The execution environment survives an invocation error.** An exception raised by the
  handler is reported as the invocation's error and the runtime goes on serving the next
  event with its module state intact; Lambda resets an environment only when the function
  crashes or times out (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html,
  "Failures during the invoke phase"). MiniStack kills the worker after any error, so every
  retry paid a cold start.
* **A crashed environment fails its invocation with ``Runtime.ExitError``, and only that
  environment is replaced.** When the runtime process dies (killed, out of memory, a crash in
  native code) the invocation in flight on it fails at once with
  ``{"errorType": "Runtime.ExitError", "errorMessage": "RequestId: <id> Error: Runtime exited
  with error: signal: killed"}`` and the next invocation gets a new environment (a cold start,
  ``Init Duration`` in its REPORT line,
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). MiniStack
  answered ``Runtime.HandlerError: Worker process died``, and when a process died during its
  init it killed *every* environment of the function, the ones serving other requests included
  (see :mod:`localcloud.services.awslambda.service`), so one crash became a storm of failed requests
  and cold starts.
* **A cold start is not seconds long.** MiniStack extracted the zip in the server for every
  new environment and, with ``-B``, each environment compiled botocore and the package's
  dependencies from source again: on a busy machine several seconds per cold start, and a
  burst of them stalled the API. Environments now share the extracted code and a bytecode
  cache (:mod:`localcloud.code_cache`), and an environment after the first is a fork of a
  process that has imported the libraries already (:mod:`localcloud.lambda_zygote`); each still
  runs its own init.
* **No fixed wait after each invoke.** MiniStack waits up to 50 ms for trailing log lines
  after every invocation (``Worker._drain_stderr_bounded``). The worker here writes an
  end-of-invocation marker after flushing its output, so the server reads the logs up to the
  marker and never guesses.
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import json
import logging
import queue
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from localcloud import code_cache, lambda_zygote, runtimes
from localcloud.patches import PatchError, patch_source, replace_once, wrap
from localcloud.services.awslambda import spares

logger = logging.getLogger("localcloud.lambda_runtime")
END_MARKER = "\x1eorderlab:end-of-invocation"
EXIT_ERROR_TYPE = "Runtime.ExitError"
# What MiniStack's reader answers when the worker's pipes break under it: the process is gone.
_CRASH_ERRORS = ("Worker process died", "Worker returned no response", "[Errno 32] Broken pipe")
INIT_ERROR_TAG = "orderlab-aws-error:"
SDK_DIR_ENV = "ORDERLAB_LAMBDA_SDK_DIR"
PYCACHE_DIR_ENV = "ORDERLAB_PYCACHE_DIR"
_LOG_WAIT_CAP_SECONDS = 2.0

# The AWS-shaped error of the last failed invocation on this thread of control.
last_aws_error: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "orderlab_last_aws_error", default=None
)


@dataclass(frozen=True)
class ExecutionEnvironment:
    """One execution environment (a worker process): on AWS it writes to one log stream of its own,
    ``YYYY/MM/DD/[version]<instance id>`` (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html)."""

    function_name: str
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.time)
    init_ms: float | None = None
    """Set only on the environment's first invocation: its REPORT line's Init Duration."""
    init_in_invocation: bool = True
    """False for an environment started ahead of its first invocation (a spare): its init is not in its Duration."""


# The environment that served the last invocation on this thread of control (set around each
# invoke of a warm worker; services/logs/responses.py writes the invocation's logs to its stream).
serving_environment: contextvars.ContextVar[ExecutionEnvironment | None] = contextvars.ContextVar(
    "orderlab_serving_environment", default=None
)
# The Init Duration of the environment the current invocation started (None: a warm start); the
# invocation's Duration excludes it, as on AWS.
started_environment_init_ms: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "orderlab_started_environment_init_ms", default=None
)


_PRELUDE = r'''
_ORDERLAB_END = "\x1eorderlab:end-of-invocation"
_ORDERLAB_KEEP = {
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DISABLE_HOST_PREFIX_INJECTION",
    "AWS_CA_BUNDLE", "SSL_CERT_FILE", "LAMBDA_TASK_ROOT", "_HANDLER", "ORDERLAB_LAMBDA_SDK_DIR",
    "AWS_EXECUTION_ENV", "ORDERLAB_PYCACHE_DIR", "ORDERLAB_ZYGOTE_MODULES_FILE",
}
_ORDERLAB_MODULES_FILE = ""
_ORDERLAB_KEEP_PREFIXES = ("AWS_LAMBDA_", "_LAMBDA_", "_X_AMZN_", "_MINISTACK_")


def _orderlab_sandbox(init):
    """Leave the function only what Lambda gives it: its variables and the reserved ones."""
    import os, sys
    function_vars = set(init.get("env") or {})
    for name in list(os.environ):
        if name in function_vars or name in _ORDERLAB_KEEP or name.startswith(_ORDERLAB_KEEP_PREFIXES):
            continue
        del os.environ[name]
    global _ORDERLAB_MODULES_FILE
    _ORDERLAB_MODULES_FILE = os.environ.pop("ORDERLAB_ZYGOTE_MODULES_FILE", "")
    sdk = os.environ.pop("ORDERLAB_LAMBDA_SDK_DIR", "")
    pycache = os.environ.pop("ORDERLAB_PYCACHE_DIR", "")
    if pycache:  # bytecode outside the function's code, shared by the cloud's environments
        sys.pycache_prefix = pycache
        sys.dont_write_bytecode = False
    task_root = os.path.dirname(init["code_dir"])
    os.environ.update({
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LAMBDA_RUNTIME_DIR": sdk,
        # From the Runtime (set by the launcher), not the interpreter, which may be another version.
        "AWS_EXECUTION_ENV": os.environ.get("AWS_EXECUTION_ENV") or "AWS_Lambda_python%d.%d" % sys.version_info[:2],
        "_HANDLER": init["module"] + "." + init["handler"],
        # The host's ~/.aws must not leak into the function (there is none on Lambda).
        "AWS_CONFIG_FILE": os.path.join(task_root, "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(task_root, "no-aws-credentials"),
    })
    if sdk:
        sys.path.append(sdk)  # after the code and the layers, as /var/runtime on AWS


def _orderlab_json(value):
    import decimal
    def _default(obj):
        if isinstance(obj, decimal.Decimal):
            return float(obj)
        raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)
    return json.dumps(value, default=_default)


def _orderlab_error(exc, request_id):
    """The error object AWS's Python runtime returns for an unhandled exception."""
    import traceback
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and frames[0].filename.endswith("_worker.py"):
        frames = frames[1:]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _orderlab_init_error(exc, module_name, handler_name):
    """Init failures as AWS names them (Runtime.ImportModuleError, ...)."""
    if isinstance(exc, ImportError):
        err = {"errorMessage": "Unable to import module '%s': %s" % (module_name, exc),
               "errorType": "Runtime.ImportModuleError", "stackTrace": []}
    elif isinstance(exc, SyntaxError):
        err = {"errorMessage": "Syntax error in module '%s': %s" % (module_name, exc),
               "errorType": "Runtime.UserCodeSyntaxError",
               "stackTrace": ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text)]}
    elif isinstance(exc, AttributeError) and handler_name in str(exc):
        err = {"errorMessage": "Handler '%s' missing on module '%s'" % (handler_name, module_name),
               "errorType": "Runtime.HandlerNotFound", "stackTrace": []}
    else:
        err = _orderlab_error(exc, "")
    err["requestId"] = ""
    return "orderlab-aws-error:" + json.dumps(err)


def _orderlab_report_modules():
    """After the first init of a code version: what it imported, for the zygote (localcloud/lambda_zygote.py)."""
    import os, sys
    if not _ORDERLAB_MODULES_FILE:
        return
    try:
        temporary = _ORDERLAB_MODULES_FILE + ".%d" % os.getpid()
        with open(temporary, "w") as handle:
            json.dump(list(sys.modules), handle)
        os.replace(temporary, _ORDERLAB_MODULES_FILE)
    except OSError:
        pass


def _orderlab_end_of_invocation():
    """Flush the handler's output, then mark the end of this invocation's logs."""
    import sys
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    sys.__stderr__.write(_ORDERLAB_END + "\n")
    sys.__stderr__.flush()

'''


def exit_error(request_id: str, returncode: int | None) -> dict[str, Any]:
    """The error AWS returns for an invocation whose runtime process exited under it.

    >>> exit_error("r1", -9)["errorMessage"]
    'RequestId: r1 Error: Runtime exited with error: signal: killed'
    >>> exit_error("r1", 1)["errorMessage"]
    'RequestId: r1 Error: Runtime exited with error: exit status 1'
    """
    if returncode is not None and returncode < 0:
        try:
            how = "signal: " + (signal.strsignal(-returncode) or str(-returncode)).lower()
        except ValueError:
            how = f"signal: {-returncode}"
    else:
        how = f"exit status {returncode if returncode is not None else 'unknown'}"
    return {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
        "errorType": EXIT_ERROR_TYPE,
        "requestId": request_id,
        "stackTrace": [],
    }


def exited(proc: subprocess.Popen[str] | None, wait: float = 0.5) -> int | None:
    """The exit status of a worker process whose pipes closed (None: still running)."""
    if proc is None:
        return None
    try:
        return proc.wait(timeout=wait)  # its pipes are closed: it is exiting, if not gone already
    except subprocess.TimeoutExpired:
        return None


def build_worker_script(original: str) -> str:
    """MiniStack's Python worker bootstrap with the AWS behaviours above."""
    script = replace_once(
        original,
        "    os.environ.update(env)\n",
        "    _orderlab_sandbox(init)\n    os.environ.update(env)\n",
        what="worker environment",
    )
    script = replace_once(
        script,
        "    except Exception as e:\n"
        '        _real_stdout.write(json.dumps({"status": "error", "error": str(e)}) + "\\n")',
        '    except Exception as e:\n        _real_stdout.write(json.dumps({"status": "error", '
        '"error": _orderlab_init_error(e, module_name, handler_name)}) + "\\n")',
        what="worker init error",
    )
    script = replace_once(
        script,
        "        try:\n"
        "            result = handler_fn(event, context)\n"
        '            _real_stdout.write(json.dumps({"status": "ok", "result": result}) + "\\n")\n'
        "        except Exception as e:\n"
        '            _real_stdout.write(json.dumps({"status": "error", "error": str(e), '
        '"trace": traceback.format_exc()}) + "\\n")\n'
        "        _real_stdout.flush()\n",
        "        try:\n"
        "            result = handler_fn(event, context)\n"
        "            try:\n"
        '                _ms_line = \'{"status": "ok", "result": \' + _orderlab_json(result) + "}"\n'
        "            except (TypeError, ValueError) as e:\n"
        '                _ms_err = {"errorMessage": "Unable to marshal response: %s" % e, '
        '"errorType": "Runtime.MarshalError", '
        '"requestId": context.aws_request_id, "stackTrace": []}\n'
        '                _ms_line = json.dumps({"status": "ok", "result": None, "orderlab_function_error": _ms_err})\n'
        "        except Exception as e:\n"
        # Reported as "ok" so that MiniStack keeps the worker: on AWS an exception in the
        # handler is an invocation error, not a crash, and the environment lives on.
        '            _ms_line = json.dumps({"status": "ok", "result": None, "trace": traceback.format_exc(), '
        '"orderlab_function_error": _orderlab_error(e, context.aws_request_id)})\n'
        "        _orderlab_end_of_invocation()\n"
        '        _real_stdout.write(_ms_line + "\\n")\n'
        "        _real_stdout.flush()\n",
        what="worker invocation",
    )
    script = replace_once(
        script,
        '        _real_stdout.write(json.dumps({"status": "ready", "cold": True}) + "\\n")\n',
        "        _orderlab_report_modules()\n"
        '        _real_stdout.write(json.dumps({"status": "ready", "cold": True}) + "\\n")\n',
        what="worker ready",
    )
    anchor = "import sys, json, importlib, traceback, os, time\n"
    return replace_once(script, anchor, anchor + _PRELUDE, what="worker imports")


def _is_python_worker(worker: Any, lr: Any) -> bool:
    return type(worker) is lr.Worker and str(worker.config.get("Runtime", "")).startswith("python")


def apply() -> None:
    import os

    from ministack.core import lambda_runtime as lr

    os.environ[SDK_DIR_ENV] = runtimes.sdk_dir()  # inherited by every worker's environment
    port = int(os.environ.get("GATEWAY_PORT", "4566"))
    code_cache.reset(port)
    os.environ[PYCACHE_DIR_ENV] = str(code_cache.pycache_dir(port))
    patched_script = build_worker_script(lr._PYTHON_WORKER_SCRIPT)
    lambda_zygote.configure(port, patched_script)
    lambda_zygote.when_ready(spares.keep_one)

    def make_detect(original):
        def _detect_runtime_binary(runtime: str) -> tuple[str, str]:
            if runtime.startswith("python"):
                # The runtime's interpreter, or the nearest one (its log says so); raises with a
                # clear message in strict mode, where CreateFunction already refused it.
                return runtimes.launcher_for(runtime), patched_script
            return original(runtime)

        return _detect_runtime_binary

    def make_drain(original):
        def _drain_stderr_bounded(self, *args: Any, **kwargs: Any) -> str:
            if not _is_python_worker(self, lr):
                return original(self, *args, **kwargs)
            lines: list[str] = []
            deadline = time.monotonic() + _LOG_WAIT_CAP_SECONDS
            while time.monotonic() < deadline:
                try:
                    line = self._stderr_queue.get(timeout=0.02)
                except queue.Empty:
                    reader = self._stderr_thread
                    if reader is None or not reader.is_alive():
                        break  # the worker is gone: no marker will come
                    continue
                if line == END_MARKER:
                    break
                lines.append(line)
            return "\n".join(lines)

        return _drain_stderr_bounded

    def make_spawn(original):
        def _spawn(self, *args: Any, **kwargs: Any) -> Any:
            if type(self) is not lr.Worker:
                return original(self, *args, **kwargs)
            if lambda_zygote.stopping():  # started after the stop signal, it would outlive the server
                raise RuntimeError("the local cloud is stopping: no new execution environment starts")
            # A (re)started process is a new execution environment, with a new log stream,
            # even when its init fails.
            environment = ExecutionEnvironment(str(self.config.get("FunctionName", self.func_name)))
            self._orderlab_environment = environment
            serving_environment.set(environment)
            started = time.monotonic()
            try:
                result = original(self, *args, **kwargs)
            finally:
                self._orderlab_proc = self._proc  # kept for its exit status if it dies
            init_ms = (time.monotonic() - started) * 1000
            forked = isinstance(self._proc, lambda_zygote.ForkedEnvironment)
            logger.info(
                "Lambda %s: new execution environment (%s%s), init %.0f ms",
                environment.function_name,
                "forked from its zygote" if forked else "started",
                ", a spare" if spares.starting_ahead.get() else "",
                init_ms,
            )
            lambda_zygote.environment_started(self)
            if spares.starting_ahead.get():  # its first invocation reports this init as its cold start
                self._orderlab_init_ahead_ms = init_ms
            else:
                self._orderlab_init_ahead_ms = None
                serving_environment.set(dataclasses.replace(environment, init_ms=init_ms))
                started_environment_init_ms.set(init_ms)
            return result

        return _spawn

    def make_invoke(original):
        def invoke(self, event, request_id, *args: Any, **kwargs: Any) -> dict:
            # The live process's environment; _spawn replaces it if this invoke starts a new one.
            serving_environment.set(getattr(self, "_orderlab_environment", None))
            last_aws_error.set(None)
            if _is_python_worker(self, lr):  # this request holds an environment: one more waits for the next
                spares.keep_one(getattr(self, "_orderlab_zygote_key", None))
            try:
                response = original(self, event, request_id, *args, **kwargs)
            except Exception as exc:
                # The init failed. A process that died in it (killed) is a Runtime.ExitError; an
                # init error the worker reported carries its own AWS error (INIT_ERROR_TAG).
                if _is_python_worker(self, lr) and INIT_ERROR_TAG not in str(exc):
                    status = exited(getattr(self, "_orderlab_proc", None))
                    if status is not None:
                        last_aws_error.set(exit_error(request_id, status))
                raise
            init_ahead_ms = self.__dict__.pop("_orderlab_init_ahead_ms", None)
            if init_ahead_ms is not None:  # a spare's first invocation: still its cold start
                serving_environment.set(
                    dataclasses.replace(self._orderlab_environment, init_ms=init_ahead_ms, init_in_invocation=False)
                )
            if (
                _is_python_worker(self, lr)
                and isinstance(response, dict)
                and response.get("status") == "error"
                and str(response.get("error", "")).startswith(_CRASH_ERRORS)
            ):
                # The process died under the invocation (its pipes closed): fail it now, as AWS does.
                status = exited(getattr(self, "_orderlab_proc", None))
                aws_error = exit_error(request_id, status)
                last_aws_error.set(aws_error)
                return {**response, "error": aws_error["errorMessage"]}
            function_error = response.get("orderlab_function_error") if isinstance(response, dict) else None
            if function_error:
                # An invocation error with the worker kept alive (see the worker script).
                last_aws_error.set(function_error)
                return {
                    **response,
                    "status": "error",
                    "error": function_error.get("errorMessage", ""),
                    "trace": response.get("trace", ""),
                }
            last_aws_error.set(
                response.get("aws_error") if isinstance(response, dict) and response.get("status") == "error" else None
            )
            return response

        return invoke

    for name in ("_spawn", "invoke", "_drain_stderr_bounded"):
        if not hasattr(lr.Worker, name):
            raise PatchError(f"cannot patch ministack Worker.{name}: not found")

    def make_invalidate(original):
        def invalidate_worker(func_name: str, qualifier: str | None = None, *args: Any, **kwargs: Any) -> None:
            original(func_name, qualifier, *args, **kwargs)
            if qualifier is None:  # the function is deleted or replaced: its zygotes go too
                lambda_zygote.retire_function(func_name)

        return invalidate_worker

    def make_reset(original):
        def reset() -> None:
            original()
            lambda_zygote.stop_all()

        return reset

    share_extracted_code(lr, port)
    from ministack.services import lambda_svc

    wrap(lambda_svc, "invalidate_worker", make_invalidate)  # imported by name there
    wrap(lr, "reset", make_reset)
    wrap(lr, "_detect_runtime_binary", make_detect)
    wrap(lr.Worker, "_drain_stderr_bounded", make_drain)
    wrap(lr.Worker, "invoke", make_invoke)
    wrap(lr.Worker, "_spawn", make_spawn)


def share_extracted_code(lr: Any, port: int) -> None:
    """Start every environment from the code extracted once (:func:`localcloud.code_cache.code_dir`),
    as a fork of its code's zygote when there is one (:func:`localcloud.lambda_zygote.popen`)."""
    lr._orderlab_code_dir = lambda code_zip: code_cache.code_dir(code_zip, port=port)
    lr._orderlab_popen = lambda_zygote.popen
    patch_source(
        inspect.unwrap(lr.Worker._spawn),
        [
            (
                '    code_dir = os.path.join(self._tmpdir, "code")\n'
                "    os.makedirs(code_dir)\n"
                '    with open(os.path.join(self._tmpdir, "code.zip"), "wb") as f:\n'
                "        f.write(self.code_zip)\n"
                '    with zipfile.ZipFile(os.path.join(self._tmpdir, "code.zip")) as zf:\n'
                "        zf.extractall(code_dir)\n",
                "    code_dir = _orderlab_code_dir(self.code_zip)\n",
            ),
            (
                "    self._proc = subprocess.Popen(\n        [binary, worker_path],\n",
                "    self._proc = _orderlab_popen(\n        self, [binary, worker_path],\n",
            ),
        ],
        what="ministack Worker._spawn (extracts the code and starts a process for each environment)",
    )


def discard_environment(worker: Any) -> None:
    """Drop one execution environment from its function's pool and end its process.

    For an environment whose init failed: its process is dead or useless, and the function's
    other environments (serving other requests) carry on, as on AWS. The next invocation that
    finds no free environment starts a new one.
    """
    from ministack.core import lambda_runtime as lr

    if worker is None:
        return
    with lr._lock:
        for key, entries in list(lr._workers.items()):
            if worker in entries:
                entries.remove(worker)
                if not entries:
                    del lr._workers[key]
                break
    lr.kill_workers([worker])  # outside the pool's lock, as MiniStack's invalidate_worker


def aws_error_from_init_failure(message: str) -> dict[str, Any] | None:
    """Decode the AWS error a worker reported for a failed init, if the message carries one."""
    _, sep, tail = message.partition(INIT_ERROR_TAG)
    if not sep:
        return None
    try:
        return json.loads(tail)
    except ValueError:
        return None
