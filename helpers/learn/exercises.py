"""Exercises in the notebooks: one convention for every notebook (docs/notebook-conventions.md).

An exercise is four consecutive cells, all carrying ``metadata.orderlab.exercise = "<NN>.<k>"``:

1. **prompt** — markdown, tag ``exercise``: ``### ✏️ Exercise 03.1 — <title>``, what to do, why;
2. **your turn** — code, tag ``exercise-answer``: a runnable starting point the learner edits;
3. **solution** — code, tag ``solution``, folded (``metadata.jupyter.source_hidden``): first line
   ``%%solution 03.1``, then plain code a learner can copy into their answer cell. The cell magic
   runs the code only when solutions are on (``solutions=True`` in the parameters cell, or
   ``ORDERLAB_SOLUTIONS=1``; ``orderlab run``/``class`` and CI turn them on), and then records on the
   lab that the solution was applied (:mod:`helpers.learn.progress`). Off, it says how to reveal it;
4. **check** — code, tag ``exercise-check``: ``exercise_check("03.1", "…")`` gives a checklist whose
   ``done()`` prints the verdict and records it on the lab. A failing check raises ``CheckFailed``
   when solutions are on (CI proves each solution); off, it prints "not done yet" with the hints and
   the notebook goes on.

In a notebook (the prerequisites cell imports this module, which registers ``%%solution``)::

    %%solution 03.1
    worker = deploy_order_worker(lab, table, queues, rules={"max_quantity_per_item": 50})

    check = exercise_check("03.1", "a lower quantity limit")
    if check.attempted(limit_order_id, "an order of 60 pens was placed", hint="limit_order_id = ..."):
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
    >>> cells[2].source
    '%%solution 03.1\\nx = 1'
    >>> cells[0].id
    '03-ex1-prompt'
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.learn.checks import Checklist

__all__ = [
    "ANSWER_TAG",
    "CHECK_TAG",
    "CHECK_YOUR_WORK_TAG",
    "EXERCISE_TAG",
    "INTRO_TAG",
    "PREREQUISITES_TAG",
    "SOLUTION_MAGIC",
    "SOLUTION_TAG",
    "ExerciseChecklist",
    "apply_solution",
    "convention_problems",
    "exercise_cells",
    "exercise_check",
    "exercises_in",
    "names_only_solutions_define",
    "register_solution_magic",
    "series_exercises",
    "solution_code",
    "solutions_enabled",
]

# Cell tags (metadata.tags). Tags, not cell positions, are what tools rely on.
INTRO_TAG = "intro"  # markdown: what you build, time, AWS cost, before this
PREREQUISITES_TAG = "prerequisites"  # code: connects and checks the earlier steps (require_step)
EXERCISE_TAG = "exercise"  # markdown: the exercise's prompt
ANSWER_TAG = "exercise-answer"  # code: the learner's cell
SOLUTION_TAG = "solution"  # code, folded: %%solution NN.k, then the solution's code
CHECK_TAG = "exercise-check"  # code: the exercise's check
CHECK_YOUR_WORK_TAG = "check-your-work"  # code: the step's final check
METADATA_KEY = "orderlab"  # cell.metadata["orderlab"]["exercise"] = "03.1"
SOLUTION_MAGIC = "solution"  # the cell magic: %%solution 03.1
SOLUTIONS_ENV = "ORDERLAB_SOLUTIONS"

_ID_RE = re.compile(r"^(?P<notebook>\d\d)\.(?P<number>[1-9]\d*)$")
_ROLES = (EXERCISE_TAG, ANSWER_TAG, SOLUTION_TAG, CHECK_TAG)
_ROLE_SUFFIX = {EXERCISE_TAG: "prompt", ANSWER_TAG: "answer", SOLUTION_TAG: "solution", CHECK_TAG: "check"}
HOW_TO = (
    "*Write your answer in the next cell and run it, then run the **check** cell below it. "
    "The folded cell in between is a solution: leave it folded to test yourself, or click its ⋯ to "
    "read it and copy its code into your answer cell. It only applies itself when the notebook runs "
    "with `solutions=True`.*"
)
REVEAL_TIP = (
    "Stuck? The folded cell just above this check is a solution: click its ⋯ to read it, copy its "
    "code (below the %%solution line) into your answer cell, run that, then run this check again."
)


def _parse_id(exercise_id: str) -> tuple[str, int]:
    match = _ID_RE.match(exercise_id)
    if not match:
        raise ValueError(f"An exercise id is '<notebook>.<number>', e.g. '03.1'; got {exercise_id!r}")
    return match["notebook"], int(match["number"])


# ---------------------------------------------------------------------------------------------
# In the notebook
# ---------------------------------------------------------------------------------------------


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # a plain Python process: no kernel, no magics
        return None
    return get_ipython()


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def solutions_enabled(value: object = None) -> bool:
    """Whether solution cells apply themselves and failing exercise checks stop the notebook.

    ``value`` first, then the kernel's ``solutions`` parameter, then ``$ORDERLAB_SOLUTIONS``; off by default.

    >>> solutions_enabled(True), solutions_enabled("false")
    (True, False)
    """
    if value is None:
        shell = _shell()
        value = shell.user_ns.get("solutions") if shell is not None else None
    if value is None:
        value = os.environ.get(SOLUTIONS_ENV, "")
    return _truthy(value)


def _kernel_lab() -> Any:
    """The notebook's ``lab`` (a :class:`helpers.core.lab.Lab`), or None outside a kernel."""
    from helpers.core.lab import Lab

    shell = _shell()
    lab = shell.user_ns.get("lab") if shell is not None else None
    return lab if isinstance(lab, Lab) else None


