"""The notebook series, executed headless as instructors and CI run it.

The session runs the series once (tests/seriesrun.py: ``orderlab run`` with a unique prefix, the
notebooks' default parameters), and these tests read that run:

- every notebook passes its own "check your work" cell;
- re-running the notebooks that deploy (01, 03, 04) on the deployed pipeline converges (same
  resources, nothing redeployed), and cleanup leaves zero tagged resources;
- the cells marked ``# NBVAL_CHECK_OUTPUT`` match their stored outputs, compared by nbval's own
  code in lax mode (ids, timestamps, ports sanitised: sanitize.cfg) — tests/notebooks/nbval_outputs.py.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest
from cloudtest import notebook_stream_text
from nbval_outputs import OutputComparison, checked_cells, output_problems

from helpers.teach.runner import CLEANUP_NOTEBOOK, NOTEBOOKS_DIR, series

pytestmark = pytest.mark.notebooks
STEPS = ["00_setup", "01_order_ingestion", "02_dynamodb_streams", "03_sqs_workers", "04_high_value_pipes",
         "05_dead_letter_queue", "06_alerts_observability", "07_load_and_chaos", "08_infrastructure_as_code"]
SERIES = [NOTEBOOKS_DIR / f"{name}.ipynb" for name in STEPS] + [CLEANUP_NOTEBOOK]
DEPLOYED_KINDS = [("apigateway", "api"), ("cloudwatch", "alarm"), ("cloudwatch", "dashboard"), ("dynamodb", "table"),
                  ("iam", "role"), ("lambda", "event-source-mapping"), ("lambda", "function"), ("logs", "log-group"),
                  ("pipes", "pipe"), ("sns", "subscription"), ("sns", "topic"), ("sqs", "queue")]


def test_the_main_job_runs_the_steps_in_order_then_cleanup():
    assert [p.name for p in series()] == [p.name for p in SERIES]


def test_series_runs_headless_and_every_step_passes_its_checks(series_run):
    assert series_run.returncode == 0, series_run.failure()
    for notebook in SERIES:
        executed = nbformat.read(series_run.notebook(notebook.name), as_version=4)
        assert executed.metadata["papermill"]["parameters"]["prefix"] == series_run.prefix, notebook.name
    assert "all 9 checks passed" in notebook_stream_text(series_run.notebook("01_order_ingestion.ipynb"))
    for name, checks in (("02_dynamodb_streams", 5), ("03_sqs_workers", 6), ("04_high_value_pipes", 6),
                         ("05_dead_letter_queue", 6), ("06_alerts_observability", 13), ("07_load_and_chaos", 7),
                         ("08_infrastructure_as_code", 9)):
        assert f"all {checks} checks passed" in notebook_stream_text(series_run.notebook(f"{name}.ipynb")), name


def test_the_instructor_run_applies_every_solution_and_passes_every_exercise_check(series_run, tmp_path):
    from helpers.learn.exercises import CHECK_TAG, SOLUTION_TAG, exercises_in
    from helpers.teach.answer_key import write_answer_key

    assert series_run.returncode == 0, series_run.failure()
    applied = []
    for notebook in SERIES[1:-1]:
        executed = nbformat.read(series_run.notebook(notebook.name), as_version=4)
        assert executed.metadata["papermill"]["parameters"]["solutions"] is True, notebook.name
        for exercise_id, roles in exercises_in(executed).items():
            solution = "".join(o.get("text", "") for o in executed.cells[roles[SOLUTION_TAG]].outputs)
            check = "".join(o.get("text", "") for o in executed.cells[roles[CHECK_TAG]].outputs)
            assert f"✔ solution of exercise {exercise_id} applied" in solution, (exercise_id, solution[-500:])
            assert f"✅ ✏️ Exercise {exercise_id}" in check, (exercise_id, check[-500:])
            applied.append(exercise_id)
    key = write_answer_key(series_run.output, tmp_path / "answer-key.html")
    assert key.exercises == applied and len(applied) >= 16
    html = key.output.read_text(encoding="utf-8")
    assert all(f"Exercise {exercise_id}" in html for exercise_id in applied)
    assert html.count("applied") >= len(applied)


def test_rerunning_the_deploying_notebooks_converges(series_run):
    report = series_run.report
    assert report.get("deployed"), series_run.failure()
    assert sorted({tuple(r[:2]) for r in report["deployed"]}) == DEPLOYED_KINDS
    assert [rerun["notebook"] for rerun in report["reruns"]] == ["01_order_ingestion", "03_sqs_workers",
                                                                 "04_high_value_pipes"]
    for rerun in report["reruns"]:
        assert rerun["ok"], f"re-running {rerun['notebook']} failed: {rerun['error']}"
        assert rerun["resources"] == report["deployed"], f"re-running {rerun['notebook']} created or lost resources"
    assert "changed by this run: no (already up to date)" in notebook_stream_text(
        series_run.rerun_notebook("01_order_ingestion.ipynb"))


def test_cleanup_leaves_no_resource_of_the_prefix(series_run):
    assert series_run.report.get("after_cleanup") == [], series_run.failure()


@pytest.mark.parametrize("notebook", SERIES, ids=[p.stem for p in SERIES])
def test_checked_outputs_match_the_stored_outputs(series_run, notebook):
    """What ``pytest --nbval-lax --nbval-sanitize-with tests/notebooks/sanitize.cfg`` compares, on the session's run."""
    assert series_run.notebook(notebook.name).is_file(), series_run.failure()
    assert output_problems(notebook, series_run.notebook(notebook.name)) == []


