"""nbval's output comparison (lax mode), applied to a notebook executed elsewhere.

nbval executes a notebook itself, cell by cell, to compare the cells marked ``# NBVAL_CHECK_OUTPUT``
with their stored outputs. The session already executes the series once (tests/seriesrun.py), so
this runs nbval's own code — its markers, stream coalescing, sanitizers (``sanitize.cfg``) and
``compare_outputs`` — on that executed copy instead of executing the notebooks a second time.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import nbformat
from nbval.plugin import (
    IPyNbCell,
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    nocolors,
)

SANITIZE_CONFIG = Path(__file__).with_name("sanitize.cfg")
# What nbval leaves out of the comparison (IPyNbFile.skip_compare without --nbdime).
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


class OutputComparison:
    """nbval's ``IPyNbCell.compare_outputs`` with the project's sanitizers, outside a pytest item."""

    compare_outputs = IPyNbCell.compare_outputs
    format_output_compare = IPyNbCell.format_output_compare
    sanitize = IPyNbCell.sanitize

    def __init__(self, sanitize_config: Path = SANITIZE_CONFIG) -> None:
        patterns = get_sanitize_patterns(sanitize_config.read_text())
        self.parent = SimpleNamespace(skip_compare=SKIP_COMPARE, sanitize_patterns=dict(patterns))
        self.colors = nocolors
        self.config = None
        self.comparison_traceback: list[str] = []
        # Without pytest's assertion rewriting nbval falls back to printing both outputs in full.
        self.ihook = SimpleNamespace(pytest_assertrepr_compare=lambda **_: [])

    def differences(self, executed: list, stored: list) -> str:
        """Empty when the outputs agree (after sanitizing), else nbval's report of the difference."""
        same = self.compare_outputs(coalesce_streams(copy.deepcopy(executed)), coalesce_streams(copy.deepcopy(stored)))
        return "" if same else "\n".join(self.comparison_traceback)


def cell_options(cell: nbformat.NotebookNode) -> dict[str, bool]:
    """nbval's options for a cell (lax mode: compared only when marked), from its comments and tags."""
    options: dict[str, bool] = defaultdict(bool, find_metadata_tags(cell.metadata))
    options.update(dict(find_comment_markers(cell.source)))
    options.setdefault("check", False)
    return options


def checked_cells(stored: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in stored.cells if cell.cell_type == "code" and cell_options(cell)["check"]]


def output_problems(stored_path: Path, executed_path: Path, comparison: OutputComparison | None = None) -> list[str]:
    """What nbval --nbval-lax would report for the executed notebook against the stored one.

    Cells are matched by id (papermill inserts a parameters cell, so positions shift).
    """
    comparison = comparison or OutputComparison()
    stored = nbformat.read(stored_path, as_version=4)
    executed = {cell.get("id"): cell for cell in nbformat.read(executed_path, as_version=4).cells}
    problems = []
    for cell in stored.cells:
        if cell.cell_type != "code":
            continue
        if cell.execution_count is None and cell.outputs:
            problems.append(f"cell {cell.get('id')}: unrun reference cell has outputs")
        if not cell_options(cell)["check"] or cell.execution_count is None or cell_options(cell)["skip"]:
            continue
        ran = executed.get(cell.get("id"))
        if ran is None:
            problems.append(f"cell {cell.get('id')}: not in the executed notebook")
            continue
        difference = comparison.differences(ran.outputs, cell.outputs)
        if difference:
            problems.append(f"cell {cell.get('id')}: outputs differ\n{difference}")
    return problems