class ExerciseChecklist(Checklist):
    """A :class:`Checklist` for an exercise: learner-friendly when not done, recorded on the lab.

    ``attempted(...)`` is the first expectation: did the learner do anything at all (so a learner who
    did nothing never gets a pass for a state the lab was already in)? Use it as a guard, so the
    slower checks (waits) only run after an attempt.
    """

    def __init__(self, title: str, exercise_id: str, lab: Any = None, solutions: object = None) -> None:
        super().__init__(title)
        self.exercise_id = exercise_id
        self.lab = lab
        self.solutions = solutions
        self.not_attempted = False

    def attempted(self, condition: object, what: str, *, hint: str = "") -> bool:
        """Record whether the learner made an attempt at all; returns it (guard the other checks with it)."""
        passed = self.expect(condition, what, hint=hint)
        self.not_attempted = self.not_attempted or not passed
        return passed

    def report(self) -> str:
        if not self.failures:
            return super().report()
        lines = super().report().splitlines()
        if not solutions_enabled(self.solutions):
            state = (
                "not started" if self.not_attempted else f"{len(self.failures)} of {len(self.results)} checks not met"
            )
            lines[0] = f"⏳ {self.title} — not done yet ({state})"
        return "\n".join([*lines, f"  {REVEAL_TIP}"])

    def done(self) -> None:
        """Print the verdict and record it on the lab; a failure raises only when solutions are on.

        >>> check = exercise_check("03.1", "a lower limit", solutions=False)
        >>> check.attempted(False, "an order of 60 was placed", hint="place one")
        False
        >>> check.done()   # doctest: +ELLIPSIS
        ⏳ ✏️ Exercise 03.1 · a lower limit — not done yet (not started)
          ✘ an order of 60 was placed
              → place one
          Stuck? ...
        """
        lab = self.lab if self.lab is not None else _kernel_lab()
        if lab is not None:
            from helpers.learn.progress import record_check

            record_check(lab, self.exercise_id, self.passed)
        if self.failures and not solutions_enabled(self.solutions):
            print(self.report())
            return
        super().done()


def exercise_check(exercise_id: str, title: str, *, lab: Any = None, solutions: object = None) -> ExerciseChecklist:
    """The checklist of exercise ``exercise_id``, titled ``✏️ Exercise 03.1 · <title>``.

    ``lab`` (default: the notebook's ``lab``) is where the verdict is recorded; ``solutions`` as in
    :func:`solutions_enabled`.

    >>> check = exercise_check("03.1", "a lower quantity limit")
    >>> check.expect(True, "an order of 60 is REJECTED")
    True
    >>> check.done()
    ✅ ✏️ Exercise 03.1 · a lower quantity limit — all 1 checks passed
      ✔ an order of 60 is REJECTED
    >>> check = exercise_check("03.1", "a lower quantity limit", solutions=True)
    >>> check.expect(False, "an order of 60 is REJECTED")
    False
    >>> check.done()   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    helpers.learn.checks.CheckFailed: ❌ ✏️ Exercise 03.1 · a lower quantity limit — 1 of 1 checks failed
    ...
    """
    _parse_id(exercise_id)
    return ExerciseChecklist(f"✏️ Exercise {exercise_id} · {title}", exercise_id, lab, solutions)