def test_output_comparison_sanitizes_volatile_values_and_catches_a_changed_output():
    stored = checked_cells(nbformat.read(NOTEBOOKS_DIR / "06_alerts_observability.ipynb", as_version=4))[0].outputs
    comparison = OutputComparison()
    assert comparison.differences(stored, stored) == ""

    changed = copy.deepcopy(stored)
    changed[0]["text"] = changed[0]["text"].replace("GreaterThanThreshold 300", "GreaterThanThreshold 301")
    assert "mismatch 'stdout'" in OutputComparison().differences(changed, stored)

    volatile = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in (
        "order 0f8fad5b-d9cb-469f-a165-70867728950e at 2026-12-04T12:00:01.123Z from 127.0.0.1:4599 in 12 ms\n",
        "order 7c9e6679-7425-40de-944b-e07fc1f90ae7 at 2025-01-31T23:59:59Z from 127.0.0.1:51234 in 3.5 s\n")]
    assert OutputComparison().differences(volatile[:1], volatile[1:]) == ""
    assert OutputComparison().differences(stored, volatile[:1]) != ""


def test_output_comparison_reports_a_checked_cell_missing_from_the_run(tmp_path):
    stored_path = NOTEBOOKS_DIR / "06_alerts_observability.ipynb"
    executed = nbformat.read(stored_path, as_version=4)
    checked_id = checked_cells(executed)[0].id
    executed.cells = [cell for cell in executed.cells if cell.get("id") != checked_id]
    nbformat.write(executed, tmp_path / "executed.ipynb")
    assert output_problems(stored_path, tmp_path / "executed.ipynb") == [
        f"cell {checked_id}: not in the executed notebook"]


def test_checked_cells_have_stored_outputs():
    """nbval compares only what is stored: a checked cell without outputs would check nothing."""
    checked = 0
    for path in SERIES:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source:
                checked += 1
                assert cell.outputs, f"{path.name}: a NBVAL_CHECK_OUTPUT cell has no stored output"
    assert checked >= 1


@pytest.mark.parametrize("name", [s for s in STEPS if s != "00_setup"])
def test_step_notebooks_follow_the_conventions(name):
    """docs/notebook-conventions.md: intro, parameters, prerequisites, 2-3 exercises, check your work."""
    from helpers.learn.exercises import convention_problems

    assert convention_problems(nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)) == []


# The cell that starts each notebook's live pipeline map; its one output is updated in place.
MAP_CELLS = {"03_sqs_workers": "3b25fdea", "04_high_value_pipes": "8a296ae6", "05_dead_letter_queue": "49d0fa3d",
             "06_alerts_observability": "b123a72e", "07_load_and_chaos": "07-map-start"}
# The cell that places an order through the order page, and what its final state must show.
PAGE_CELLS = {"03_sqs_workers": ("03-page-order", ["is REJECTED", "reason: customer cust-666"]),
              "04_high_value_pipes": ("04-page-order", ["is CONFIRMED", "priority P1"]),
              "05_dead_letter_queue": ("05-page-order", ["is PENDING", "in the DLQ now"])}


def _cell(path: Path, cell_id: str):
    notebook = nbformat.read(path, as_version=4)
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


def map_frame_problems(path: Path, cell_id: str) -> list[str]:
    """What is wrong with the map's saved last frame in an executed notebook ([] = one frame, drawn, with traffic)."""
    frames = [out for out in _cell(path, cell_id).outputs if out.get("output_type") in ("display_data", "update_display_data")]
    if len(frames) != 1:
        return [f"{len(frames)} map outputs (one, updated in place, expected)"]
    data = frames[0].get("data", {})
    text = data.get("text/plain", "")
    problems = [] if data.get("image/png") else ["no image/png frame"]
    if not text.startswith("pipeline map at"):
        problems.append(f"no figures as text: {text[:80]!r}")
    elif not any(int(n) for n in re.findall(r"(\d+) (?:requests|invocations)", text)):
        problems.append(f"the last frame shows no traffic at all: {text!r}")
    return problems


def page_order_problems(path: Path, cell_id: str, expected: list[str]) -> list[str]:
    """What is wrong with an order placed through the page in an executed notebook ([] = a screenshot of
    its final state, or — without a browser — the note saying so, and the facts ``expected``)."""
    cell = _cell(path, cell_id)
    text = "\n".join(out.get("text", "") for out in cell.outputs if out.get("output_type") == "stream")
    images = [out for out in cell.outputs if "image/png" in out.get("data", {})]
    problems = [f"missing {fact!r}" for fact in expected if fact not in text]
    if "placed through the order page in headless Chromium" in text:
        problems += [] if len(images) == 1 else [f"{len(images)} screenshots (one expected)"]
    elif "placed via the API" not in text or "open http" not in text:
        problems.append("neither a screenshot of the page nor the note saying why not")
    return problems


def test_the_live_map_and_the_order_page_leave_their_last_frame_in_the_run(series_run):
    assert series_run.returncode == 0, series_run.failure()
    for name, cell_id in MAP_CELLS.items():
        if cell_id is not None:
            assert map_frame_problems(series_run.notebook(f"{name}.ipynb"), cell_id) == [], name
    for name, (cell_id, expected) in PAGE_CELLS.items():
        assert page_order_problems(series_run.notebook(f"{name}.ipynb"), cell_id, expected) == [], name
