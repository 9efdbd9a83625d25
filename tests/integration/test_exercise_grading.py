"""Exercises on the local cloud: the three grade states of exercise 01.1 from notebook 01's own cells, and a
learner pressing Run All (solutions off) through notebooks 00 and 01 in real kernels.

The grade-state test runs the notebook's real solution and check cells in an IPython shell whose namespace
holds what notebook 01 would (``lab``, ``table``, ``orders_api``): nothing done → not done; the learner's
own order → done by the learner; the solution applied (solutions on) → solution applied.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from cloudtest import own_prefix
from IPython.core.interactiveshell import InteractiveShell

from helpers import Lab
from helpers.core.paths import NOTEBOOKS_DIR
from helpers.learn.exercises import CHECK_TAG, SOLUTION_TAG, exercises_in, register_solution_magic
from helpers.learn.progress import DONE_BY_LEARNER, NOT_DONE, SOLUTION_APPLIED, exercise_marks
from helpers.learn.views import scan_items
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.step1 import deploy_ingestion
from helpers.teach.grade import grade_exercises, grade_lab
from helpers.teach.runner import run_series, select_notebooks

NOTEBOOK_01 = NOTEBOOKS_DIR / "01_order_ingestion.ipynb"


def _cells(exercise_id: str) -> tuple[str, str]:
    notebook = nbformat.read(NOTEBOOK_01, as_version=4)
    roles = exercises_in(notebook)[exercise_id]
    return notebook.cells[roles[SOLUTION_TAG]].source, notebook.cells[roles[CHECK_TAG]].source


def _state(lab: Lab, exercise_id: str) -> str:
    return next(e.state for e in grade_exercises(lab, ["01"]) if e.exercise == exercise_id)


def _learner_01_orders(lab: Lab, table: str) -> list[dict]:
    return [i for i in scan_items(lab, table) if (i.get("customer") or {}).get("id") == "learner-01"]


@pytest.fixture(scope="module")
def ingestion_lab(lab: Lab):
    with own_prefix(lab, "x") as own:
        yield own, deploy_ingestion(own)


def test_exercise_01_1_is_not_done_then_done_by_the_learner_then_solution_applied(ingestion_lab, capsys) -> None:
    own, stack = ingestion_lab
    solution, check = _cells("01.1")
    shell = InteractiveShell.instance()
    register_solution_magic(shell)
    shell.user_ns.update(lab=own, table=stack.table, orders_api=OrdersApi(stack.api.endpoint_url), solutions=False)
    try:
        assert _state(own, "01.1") == NOT_DONE  # nothing done, nothing checked

        assert shell.run_cell(solution).success  # solutions off: the solution does not place its order
        assert shell.run_cell(check).success  # ... and the check says "not done yet" without failing the cell
        out = capsys.readouterr().out
        assert "not applied (solutions are off)" in out and "not done yet (not started)" in out
        assert _learner_01_orders(own, stack.table.name) == []
        assert _state(own, "01.1") == NOT_DONE

        own_order = {  # the learner's own answer: not the solution's items
            "customer": {"id": "learner-01", "name": "Grace Hopper"},
            "items": [
                {"sku": "BOOK-9", "quantity": 1, "unitPrice": 50.00},
                {"sku": "PEN-1", "quantity": 2, "unitPrice": 10.00},
                {"sku": "MUG-1", "quantity": 1, "unitPrice": 30.00},
            ],
        }
        assert OrdersApi(stack.api.endpoint_url).create(own_order).status == 201
        assert shell.run_cell(check).success
        assert "✅ ✏️ Exercise 01.1" in capsys.readouterr().out
        assert _state(own, "01.1") == DONE_BY_LEARNER

        shell.user_ns["solutions"] = True
        assert shell.run_cell(solution).success
        assert "✔ solution of exercise 01.1 applied" in capsys.readouterr().out
        assert len(_learner_01_orders(own, stack.table.name)) == 2
        assert _state(own, "01.1") == SOLUTION_APPLIED
        assert shell.run_cell(check).success  # a check after the solution does not hide that it was applied
        assert _state(own, "01.1") == SOLUTION_APPLIED
        assert _state(own, "01.2") == NOT_DONE
    finally:
        for name in ("lab", "table", "orders_api", "solutions", "my_reply"):
            shell.user_ns.pop(name, None)


def test_a_learner_pressing_run_all_gets_every_exercise_not_done_and_no_solution_runs(lab: Lab, tmp_path: Path) -> None:
    with own_prefix(lab, "l") as learner:
        results = run_series(
            tmp_path, {"prefix": learner.prefix, "solutions": False}, notebooks=select_notebooks(["00", "01"])
        )
        assert [r.ok for r in results] == [True, True], [r.error for r in results]
        executed = nbformat.read(tmp_path / NOTEBOOK_01.name, as_version=4)
        exercises = exercises_in(executed)
        assert len(exercises) >= 2
        for exercise_id, roles in exercises.items():
            solution_out = "".join(o.get("text", "") for o in executed.cells[roles[SOLUTION_TAG]].outputs)
            check_out = "".join(o.get("text", "") for o in executed.cells[roles[CHECK_TAG]].outputs)
            assert f"Solution of exercise {exercise_id}: not applied" in solution_out
            assert "solution of exercise" not in solution_out.replace("Solution of exercise", "")
            assert f"Exercise {exercise_id}" in check_out and "not done yet" in check_out, check_out
        grade = grade_lab(learner, ["01"])
        assert grade.done == ["01"]  # the step itself is built by the notebook
        assert {e.exercise: e.state for e in grade.exercises} == dict.fromkeys(exercises, NOT_DONE)
        # no solution was recorded, and none ran: 01.1's would have placed an order of 100.00 for learner-01
        marks = exercise_marks(learner)
        assert set(marks) == {f"orderlab:exercise:{e}" for e in exercises}  # each check recorded its verdict
        assert not [mark for mark in marks.values() if mark.startswith("solution")]
        assert not [i for i in _learner_01_orders(learner, learner.name("orders")) if i["total"] == 100]


def test_grade_watch_once_shows_each_learner_on_the_cloud_with_its_exercises(ingestion_lab, capsys) -> None:
    from helpers.learn.progress import record_check, record_solution
    from helpers.teach import cli

    own, _ = ingestion_lab
    record_check(own, "01.2", True)
    record_solution(own, "02.1")
    assert cli.main(["grade", "--class", "--watch", "--once", "--interval", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("class progress at") and lines[1].split()[:4] == ["learner", "steps", "01.1", "01.2"]
    header = lines[1].split()
    row = next(line.split() for line in lines if line.split()[:1] == [own.prefix])
    assert row[header.index("01.2")] == "✔" and row[header.index("02.1")] == "◆"
    assert row[header.index("02.2")] == "·"
