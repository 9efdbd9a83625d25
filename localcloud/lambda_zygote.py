"""Lambda cold starts by fork: one pre-imported "zygote" process per function code version.

A new Python execution environment spends most of its cold start importing what every
environment of the function imports: botocore and boto3 (the runtime's copy), then the
package's libraries (Powertools, pydantic). On this 2-core machine that is about 0.3-1 s of
CPU each, and a kill that replaces three or four environments at once starved the server.

Here, once a function's first environment has finished its init, a zygote is started for that
code version: the same interpreter and launcher flags, the same ``sys.path`` (the function's
extracted code first, the runtime SDK last: a library vendored in the zip is the one imported),
Lambda's environment variables (each fork then sets its own: its log stream, the function's
``Environment``), and the modules that first init imported, minus the function's own code.
Every later environment of that code is a fork of the zygote, so it starts with those libraries
already imported and runs only its own init: MiniStack's worker bootstrap as usual, importing
the handler module and running its init code (per environment, as on AWS; ``Init Duration`` is
still measured around it). Design notes and figures: docs/lambda-environment-crashes.md.

What stays the same as a normally started worker (``subprocess.Popen`` of the launcher):

* The environment is a child of the server (the zygote double-forks; the server is a child
  subreaper, ``PR_SET_CHILD_SUBREAPER``), so it is a real ``subprocess.Popen``: exit status,
  ``Runtime.ExitError`` on a kill, reaping, ``orderlab cloud stop``.
* Its command line names its own ``ministack-lambda-<function>-XXXXXXXX/_worker.py`` (rewritten
  in place in the fork), so :mod:`helpers.chaos` finds and kills it like any environment. The
  zygote's command line does not: chaos never kills a zygote.
* Its stdin/stdout/stderr are pipes to the server, passed to the zygote (``SCM_RIGHTS``).

Modules are pre-imported only from the standard library, the runtime SDK and the installed
distributions of the package (``*.dist-info`` in the zip); the function's own modules run in
each environment. A zygote that has a thread after its imports refuses to serve (fork with
threads is unsafe); functions with layers start normally (their layers are extracted per
environment). A zygote that dies is started again; while there is none, environments start
normally. ``ORDERLAB_LAMBDA_ZYGOTE=0`` turns all of this off.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud import paths

logger = logging.getLogger("localcloud.lambda_zygote")

ENABLE_ENV = "ORDERLAB_LAMBDA_ZYGOTE"
MODULES_FILE_ENV = "ORDERLAB_ZYGOTE_MODULES_FILE"
ZYGOTE_MARKER = "orderlab-lambda-zygote"
# Bytes of command line a fork may rewrite (the zygote is started with this much room).
CMDLINE_ROOM = 1024
MAX_ZYGOTES = 6
_START_TIMEOUT_SECONDS = 60.0
_FORK_TIMEOUT_SECONDS = 10.0
_MAX_MESSAGE_BYTES = 1 << 20
# Set in each environment, not in the zygote: per environment (its log stream), or from the
# function's configuration (a change of memory or timeout keeps the zygote of its code).
_PER_ENVIRONMENT_VARIABLES = frozenset(
    {"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "_LAMBDA_TIMEOUT"}
)
_PR_SET_CHILD_SUBREAPER = 36


def enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def is_zygote_cmdline(cmdline: list[str]) -> bool:
    """Whether a process's command line is a zygote's (not an execution environment)."""
    return any(ZYGOTE_MARKER in part for part in cmdline)


# ---------------------------------------------------------------------------------------------
# The zygote process (runs on the function's interpreter, standard library only)
# ---------------------------------------------------------------------------------------------

ZYGOTE_SCRIPT = r'''
import gc, importlib, json, os, re, socket, sys, types

gc.disable()  # no collection holes in the pages the forks will share (re-enabled in each fork)
_MAX = 1 << 20


def _send(sock, message):
    sock.send(json.dumps(message).encode())


def _top_levels_of_distributions(code_dir):
    """Top-level names installed by the distributions in the package (pip install -t).

    From each ``*.dist-info``'s RECORD, else its top_level.txt, else its name (a reproducible
    package drops RECORD): ``pydantic_core-2.46.3.dist-info`` installed ``pydantic_core``.
    """
    names = set()
    try:
        entries = os.listdir(code_dir)
    except OSError:
        return names
    tops = {entry[:-3] if entry.endswith(".py") else entry for entry in entries}
    for entry in entries:
        if not entry.endswith(".dist-info"):
            continue
        try:
            with open(os.path.join(code_dir, entry, "RECORD"), encoding="utf-8") as record:
                for line in record:
                    first = line.split(",", 1)[0].split("/", 1)[0]
                    if first and not first.endswith((".dist-info", ".data")) and first not in ("..", "bin"):
                        names.add(first[:-3] if first.endswith(".py") else first.split(".", 1)[0])
            continue
        except OSError:
            pass
        try:
            with open(os.path.join(code_dir, entry, "top_level.txt"), encoding="utf-8") as top_level:
                names.update(line.strip() for line in top_level if line.strip())
            continue
        except OSError:
            pass
        name = entry[: -len(".dist-info")].split("-", 1)[0].replace(".", "_").replace("-", "_")
        names.update(top for top in tops if top.lower() == name.lower())
    return names


def _is_own_code(name, code_dir, libraries):
    """A module of the function's own code (not a library): its init runs in each environment."""
    top = name.split(".", 1)[0]
    if top in libraries:
        return False
    try:
        return any(entry == top or entry.split(".", 1)[0] == top for entry in os.listdir(code_dir))
    except OSError:
        return True


