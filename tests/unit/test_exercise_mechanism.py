"""Exercises without a cloud: the %%solution magic in a real IPython shell (off: nothing runs; on: it runs),
learner-mode and instructor-mode verdicts, the three grade states, the notebooks' structure (no later cell
reads a name only a solution defines), and the answer key built from executed notebooks."""

from __future__ import annotations

import io
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat import v4

from helpers.core.paths import NOTEBOOKS_DIR
from helpers.learn.checks import CheckFailed
from helpers.learn.exercises import (
    convention_problems,
    exercise_cells,
    exercise_check,
    names_only_solutions_define,
    register_solution_magic,
    series_exercises,
    solution_code,
)
from helpers.learn.progress import DONE_BY_LEARNER, NOT_DONE, SOLUTION_APPLIED, exercise_state
from helpers.teach.answer_key import AnswerKeyError, write_answer_key
from helpers.teach.grade import ExerciseGrade, GradeReport, progress_table, watch_class
from helpers.teach.runner import notebook_parameters


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ORDERLAB_SOLUTIONS", raising=False)
    ip = InteractiveShell.instance()
    assert register_solution_magic(ip)
    ip.user_ns.pop("solutions", None)
    ip.user_ns.pop("applied", None)
    yield ip
    for name in ("solutions", "applied", "lab"):
        ip.user_ns.pop(name, None)


def test_a_solution_cell_with_solutions_off_runs_nothing_and_says_how_to_reveal_it(shell, capsys) -> None:
    shell.user_ns["solutions"] = None  # the parameters cell's default
    result = shell.run_cell("%%solution 03.1\napplied = 42\n")
    assert result.success
    assert "applied" not in shell.user_ns
    out = capsys.readouterr().out
    assert "not applied (solutions are off)" in out and "click ⋯" in out and "solutions=True" in out


def test_a_solution_cell_with_solutions_on_runs_in_the_notebook_namespace(shell, capsys) -> None:
    shell.user_ns["solutions"] = True
    shell.user_ns["base"] = 40
    result = shell.run_cell("%%solution 03.1\napplied = base + 2\n")
    assert result.success
    assert shell.user_ns["applied"] == 42
    assert "✔ solution of exercise 03.1 applied" in capsys.readouterr().out


