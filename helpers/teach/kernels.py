"""Kernels for headless runs: Unix-socket transport, a client that never misses a reply, kernels launched ahead.

>>> papermill.execute_notebook(source, output, kernel_manager_class=IpcKernelManager)  # doctest: +SKIP

A series runs each notebook on a fresh kernel of its own, launched while the notebook before it
runs, and lets each kernel exit while the next notebook runs (:class:`SeriesKernels`, through
papermill engine ``orderlab``, :class:`StartedKernelEngine`)::

    >>> kernels = SeriesKernels()                                                          # doctest: +SKIP
    >>> kernels.launch(Path("notebooks"))                                                  # doctest: +SKIP
    >>> papermill.execute_notebook(source, output, engine_name=ENGINE,                     # doctest: +SKIP
    ...                            km=kernels.claim(Path("notebooks")), stopping=kernels.stopping)
    >>> kernels.close()                                                                    # doctest: +SKIP

The client polls in short slices: pyzmq's asyncio sockets can miss ZeroMQ's edge-triggered
wake-up while nbclient sends on the socket it waits on (cells writing to an ``Output`` widget),
which left a cell waiting for a reply that had arrived (docs/notebook-conventions.md,
"Headless kernels").
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args
from traitlets import Type

POLL_SLICE_SECONDS = 0.25  # the longest a missed wake-up can delay a message


class SlicedPollChannel(AsyncZMQSocketChannel):
    """An asyncio channel whose ``get_msg`` polls in slices of :data:`POLL_SLICE_SECONDS`."""

    # jupyter_client declares the base's get_msg sync; on this asyncio channel it is a coroutine.
    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        """The next message; ``queue.Empty`` after ``timeout`` seconds (``None``: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = POLL_SLICE_SECONDS if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await super().get_msg(timeout=min(POLL_SLICE_SECONDS, remaining))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedPollKernelClient(AsyncKernelClient):
    """nbclient's kernel client with :class:`SlicedPollChannel` for the shell, iopub and control channels."""

    shell_channel_class = Type(SlicedPollChannel)
    iopub_channel_class = Type(SlicedPollChannel)
    control_channel_class = Type(SlicedPollChannel)


class IpcKernelManager(AsyncKernelManager):
    """Kernels over Unix sockets (no TCP port, no unencrypted-transport warning), with the sliced client."""

    client_factory = Type(SlicedPollKernelClient)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("transport", "ipc")
        # The socket files' path prefix must be absolute: the kernel starts in the notebook's folder,
        # the client stays where it is, and a relative prefix would point them at two different files.
        kwargs.setdefault("ip", os.path.join(tempfile.gettempdir(), f"orderlab-kernel-{uuid.uuid4().hex[:12]}"))
        super().__init__(**kwargs)


KERNEL_NAME = "python3"
ENGINE = "orderlab"  # papermill engine name of StartedKernelEngine
# What nbclient passes to a kernel it starts itself: no SQLite history file per kernel.
HISTORY_IN_MEMORY = "--HistoryManager.hist_file=:memory:"
# Libraries every notebook imports (through helpers), loaded while a kernel launched ahead boots.
# Only third-party ones, and no name is left behind: nothing a notebook can tell, but its first
# cell's imports are done. (helpers itself stays out: importing it registers the %%solution magic.)
PRELOADED_MODULES = ("numpy", "pandas", "botocore.session", "boto3", "matplotlib")


def launch_kernel(cwd: Path, kernel_name: str = KERNEL_NAME) -> IpcKernelManager:
    """Launch a kernel in ``cwd`` as nbclient would, and return its manager without waiting for it to boot.

    The kernel inherits the environment of this moment. Hand it to papermill with
    ``engine_name=ENGINE, km=manager`` (papermill then shuts it down), or :func:`discard_kernel` it.
    """
    manager = IpcKernelManager(kernel_name=kernel_name)
    run_sync(manager.start_kernel)(cwd=str(cwd), extra_arguments=[HISTORY_IN_MEMORY, *preload_arguments()])
    return manager


def preload_arguments(modules: tuple[str, ...] = PRELOADED_MODULES) -> list[str]:
    """IPython start-up lines that import ``modules`` and drop the names they bound.

    >>> preload_arguments(("numpy", "botocore.session"))
    ['--IPKernelApp.exec_lines=import numpy, botocore.session', '--IPKernelApp.exec_lines=del numpy, botocore']
    """
    bound = dict.fromkeys(module.split(".")[0] for module in modules)
    return [
        f"--IPKernelApp.exec_lines=import {', '.join(modules)}",
        f"--IPKernelApp.exec_lines=del {', '.join(bound)}",
    ]


def discard_kernel(manager: IpcKernelManager) -> None:
    """Stop a launched kernel that ran nothing (no need to wait for a graceful shutdown), and its files."""
    with contextlib.suppress(RuntimeError):  # already gone
        run_sync(manager.shutdown_kernel)(now=True)
    run_sync(manager.cleanup_resources)()


async def request_shutdown(manager: AsyncKernelManager) -> None:
    """The first half of jupyter_client's graceful ``shutdown_kernel``: interrupt, then ask the kernel to exit."""
    manager.shutting_down = True
    manager.stop_restarter()
    if manager.has_kernel:
        await manager.interrupt_kernel()
    await manager.request_shutdown()


def finish_shutdown(manager: AsyncKernelManager) -> None:
    """The second half: wait for the kernel to exit (SIGTERM, then SIGKILL, after ``shutdown_wait_time``),
    then remove its connection and socket files."""
    run_sync(manager.finish_shutdown)()
    run_sync(manager.cleanup_resources)()


class SeriesKernels:
    """The kernels of a series run: those launched ahead for the next notebooks, and those asked to exit.

    ``launch(cwd)`` launches a kernel in ``cwd`` (keeping at most one older unclaimed kernel: the
    current notebook's); ``claim(cwd)`` hands over the oldest one launched in that folder, once;
    ``stopping(manager)`` takes a kernel that was asked to shut down, ``reap()`` finishes the
    shutdowns of those that have exited by now, and ``close()`` discards the unclaimed kernels and
    finishes every shutdown (waiting as long as it takes).
    """

    def __init__(self) -> None:
        self._launched: list[tuple[IpcKernelManager, Path]] = []
        self._stopping: list[AsyncKernelManager] = []

    def launch(self, cwd: Path) -> None:
        while len(self._launched) > 1:  # launched for a notebook that never ran (skipped after a failure)
            discard_kernel(self._launched.pop(0)[0])
        self._launched.append((launch_kernel(cwd), cwd))

    def claim(self, cwd: Path) -> IpcKernelManager | None:
        for index, (manager, folder) in enumerate(self._launched):
            if folder == cwd:
                del self._launched[index]
                return manager
        return None

    def stopping(self, manager: AsyncKernelManager) -> None:
        self._stopping.append(manager)

    def reap(self) -> None:
        still: list[AsyncKernelManager] = []
        for manager in self._stopping:
            if run_sync(manager.is_alive)():
                still.append(manager)
            else:
                finish_shutdown(manager)
        self._stopping = still

    def close(self) -> None:
        launched, self._launched = self._launched, []
        stopping, self._stopping = self._stopping, []
        for unclaimed, _ in launched:
            discard_kernel(unclaimed)
        for manager in stopping:
            finish_shutdown(manager)


class StartedKernelNotebookClient(PapermillNotebookClient):
    """papermill's client on a kernel launched ahead (``km``), which it then owns.

    With ``stopping`` (a callable), the kernel is asked to shut down at the end and handed to it,
    instead of waiting here for the process to exit.
    """

    def __init__(
        self,
        nb_man: Any,
        km: IpcKernelManager | None = None,
        stopping: Callable[[AsyncKernelManager], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(nb_man, km=km, **kwargs)
        self.owns_km = True
        self._hand_over = stopping

    async def _async_cleanup_kernel(self) -> None:
        manager: Any = getattr(self, "km", None)
        if self._hand_over is None or manager is None:
            await super()._async_cleanup_kernel()
            return
        try:
            if await ensure_async(manager.is_alive()):
                await request_shutdown(manager)
        finally:
            client: Any = getattr(self, "kc", None)
            if client is not None:
                await ensure_async(client.stop_channels())
            self.kc = None
            self.km = None
            self._hand_over(manager)

    _cleanup_kernel = run_sync(_async_cleanup_kernel)


class CodeCellSaves(NotebookExecutionManager):
    """papermill's execution manager, writing the output notebook when a code cell starts and at the end.

    papermill also writes it when any cell completes and when a markdown cell starts: the same
    content a moment later, and each write re-serialises the whole notebook, figures included.
    A code cell's start still shows it ``running`` with every output before it, for whoever reads
    the file meanwhile (a stopped class learner's partial results).
    """

    _skipping = False

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        self._skipping = cell.get("cell_type") != "code"
        try:
            super().cell_start(cell, cell_index, **kwargs)
        finally:
            self._skipping = False

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        self._skipping = True  # the next cell's start, or the notebook's end, writes it
        try:
            super().cell_complete(cell, cell_index, **kwargs)
        finally:
            self._skipping = False

    def save(self, **kwargs: Any) -> None:
        if not self._skipping:
            super().save(**kwargs)


class StartedKernelEngine(NBClientEngine):
    """papermill's nbclient engine (same arguments), executing on the kernel passed as ``km`` if any,
    and writing the output notebook as :class:`CodeCellSaves` says."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        nb_man = CodeCellSaves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs = remove_args(["input_path"], **kwargs)
        options = merge_kwargs(
            remove_args(["timeout", "startup_timeout"], **kwargs),
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        return StartedKernelNotebookClient(nb_man, **options).execute()


papermill_engines.register(ENGINE, StartedKernelEngine)
