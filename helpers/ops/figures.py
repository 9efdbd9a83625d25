"""Figures a notebook measured, kept in the learner's portfolio folder for notebook 08 to show.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> save_figures(folder, "load_and_chaos", {"orders": 150}).relative_to(folder)
PosixPath('figures/load_and_chaos.json')
>>> saved_figures(folder)
{'load_and_chaos': {'orders': 150}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.core.paths import REPO_ROOT

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = ["CHAOS_FIGURES", "FIGURES_FOLDER", "portfolio_dir", "save_figures", "saved_figures"]

FIGURES_FOLDER = "figures"
CHAOS_FIGURES = "load_and_chaos"
"""Notebook 07's figures (:func:`helpers.load.figures.chaos_figures`)."""


def portfolio_dir(lab: Lab) -> Path:
    """``runs/<prefix>/portfolio``: where notebook 08 writes the portfolio, and earlier notebooks their figures."""
    return REPO_ROOT / "runs" / lab.prefix / "portfolio"


def save_figures(folder: Path, name: str, figures: Mapping[str, Any]) -> Path:
    """Write ``figures`` (JSON-friendly) as ``<folder>/figures/<name>.json``, replacing an older run's."""
    path = folder / FIGURES_FOLDER / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(figures), indent=2, default=str) + "\n")
    return path


def saved_figures(folder: Path) -> dict[str, dict[str, Any]]:
    """Every figures file under ``folder`` (name -> figures); a file that is not valid JSON is left out."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((folder / FIGURES_FOLDER).glob("*.json")):
        try:
            figures = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(figures, dict):
            found[path.stem] = figures
    return found