def _preload(start):
    """Import what the function's first environment imported, as its init would import it."""
    main = types.ModuleType("__main__")
    main.__file__ = start["worker_path"]
    script = start["worker_script"]
    body, sep, _ = script.rpartition("\nrun()\n")
    if not sep:
        raise RuntimeError("worker bootstrap without a final run() call")
    exec(compile(body + "\n", start["worker_path"], "exec"), main.__dict__)
    init = start["init"]
    saved_path = list(sys.path)
    os.environ.clear()
    os.environ.update(start["env"])
    main._orderlab_sandbox(init)  # what the bootstrap does before it imports the handler
    os.environ.update(init.get("env") or {})
    sys.path.insert(0, init["code_dir"])
    libraries = _top_levels_of_distributions(init["code_dir"])
    handler_top = init["module"].split(".", 1)[0]
    imported, skipped = 0, []
    for name in start["modules"]:
        if name in sys.modules or name == "__main__" or name.split(".", 1)[0] == handler_top:
            continue
        if _is_own_code(name, init["code_dir"], libraries):
            continue
        try:
            importlib.import_module(name)
            imported += 1
        except BaseException as exc:  # a module that fails here is imported by the environment itself
            skipped.append("%s: %s" % (name, type(exc).__name__))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        warmed = _warm_sdk_data(_services_named(init["code_dir"], libraries), region)
    except Exception as exc:  # the environments load the data themselves
        warmed, skipped = [], skipped + ["SDK data: %s: %s" % (type(exc).__name__, exc)]
    sys.path[:] = saved_path  # the bootstrap builds it again in each environment
    return main, imported, skipped, warmed


_CLIENT_CALL = re.compile(r"""\.(?:client|resource)\(\s*["']([a-z0-9][a-z0-9-]*)["']""")


def _services_named(code_dir, libraries):
    """The AWS services the function's own code names: client("dynamodb"), resource("s3")."""
    found = set()
    for root, dirs, files in os.walk(code_dir):
        if root == code_dir:
            dirs[:] = [d for d in dirs if d not in libraries and not d.endswith((".dist-info", ".data"))]
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py") and not (root == code_dir and name[:-3] in libraries):
                try:
                    with open(os.path.join(root, name), encoding="utf-8", errors="replace") as source:
                        found.update(_CLIENT_CALL.findall(source.read()))
                except OSError:
                    continue
    return sorted(found)[:8]


