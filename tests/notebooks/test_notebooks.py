"""The notebook series, executed headless as instructors and CI run it.

- papermill runs the series (00 to 08) with a unique prefix, then 01, 03 and 04 again,
  then cleanup: every notebook passes its own "check your work" cell, the re-runs converge
  (same resources, nothing redeployed) and cleanup leaves zero tagged resources;
- nbval (lax mode) re-executes the notebooks and compares the cells marked
  ``# NBVAL_CHECK_OUTPUT`` with their stored outputs (ids, timestamps, ports sanitised).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from helpers import Lab
from helpers.ops.discovery import find_lab_resources
from helpers.teach.runner import CLEANUP_NOTEBOOK, NOTEBOOKS_DIR, REPO_ROOT, run_notebook, series

pytestmark = pytest.mark.notebooks
STEPS = ["00_setup", "01_order_ingestion", "02_dynamodb_streams", "03_sqs_workers", "04_high_value_pipes",
         "05_dead_letter_queue", "06_alerts_observability", "07_load_and_chaos", "08_infrastructure_as_code"]
SERIES = [NOTEBOOKS_DIR / f"{name}.ipynb" for name in STEPS] + [CLEANUP_NOTEBOOK]


def _stream_text(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def _kinds(lab) -> list[tuple[str, str, str]]:
    return sorted((r.service, r.kind, r.name) for r in find_lab_resources(lab))


def test_the_main_job_runs_the_steps_in_order_then_cleanup():
    assert [p.name for p in series()] == [p.name for p in SERIES]


def test_series_runs_headless_converges_and_cleans_up(cloud, tmp_path):
    prefix = f"nb{uuid.uuid4().hex[:6]}"
    params = {"prefix": prefix, "demo_orders": 5}
    lab = Lab.connect(prefix=prefix)

    for notebook in SERIES[:-1]:
        result = run_notebook(notebook, tmp_path / f"1-{notebook.name}", params)
        assert result.ok, f"{notebook.name} failed: {result.error}"
    assert "all 9 checks passed" in _stream_text(tmp_path / "1-01_order_ingestion.ipynb")
    for name, checks in (("02_dynamodb_streams", 5), ("03_sqs_workers", 6), ("04_high_value_pipes", 6),
                         ("05_dead_letter_queue", 6), ("06_alerts_observability", 13), ("07_load_and_chaos", 7),
                         ("08_infrastructure_as_code", 9)):
        assert f"all {checks} checks passed" in _stream_text(tmp_path / f"1-{name}.ipynb"), name
    first = _kinds(lab)
    kinds = sorted({k[:2] for k in first})
    assert kinds == [("apigateway", "api"), ("cloudwatch", "alarm"), ("cloudwatch", "dashboard"), ("dynamodb", "table"),
                     ("iam", "role"), ("lambda", "event-source-mapping"), ("lambda", "function"), ("logs", "log-group"),
                     ("pipes", "pipe"), ("sns", "subscription"), ("sns", "topic"), ("sqs", "queue")], kinds

    for name in ("01_order_ingestion", "03_sqs_workers", "04_high_value_pipes"):
        again = run_notebook(NOTEBOOKS_DIR / f"{name}.ipynb", tmp_path / f"2-{name}.ipynb", params)
        assert again.ok, f"re-running {name} failed: {again.error}"
        assert _kinds(lab) == first, f"re-running {name} created or lost resources"
    assert "changed by this run: no (already up to date)" in _stream_text(tmp_path / "2-01_order_ingestion.ipynb")

    cleanup = run_notebook(CLEANUP_NOTEBOOK, tmp_path / "cleanup.ipynb", params)
    assert cleanup.ok, cleanup.error
    assert find_lab_resources(lab) == []


def test_notebooks_pass_nbval(cloud):
    env = dict(os.environ, ORDERLAB_PREFIX=f"nv{uuid.uuid4().hex[:6]}")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-sanitize-with", str(REPO_ROOT / "tests" / "notebooks" / "sanitize.cfg"),
         "-o", "addopts=", "-q", *[str(p) for p in SERIES]],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


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
