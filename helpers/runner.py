"""Run the notebook series headless (papermill) and summarise it: ``orderlab run``.

>>> results = run_series(output_dir=Path("runs/latest"), parameters={"prefix": "alice"})  # doctest: +SKIP
>>> print(summary_table(results))                                                      # doctest: +SKIP
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
CLEANUP_NOTEBOOK = REPO_ROOT / "cleanup.ipynb"


def _ipc_kernel_manager():
    """A kernel manager whose kernels talk over Unix sockets instead of loopback TCP.

    Headless runs need no network port for the kernel (and ipykernel stops warning that TCP
    traffic is unencrypted).
    """
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return IpcKernelManager


@dataclass(frozen=True)
class NotebookResult:
    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""


def series(include_cleanup: bool = True) -> list[Path]:
    """The numbered notebooks in order (``notebooks/NN_*.ipynb``), then ``cleanup.ipynb``."""
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if include_cleanup and CLEANUP_NOTEBOOK.exists():
        found.append(CLEANUP_NOTEBOOK)
    return found


def _error_summary(exc: BaseException) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    return f"{ename}: {evalue}".strip().splitlines()[0][:300] if evalue else ename


def run_notebook(notebook: Path, output: Path, parameters: dict[str, Any], *, timeout: int = 900) -> NotebookResult:
    """Execute one notebook with papermill; a failing cell is reported, not raised."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
            kernel_name="python3", progress_bar=False, execution_timeout=timeout, log_output=False,
            kernel_manager_class=_ipc_kernel_manager(),
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
        return NotebookResult(notebook.name, False, time.monotonic() - started, output, _error_summary(exc))
    return NotebookResult(notebook.name, True, time.monotonic() - started, output)


def run_series(
    output_dir: Path,
    parameters: dict[str, Any] | None = None,
    *,
    notebooks: list[Path] | None = None,
    stop_on_failure: bool = True,
    echo=print,
) -> list[NotebookResult]:
    """Run ``notebooks`` (default: the whole series) in order into ``output_dir``.

    After a failure the rest is skipped (each step needs the ones before), except
    ``cleanup.ipynb``, which always runs so a failed run leaves nothing behind.
    """
    notebooks = notebooks if notebooks is not None else series()
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    results: list[NotebookResult] = []
    failed = False
    for notebook in notebooks:
        is_cleanup = notebook.name == CLEANUP_NOTEBOOK.name
        if failed and stop_on_failure and not is_cleanup:
            results.append(NotebookResult(notebook.name, False, 0.0, output_dir / notebook.name, "skipped: an earlier notebook failed"))
            continue
        echo(f"▶ {notebook.name} ...")
        result = run_notebook(notebook, output_dir / notebook.name, dict(parameters or {}))
        echo(f"  {'ok' if result.ok else 'FAILED'} in {result.seconds:.1f} s" + (f" — {result.error}" if result.error else ""))
        results.append(result)
        failed = failed or not result.ok
    return results


def summary_table(results: list[NotebookResult]) -> str:
    """A plain-text per-notebook summary with a total line."""
    width = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook'.ljust(width)}  status   seconds  detail", "-" * (width + 40)]
    for r in results:
        status = "ok" if r.ok else ("skipped" if r.error.startswith("skipped") else "FAILED")
        lines.append(f"{r.notebook.ljust(width)}  {status:<7}  {r.seconds:7.1f}  {'' if r.ok else r.error}")
    passed = sum(r.ok for r in results)
    lines.append("-" * (width + 40))
    lines.append(f"{'total'.ljust(width)}  {passed}/{len(results)} ok {sum(r.seconds for r in results):7.1f}")
    return "\n".join(lines)