def _warm_sdk_data(services, region):
    """Load, once, the SDK data files the first client of each service reads in every environment.

    botocore reads and parses its data (endpoints, partitions, the service's model and endpoint
    rules) per session, and a new environment's first client builds a new session: 80-190 ms of
    CPU. The parsed files are the same in every environment of this code, so each data loader
    created after the fork starts with them (a loader with other search paths, from
    AWS_DATA_PATH, starts empty). The SDK itself is imported here too, even when the first init
    did not import it (a client made on first use): the first request no longer pays for it.
    Clients, sessions and credentials are still made in each environment. Returns the services
    whose data was loaded.
    """
    if not services:
        return []
    try:  # the code makes clients (often on first use, after its init): the SDK is imported here once
        boto3_session = importlib.import_module("boto3.session")
        loaders = importlib.import_module("botocore.loaders")
    except ImportError:
        return []
    base_paths = list(loaders.create_loader().search_paths)
    session = boto3_session.Session(aws_access_key_id="zygote", aws_secret_access_key="zygote", region_name=region)
    warmed = []
    for service in services:
        try:
            session.client(service)
            warmed.append(service)
        except Exception:  # not a service name this SDK knows: nothing to load
            continue
    warm = dict(session._session.get_component("data_loader")._cache)
    original_init = loaders.Loader.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if list(self.search_paths) == base_paths:
            self._cache.update(warm)

    __init__.__wrapped__ = original_init
    loaders.Loader.__init__ = __init__
    return warmed


def _threads():
    threading = sys.modules.get("threading")
    return [t.name for t in threading.enumerate()] if threading else []


def _set_cmdline(parts):
    """Rewrite this process's command line in place (what ps and psutil show)."""
    with open("/proc/self/stat", "rb") as handle:
        stat = handle.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5), fields 48-49)
    data = b"\0".join(part.encode() for part in parts) + b"\0"
    if len(data) > end - start:
        return
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(start)
        mem.write(data.ljust(end - start, b"\0"))


def _environment(main, sock, request, fds):
    """The forked execution environment: the worker bootstrap, on the pipes the server passed."""
    try:
        sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
        gc.enable()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # As a worker started by its launcher: <python> -I -S -B <its _worker.py>
        sys.orig_argv = sys.orig_argv[:-2] + [request["worker_path"]]
        sys.argv = [request["worker_path"]]
        _set_cmdline(sys.orig_argv)
        if request.get("note"):  # the launcher's line for a runtime on another Python version
            os.write(2, (request["note"] + "\n").encode())
        sys.modules["__main__"] = main
        main.__file__ = request["worker_path"]
        main.run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    try:
        import atexit
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:
        os._exit(code)


def _serve(sock, main):
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, _MAX, 3)
        except OSError:
            return
        if not message:
            return  # the server is gone
        request = json.loads(message)
        reader, writer = os.pipe()
        first = os.fork()
        if first == 0:  # the intermediate: forks the environment and exits, so the server adopts it
            os.close(reader)
            environment = os.fork()
            if environment == 0:
                os.close(writer)
                _environment(main, sock, request, fds)
            os.write(writer, str(environment).encode())
            os._exit(0)
        os.close(writer)
        for fd in fds:
            os.close(fd)
        with os.fdopen(reader, "rb") as pipe:
            answer = pipe.read()
        os.waitpid(first, 0)  # once it is reaped, the environment's parent is the server
        _send(sock, {"pid": int(answer)} if answer else {"error": "fork failed"})


def main():
    sock = socket.socket(fileno=int(os.environ.pop("ORDERLAB_ZYGOTE_FD")))
    start = json.loads(sock.recv(_MAX))
    if not (hasattr(sys, "orig_argv") and hasattr(socket, "recv_fds")):  # Python < 3.10
        _send(sock, {"status": "failed", "error": "Python %d.%d cannot serve forks" % sys.version_info[:2]})
        return
    try:
        module, imported, skipped, warmed = _preload(start)
    except BaseException as exc:
        _send(sock, {"status": "failed", "error": "%s: %s" % (type(exc).__name__, exc)})
        return
    threads = _threads()
    if len(threads) > 1:
        _send(sock, {"status": "unsafe", "error": "threads after the imports: %s" % ", ".join(threads)})
        return
    gc.freeze()  # what the forks share stays untouched by their collections
    _send(sock, {"status": "ready", "imported": imported, "skipped": skipped, "sdk_data": warmed})
    _serve(sock, module)


