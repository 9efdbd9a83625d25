"""The instructors' answer key: every exercise's prompt, its solution and the output it gives, in one HTML file.

Built from an instructor run's executed notebooks (``orderlab run`` writes them to ``runs/latest``),
so the expected output is what the solution and its check really printed there.

>>> key = write_answer_key(Path("runs/latest"), Path("answer-key.html"))   # doctest: +SKIP
>>> key.exercises                                                         # doctest: +SKIP
['01.1', '01.2', '02.1', …]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import FriendlyError
from helpers.learn.exercises import CHECK_TAG, EXERCISE_TAG, HOW_TO, SOLUTION_TAG, exercises_in, solution_code

__all__ = ["AnswerKey", "AnswerKeyError", "answer_key_notebook", "write_answer_key"]


class AnswerKeyError(FriendlyError, ValueError):
    """The folder holds no executed instructor run to build the key from; the message says what to run."""


@dataclass
class AnswerKey:
    output: Path
    exercises: list[str] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)


def _parameters(notebook: Any) -> dict[str, Any]:
    return dict(notebook.metadata.get("papermill", {}).get("parameters", {}))


def answer_key_notebook(run_dir: Path) -> tuple[Any, AnswerKey]:
    """A notebook of every exercise of the executed notebooks in ``run_dir``: prompt, solution (unfolded, without
    its ``%%solution`` line) with its output, then its check with the verdict it printed."""
    import nbformat
    from nbformat import v4

    paths = sorted(run_dir.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise AnswerKeyError(
            f"No executed notebooks in {run_dir}: run the series as an instructor first (`orderlab run`), "
            "then build the key from its folder (runs/latest)."
        )
    key = AnswerKey(Path())
    cells = [
        v4.new_markdown_cell(
            f"# Answer key — Order Pipeline Lab\n\nFrom the instructor run in `{run_dir}`: "
            "each exercise's prompt, its solution and the output it gave, then its check."
        )
    ]
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        parameters = _parameters(notebook)
        if "papermill" not in notebook.metadata:
            raise AnswerKeyError(f"{path} was not executed headless: build the key from `orderlab run`'s folder")
        if parameters.get("solutions") is False:
            raise AnswerKeyError(f"{path} comes from a learner-mode run (solutions off): its solutions did not run")
        found = exercises_in(notebook)
        if not found:
            continue
        key.notebooks.append(path.name)
        title = notebook.metadata.get("title") or path.stem
        cells.append(v4.new_markdown_cell(f"## {title}"))
        for exercise_id, roles in sorted(found.items(), key=lambda item: tuple(map(int, item[0].split(".")))):
            prompt = notebook.cells[roles[EXERCISE_TAG]].source.replace(HOW_TO, "").strip()
            solution = notebook.cells[roles[SOLUTION_TAG]]
            check = notebook.cells[roles[CHECK_TAG]]
            cells.append(v4.new_markdown_cell(prompt.replace("### ", "### ", 1)))
            cells.append(v4.new_markdown_cell("**Solution** (paste it into the answer cell):"))
            cells.append(v4.new_code_cell(solution_code(solution.source)[1], outputs=solution.get("outputs", [])))
            cells.append(v4.new_markdown_cell("**Its check**, and the verdict it gave:"))
            cells.append(v4.new_code_cell(check.source, outputs=check.get("outputs", [])))
            key.exercises.append(exercise_id)
    notebook = v4.new_notebook(cells=cells, metadata={"title": "Answer key — Order Pipeline Lab"})
    return notebook, key


def write_answer_key(run_dir: Path, output: Path) -> AnswerKey:
    """Write the answer key of the executed notebooks in ``run_dir`` to ``output`` (one self-contained HTML file)."""
    from nbconvert import HTMLExporter

    notebook, key = answer_key_notebook(run_dir)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    html, _ = exporter.from_notebook_node(notebook)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    key.output = output
    return key
