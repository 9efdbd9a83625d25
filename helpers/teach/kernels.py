"""Kernels for headless runs: Unix-socket transport and a client that never misses a reply.

>>> papermill.execute_notebook(source, output, kernel_manager_class=IpcKernelManager)  # doctest: +SKIP

The client polls in short slices: pyzmq's asyncio sockets can miss ZeroMQ's edge-triggered
wake-up while nbclient sends on the socket it waits on (cells writing to an ``Output`` widget),
which left a cell waiting for a reply that had arrived (docs/notebook-conventions.md,
"Headless kernels").
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from queue import Empty
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
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
