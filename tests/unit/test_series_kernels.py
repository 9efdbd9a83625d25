"""A series run's kernels (helpers/teach/kernels.py): launched ahead, fresh per notebook, none left behind.

Real kernels on tiny notebooks: each notebook runs in its own folder on a kernel of its own (the
one launched while the notebook before ran), sees no name a previous notebook or the preloading
defined, and after the run no kernel process and no socket file remains, also when a notebook
fails. The output notebook is written when a code cell starts: a cell reading it sees itself
running and the outputs before it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from jupyter_core.utils import run_sync
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.teach.kernels import PRELOADED_MODULES, SeriesKernels, request_shutdown
from helpers.teach.runner import run_series

pytestmark = pytest.mark.slow  # real kernels, several per test

PROBE = (
    "import json, os, sys\n"
    "print(json.dumps({'pid': os.getpid(), 'cwd': os.getcwd(),\n"
    "    'names': sorted(k for k in dir() if not k.startswith('_')),\n"
    "    'preloaded': [m for m in PRELOADED if m in sys.modules]}))\n"
    "leftover = 'from an earlier notebook'"
)


def _notebook(path: Path, *extra: str) -> Path:
    preloaded = f"PRELOADED = {list(PRELOADED_MODULES)!r}"
    notebook = new_notebook(cells=[new_markdown_cell("# probe"), new_code_cell(f"{preloaded}\n{PROBE}")])
    notebook.cells += [new_code_cell(source) for source in extra]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def _probe(output: Path) -> dict:
    """What the probe cell printed, and its execution count against the code cells up to it."""
    code = [c for c in nbformat.read(output, as_version=4).cells if c.cell_type == "code"]
    index = next(i for i, c in enumerate(code) if "PRELOADED" in c.source)
    probe = json.loads("".join(o.get("text", "") for o in code[index].outputs))
    return {**probe, "count": code[index].execution_count, "cells_so_far": index + 1}


def _children() -> set[int]:
    """This process's descendants (a session's local cloud may be one already)."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _kernel_sockets() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("orderlab-kernel-")}


@pytest.fixture(autouse=True)
def own_socket_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The kernels' socket files go to a folder of this test's own: other kernels of the session (the
    background series run, the other worker) come and go in the shared temporary folder meanwhile.
    A short path: a Unix socket's path has at most 107 bytes."""
    folder = tempfile.mkdtemp(prefix="okt-", dir="/tmp")
    monkeypatch.setattr(tempfile, "tempdir", folder)
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.timeout(180)
def test_each_notebook_gets_a_fresh_kernel_launched_ahead_in_its_folder(tmp_path: Path) -> None:
    sockets, children = _kernel_sockets(), _children()
    notebooks = [
        _notebook(tmp_path / "steps" / "a.ipynb"),
        _notebook(tmp_path / "steps" / "b.ipynb"),
        _notebook(tmp_path / "other" / "c.ipynb"),
    ]

    results = run_series(tmp_path / "out", {}, notebooks=notebooks, echo=lambda _: None)

    assert [r.ok for r in results] == [True, True, True], [r.error for r in results]
    probes = [_probe(r.output) for r in results]
    assert [p["cwd"] for p in probes] == [str(n.parent) for n in notebooks]
    assert len({p["pid"] for p in probes}) == 3
    for probe in probes:
        assert probe["count"] == probe["cells_so_far"]  # nothing ran in its kernel before the notebook
        assert "leftover" not in probe["names"] and not {"numpy", "pandas", "boto3"} & set(probe["names"])
        assert probe["preloaded"] == list(PRELOADED_MODULES)
    assert _children() <= children
    assert _kernel_sockets() <= sockets


@pytest.mark.timeout(180)
def test_a_failed_notebook_leaves_no_kernel_behind(tmp_path: Path) -> None:
    sockets, children = _kernel_sockets(), _children()
    notebooks = [
        _notebook(tmp_path / "a.ipynb", "raise RuntimeError('boom')"),
        _notebook(tmp_path / "b.ipynb"),  # skipped: its kernel, launched ahead, is discarded
    ]

    results = run_series(tmp_path / "out", {}, notebooks=notebooks, echo=lambda _: None)

    assert results[0].error == "RuntimeError: boom"
    assert results[1].error.startswith("skipped")
    assert _children() <= children
    assert _kernel_sockets() <= sockets


def test_a_kernel_is_claimed_once_and_only_in_its_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    children = _children()
    kernels = SeriesKernels()
    try:
        kernels.launch(tmp_path / "a")
        kernels.launch(tmp_path / "b")
        assert kernels.claim(tmp_path / "c") is None
        claimed = kernels.claim(tmp_path / "b")
        assert claimed is not None and kernels.claim(tmp_path / "b") is None
        run_sync(request_shutdown)(claimed)
        kernels.stopping(claimed)
    finally:
        kernels.close()  # the unclaimed one discarded, the stopping one reaped
    assert _children() <= children


@pytest.mark.timeout(120)
def test_the_output_notebook_shows_the_running_cell_and_the_outputs_before_it(tmp_path: Path) -> None:
    output = tmp_path / "out" / "a.ipynb"
    reader = (
        "import json\n"
        f"saved = json.load(open({str(output)!r}))\n"
        "cells = [c for c in saved['cells'] if c['cell_type'] == 'code']\n"
        "probe = next(c for c in cells if 'PRELOADED' in ''.join(c['source']))\n"
        "print(cells[-1]['metadata']['papermill']['status'], 'pid' in ''.join(probe['outputs'][0]['text']))"
    )
    notebook = _notebook(tmp_path / "a.ipynb", reader)

    [result] = run_series(tmp_path / "out", {}, notebooks=[notebook], echo=lambda _: None)

    assert result.ok, result.error
    executed = nbformat.read(output, as_version=4)
    assert "".join(executed.cells[-1].outputs[0]["text"]).split() == ["running", "True"]
    assert {c.metadata.papermill.status for c in executed.cells} == {"completed"}
