"""Headless kernels never wait for a message that has already arrived (helpers/teach/kernels.py).

The cause of the class-run hang: ZeroMQ's edge-triggered readiness descriptor and pyzmq's
asyncio sockets can miss a wake-up when a message arrives while the socket is also sending,
which nbclient does whenever a cell writes to an ipywidgets ``Output`` widget.

- a channel whose first poll misses its wake-up still returns the message, one slice later,
  while jupyter_client's plain channel waits for ever (deterministic: a socket that loses the
  first wake-up);
- a real kernel runs 150 cells that write to an ``Output`` widget the way the order form did.
  Before the fix such a run stalled several times; with a long cell timeout (as in real runs)
  a stall lasts until that timeout, so this test's own 120 s limit fails it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import pytest
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from nbformat.v4 import new_code_cell, new_notebook

from helpers.teach.kernels import POLL_SLICE_SECONDS, IpcKernelManager, SlicedPollChannel, SlicedPollKernelClient
from helpers.teach.runner import run_notebook


class _LostWakeUpSocket:
    """A socket holding one ready message whose first poll never hears of it (a missed edge)."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.polls: list[int | None] = []

    async def poll(self, timeout_ms: int | None = None) -> int:
        self.polls.append(timeout_ms)
        if len(self.polls) == 1:  # the lost wake-up: sleeps as if nothing had arrived
            if timeout_ms is None:
                await asyncio.Event().wait()
            await asyncio.sleep(timeout_ms / 1000)
            return 0
        return 1  # a fresh poll looks at the socket's state again and sees the message

    async def recv_multipart(self, **_: Any) -> list[bytes]:
        return self.frames


def _channel(cls: type, session: Session) -> tuple[Any, _LostWakeUpSocket]:
    frames = session.serialize(session.msg("execute_reply", {"status": "ok"}))
    socket = _LostWakeUpSocket(frames)
    channel = cls.__new__(cls)  # the constructors insist on a real zmq.asyncio socket
    channel.socket, channel.session = socket, session
    return channel, socket


def test_a_missed_wake_up_costs_one_slice_not_the_whole_wait() -> None:
    session = Session()
    channel, socket = _channel(SlicedPollChannel, session)

    reply = asyncio.run(asyncio.wait_for(channel.get_msg(timeout=None), timeout=5 * POLL_SLICE_SECONDS))

    assert reply["msg_type"] == "execute_reply"
    assert socket.polls[0] == int(POLL_SLICE_SECONDS * 1000) and len(socket.polls) == 2


def test_the_plain_channel_waits_for_ever_on_a_missed_wake_up() -> None:
    """The control experiment: without slices the same socket never returns the message."""
    channel, _ = _channel(AsyncZMQSocketChannel, Session())

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(channel.get_msg(timeout=None), timeout=5 * POLL_SLICE_SECONDS))


def test_a_timeout_still_ends_in_empty() -> None:
    channel, socket = _channel(SlicedPollChannel, Session())
    socket.frames = []

    async def never_ready(timeout_ms: int | None = None) -> int:
        socket.polls.append(timeout_ms)
        await asyncio.sleep((timeout_ms or 0) / 1000)
        return 0

    socket.poll = never_ready  # type: ignore[method-assign]
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.6))
    assert len(socket.polls) >= 3  # 0.6 s in slices of 0.25 s


def test_headless_runs_use_the_sliced_client() -> None:
    assert IpcKernelManager().client_factory is SlicedPollKernelClient
    for channel in ("shell", "iopub", "control"):
        assert getattr(SlicedPollKernelClient, f"{channel}_channel_class").klass is SlicedPollChannel


@pytest.mark.long  # 150 cells on a real kernel
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_kernel_writing_to_an_output_widget_never_stalls(tmp_path: Path) -> None:
    notebook = new_notebook()
    notebook.cells = [
        new_code_cell("import ipywidgets as w\nfrom IPython.display import HTML, display\nout = w.Output()\nout")
    ]
    notebook.cells += [
        new_code_cell(f"with out:\n    out.clear_output()\n    display(HTML('<b>reply</b>'))\nprint('cell {i}')")
        for i in range(150)
    ]
    source = tmp_path / "output_widget.ipynb"
    nbformat.write(notebook, source)

    result = run_notebook(source, tmp_path / "executed.ipynb", {}, timeout=3600)

    assert result.ok, result.error
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert "cell 149" in "".join(out.get("text", "") for out in executed.cells[-1].outputs)