def solution_code(source: str) -> tuple[str, str]:
    """``(exercise id, code)`` of a solution cell's source (``%%solution 03.1`` then the code).

    >>> solution_code("%%solution 03.1\\nx = 1")
    ('03.1', 'x = 1')
    """
    first, _, code = source.partition("\n")
    magic, _, exercise_id = first.strip().partition(" ")
    if magic != f"%%{SOLUTION_MAGIC}":
        raise ValueError(f"a solution cell starts with '%%{SOLUTION_MAGIC} <NN.k>'; this one starts with {first!r}")
    _parse_id(exercise_id.strip())
    return exercise_id.strip(), code


def apply_solution(exercise_id: str, code: str, namespace: dict[str, Any], *, solutions: object = None) -> bool:
    """What ``%%solution`` does: run ``code`` in ``namespace`` when solutions are on; say how to reveal it otherwise.

    Returns whether it ran. Errors in the code propagate. After it ran, the solution is recorded on
    the namespace's ``lab`` (when there is one).

    >>> ns = {}
    >>> apply_solution("03.1", "x = 41 + 1", ns, solutions=False)   # doctest: +ELLIPSIS
    🔒 Solution of exercise 03.1: not applied (solutions are off). ...
    False
    >>> apply_solution("03.1", "x = 41 + 1", ns, solutions=True), ns["x"]
    ✔ solution of exercise 03.1 applied
    (True, 42)
    """
    _parse_id(exercise_id)
    if not solutions_enabled(solutions if solutions is not None else namespace.get("solutions")):
        print(
            f"🔒 Solution of exercise {exercise_id}: not applied (solutions are off). To read it, click ⋯ on this "
            "cell to unfold it and copy the code below the %%solution line into your answer cell; or run the "
            "notebook with solutions=True (parameters cell, or -p solutions true) to apply it."
        )
        return False
    exec(compile(code, f"<solution {exercise_id}>", "exec"), namespace)
    from helpers.core.lab import Lab

    lab = namespace.get("lab")
    if isinstance(lab, Lab):
        from helpers.learn.progress import record_solution

        record_solution(lab, exercise_id)
    print(f"✔ solution of exercise {exercise_id} applied")
    return True


def _solution_magic(line: str, cell: str) -> None:
    shell = _shell()
    apply_solution(line.strip(), cell, shell.user_ns)


def register_solution_magic(shell: Any = None) -> bool:
    """Register the ``%%solution`` cell magic in ``shell`` (default: the running IPython, if any)."""
    shell = shell if shell is not None else _shell()
    if shell is None:
        return False
    shell.register_magic_function(_solution_magic, magic_kind="cell", magic_name=SOLUTION_MAGIC)
    return True


