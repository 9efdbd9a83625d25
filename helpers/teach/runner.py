"""Run the notebook series headless (papermill): ``orderlab run`` (one learner) and ``orderlab class`` (many).

>>> results = run_series(output_dir=Path("runs/latest"), parameters={"prefix": "alice"})  # doctest: +SKIP
>>> print(summary_table(results))                                                      # doctest: +SKIP

A class: N learner prefixes against one cloud, at most ``concurrency`` at a time, each in its own
folder, optionally graded and cleaned up; :mod:`helpers.teach.report` writes ``report.html``/``report.json``::

    >>> run = run_class(class_prefixes(3), Path("runs/class-x"), concurrency=2, grade=True)   # doctest: +SKIP
    >>> [learner.ok for learner in run.learners]                                             # doctest: +SKIP
    [True, True, True]

Learners are isolated by their prefix: every resource is named ``<prefix>-…`` and tagged with it,
each learner's order page gets its own port (helpers/learn/frontend.py), and cleanup deletes by tag.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.core.lab import Lab
from helpers.core.naming import validate_prefix
from helpers.core.paths import NOTEBOOKS_DIR, REPO_ROOT
from helpers.core.progress import HEADLESS_ENV
from helpers.core.target import resolve_target
from helpers.core.workspace import set_aside
from helpers.learn.page import stop_page
from helpers.ops.cleanup import destroy_lab
from helpers.ops.discovery import find_lab_resources
from helpers.teach.grade import STEPS, grade_lab
from helpers.teach.report import write_report
from helpers.teach.results import ClassRun, LearnerRun, NotebookResult

if TYPE_CHECKING:
    from helpers.teach.kernels import SeriesKernels

CLEANUP_NOTEBOOK = REPO_ROOT / "cleanup.ipynb"


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


def run_notebook(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    *,
    timeout: int = 900,
    kernels: SeriesKernels | None = None,
) -> NotebookResult:
    """Execute one notebook with papermill; a failing cell is reported, not raised.

    ``kernels`` (a series run's, :class:`helpers.teach.kernels.SeriesKernels`): the notebook runs on
    the kernel launched ahead for its folder if there is one (else on one started now), and its
    kernel is asked to shut down at the end and left to ``kernels`` to reap; without, a kernel is
    started now and shut down before this returns.

    Thread-safe (class runs execute several at once): the kernel starts in the notebook's folder
    through nbclient's ``resources.metadata.path`` instead of papermill's ``cwd``, which would
    ``chdir`` the whole process.
    """
    # papermill (and the kernel machinery) on use: heavy, and only executing a notebook needs it
    import papermill

    from helpers.teach.kernels import ENGINE, KERNEL_NAME, IpcKernelManager

    output.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(HEADLESS_ENV, "1")  # the kernels inherit it: text progress bars, saved in their final state
    started = time.monotonic()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            resources={"metadata": {"path": str(notebook.parent)}},
            kernel_name=KERNEL_NAME,
            progress_bar=False,
            execution_timeout=timeout,
            log_output=False,
            kernel_manager_class=IpcKernelManager,
            engine_name=ENGINE,
            km=kernels.claim(notebook.parent) if kernels is not None else None,
            stopping=kernels.stopping if kernels is not None else None,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
        return NotebookResult(notebook.name, False, time.monotonic() - started, output, _error_summary(exc))
    return NotebookResult(notebook.name, True, time.monotonic() - started, output)


def notebook_parameters(notebook: Path, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters of one notebook of a headless run: ``solutions`` on by default in the numbered notebooks.

    >>> notebook_parameters(Path("03_sqs_workers.ipynb"), {"prefix": "alice"})
    {'solutions': True, 'prefix': 'alice'}
    >>> notebook_parameters(Path("03_sqs_workers.ipynb"), {"solutions": False})
    {'solutions': False}
    >>> notebook_parameters(Path("cleanup.ipynb"), {"solutions": True, "prefix": "alice"})
    {'prefix': 'alice'}
    """
    merged = {"solutions": True, **(parameters or {})}
    if notebook.name == CLEANUP_NOTEBOOK.name:  # no exercises, no such parameter
        merged.pop("solutions")
    return merged


def run_series(
    output_dir: Path,
    parameters: dict[str, Any] | None = None,
    *,
    notebooks: list[Path] | None = None,
    stop_on_failure: bool = True,
    echo=print,
) -> list[NotebookResult]:
    """Run ``notebooks`` (default: the whole series) in order into ``output_dir``.

    Solutions are on unless ``parameters`` says ``solutions: False`` (a learner-mode run): every
    solution applies itself and every exercise check must pass. After a failure the rest is skipped
    (each step needs the ones before), except ``cleanup.ipynb``, which always runs so a failed run
    leaves nothing behind. Each notebook gets a fresh kernel, launched while the one before runs, and
    no kernel outlives the run (:class:`helpers.teach.kernels.SeriesKernels`).
    """
    notebooks = notebooks if notebooks is not None else series()
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    os.environ.setdefault(HEADLESS_ENV, "1")  # before any kernel starts: they inherit it
    from helpers.teach.kernels import SeriesKernels  # on use, as in run_notebook

    results: list[NotebookResult] = []
    failed = False
    kernels = SeriesKernels()
    try:
        for index, notebook in enumerate(notebooks):
            is_cleanup = notebook.name == CLEANUP_NOTEBOOK.name
            if failed and stop_on_failure and not is_cleanup:
                results.append(
                    NotebookResult(
                        notebook.name, False, 0.0, output_dir / notebook.name, "skipped: an earlier notebook failed"
                    )
                )
                continue
            echo(f"▶ {notebook.name} ...")
            kernels.reap()  # the kernels that have exited meanwhile
            # The notebook runs on the kernel launched while the one before ran; the next one's boots now.
            if not results:  # the first: nothing ran before it
                kernels.launch(notebook.parent)
            if index + 1 < len(notebooks):
                kernels.launch(notebooks[index + 1].parent)
            result = run_notebook(
                notebook, output_dir / notebook.name, notebook_parameters(notebook, parameters), kernels=kernels
            )
            echo(
                f"  {'ok' if result.ok else 'FAILED'} in {result.seconds:.1f} s"
                + (f" — {result.error}" if result.error else "")
            )
            results.append(result)
            failed = failed or not result.ok
    finally:
        kernels.close()
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


# ---------------------------------------------------------------------------------------------
# A class: many learners, one cloud
# ---------------------------------------------------------------------------------------------


def class_prefixes(count: int, base: str = "learner") -> list[str]:
    """``count`` learner prefixes ``<base>01``, ``<base>02``, … (each a valid lab prefix).

    >>> class_prefixes(3)
    ['learner01', 'learner02', 'learner03']
    """
    if count < 1:
        raise ValueError(f"a class has at least one learner, got {count}")
    width = max(2, len(str(count)))
    return [validate_prefix(f"{base}{index:0{width}d}") for index in range(1, count + 1)]


def select_notebooks(steps: Iterable[str] | None) -> list[Path]:
    """The numbered notebooks whose number is in ``steps`` (e.g. ``["00", "01"]``); all of them for None."""
    numbered = series(include_cleanup=False)
    if steps is None:
        return numbered
    wanted = {s.strip().zfill(2) for s in steps if s.strip()}
    chosen = [p for p in numbered if p.name[:2] in wanted]
    unknown = sorted(wanted - {p.name[:2] for p in chosen})
    if unknown:
        raise ValueError(
            f"no notebook numbered {', '.join(unknown)} in {NOTEBOOKS_DIR} "
            f"(there are {', '.join(p.name[:2] for p in numbered)})"
        )
    return chosen


def cleanup_prefix(target: str | None, prefix: str) -> dict[str, Any]:
    """Delete every resource of ``prefix`` (by tag) and verify none remains: ``{"ok", "deleted", …}``.

    The prefix's handler copies (helpers.core.workspace) are set aside too, as ``cleanup.ipynb`` does.
    """
    lab = Lab.connect(target, prefix)
    stop_page(prefix)
    report = destroy_lab(lab)
    remaining = find_lab_resources(lab)  # verified by a fresh search, not taken on trust
    aside = set_aside(prefix)
    return {
        "ok": not remaining and not report.errors,
        "deleted": len(report.deleted),
        "errors": [str(e) for e in report.errors],
        "remaining": [str(r) for r in remaining],
        "handlers_set_aside": str(aside) if aside else None,
    }


LEARNER_FILE = "learner.json"  # what a learner's process leaves in its folder for the class run


def run_learner(
    prefix: str,
    notebooks: list[Path],
    output_dir: Path,
    parameters: dict[str, Any],
    *,
    grade: bool,
    cleanup: bool,
    echo: Callable[[str], None] = print,
) -> LearnerRun:
    """One learner of a class, in this process: its notebooks, then its grade and cleanup if asked for.

    Writes ``<output_dir>/<prefix>/learner.json`` (what :func:`run_class` reads back).
    """
    learner = LearnerRun(prefix, output_dir / prefix)
    started = time.monotonic()
    target = parameters.get("target")
    try:
        learner.results = run_series(
            learner.output_dir, {**parameters, "prefix": prefix}, notebooks=notebooks, echo=echo
        )
        if grade:
            steps = sorted({p.name[:2] for p in notebooks} & set(STEPS))
            learner.grade = grade_lab(Lab.connect(target, prefix), steps).to_dict()
            echo(f"graded: {len(learner.grade['done'])}/{len(learner.grade['steps'])} steps done correctly")
        if cleanup:
            learner.cleanup = cleanup_prefix(target, prefix)
            echo(f"cleanup: {'nothing remains' if learner.cleanup['ok'] else 'FAILED'}")
    except Exception as error:  # reported in the class report, never lost
        learner.error = f"{type(error).__name__}: {error}"
        echo(f"ERROR {learner.error}")
    learner.seconds = time.monotonic() - started
    learner.output_dir.mkdir(parents=True, exist_ok=True)
    (learner.output_dir / LEARNER_FILE).write_text(
        json.dumps(_learner_to_json(learner), indent=2, default=str), encoding="utf-8"
    )
    return learner


def _learner_to_json(learner: LearnerRun) -> dict[str, Any]:
    return {
        "prefix": learner.prefix,
        "seconds": learner.seconds,
        "error": learner.error,
        "grade": learner.grade,
        "cleanup": learner.cleanup,
        "results": [
            {"notebook": r.notebook, "ok": r.ok, "seconds": r.seconds, "output": str(r.output), "error": r.error}
            for r in learner.results
        ],
    }


def _learner_from_json(data: dict[str, Any], output_dir: Path) -> LearnerRun:
    results = [
        NotebookResult(r["notebook"], r["ok"], r["seconds"], Path(r["output"]), r["error"]) for r in data["results"]
    ]
    return LearnerRun(
        data["prefix"],
        output_dir,
        results,
        data["seconds"],
        data.get("grade"),
        data.get("cleanup"),
        data.get("error", ""),
    )


def _spawn_learner(
    prefix: str,
    notebooks: list[Path],
    output_dir: Path,
    parameters: dict[str, Any],
    *,
    grade: bool,
    cleanup: bool,
    echo: Callable[[str], None],
    timeout: float,
) -> LearnerRun:
    """Run one learner in a process of its own (``python -m helpers.teach.runner``) and read its learner.json.

    A process per learner, not a thread: papermill/nbclient keep per-process state (the working
    directory, event loops, ZeroMQ contexts) and two executions in threads of one process can hang.
    """
    import subprocess
    import sys

    folder = output_dir / prefix
    result_file = folder / LEARNER_FILE
    result_file.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "helpers.teach.runner",
        "--prefix",
        prefix,
        "--output",
        str(output_dir),
        "--notebooks",
        ",".join(str(p) for p in notebooks),
        "--parameters",
        json.dumps(parameters, default=str),
    ]
    command += ["--grade"] if grade else []
    command += ["--cleanup"] if cleanup else []
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    tail: list[str] = []
    timer = threading.Timer(timeout, process.kill)  # bounded: a stuck learner cannot stall the class
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail = ([*tail, line])[-20:]
            echo(f"[{prefix}] {line.strip()}")
        process.wait()
    finally:
        timer.cancel()
    if result_file.is_file():
        return _learner_from_json(json.loads(result_file.read_text(encoding="utf-8")), folder)
    reason = (
        f"stopped after {timeout:.0f} s" if time.monotonic() - started >= timeout else f"exit code {process.returncode}"
    )
    return LearnerRun(
        prefix,
        folder,
        _partial_results(notebooks, folder, reason),
        time.monotonic() - started,
        error=f"the learner's run ended without a result ({reason}): {' | '.join(tail[-5:])}",
    )


