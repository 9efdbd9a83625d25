"""The class report's pure parts (no cloud): failures read from executed notebooks, the JSON data,
the HTML page — and the notebook conventions the report relies on (tags, friendly check errors)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from helpers.core.paths import NOTEBOOKS_DIR
from helpers.learn.checks import CheckFailed, Checklist, WaitedTooLong, wait_for
from helpers.learn.exercises import convention_problems, exercise_cells, exercises_in
from helpers.teach.report import REPORT_KIND, build_report, notebook_failure, render_html, write_report
from helpers.teach.results import ClassRun, LearnerRun, NotebookResult

ANSI_TRACEBACK = [
    "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
    "\x1b[0;31mCheckFailed\x1b[0m: boom",
]


def executed_notebook(
    path: Path, *, error: dict | None = None, tags: list[str] | None = None, exercise: str = ""
) -> Path:
    """A small executed notebook: two code cells, the second with ``error`` (an error output) if given."""
    ok = v4.new_code_cell("print('hi')", id="c-ok", outputs=[v4.new_output("stream", name="stdout", text="hi\n")])
    metadata: dict = {"tags": tags or []}
    if exercise:
        metadata["orderlab"] = {"exercise": exercise}
    bad = v4.new_code_cell(
        "check.done()", id="c-bad", metadata=metadata, outputs=[v4.new_output("error", **error)] if error else []
    )
    notebook = v4.new_notebook(cells=[v4.new_markdown_cell("# t", id="m"), ok, bad])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


VERDICT = "❌ Step 3 · SQS workers — 1 of 2 checks failed\n  ✔ a\n  ✘ b <script>alert(1)</script>\n      → run step 2"


def test_notebook_failure_reads_the_first_error_with_its_whole_verdict(tmp_path: Path) -> None:
    path = executed_notebook(
        tmp_path / "n.ipynb",
        tags=["exercise-check"],
        exercise="03.1",
        error={"ename": "CheckFailed", "evalue": VERDICT, "traceback": ANSI_TRACEBACK},
    )
    failure = notebook_failure(path)
    assert failure is not None
    assert (failure.cell, failure.cell_id, failure.ename, failure.kind, failure.exercise) == (
        2,
        "c-bad",
        "CheckFailed",
        "exercise-check",
        "03.1",
    )
    assert failure.message == VERDICT
    assert failure.first_line() == "❌ Step 3 · SQS workers — 1 of 2 checks failed"


@pytest.mark.parametrize(
    ("ename", "tags", "kind"),
    [
        ("PrerequisiteMissing", [], "prerequisites"),
        ("CheckFailed", ["check-your-work"], "check"),
        ("WaitedTooLong", [], "check"),
        ("KeyError", [], "error"),
    ],
)
def test_failure_kinds(tmp_path: Path, ename: str, tags: list[str], kind: str) -> None:
    path = executed_notebook(tmp_path / "n.ipynb", tags=tags, error={"ename": ename, "evalue": "x", "traceback": []})
    assert notebook_failure(path).kind == kind


def test_no_failure_expected_errors_and_missing_files(tmp_path: Path) -> None:
    assert notebook_failure(executed_notebook(tmp_path / "ok.ipynb")) is None
    expected = executed_notebook(
        tmp_path / "raises.ipynb",
        tags=["raises-exception"],
        error={"ename": "ValueError", "evalue": "on purpose", "traceback": []},
    )
    assert notebook_failure(expected) is None
    assert notebook_failure(tmp_path / "never-written.ipynb") is None
    # An error with an empty message falls back to the traceback, without terminal colours.
    bare = executed_notebook(
        tmp_path / "bare.ipynb", error={"ename": "RuntimeError", "evalue": "", "traceback": ANSI_TRACEBACK}
    )
    assert "\x1b" not in notebook_failure(bare).message and "CheckFailed: boom" in notebook_failure(bare).message


def class_run(tmp_path: Path) -> ClassRun:
    run_dir = tmp_path / "runs" / "class-x"
    good = LearnerRun(
        "learner01",
        run_dir / "learner01",
        seconds=12.5,
        results=[
            NotebookResult("00_setup.ipynb", True, 1.5, executed_notebook(run_dir / "learner01" / "00_setup.ipynb")),
            NotebookResult(
                "01_order_ingestion.ipynb",
                True,
                7.25,
                executed_notebook(run_dir / "learner01" / "01_order_ingestion.ipynb"),
            ),
        ],
        grade={
            "prefix": "learner01",
            "target": "t",
            "seconds": 0.1,
            "done": ["01"],
            "steps": [
                {
                    "step": "01",
                    "notebook": "01_order_ingestion.ipynb",
                    "title": "order ingestion",
                    "done": True,
                    "missing": [],
                    "checks": [],
                    "error": "",
                    "problems": [],
                }
            ],
            "exercises": [
                {"exercise": "01.1", "title": "Your own order", "notebook": "01.ipynb", "state": "done by the learner"},
                {"exercise": "01.2", "title": "Say no", "notebook": "01.ipynb", "state": "not done", "error": ""},
            ],
        },
        cleanup={"ok": True, "deleted": 9, "errors": [], "remaining": []},
    )
    failed_nb = executed_notebook(
        run_dir / "learner02" / "01_order_ingestion.ipynb",
        tags=["check-your-work"],
        error={"ename": "CheckFailed", "evalue": VERDICT, "traceback": ANSI_TRACEBACK},
    )
    bad = LearnerRun(
        "learner02",
        run_dir / "learner02",
        seconds=9.0,
        results=[
            NotebookResult("00_setup.ipynb", True, 1.0, executed_notebook(run_dir / "learner02" / "00_setup.ipynb")),
            NotebookResult("01_order_ingestion.ipynb", False, 5.0, failed_nb, "CheckFailed: ❌ Step 3"),
            NotebookResult(
                "02_dynamodb_streams.ipynb",
                False,
                0.0,
                run_dir / "learner02" / "02.ipynb",
                "skipped: an earlier notebook failed",
            ),
        ],
        cleanup={"ok": False, "deleted": 3, "errors": [], "remaining": ["sqs queue learner02-order-queue"]},
    )
    return ClassRun(
        run_dir,
        "local cloud http://127.0.0.1:4599",
        ["00_setup.ipynb", "01_order_ingestion.ipynb", "02_dynamodb_streams.ipynb"],
        2,
        {"target": "local", "demo_orders": 5},
        "2026-01-01T00:00:00+00:00",
        [good, bad],
        21.5,
    )


def test_build_report_per_learner_and_notebook(tmp_path: Path) -> None:
    run = class_run(tmp_path)
    data = build_report(run)
    assert data["kind"] == REPORT_KIND and data["ok"] is False and data["passed"] == 1
    one, two = data["learners"]
    assert one["prefix"] == "learner01" and one["ok"] is True
    assert [(n["notebook"], n["status"], n["seconds"], n["output"]) for n in one["notebooks"]] == [
        ("00_setup.ipynb", "ok", 1.5, "learner01/00_setup.ipynb"),
        ("01_order_ingestion.ipynb", "ok", 7.25, "learner01/01_order_ingestion.ipynb"),
    ]
    assert one["grade"]["done"] == ["01"] and one["cleanup"]["ok"]
    assert two["ok"] is False
    assert [n["status"] for n in two["notebooks"]] == ["ok", "failed", "skipped"]
    failure = two["notebooks"][1]["failure"]
    assert failure["message"] == VERDICT and failure["kind"] == "check" and failure["cell"] == 2
    assert two["notebooks"][2]["output"] is None and two["notebooks"][2]["detail"].startswith("skipped")
    json.dumps(data)  # JSON-ready


def test_learner_is_not_ok_when_cleanup_left_something(tmp_path: Path) -> None:
    run = class_run(tmp_path)
    learner = run.learners[0]
    assert learner.ok
    learner.cleanup = {"ok": False, "remaining": ["x"]}
    assert not learner.ok and not run.ok


def test_html_links_notebooks_shows_failures_and_escapes(tmp_path: Path) -> None:
    page = render_html(build_report(class_run(tmp_path)))
    assert page.startswith("<!doctype html>")
    assert 'href="learner01/01_order_ingestion.ipynb"' in page and 'href="learner02/01_order_ingestion.ipynb"' in page
    assert "1/2 learners passed" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "1 of 2 checks failed" in page and "→ run step 2" in page
    assert 'id="learner02"' in page and "sqs queue learner02-order-queue" in page
    assert "nothing remains" in page and "1 remain" in page
    assert page.count("not run") == 1  # learner01 did not run notebook 02
    assert '<td>01.1</td><td>Your own order</td><td class="ok">done by the learner</td>' in page
    assert '<td>01.2</td><td>Say no</td><td class="failed">not done</td>' in page


def test_write_report_writes_json_and_html(tmp_path: Path) -> None:
    run = class_run(tmp_path)
    json_path, html_path = write_report(run)
    assert json_path == run.output_dir / "report.json" and html_path == run.output_dir / "report.html"
    assert json.loads(json_path.read_text())["learners"][1]["prefix"] == "learner02"
    assert "learner02" in html_path.read_text()


# ------------------------------------------------------------------ conventions the report relies on


def test_check_failed_is_the_verdict_and_renders_without_a_stack_trace() -> None:
    check = Checklist("Step 9 · demo")
    check.expect(True, "one thing")
    check.expect(False, "another thing", hint="do this")
    with pytest.raises(CheckFailed) as raised:
        check.done()
    assert str(raised.value) == check.report()
    assert raised.value._render_traceback_() == check.report().splitlines()  # what Jupyter shows
    assert isinstance(raised.value, AssertionError)  # nbval / papermill: a failed cell


def test_wait_for_times_out_with_what_to_do() -> None:
    what_to_do = "waiting for the queue to drain. What to do: run the worker cell"
    with pytest.raises(WaitedTooLong, match=re.escape(what_to_do)):
        wait_for(
            lambda: None,
            timeout=0.1,
            interval=0.02,
            what="the queue to drain",
            hint="run the worker cell",
            progress=False,
        )
    assert wait_for(lambda: 5, timeout=1, what="x", hint="y", progress=False) == 5


def test_exercise_cells_follow_the_conventions() -> None:
    cells = exercise_cells(
        "07.2",
        "Chaos",
        prompt="Break it.",
        answer="x = None",
        solution="x = 1",
        check='check = exercise_check("07.2", "chaos")\ncheck.attempted(x, "x is set")\ncheck.done()',
    )
    notebook = v4.new_notebook(cells=cells)
    assert exercises_in(notebook) == {"07.2": {"exercise": 0, "exercise-answer": 1, "solution": 2, "exercise-check": 3}}
    problems = convention_problems(notebook, min_exercises=1)
    assert all("exercise 07.2" not in p for p in problems), problems
    assert "no cell tagged 'parameters'" in problems
    cells[2].metadata.pop("jupyter")
    assert any("not folded" in p for p in convention_problems(notebook, min_exercises=1))
    with pytest.raises(ValueError, match=re.escape("'<notebook>.<number>'")):
        exercise_cells("7.2", "x", prompt="", answer="", solution="", check="")


STEP_NOTEBOOKS = sorted(path.stem for path in NOTEBOOKS_DIR.glob("0[1-7]_*.ipynb"))


@pytest.mark.parametrize("name", STEP_NOTEBOOKS)
def test_step_notebooks_follow_the_conventions(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    assert convention_problems(notebook) == []
    assert 2 <= len(exercises_in(notebook)) <= 4


@pytest.mark.parametrize("name", STEP_NOTEBOOKS)
def test_each_step_notebook_has_a_build_it_yourself_exercise(name: str) -> None:
    """docs/notebook-conventions.md: the learner writes a boto3 call, from a skeleton linking its documentation."""
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    answers = [notebook.cells[roles["exercise-answer"]].source for roles in exercises_in(notebook).values()]
    skeletons = [
        a for a in answers if "https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/" in a
    ]
    assert skeletons, f"{name}: no exercise answer cell links the boto3 documentation of the call to write"
    assert all("lab.client(" in a for a in skeletons), "clients come from lab.client(...)"


def test_a_stopped_learner_reports_what_it_got_done(tmp_path: Path) -> None:
    """A learner's process stopped by the class run's timeout: results come from the notebooks papermill saved."""
    from helpers.teach.runner import _partial_results

    done = executed_notebook(tmp_path / "00_setup.ipynb")
    finished = nbformat.read(done, as_version=4)
    finished.metadata["papermill"] = {"end_time": "2026-01-01T00:00:03", "duration": 3.0, "exception": False}
    nbformat.write(finished, done)
    stuck_path = executed_notebook(tmp_path / "01_order_ingestion.ipynb")
    stuck = nbformat.read(stuck_path, as_version=4)
    stuck.metadata["papermill"] = {"end_time": None, "duration": None, "exception": None}
    stuck.cells[2].metadata["papermill"] = {"status": "running"}
    nbformat.write(stuck, stuck_path)
    notebooks = [
        Path(f"/x/{name}") for name in ("00_setup.ipynb", "01_order_ingestion.ipynb", "02_dynamodb_streams.ipynb")
    ]
    results = _partial_results(notebooks, tmp_path, "stopped after 60 s")
    assert [(r.notebook, r.ok, r.error) for r in results] == [
        ("00_setup.ipynb", True, ""),
        ("01_order_ingestion.ipynb", False, "stopped after 60 s while running cell c-bad"),
        ("02_dynamodb_streams.ipynb", False, "skipped: not started (stopped after 60 s)"),
    ]