register_solution_magic()


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
    ``answer``/``solution``/``check`` are code (``solution`` without its ``%%solution`` line: it is
    added). Cell ids are ``<NN>-ex<k>-<role>``.
    """
    heading = f"### ✏️ Exercise {exercise_id} — {title}"
    how = HOW_TO
    solution = f"%%{SOLUTION_MAGIC} {exercise_id}\n{solution.strip(chr(10))}"
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


def _code_of(cell: Any) -> str:
    """A code cell's Python: a solution cell's code without its magic line; other magics and shell lines dropped."""
    source = cell.source
    if SOLUTION_TAG in _tags(cell):
        try:
            source = solution_code(source)[1]
        except ValueError:
            pass
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _names(cell: Any) -> tuple[set[str], set[str]]:
    """(names a code cell binds, names it reads) — by its syntax tree; a cell that does not parse has none."""
    try:
        tree = ast.parse(_code_of(cell))
    except SyntaxError:
        return set(), set()
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound, read


def names_only_solutions_define(notebook: Any) -> list[str]:
    """Later cells reading a name that only an exercise's solution defines (they would fail with solutions off).

    A name counts as defined when a code cell that is not a solution binds it before (the learner's
    answer cell gives it a starting value, or an earlier step defines it).
    """
    problems: list[str] = []
    cells = notebook.cells
    names = [_names(c) if c.cell_type == "code" else (set(), set()) for c in cells]
    is_solution = [SOLUTION_TAG in _tags(c) for c in cells]
    for exercise_id, roles in sorted(exercises_in(notebook).items()):
        at = roles.get(SOLUTION_TAG)
        if at is None:
            continue
        defined = set().union(*(names[i][0] for i in range(at) if not is_solution[i]))
        only_solution = names[at][0] - defined
        for later in range(at + 1, len(cells)):
            if is_solution[later]:
                continue
            bound, read = names[later]
            for name in sorted((read - bound) & only_solution):
                problems.append(
                    f"cell {later} ({cells[later].get('id')}) reads {name!r}, which only the solution of "
                    f"{exercise_id} defines: give it a starting value in the answer cell, or do not use it"
                )
            only_solution -= bound
    return problems


@dataclass(frozen=True)
class ExerciseInfo:
    """One exercise of the series: its id (``03.1``), title, and notebook file name."""

    exercise_id: str
    title: str
    notebook: str

    @property
    def step(self) -> str:
        return self.exercise_id.split(".")[0]


_HEADING_RE = re.compile(r"^#+\s*✏️\s*Exercise\s+(?P<id>\d\d\.\d+)\s*[—-]\s*(?P<title>.+)$", re.MULTILINE)


def series_exercises(notebooks_dir: Path) -> list[ExerciseInfo]:
    """Every exercise of the numbered notebooks in ``notebooks_dir``, in order (read as JSON: no nbformat needed)."""
    found: list[ExerciseInfo] = []
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            source = "".join(cell.get("source", []))
            exercise_id = (cell.get("metadata", {}).get(METADATA_KEY) or {}).get("exercise")
            if exercise_id and EXERCISE_TAG in _tags(cell):
                heading = _HEADING_RE.search(source)
                found.append(ExerciseInfo(exercise_id, heading["title"].strip() if heading else exercise_id, path.name))
    return sorted(found, key=lambda e: _parse_id(e.exercise_id))


def convention_problems(notebook: Any, *, min_exercises: int = 2) -> list[str]:
    """What a notebook gets wrong about docs/notebook-conventions.md (empty list: nothing).

    Checks: a ``parameters`` cell with a ``solutions`` parameter; an ``intro`` markdown naming what
    you build, the time, the cost and what comes before; a ``prerequisites`` code cell; a
    ``check-your-work`` cell; at least ``min_exercises`` exercises, each with its four cells in order,
    its solution folded and starting with ``%%solution <id>``, its check starting with an attempt;
    and no later cell reading a name only a solution defines.
    """
    problems: list[str] = []
    cells = notebook.cells

    def tagged(tag: str) -> list[int]:
        return [i for i, c in enumerate(cells) if tag in _tags(c)]

    parameters = tagged("parameters")
    if not parameters:
        problems.append("no cell tagged 'parameters'")
    elif not re.search(r"^solutions\s*=", cells[parameters[0]].source, re.MULTILINE):
        problems.append("the parameters cell has no 'solutions' parameter")
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
        try:
            magic_id, _ = solution_code(solution_cell.source)
        except ValueError:
            problems.append(f"exercise {exercise_id}: the solution cell does not start with '%%solution {exercise_id}'")
        else:
            if magic_id != exercise_id:
                problems.append(f"exercise {exercise_id}: the solution cell is '%%solution {magic_id}'")
        if "exercise_check(" not in cells[roles[CHECK_TAG]].source:
            problems.append(f"exercise {exercise_id}: the check cell does not use exercise_check(...)")
        elif ".attempted(" not in cells[roles[CHECK_TAG]].source:
            problems.append(
                f"exercise {exercise_id}: the check cell does not first establish that the learner tried "
                "(check.attempted(...))"
            )
    problems.extend(names_only_solutions_define(notebook))
    return problems
