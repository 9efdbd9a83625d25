"""Launch-time overrides of MiniStack behaviour that differs from AWS.

One module per AWS service (moto/MiniStack shape); each has ``apply()`` and says in its
docstring which AWS behaviour it restores and where AWS documents it. They patch one
exact MiniStack version: :func:`apply_all` refuses to start on any other, and every patch
checks that what it replaces is still there, so an upgrade fails loudly at start instead
of silently losing a fix. Upgrading MiniStack = bump :data:`PINNED_MINISTACK`, re-check
each patch, run ``tests/conformance``.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.metadata
import inspect
import logging
import queue
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

PINNED_MINISTACK = "1.5.33"
logger = logging.getLogger("localcloud.patches")


class PatchError(RuntimeError):
    """MiniStack is not the version (or the shape) these patches were written for."""


def check_version() -> str:
    """Return the installed MiniStack version; raise unless it is the pinned one."""
    try:
        installed = importlib.metadata.version("ministack")
    except importlib.metadata.PackageNotFoundError:
        raise PatchError(f"MiniStack is not installed: pip install 'ministack=={PINNED_MINISTACK}'") from None
    if installed != PINNED_MINISTACK:
        raise PatchError(
            f"The local cloud's fixes were written for MiniStack {PINNED_MINISTACK}, but {installed} "
            f"is installed. Install the pinned version (pip install 'ministack=={PINNED_MINISTACK}') "
            "or, when upgrading on purpose, re-check every package in localcloud/services/ and run "
            "tests/conformance."
        )
    return installed


def check_ministack() -> str:
    """:func:`check_version`, then every MiniStack symbol the patches use against the manifest
    (:mod:`localcloud.manifest`); raises naming each one that changed or vanished."""
    installed = check_version()
    from localcloud import manifest

    try:
        manifest.check()
    except manifest.ManifestError as exc:
        raise PatchError(str(exc)) from None
    return installed


def replace_once(text: str, old: str, new: str, *, what: str) -> str:
    """Replace ``old`` by ``new`` in ``text``, insisting that ``old`` occurs exactly once."""
    count = text.count(old)
    if count != 1:
        raise PatchError(f"cannot patch {what}: expected the original text once, found it {count} times")
    return text.replace(old, new)


def patch_source(function: Callable[..., Any], replacements: list[tuple[str, str]], *, what: str) -> None:
    """Recompile ``function`` in place from its source with each ``(old, new)`` replaced (each exactly once).

    For a change inside a MiniStack function that no wrapper can reach (a thread it starts):
    every other line stays MiniStack's, and since the function object keeps its identity (only
    its code changes) every module that imported it and every wrapper around it runs the new
    code. ``new`` may use ``_orderlab_threads`` (:data:`threads`). Applying twice is a no-op.
    """
    done: frozenset[str] = getattr(function, "__orderlab_source_patches__", frozenset())
    if what in done:
        return
    source = textwrap.dedent(inspect.getsource(function))
    for old, new in replacements:
        source = replace_once(source, old, new, what=what)
    module = inspect.getmodule(function)
    if module is None:
        raise PatchError(f"cannot patch {what}: the module of {function.__qualname__} is unknown")
    module._orderlab_threads = threads  # type: ignore[attr-defined]
    namespace = dict(vars(module))
    exec(compile(source, inspect.getsourcefile(function) or f"<{what}>", "exec"), namespace)
    replacement = namespace[function.__name__]
    if replacement.__code__.co_freevars != function.__code__.co_freevars:
        raise PatchError(f"cannot patch {what}: the function is a closure")
    function.__code__ = replacement.__code__
    function.__orderlab_source_patches__ = done | {what}  # type: ignore[attr-defined]


class CachedThreads:
    """Run each task on a thread of its own, re-using threads that finished (never a bound).

    A task goes to an idle thread when there is one, else to a new daemon thread; a thread idle
    for :attr:`idle_seconds` exits. Submitting never waits for another task, so a task that
    waits on a nested one (an invocation calling back into the server) cannot deadlock.
    """

    def __init__(self, idle_seconds: float = 30.0, name: str = "orderlab-thread") -> None:
        self.idle_seconds = idle_seconds
        self.name = name
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a task and not yet promised one

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task()`` on an idle thread, or on a new one; returns at once."""
        with self._lock:
            if self._idle:
                self._idle -= 1  # promised: exactly one idle thread will take a queued task
                self._tasks.put(task)
                return
        threading.Thread(target=self._serve, args=(task,), daemon=True, name=self.name).start()

    def spawn(self, fn: Callable[[], Any], *, name: str) -> None:
        """Fire and forget ``fn()`` in a copy of the caller's context, logging what it raises
        (what MiniStack's ``spawn_background`` does on a new thread)."""
        context = contextvars.copy_context()

        def task() -> None:
            try:
                context.run(fn)
            except Exception:
                logger.exception("background task %s failed", name)

        self.submit(task)

    def _serve(self, task: Callable[[], None]) -> None:
        while True:
            task()  # MiniStack's _run delivers its own outcome; SystemExit ends this thread, as before
            with self._lock:
                self._idle += 1
            try:
                task = self._tasks.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    try:  # a task promised while the wait timed out is still this pool's to run
                        task = self._tasks.get_nowait()
                    except queue.Empty:
                        self._idle -= 1
                        return


