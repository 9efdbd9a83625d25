"""What a headless run produces: each notebook's result, each learner's, the class run's.

The runner fills them in; the report renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ClassRun", "LearnerRun", "NotebookResult"]


@dataclass(frozen=True)
class NotebookResult:
    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""


@dataclass
class LearnerRun:
    """One learner of a class run: its notebooks' results, and its grade/cleanup when asked for."""

    prefix: str
    output_dir: Path
    results: list[NotebookResult] = field(default_factory=list)
    seconds: float = 0.0
    grade: dict[str, Any] | None = None  # helpers.teach.grade.GradeReport.to_dict()
    cleanup: dict[str, Any] | None = None  # {"ok", "deleted", "errors", "remaining"}
    error: str = ""  # the run itself broke (not a notebook)

    @property
    def ok(self) -> bool:
        cleaned = self.cleanup is None or self.cleanup.get("ok", False)
        return not self.error and bool(self.results) and all(r.ok for r in self.results) and cleaned


@dataclass
class ClassRun:
    output_dir: Path
    target: str
    notebooks: list[str]
    concurrency: int
    parameters: dict[str, Any]
    started_at: str
    learners: list[LearnerRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.learners) and all(learner.ok for learner in self.learners)