def _partial_results(notebooks: list[Path], folder: Path, reason: str) -> list[NotebookResult]:
    """What a stopped learner got done, from the executed notebooks papermill saved as it went."""
    # nbformat on use: only reading a learner's executed notebooks needs it
    import nbformat

    results: list[NotebookResult] = []
    for notebook in notebooks:
        output = folder / notebook.name
        if not output.is_file():
            results.append(NotebookResult(notebook.name, False, 0.0, output, f"skipped: not started ({reason})"))
            continue
        executed = nbformat.read(str(output), as_version=4)
        meta = executed.metadata.get("papermill", {})
        running = [
            c.get("id", "?")
            for c in executed.cells
            if c.get("metadata", {}).get("papermill", {}).get("status") == "running"
        ]
        if meta.get("end_time") and not meta.get("exception") and not running:
            results.append(NotebookResult(notebook.name, True, float(meta.get("duration") or 0.0), output))
        else:
            where = f" while running cell {running[0]}" if running else ""
            results.append(
                NotebookResult(notebook.name, False, float(meta.get("duration") or 0.0), output, f"{reason}{where}")
            )
    return results


def run_class(
    prefixes: list[str],
    output_dir: Path,
    parameters: dict[str, Any] | None = None,
    *,
    notebooks: list[Path] | None = None,
    concurrency: int = 2,
    grade: bool = False,
    cleanup: bool = False,
    echo: Callable[[str], None] = print,
    learner_timeout: float | None = None,
) -> ClassRun:
    """Run ``notebooks`` (default: every numbered one) for each learner prefix, ``concurrency`` at a time.

    Each learner gets ``output_dir/<prefix>/``; ``parameters`` go to every notebook (the learner's
    ``prefix`` is added). ``grade``: then inspect each learner's resources (:mod:`helpers.teach.grade`).
    ``cleanup``: then delete each learner's resources and verify none remains. Each learner runs in
    a process of its own; ``learner_timeout`` (default 15 min per notebook) bounds it. Writes
    ``report.json`` and ``report.html`` into ``output_dir`` (:mod:`helpers.teach.report`).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"learner prefixes must be distinct, got {prefixes}")
    for prefix in prefixes:
        validate_prefix(prefix)
    parameters = dict(parameters or {})
    parameters.pop("prefix", None)  # each learner's own
    notebooks = notebooks if notebooks is not None else select_notebooks(None)
    target = resolve_target(parameters.get("target"))
    output_dir.mkdir(parents=True, exist_ok=True)
    run = ClassRun(
        output_dir,
        target.describe(),
        [p.name for p in notebooks],
        concurrency,
        parameters,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            echo(line)

    started = time.monotonic()
    timeout = learner_timeout or 900.0 * (len(notebooks) + 1)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="orderlab-learner") as pool:
        futures = [
            pool.submit(
                _spawn_learner,
                prefix,
                notebooks,
                output_dir,
                parameters,
                grade=grade,
                cleanup=cleanup,
                echo=say,
                timeout=timeout,
            )
            for prefix in prefixes
        ]
        run.learners = [future.result() for future in futures]
    run.seconds = time.monotonic() - started
    write_report(run)
    return run


def class_output_dir(root: Path | None = None) -> Path:
    """``runs/class-<UTC timestamp>/`` (a new folder per class run)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return (root or REPO_ROOT / "runs") / f"class-{stamp}"


def main(argv: list[str] | None = None) -> int:
    """One learner of a class:
    ``python -m helpers.teach.runner --prefix P --output DIR --notebooks a.ipynb,b.ipynb``."""
    import argparse

    parser = argparse.ArgumentParser(description="One learner of a class run (used by `orderlab class`).")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--output", required=True, help="the class run's folder")
    parser.add_argument("--notebooks", required=True, help="notebook paths, comma-separated")
    parser.add_argument("--parameters", default="{}", help="notebook parameters as JSON")
    parser.add_argument("--grade", action="store_true")
    parser.add_argument("--cleanup", action="store_true")
    args = parser.parse_args(argv)
    learner = run_learner(
        args.prefix,
        [Path(p) for p in args.notebooks.split(",") if p],
        Path(args.output),
        json.loads(args.parameters),
        grade=args.grade,
        cleanup=args.cleanup,
        echo=lambda line: print(line.strip(), flush=True),
    )
    return 0 if learner.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
