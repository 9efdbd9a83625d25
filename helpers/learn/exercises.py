"""Exercises in the notebooks: one convention for every notebook (docs/notebook-conventions.md).

An exercise is four consecutive cells, all carrying ``metadata.orderlab.exercise = "<NN>.<k>"``:

1. **prompt** — markdown, tag ``exercise``: ``### ✏️ Exercise 03.1 — <title>``, what to do, why;
2. **your turn** — code, tag ``exercise-answer``: a runnable starting point the learner edits;
3. **solution** — code, tag ``solution``, ``metadata.jupyter.source_hidden = true``: JupyterLab shows it
   folded (click the ``⋯`` to read it). It is *idempotent*: it brings the lab to the state the
   exercise asks for, so running it after a correct answer changes nothing. Headless runs
   (papermill, nbval, ``orderlab run``/``class``) execute it like any cell, which is how CI proves
   every exercise is solvable and its check is right;
4. **check** — code, tag ``exercise-check``: ``exercise_check("03.1", "…")`` gives a
   :class:`helpers.learn.checks.Checklist` whose ``done()`` prints a friendly verdict and fails the cell
   (``CheckFailed``, shown without a stack trace) when something is wrong.

A learner writes the answer in *your turn*, runs it, then clicks the *check* cell and runs it
(skipping the folded solution to test themselves). "Run All" (or a headless run) runs the solution
too, so the notebook always converges and later cells can rely on the exercise's outcome.

In a notebook::

    from helpers.learn.exercises import exercise_check, solution

    with solution("03.1"):                      # the folded cell
        worker = deploy_order_worker(lab, table, queues, rules={"max_quantity_per_item": 50})

    check = exercise_check("03.1", "a lower quantity limit")
    check.expect(order["status"] == "REJECTED", "an order of 60 pens is REJECTED",
                 hint="deploy the worker with rules={'max_quantity_per_item': 50}")
    check.done()

In an nbformat editing script (kept outside the repository)::

    >>> cells = exercise_cells("03.1", "A lower quantity limit", prompt="Lower the limit to 50.",
    ...                        answer="# your code here", solution="x = 1", check="print('ok')")
    >>> [c.metadata["tags"] for c in cells]
    [['exercise'], ['exercise-answer'], ['solution'], ['exercise-check']]
    >>> cells[2].metadata["jupyter"]
    {'source_hidden': True}
    >>> cells[0].id
    '03-ex1-prompt'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from helpers.learn.checks import Checklist

__all__ = [
    "ANSWER_TAG",
    "CHECK_TAG",
    "CHECK_YOUR_WORK_TAG",
    "EXERCISE_TAG",
    "INTRO_TAG",
    "PREREQUISITES_TAG",
    "SOLUTION_TAG",
    "ExerciseChecklist",
    "convention_problems",
    "exercise_cells",
    "exercise_check",
    "exercises_in",
    "solution",
]

# Cell tags (metadata.tags). Tags, not cell positions, are what tools rely on.
INTRO_TAG = "intro"  # markdown: what you build, time, AWS cost, before this
PREREQUISITES_TAG = "prerequisites"  # code: connects and checks the earlier steps (require_step)
EXERCISE_TAG = "exercise"  # markdown: the exercise's prompt
ANSWER_TAG = "exercise-answer"  # code: the learner's cell
SOLUTION_TAG = "solution"  # code, folded: the solution (runs headless)
CHECK_TAG = "exercise-check"  # code: the exercise's check
CHECK_YOUR_WORK_TAG = "check-your-work"  # code: the step's final check
METADATA_KEY = "orderlab"  # cell.metadata["orderlab"]["exercise"] = "03.1"

_ID_RE = re.compile(r"^(?P<notebook>\d\d)\.(?P<number>[1-9]\d*)$")
_ROLES = (EXERCISE_TAG, ANSWER_TAG, SOLUTION_TAG, CHECK_TAG)
_ROLE_SUFFIX = {EXERCISE_TAG: "prompt", ANSWER_TAG: "answer", SOLUTION_TAG: "solution", CHECK_TAG: "check"}
REVEAL_TIP = (
    "Stuck? The folded cell just above this check is a solution: click its ⋯ to read it, "
    "run it to apply it, then run this check again."
)


def _parse_id(exercise_id: str) -> tuple[str, int]:
    match = _ID_RE.match(exercise_id)
    if not match:
        raise ValueError(f"An exercise id is '<notebook>.<number>', e.g. '03.1'; got {exercise_id!r}")
    return match["notebook"], int(match["number"])


# ---------------------------------------------------------------------------------------------
# In the notebook
# ---------------------------------------------------------------------------------------------


class ExerciseChecklist(Checklist):
    """A :class:`Checklist` for an exercise: on failure the verdict also says where the solution is."""

    def report(self) -> str:
        text = super().report()
        return f"{text}\n  {REVEAL_TIP}" if self.failures else text


def exercise_check(exercise_id: str, title: str) -> ExerciseChecklist:
    """The checklist of exercise ``exercise_id``, titled ``✏️ Exercise 03.1 · <title>``.

    >>> check = exercise_check("03.1", "a lower quantity limit")
    >>> check.expect(True, "an order of 60 is REJECTED")
    True
    >>> check.done()
    ✅ ✏️ Exercise 03.1 · a lower quantity limit — all 1 checks passed
      ✔ an order of 60 is REJECTED
    """
    _parse_id(exercise_id)
    return ExerciseChecklist(f"✏️ Exercise {exercise_id} · {title}")


@contextmanager
def solution(exercise_id: str) -> Iterator[None]:
    """Wrap a solution cell's code: says afterwards that the solution was applied.

    The body always runs (headless runs rely on it); an error in it propagates unchanged.

    >>> with solution("03.1"):
    ...     answer = 42
    ✔ solution of exercise 03.1 applied (this cell is folded in JupyterLab: click ⋯ to read it)
    """
    _parse_id(exercise_id)
    yield
    print(f"✔ solution of exercise {exercise_id} applied (this cell is folded in JupyterLab: click ⋯ to read it)")


# ---------------------------------------------------------------------------------------------
# Building and validating notebooks (nbformat)
# ---------------------------------------------------------------------------------------------


def _cell(kind: str, source: str, exercise_id: str, role: str, extra: dict[str, Any] | None = None) -> Any:
    # nbformat on use: only building notebooks needs it, not a learner's kernel
    import nbformat.v4 as v4

    notebook, number = _parse_id(exercise_id)
    make = v4.new_markdown_cell if kind == "markdown" else v4.new_code_cell
    metadata: dict[str, Any] = {"tags": [role], METADATA_KEY: {"exercise": exercise_id}}
    metadata.update(extra or {})
    return make(source=source.strip("\n"), metadata=metadata, id=f"{notebook}-ex{number}-{_ROLE_SUFFIX[role]}")


def exercise_cells(exercise_id: str, title: str, *, prompt: str, answer: str, solution: str, check: str) -> list[Any]:
    """The four cells of one exercise (prompt, your turn, folded solution, check), ready to insert.

    ``prompt`` is the body of the markdown (the heading and the how-to line are added);
    ``answer``/``solution``/``check`` are code. Cell ids are ``<NN>-ex<k>-<role>``.
    """
    heading = f"### ✏️ Exercise {exercise_id} — {title}"
    how = (
        "*Write your answer in the next cell and run it, then run the **check** cell below it. "
        "The folded cell in between is a solution: leave it folded to test yourself, click its ⋯ to "
        "read it; running it applies it (it is safe to run after your own answer).*"
    )
    return [
        _cell("markdown", f"{heading}\n\n{prompt.strip()}\n\n{how}", exercise_id, EXERCISE_TAG),
        _cell("code", answer, exercise_id, ANSWER_TAG),
        _cell("code", solution, exercise_id, SOLUTION_TAG, {"jupyter": {"source_hidden": True}}),
        _cell("code", check, exercise_id, CHECK_TAG),
    ]


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercises_in(notebook: Any) -> dict[str, dict[str, int]]:
    """``{exercise id: {role tag: cell index}}`` for a notebook (an ``nbformat`` node)."""
    found: dict[str, dict[str, int]] = {}
    for index, cell in enumerate(notebook.cells):
        exercise_id = (cell.get("metadata", {}).get(METADATA_KEY) or {}).get("exercise")
        if exercise_id:
            for tag in _tags(cell):
                if tag in _ROLES:
                    found.setdefault(exercise_id, {})[tag] = index
    return found


def convention_problems(notebook: Any, *, min_exercises: int = 2) -> list[str]:
    """What a notebook gets wrong about docs/notebook-conventions.md (empty list: nothing).

    Checks: a ``parameters`` cell; an ``intro`` markdown naming what you build, the time, the cost
    and what comes before; a ``prerequisites`` code cell; a ``check-your-work`` cell; at least
    ``min_exercises`` exercises, each with its four cells in order and its solution folded.
    """
    problems: list[str] = []
    cells = notebook.cells

    def tagged(tag: str) -> list[int]:
        return [i for i, c in enumerate(cells) if tag in _tags(c)]

    if not tagged("parameters"):
        problems.append("no cell tagged 'parameters'")
    intro = tagged(INTRO_TAG)
    if not intro or cells[intro[0]].cell_type != "markdown":
        problems.append(f"no markdown cell tagged '{INTRO_TAG}'")
    else:
        text = cells[intro[0]].source.lower()
        for needle, what in (
            ("what you will", "what you will build"),
            ("time", "the time it takes"),
            ("cost", "the cost on AWS"),
            ("before this", "what must have run before"),
        ):
            if needle not in text:
                problems.append(f"the intro does not say {what} (expected {needle!r})")
    if not tagged(PREREQUISITES_TAG):
        problems.append(f"no code cell tagged '{PREREQUISITES_TAG}'")
    if not tagged(CHECK_YOUR_WORK_TAG):
        problems.append(f"no code cell tagged '{CHECK_YOUR_WORK_TAG}'")
    exercises = exercises_in(notebook)
    if len(exercises) < min_exercises:
        problems.append(f"{len(exercises)} exercise(s); at least {min_exercises} expected")
    for exercise_id, roles in sorted(exercises.items()):
        missing = [role for role in _ROLES if role not in roles]
        if missing:
            problems.append(f"exercise {exercise_id}: no cell tagged {', '.join(missing)}")
            continue
        positions = [roles[role] for role in _ROLES]
        if positions != list(range(positions[0], positions[0] + 4)):
            problems.append(f"exercise {exercise_id}: prompt, answer, solution and check are not consecutive")
        solution_cell = cells[roles[SOLUTION_TAG]]
        if not solution_cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
            problems.append(f"exercise {exercise_id}: the solution cell is not folded (jupyter.source_hidden)")
        if "exercise_check(" not in cells[roles[CHECK_TAG]].source:
            problems.append(f"exercise {exercise_id}: the check cell does not use exercise_check(...)")
    return problems
