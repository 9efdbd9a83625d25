"""Where the lab's folders are in the repository (the package is installed editable, next to them)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FRONTEND_DIR", "LAMBDAS_DIR", "NOTEBOOKS_DIR", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
FRONTEND_DIR = REPO_ROOT / "frontend"