def test_the_environment_turns_solutions_on_when_the_parameter_is_none(shell, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ORDERLAB_SOLUTIONS", "1")
    shell.user_ns["solutions"] = None
    assert shell.run_cell("%%solution 03.1\napplied = 1\n").success
    assert shell.user_ns["applied"] == 1


def test_an_error_in_a_solution_fails_its_cell(shell, capsys) -> None:
    shell.user_ns["solutions"] = True
    result = shell.run_cell("%%solution 03.1\napplied = 1 / 0\n")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    assert "solution of exercise 03.1 applied" not in capsys.readouterr().out


def test_a_check_not_met_in_learner_mode_says_not_done_yet_and_does_not_raise(capsys) -> None:
    check = exercise_check("03.2", "a rule of your own", solutions=False)
    if check.attempted(None, "an order of OLD-1 was placed", hint="old_order_id = ..."):
        raise AssertionError("the guarded checks must not run without an attempt")
    check.expect(True, "the worker is back to the lab's default rules")
    check.done()
    out = capsys.readouterr().out
    assert "not done yet (not started)" in out and "✘ an order of OLD-1 was placed" in out
    assert "→ old_order_id = ..." in out and "Stuck?" in out
    assert not check.passed


def test_an_attempt_that_falls_short_is_not_done_yet_too(capsys) -> None:
    check = exercise_check("03.1", "a lower limit", solutions=False)
    assert check.attempted(True, "an order of 60 was placed")
    check.expect(False, "it is REJECTED", hint="redeploy first")
    check.done()
    assert "not done yet (1 of 2 checks not met)" in capsys.readouterr().out


def test_a_check_not_met_with_solutions_on_fails_the_cell() -> None:
    check = exercise_check("03.1", "a lower limit", solutions=True)
    check.attempted(False, "an order of 60 was placed")
    with pytest.raises(CheckFailed, match=re.escape("❌ ✏️ Exercise 03.1 · a lower limit — 1 of 1 checks failed")):
        check.done()


def test_the_three_grade_states_from_the_marks() -> None:
    marks = {
        "orderlab:exercise:01.1": "solution applied 2026-12-04T10:00:00Z",
        "orderlab:exercise:01.2": "passed 2026-12-04T10:01:00Z",
        "orderlab:exercise:02.1": "not done 2026-12-04T10:02:00Z",
        "orderlab:prefix": "alice",
    }
    assert exercise_state(marks, "01.1") == SOLUTION_APPLIED
    assert exercise_state(marks, "01.2") == DONE_BY_LEARNER
    assert exercise_state(marks, "02.1") == NOT_DONE  # the check ran and was not met
    assert exercise_state(marks, "02.2") == NOT_DONE  # never checked


def _report(prefix: str, states: dict[str, str]) -> GradeReport:
    return GradeReport(prefix, "a cloud", [], exercises=[ExerciseGrade(e, e, "n.ipynb", s) for e, s in states.items()])


def test_the_report_and_the_class_table_show_each_exercise_state() -> None:
    alice = _report("alice", {"01.1": DONE_BY_LEARNER, "01.2": SOLUTION_APPLIED, "10.1": NOT_DONE})
    text = alice.summary()
    assert "exercises: 1 done by the learner, 1 solution applied, 1 not done" in text
    assert "01.1 01.1 — done by the learner" in text and "10.1 10.1 — not done" in text
    table = progress_table([alice, _report("bob", {"01.1": NOT_DONE})]).splitlines()
    assert table[0].split()[:5] == ["learner", "steps", "01.1", "01.2", "10.1"]  # numeric order: 10.1 last
    assert table[1].split() == ["alice", "0/0", "✔", "◆", "·", "1", "1", "1"]
    assert table[2].split() == ["bob", "0/0", "·", "·", "·", "0", "0", "1"]


def test_watch_prints_a_bounded_number_of_tables(monkeypatch) -> None:
    graded: list[str] = []

    def fake_grade(lab: str) -> GradeReport:
        graded.append(lab)
        return _report(lab, {"01.1": DONE_BY_LEARNER})

    monkeypatch.setattr("helpers.teach.grade.grade_lab", fake_grade)
    out = io.StringIO()
    reports = watch_class(lambda prefix: prefix, ["alice", "bob"], interval=0, iterations=2, out=out, clear=False)  # type: ignore[arg-type,return-value]
    assert graded == ["alice", "bob", "alice", "bob"]
    assert [r.prefix for r in reports] == ["alice", "bob"]
    assert out.getvalue().count("class progress at") == 2


def test_headless_runs_turn_solutions_on_unless_told_otherwise() -> None:
    assert notebook_parameters(Path("05_dead_letter_queue.ipynb"), {})["solutions"] is True
    assert notebook_parameters(Path("05_dead_letter_queue.ipynb"), {"solutions": False})["solutions"] is False


def _exercise_notebook(later_source: str, answer: str = "x = None") -> nbformat.NotebookNode:
    cells = exercise_cells(
        "03.1",
        "T",
        prompt="Do it.",
        answer=answer,
        solution="x = 1\nonly_solution = 2",
        check='check = exercise_check("03.1", "t")\ncheck.attempted(x, "x")\ncheck.done()',
    )
    return v4.new_notebook(cells=[*cells, v4.new_code_cell(later_source)])


def test_a_later_cell_reading_a_name_only_the_solution_defines_is_a_problem() -> None:
    problems = names_only_solutions_define(_exercise_notebook("print(only_solution, x)"))
    assert len(problems) == 1 and "'only_solution'" in problems[0] and "03.1" in problems[0]
    assert names_only_solutions_define(_exercise_notebook("only_solution = 3\nprint(only_solution)")) == []
    assert names_only_solutions_define(_exercise_notebook("print(x)")) == []  # the answer cell defines x


def test_every_notebook_keeps_the_exercise_convention() -> None:
    notebooks = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) >= 9
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        assert convention_problems(notebook, min_exercises=0 if path.name.startswith("00") else 2) == [], path.name
        assert names_only_solutions_define(notebook) == [], path.name
    assert len(series_exercises(NOTEBOOKS_DIR)) >= 16