threads = CachedThreads()
"""The local cloud's re-used threads (:func:`patch_source` code calls it ``_orderlab_threads``)."""


def require(module: Any, names: Iterable[str], *, patching: str) -> None:
    """Fail with :class:`PatchError` naming what ``module`` lacks of ``names``, the MiniStack parts a patch uses.

    >>> import types
    >>> require(types.SimpleNamespace(a=1), ["a", "b"], patching="the example")
    Traceback (most recent call last):
    ...
    localcloud.patches.PatchError: cannot patch the example: namespace lacks b
    """
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        owner = getattr(module, "__name__", "namespace")
        raise PatchError(f"cannot patch {patching}: {owner} lacks {', '.join(missing)}")


def wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` by ``make(original)``; fail if MiniStack no longer has it."""
    original = getattr(owner, name, None)
    if original is None or not callable(original):
        raise PatchError(f"cannot patch {getattr(owner, '__name__', owner)}.{name}: not found")
    # Keyed by the patch that wraps, so re-applying it is a no-op (apply_all is idempotent) and a
    # second patch wrapping the same function is refused: one owner per function.
    key = f"{getattr(make, '__module__', '?')}.{getattr(make, '__qualname__', repr(make))}"
    applied: frozenset[str] = getattr(original, "__orderlab_patches__", frozenset())
    if key in applied:
        return
    if applied:
        raise PatchError(
            f"cannot patch {getattr(owner, '__name__', owner)}.{name} with {key}: "
            f"already wrapped by {', '.join(sorted(applied))} (one owner per function)"
        )
    replacement = make(original)
    if not isinstance(replacement, type):
        functools.update_wrapper(replacement, original)
    replacement.__orderlab_patched__ = True  # type: ignore[attr-defined]
    replacement.__orderlab_patches__ = applied | {key}  # type: ignore[attr-defined]
    setattr(owner, name, replacement)


@contextmanager
def request_scope(account_id: str, region: str) -> Iterator[None]:
    """Run MiniStack code as this account and region (its stores are scoped by context variables),
    e.g. from a background thread or task that serves no request."""
    from ministack.core import responses

    account_token = responses._request_account_id.set(account_id)
    region_token = responses._request_region.set(region)
    try:
        yield
    finally:
        responses._request_region.reset(region_token)
        responses._request_account_id.reset(account_token)


def apply_all() -> list[str]:
    """Check MiniStack (version, manifest) and apply every service's patch; returns the service names."""
    check_ministack()
    from localcloud.services import patches

    applied = []
    for name, apply in patches():
        apply()
        applied.append(name)
    return applied