main()
'''


# ---------------------------------------------------------------------------------------------
# The server side
# ---------------------------------------------------------------------------------------------


class ZygoteUnavailable(RuntimeError):
    """The zygote cannot fork an environment now (not started, dead, or refused)."""


@dataclass(frozen=True)
class ZygoteKey:
    """What makes two environments interchangeable: function, interpreter, code, handler, variables."""

    function_arn: str
    function_name: str
    launcher: str
    code_dir: str
    handler: str
    environment_digest: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:24]


@dataclass
class _Settings:
    port: int
    worker_script: str


_settings: _Settings | None = None
_zygotes: OrderedDict[ZygoteKey, Zygote] = OrderedDict()
_registry_lock = threading.Lock()
# Set when the server is told to stop: a zygote its stop signal ended must not come back.
_server_stopping = threading.Event()


# Called with a zygote's key each time it becomes ready (the spare environments start then).
_ready_callbacks: list[Callable[[ZygoteKey], None]] = []


def when_ready(callback: Callable[[ZygoteKey], None]) -> None:
    """Call ``callback(key)`` each time the zygote of ``key`` becomes ready (on its start thread)."""
    if callback not in _ready_callbacks:
        _ready_callbacks.append(callback)


def ready_for(key: ZygoteKey) -> bool:
    """Whether environments of ``key`` fork from a ready zygote now."""
    with _registry_lock:
        zygote = _zygotes.get(key)
    return zygote is not None and zygote.ready


def server_stopping() -> None:
    """No zygote starts or restarts from now on (the server received SIGTERM or SIGINT)."""
    _server_stopping.set()


def stopping() -> bool:
    """Whether the server was told to stop: nothing new may start (it would outlive the server)."""
    return _server_stopping.is_set()


def zygote_dir(port: int) -> Path:
    """Where the cloud on ``port`` keeps the zygote script and the module lists of first inits."""
    return paths.cloud_dir(port) / "lambda-zygotes"


def configure(port: int, worker_script: str) -> bool:
    """Turn zygotes on for this server (at start). False when off, or not possible here."""
    global _settings
    shutil.rmtree(zygote_dir(port), ignore_errors=True)
    if not enabled():
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    except (OSError, AttributeError) as exc:
        logger.warning("Lambda zygotes off: the server cannot adopt forked environments (%s)", exc)
        return False
    directory = zygote_dir(port)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{ZYGOTE_MARKER}.py").write_text(ZYGOTE_SCRIPT)
    _settings = _Settings(port, worker_script)
    return True


def _script_path() -> Path:
    assert _settings is not None
    return zygote_dir(_settings.port) / f"{ZYGOTE_MARKER}.py"


def _modules_file(key: ZygoteKey) -> Path:
    assert _settings is not None
    return zygote_dir(_settings.port) / f"{key.digest}.modules.json"


def key_for(worker: Any, args: list[str], cwd: str, env: dict[str, str]) -> ZygoteKey | None:
    """The zygote an environment of ``worker`` may fork from, or None (layers, not Python)."""
    if _settings is None or len(args) != 2 or not str(worker.config.get("Runtime", "")).startswith("python"):
        return None
    if env.get("_LAMBDA_LAYERS_DIRS"):
        return None  # layers are extracted per environment: no common sys.path to import from
    if len(args[1]) > CMDLINE_ROOM // 2:
        return None  # no room to show its _worker.py in the fork's command line
    own = _function_variables(worker)
    shared = sorted((k, v) for k, v in env.items() if k not in _PER_ENVIRONMENT_VARIABLES and k not in own)
    return ZygoteKey(
        str(worker.config.get("FunctionArn", "")),
        str(worker.func_name),
        args[0],
        cwd,
        str(worker.config.get("Handler", "index.handler")),
        hashlib.sha256(repr(shared).encode()).hexdigest(),
    )


class Zygote:
    """One zygote process, and the socket on which the server asks it to fork."""

    def __init__(self, key: ZygoteKey, start_message: dict[str, Any]) -> None:
        self.key = key
        self._start_message = start_message
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.retired = False
        self.starting = False
        self.starts = 0
        self.forks = 0
        self.sdk_data: list[str] = []

    def start(self) -> None:
        """Start the process and wait for its imports (seconds of CPU: call it off the event loop)."""
        server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**self._start_message["env"], "ORDERLAB_ZYGOTE_FD": str(zygote_end.fileno())}
        try:
            proc = subprocess.Popen(
                [self.key.launcher, str(_script_path()), " " * CMDLINE_ROOM],
                cwd=self.key.code_dir,
                env=env,
                pass_fds=(zygote_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stderr: the server's log
            )
        finally:
            zygote_end.close()
        self.proc = proc
        self.starts += 1
        server_end.settimeout(_START_TIMEOUT_SECONDS)
        try:
            server_end.send(json.dumps(self._start_message).encode())
            answer = json.loads(server_end.recv(_MAX_MESSAGE_BYTES) or b"{}")
        except (OSError, ValueError) as exc:
            answer = {"status": "failed", "error": str(exc)}
        if answer.get("status") != "ready":
            server_end.close()
            # No answer at all: the process ended before it was ready; give it a moment to say how.
            _end(proc, grace=0.0 if answer else 1.0)
            why = answer.get("error") or self._why_it_ended(proc)
            raise ZygoteUnavailable(f"Lambda zygote for {self.key.function_name} did not start: {why}")
        server_end.settimeout(_FORK_TIMEOUT_SECONDS)
        with self._lock:
            old, self._sock = self._sock, server_end
            self.ready = not self.retired
        if old is not None:
            old.close()
        self.sdk_data = [str(service) for service in answer.get("sdk_data") or []]
        logger.info(
            "Lambda zygote for %s: pid %s, %d module(s) imported%s%s",
            self.key.function_name,
            proc.pid,
            answer.get("imported", 0),
            f", {len(answer['skipped'])} left to the environments" if answer.get("skipped") else "",
            f", SDK data of {', '.join(self.sdk_data)} loaded" if self.sdk_data else "",
        )

    def _why_it_ended(self, proc: subprocess.Popen[bytes]) -> str:
        """Why a zygote closed its socket without answering (it sends an error for what it can catch)."""
        if self.retired:
            return "stopped while it was importing (its function's code changed or the function was deleted)"
        if _server_stopping.is_set():
            return "stopped while it was importing (the local cloud is stopping)"
        return f"its process {_exit_description(proc.returncode)} before it was ready (its stderr is in the server log)"

    def fork(self, request: dict[str, Any], fds: tuple[int, int, int]) -> int:
        """Fork an environment on ``fds`` (its stdin, stdout, stderr): its pid, a child of the server."""
        with self._lock:
            if not self.ready or self._sock is None:
                raise ZygoteUnavailable(f"no Lambda zygote ready for {self.key.function_name}")
            try:
                socket.send_fds(self._sock, [json.dumps(request).encode()], list(fds))
                answer = json.loads(self._sock.recv(_MAX_MESSAGE_BYTES) or b"{}")
            except (OSError, ValueError) as exc:
                self.ready = False
                raise ZygoteUnavailable(f"the Lambda zygote for {self.key.function_name} is gone ({exc})") from exc
            if "pid" not in answer:
                self.ready = False
                raise ZygoteUnavailable(
                    f"the Lambda zygote for {self.key.function_name} could not fork: {answer.get('error', answer)}"
                )
            self.forks += 1
            return int(answer["pid"])

    def stop(self) -> None:
        """End the zygote for good (its environments live on: they are the server's children)."""
        with self._lock:
            self.retired = True
            self.ready = False
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()  # the zygote exits when its socket ends
        if self.proc is not None:
            _end(self.proc, grace=2.0)


def _exit_description(returncode: int | None) -> str:
    """How a process ended, in words.

    >>> _exit_description(-9), _exit_description(1), _exit_description(None)
    ('was killed by SIGKILL', 'exited with status 1', 'closed its socket')
    """
    if returncode is None:
        return "closed its socket"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _end(proc: subprocess.Popen[bytes], grace: float) -> None:
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class ForkedEnvironment(subprocess.Popen):
    """A worker process forked from a zygote instead of executed; otherwise a ``Popen`` like any other.

    ``subprocess`` makes the pipes and their file objects; only the start of the child differs.
    """

    def __init__(self, zygote: Zygote, request: dict[str, Any], args: list[str], **kwargs: Any) -> None:
        self._zygote = zygote
        self._request = request
        super().__init__(args, **kwargs)

    def _execute_child(
        self,
        args: Any,
        executable: Any,
        preexec_fn: Any,
        close_fds: Any,
        pass_fds: Any,
        cwd: Any,
        env: Any,
        startupinfo: Any,
        creationflags: Any,
        shell: Any,
        p2cread: int,
        p2cwrite: int,
        c2pread: int,
        c2pwrite: int,
        errread: int,
        errwrite: int,
        *_unused: Any,
    ) -> None:
        try:
            self.pid = self._zygote.fork(self._request, (p2cread, c2pwrite, errwrite))
            self._child_created = True
        finally:
            for fd in (p2cread, c2pwrite, errwrite):
                if fd != -1:
                    os.close(fd)
            self._closed_child_pipe_fds = True


def popen(worker: Any, args: list[str], **kwargs: Any) -> subprocess.Popen:
    """Start one execution environment of ``worker``: a fork of its zygote when there is one ready.

    The hook in MiniStack's ``Worker._spawn`` (its ``subprocess.Popen`` call, same arguments).
    """
    cwd, env = str(kwargs.get("cwd") or ""), dict(kwargs.get("env") or {})
    key = key_for(worker, list(args), cwd, env)
    worker._orderlab_zygote_key = key
    worker._orderlab_spawn_env = env
    if key is None or kwargs.get("stdin") != subprocess.PIPE:
        return subprocess.Popen(args, **kwargs)
    with _registry_lock:
        zygote = _zygotes.get(key)
        if zygote is not None:
            _zygotes.move_to_end(key)
    if zygote is not None and zygote.ready:
        request = {"cwd": cwd, "env": env, "worker_path": args[1], "note": _interpreter_note(worker)}
        try:
            return ForkedEnvironment(zygote, request, list(args), **kwargs)
        except ZygoteUnavailable as exc:
            logger.warning("%s: this environment starts normally, the zygote again", exc)
            _ensure_started(zygote, replace=True)
    elif zygote is None and not _modules_file(key).exists():
        # This first environment reports what its init imported: the zygote imports the same.
        kwargs["env"] = {**env, MODULES_FILE_ENV: str(_modules_file(key))}
    return subprocess.Popen(args, **kwargs)


def environment_started(worker: Any) -> None:
    """After an environment's init: start its code's zygote, if there is none yet (in the background)."""
    key: ZygoteKey | None = getattr(worker, "_orderlab_zygote_key", None)
    if key is None or _settings is None:
        return
    with _registry_lock:
        if key in _zygotes:
            return
        modules = _read_modules(key)
        if modules is None:
            return
        zygote = Zygote(key, _start_message(worker, key, modules))
        # One zygote per function (its older code goes), and at most MAX_ZYGOTES (least recently used go).
        doomed = [z for k, z in _zygotes.items() if k.function_arn == key.function_arn]
        for old in doomed:
            del _zygotes[old.key]
        while len(_zygotes) >= MAX_ZYGOTES:
            doomed.append(_zygotes.popitem(last=False)[1])
        _zygotes[key] = zygote
    for old in doomed:
        threading.Thread(target=old.stop, daemon=True, name="orderlab-zygote-stop").start()
    _ensure_started(zygote)


def _ensure_started(zygote: Zygote, replace: bool = False) -> None:
    """(Re)start ``zygote`` on a background thread unless it is starting, retired or gave up."""
    with _registry_lock:
        if zygote.retired or zygote.starting or _zygotes.get(zygote.key) is not zygote or _server_stopping.is_set():
            return
        if zygote.starts >= 5:
            logger.warning(
                "Lambda zygote for %s ended %d times: its environments start normally from now on",
                zygote.key.function_name,
                zygote.starts,
            )
            zygote.retired = True
            return
        zygote.starting = True
        zygote.ready = False
    broken = zygote.proc if replace else None

    def run() -> None:
        try:
            if broken is not None and broken.poll() is None:
                _end(broken, grace=0.0)
            zygote.start()
        except (ZygoteUnavailable, OSError) as exc:
            expected = zygote.retired or _server_stopping.is_set()  # stopped on purpose: nothing is wrong
            (logger.info if expected else logger.warning)("%s: its environments start normally", exc)
            zygote.retired = True
            return
        finally:
            zygote.starting = False
        if _server_stopping.is_set():  # started while the server was told to stop: it would outlive it
            zygote.stop()
            return
        for callback in list(_ready_callbacks):
            try:
                callback(zygote.key)
            except Exception:  # a callback's failure must not stop the watch
                logger.exception("Lambda zygote for %s: a ready callback failed", zygote.key.function_name)
        _watch(zygote)

    threading.Thread(target=run, daemon=True, name=f"orderlab-zygote-{zygote.key.function_name}").start()


def _watch(zygote: Zygote) -> None:
    """Start the zygote again when its process ends (killed, out of memory) while it is still wanted."""
    proc = zygote.proc
    if proc is None:
        return
    proc.wait()
    if zygote.proc is proc and not _server_stopping.is_set():  # not already replaced, still wanted
        _ensure_started(zygote)


def retire_function(function_name: str) -> None:
    """Stop the zygotes of a deleted function (all its versions)."""
    with _registry_lock:
        doomed = [z for k, z in _zygotes.items() if k.function_name == function_name]
        for zygote in doomed:
            del _zygotes[zygote.key]
            zygote.retired = True
    for zygote in doomed:
        zygote.stop()


def stop_all() -> None:
    """Stop every zygote (the worker pool was reset)."""
    with _registry_lock:
        doomed = list(_zygotes.values())
        _zygotes.clear()
    for zygote in doomed:
        zygote.stop()


def zygotes() -> list[Zygote]:
    """The zygotes the server keeps (ready or starting)."""
    with _registry_lock:
        return list(_zygotes.values())


def _read_modules(key: ZygoteKey) -> list[str] | None:
    try:
        names = json.loads(_modules_file(key).read_text())
    except (OSError, ValueError):
        return None
    return [str(name) for name in names] if isinstance(names, list) else None


def _start_message(worker: Any, key: ZygoteKey, modules: list[str]) -> dict[str, Any]:
    """What the zygote needs to import as the environment would: the bootstrap, its init, its variables."""
    assert _settings is not None
    module_name, handler_name = key.handler.rsplit(".", 1)
    own = _function_variables(worker)
    env = {k: v for k, v in worker._orderlab_spawn_env.items() if k not in _PER_ENVIRONMENT_VARIABLES and k not in own}
    return {
        "worker_script": _settings.worker_script,
        "worker_path": str(Path(key.code_dir).parent / "_worker.py"),
        "init": {"code_dir": key.code_dir, "module": module_name.replace("/", "."), "handler": handler_name, "env": {}},
        "env": env,
        "modules": modules,
    }


def _function_variables(worker: Any) -> set[str]:
    """The function's own environment variables (Environment.Variables, not the reserved ones).

    Not part of a zygote: the libraries it imports read only Lambda's reserved variables at
    import time, so a configuration change keeps the zygote; each environment gets them all.
    """
    from ministack.core import lambda_runtime as lr

    variables = (worker.config.get("Environment") or {}).get("Variables") or {}
    return {name for name in variables if name not in lr._RESERVED_RUNTIME_ENV_VARS}


def _interpreter_note(worker: Any) -> str:
    """The line the launcher writes at each cold start when the runtime runs on another Python."""
    from localcloud import runtimes

    try:
        return runtimes.select_interpreter(str(worker.config.get("Runtime", ""))).note
    except RuntimeError:
        return ""