def test_the_convention_wants_the_magic_the_attempt_and_the_parameter() -> None:
    notebook = _exercise_notebook("pass")
    solution = next(c for c in notebook.cells if "solution" in c.metadata["tags"])
    assert solution_code(solution.source) == ("03.1", "x = 1\nonly_solution = 2")
    solution.source = 'with solution("03.1"):\n    x = 1'
    check = next(c for c in notebook.cells if "exercise-check" in c.metadata["tags"])
    check.source = 'check = exercise_check("03.1", "t")\ncheck.done()'
    notebook.cells.insert(0, v4.new_code_cell("target = None", metadata={"tags": ["parameters"]}))
    problems = "\n".join(convention_problems(notebook, min_exercises=1))
    assert "does not start with '%%solution 03.1'" in problems
    assert "check.attempted" in problems
    assert "no 'solutions' parameter" in problems


def _executed(path: Path, solutions: bool) -> None:
    cells = exercise_cells(
        "03.1",
        "A lower limit",
        prompt="Lower the limit to **50**.",
        answer="limit = None",
        solution="limit = 50",
        check='check = exercise_check("03.1", "a lower limit")',
    )
    cells[2].outputs = [v4.new_output("stream", name="stdout", text="✔ solution of exercise 03.1 applied\n")]
    cells[3].outputs = [
        v4.new_output("stream", name="stdout", text="✅ ✏️ Exercise 03.1 · a lower limit — all 2 checks passed\n")
    ]
    notebook = v4.new_notebook(cells=cells, metadata={"papermill": {"parameters": {"solutions": solutions}}})
    nbformat.write(notebook, path)


def test_the_answer_key_holds_each_prompt_solution_and_its_output(tmp_path: Path) -> None:
    _executed(tmp_path / "03_sqs_workers.ipynb", solutions=True)
    key = write_answer_key(tmp_path, tmp_path / "key" / "answer-key.html")
    html = key.output.read_text(encoding="utf-8")
    assert key.exercises == ["03.1"]
    assert "Exercise 03.1" in html and "<strong>50</strong>" in html
    assert "limit" in html and "%%solution" not in html  # the code to paste, without the magic line
    assert "✔ solution of exercise 03.1 applied" in html and "all 2 checks passed" in html


def test_the_answer_key_refuses_a_learner_mode_run_and_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(AnswerKeyError, match="orderlab run"):
        write_answer_key(tmp_path, tmp_path / "key.html")
    _executed(tmp_path / "03_sqs_workers.ipynb", solutions=False)
    with pytest.raises(AnswerKeyError, match="learner-mode"):
        write_answer_key(tmp_path, tmp_path / "key.html")


@pytest.mark.parametrize("command", [["run"], ["class", "--learners", "1"]])
def test_learner_mode_turns_solutions_off_for_run_and_class(command: list[str]) -> None:
    from helpers.teach.cli import _run_parameters, build_parser

    learner = build_parser().parse_args([*command, "--learner-mode", "-p", "prefix", "alice"])
    assert _run_parameters(learner) == {"prefix": "alice", "solutions": False}
    told = build_parser().parse_args([*command, "-p", "solutions", "false"])
    assert _run_parameters(told) == {"solutions": False}
    instructor = build_parser().parse_args(command)
    assert "solutions" not in _run_parameters(instructor)  # the runner's default: on
