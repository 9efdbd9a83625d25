"""The class report: per learner and per notebook, pass/fail, duration, the failing check's message,
links to the executed notebooks, and each learner's grade and cleanup — as JSON and as HTML.

>>> paths = write_report(class_run)          # runs/class-<timestamp>/report.json + report.html  # doctest: +SKIP

The pure parts work on plain data and files, so they are unit-tested without a cloud:
:func:`notebook_failure` reads an executed notebook and finds the cell that failed (and, for a
``CheckFailed``, the verdict it printed); :func:`build_report` turns a
:class:`helpers.teach.results.ClassRun` into JSON-ready data; :func:`render_html` renders that data.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from helpers.teach.results import ClassRun, NotebookResult

__all__ = ["REPORT_KIND", "Failure", "build_report", "notebook_failure", "render_html", "write_report"]

REPORT_KIND = "orderlab-class-report"
REPORT_VERSION = 1
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Failure:
    """The first failing cell of an executed notebook."""

    cell: int  # index among the notebook's cells
    cell_id: str
    ename: str  # the exception's class, e.g. CheckFailed, PrerequisiteMissing
    message: str  # the exception's message (a CheckFailed's message is the whole verdict)
    kind: str  # "check", "exercise-check", "prerequisites" or "error"
    exercise: str = ""  # the exercise id when the failing cell belongs to one

    def first_line(self) -> str:
        return (self.message.strip().splitlines() or [self.ename])[0]


def _plain(text: str) -> str:
    return _ANSI.sub("", text or "")


def _kind(ename: str, tags: list[str]) -> str:
    if "exercise-check" in tags:
        return "exercise-check"
    if ename == "PrerequisiteMissing" or "prerequisites" in tags:
        return "prerequisites"
    if ename in ("CheckFailed", "WaitedTooLong") or "check-your-work" in tags:
        return "check"
    return "error"


def notebook_failure(path: Path) -> Failure | None:
    """The first cell of an executed notebook with an ``error`` output (papermill stops there), or None.

    Cells tagged ``raises-exception`` are expected to fail and are skipped.
    """
    # nbformat on use: only the HTML report reads executed notebooks
    import nbformat

    if not Path(path).is_file():
        return None
    notebook = nbformat.read(str(path), as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "raises-exception" in tags:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename = output.get("ename", "Error")
                message = _plain(output.get("evalue", "")) or "\n".join(_plain(t) for t in output.get("traceback", []))
                exercise = (cell.get("metadata", {}).get("orderlab") or {}).get("exercise", "")
                return Failure(index, str(cell.get("id", "")), ename, message.strip(), _kind(ename, tags), exercise)
    return None


def _notebook_entry(result: NotebookResult, base: Path) -> dict[str, Any]:
    skipped = result.error.startswith("skipped")
    status = "ok" if result.ok else ("skipped" if skipped else "failed")
    output = Path(result.output)
    exists = output.is_file()
    try:
        relative = output.resolve().relative_to(base.resolve()).as_posix() if exists else None
    except ValueError:
        relative = str(output)
    failure = None
    if not result.ok and not skipped:
        found = notebook_failure(output) if exists else None
        failure = (
            asdict(found)
            if found
            else {
                "cell": None,
                "cell_id": "",
                "ename": "Error",
                "message": result.error,
                "kind": "error",
                "exercise": "",
            }
        )
    return {
        "notebook": result.notebook,
        "status": status,
        "seconds": round(result.seconds, 2),
        "output": relative,
        "failure": failure,
        "detail": result.error if skipped else "",
    }


def build_report(run: ClassRun) -> dict[str, Any]:
    """JSON-ready data for a class run (paths relative to the run's folder)."""
    learners = []
    for learner in run.learners:
        learners.append(
            {
                "prefix": learner.prefix,
                "ok": learner.ok,
                "seconds": round(learner.seconds, 2),
                "error": learner.error,
                "notebooks": [_notebook_entry(r, run.output_dir) for r in learner.results],
                "grade": learner.grade,
                "cleanup": learner.cleanup,
            }
        )
    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "started_at": run.started_at,
        "target": run.target,
        "notebooks": list(run.notebooks),
        "concurrency": run.concurrency,
        "parameters": run.parameters,
        "seconds": round(run.seconds, 2),
        "ok": run.ok,
        "passed": sum(1 for learner in learners if learner["ok"]),
        "learners": learners,
    }


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#1f2328;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}.ok{color:#1a7f37}.failed{color:#cf222e}.skipped{color:#9a6700}
td.ok{background:#dafbe1}td.failed{background:#ffebe9}td.skipped{background:#fff8c5}
pre{background:#f6f8fa;padding:.5em;white-space:pre-wrap;margin:.3em 0}.muted{color:#656d76}
"""
_MARK = {"ok": "✔", "failed": "✘", "skipped": "–"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _link(relative: str | None, text: str) -> str:
    return f'<a href="{_e(quote(relative))}">{_e(text)}</a>' if relative else _e(text)


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (every value escaped)."""
    notebooks = report["notebooks"]
    head = [f"<th>{_e(name)}</th>" for name in notebooks]
    rows = []
    for learner in report["learners"]:
        by_name = {n["notebook"]: n for n in learner["notebooks"]}
        cells = []
        for name in notebooks:
            entry = by_name.get(name)
            if entry is None:
                cells.append('<td class="muted">not run</td>')
                continue
            text = f"{_MARK[entry['status']]} {entry['seconds']:.1f} s"
            title = (
                entry["failure"]["message"].splitlines()[0]
                if entry.get("failure") and entry["failure"]["message"]
                else ""
            )
            cells.append(f'<td class="{entry["status"]}" title="{_e(title)}">{_link(entry["output"], text)}</td>')
        grade = learner.get("grade")
        grade_cell = f"{len(grade['done'])}/{len(grade['steps'])}" if grade else '<span class="muted">—</span>'
        cleanup = learner.get("cleanup")
        cleanup_cell = (
            '<span class="muted">—</span>'
            if cleanup is None
            else (
                '<span class="ok">nothing remains</span>'
                if cleanup.get("ok")
                else f'<span class="failed">{len(cleanup.get("remaining", []))} remain</span>'
            )
        )
        status = "ok" if learner["ok"] else "failed"
        rows.append(
            f'<tr><th><a href="#{_e(learner["prefix"])}">{_e(learner["prefix"])}</a></th>'
            f'<td class="{status}">{"passed" if learner["ok"] else "FAILED"}</td>{"".join(cells)}'
            f"<td>{learner['seconds']:.1f} s</td><td>{grade_cell}</td><td>{cleanup_cell}</td></tr>"
        )

    sections = []
    for learner in report["learners"]:
        parts = [
            f'<h2 id="{_e(learner["prefix"])}">{_e(learner["prefix"])} — '
            f'<span class="{"ok" if learner["ok"] else "failed"}">{"passed" if learner["ok"] else "failed"}</span></h2>'
        ]
        if learner.get("error"):
            parts.append(f'<p class="failed">The run itself failed: {_e(learner["error"])}</p>')
        for entry in learner["notebooks"]:
            failure = entry.get("failure")
            if failure:
                where = f"cell {failure['cell']}" if failure.get("cell") is not None else "the notebook"
                exercise = f" (exercise {failure['exercise']})" if failure.get("exercise") else ""
                parts.append(
                    f"<p><b>{_link(entry['output'], entry['notebook'])}</b> failed at {_e(where)}{_e(exercise)}: "
                    f"<code>{_e(failure['ename'])}</code></p><pre>{_e(failure['message'])}</pre>"
                )
            elif entry["status"] == "skipped":
                parts.append(f'<p class="skipped">{_e(entry["notebook"])}: {_e(entry["detail"])}</p>')
        grade = learner.get("grade")
        if grade:
            grade_rows = "".join(
                f"<tr><td>{_e(step['step'])}</td><td>{_e(step['title'])}</td>"
                f'<td class="{"ok" if step["done"] else "failed"}">{"done" if step["done"] else "not done"}</td>'
                f"<td>{_e('; '.join(step.get('problems', [])))}</td></tr>"
                for step in grade["steps"]
            )
            parts.append(
                f"<h3>Grade</h3><table><tr><th>step</th><th>what</th><th>verdict</th><th>problems</th></tr>"
                f"{grade_rows}</table>"
            )
            exercise_rows = "".join(
                f"<tr><td>{_e(e['exercise'])}</td><td>{_e(e['title'])}</td>"
                f'<td class="{"ok" if e["state"] != "not done" else "failed"}">{_e(e["state"])}</td></tr>'
                for e in grade.get("exercises", [])
            )
            if exercise_rows:
                parts.append(
                    f"<h3>Exercises</h3><table><tr><th>exercise</th><th>what</th><th>state</th></tr>"
                    f"{exercise_rows}</table>"
                )
        cleanup = learner.get("cleanup")
        if cleanup is not None:
            remaining = "".join(f"<li>{_e(r)}</li>" for r in cleanup.get("remaining", []))
            errors = "".join(f"<li>{_e(r)}</li>" for r in cleanup.get("errors", []))
            parts.append(
                f"<h3>Cleanup</h3><p>deleted {cleanup.get('deleted', 0)} resource(s); "
                f"{'nothing remains' if cleanup.get('ok') else 'NOT clean'}</p>"
                + (f"<ul>{remaining}{errors}</ul>" if remaining or errors else "")
            )
        sections.append("\n".join(parts))

    params = ", ".join(f"{k}={v!r}" for k, v in sorted(report.get("parameters", {}).items())) or "none"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Order Pipeline Lab — class report {_e(report['started_at'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>Order Pipeline Lab — class report</h1>"
        f"<p>{report['passed']}/{len(report['learners'])} learners passed · target {_e(report['target'])} · "
        f"started {_e(report['started_at'])} · {report['seconds']:.1f} s · concurrency {report['concurrency']} · "
        f"parameters: {_e(params)}</p>"
        f"<table><tr><th>learner</th><th>result</th>{''.join(head)}<th>time</th><th>grade</th><th>cleanup</th></tr>"
        f"{''.join(rows)}</table>"
        '<p class="muted">Each notebook cell links to the executed notebook (open it in JupyterLab). '
        "Hover a failed one for its message.</p>"
        f"{''.join(sections)}</body></html>\n"
    )


def write_report(run: ClassRun) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into the run's folder; return their paths."""
    data = build_report(run)
    json_path = run.output_dir / "report.json"
    html_path = run.output_dir / "report.html"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render_html(data), encoding="utf-8")
    return json_path, html_path
