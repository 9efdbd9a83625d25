"""An instructor's class run on the local default: ``orderlab class`` for 3 learners, 2 at a time.

SLOW (about a minute on 2 cores: it executes notebooks 00 and 01 three times), marked ``notebooks``.
``orderlab class`` itself runs in the background from the start of the session (tests/classrun.py),
on a local cloud of its own that is already running, as the session's would be; this test, ordered
last, reads it. It keeps to notebooks 00-01 on purpose: the whole series for one learner is covered by
tests/notebooks/test_notebooks.py and tests/integration/test_cli.py.

Checks: every learner passes and gets its own folder, report.json/report.html show each learner's
results with links to the executed notebooks, each learner's order page got its own port (no
shared config.js), grading finds step 01 done; a learner who skips notebook 01 gets the
prerequisite message in the report; cleaning up one prefix leaves the other learners' resources
exactly as they were, and cleaning up the class leaves nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from cloudtest import external_target, notebook_stream_text

from helpers import Lab
from helpers.core.paths import NOTEBOOKS_DIR
from helpers.learn.exercises import exercises_in
from helpers.ops.discovery import find_lab_resources
from helpers.teach.runner import run_class, select_notebooks

pytestmark = [
    pytest.mark.notebooks,
    pytest.mark.slow,
    pytest.mark.cloud,
    pytest.mark.skipif(external_target() is not None, reason="the class run test uses the local default"),
]


def _orderlab(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers.teach.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _resources(prefix: str) -> list[tuple[str, str, str]]:
    return sorted((r.service, r.kind, r.name) for r in find_lab_resources(Lab.connect(prefix=prefix)))


def test_class_of_three_runs_in_parallel_reports_and_cleans_up_per_prefix(
    class_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``orderlab class --learners 3 --concurrency 2 --notebooks 00,01 --grade -p demo_orders 3
    # --learner-timeout 150``, run in the background on a cloud of its own (tests/classrun.py).
    monkeypatch.setenv("ORDERLAB_PORT", str(class_run.port))  # what follows works on the class's cloud
    prefixes = class_run.prefixes
    base = class_run.base
    run_dir = class_run.output
    try:
        assert class_run.returncode == 0, class_run.stdout[-7000:]
        assert "3/3 learners passed" in class_run.stdout
        assert class_run.running_after_the_class_run, "orderlab class stopped a cloud it did not start"

        # The report: JSON and HTML, per learner and per notebook, with links to the executed notebooks.
        report = json.loads((run_dir / "report.json").read_text())
        assert report["ok"] and report["concurrency"] == 2 and report["parameters"]["demo_orders"] == 3
        assert report["notebooks"] == ["00_setup.ipynb", "01_order_ingestion.ipynb"]
        assert [learner["prefix"] for learner in report["learners"]] == prefixes
        html = (run_dir / "report.html").read_text()
        for learner in report["learners"]:
            assert learner["ok"], learner
            assert [(n["notebook"], n["status"]) for n in learner["notebooks"]] == [
                ("00_setup.ipynb", "ok"),
                ("01_order_ingestion.ipynb", "ok"),
            ]
            for entry in learner["notebooks"]:
                assert entry["seconds"] > 0 and (run_dir / entry["output"]).is_file()
                assert f'href="{entry["output"]}"' in html
                executed = nbformat.read(run_dir / entry["output"], as_version=4)
                assert executed.metadata["papermill"]["parameters"]["prefix"] == learner["prefix"]
            assert [(s["step"], s["done"]) for s in learner["grade"]["steps"]] == [("01", True)], learner["grade"]
            # an instructor's class run: every solution of 01 applied (and recorded), none left for the learner
            exercises = {e["exercise"]: e["state"] for e in learner["grade"]["exercises"]}
            in_notebook = exercises_in(nbformat.read(NOTEBOOKS_DIR / "01_order_ingestion.ipynb", as_version=4))
            assert len(in_notebook) >= 2
            assert exercises == dict.fromkeys(in_notebook, "solution applied"), learner["grade"]
            assert "solution applied" in html

        # Isolation: each learner's resources carry its own prefix, and its page got its own port.
        before = {prefix: _resources(prefix) for prefix in prefixes}
        for prefix, found in before.items():
            assert found and all(prefix in name for _, _, name in found), found
        pages = {
            prefix: re.search(
                r"Open the order page: (\S+)", notebook_stream_text(run_dir / prefix / "01_order_ingestion.ipynb")
            )
            for prefix in prefixes
        }
        assert all(pages.values()) and len({m.group(1) for m in pages.values()}) == 3, pages

        # A learner who skipped notebook 01: the report says what to run (no stack trace to read).
        skipper = f"{base}x"
        skipped = run_class(
            [skipper],
            tmp_path / "skipper",
            {"target": "local"},
            notebooks=select_notebooks(["02"]),
            echo=lambda line: None,
            learner_timeout=120,
        )
        failure = json.loads((tmp_path / "skipper" / "report.json").read_text())["learners"][0]["notebooks"][0][
            "failure"
        ]
        assert not skipped.ok and failure["ename"] == "PrerequisiteMissing" and failure["kind"] == "prerequisites"
        assert f"Run 01_order_ingestion.ipynb (prefix '{skipper}'" in failure["message"]

        # Per-prefix cleanup leaves the other learners exactly as they were.
        one = _orderlab("cleanup", "--prefix", prefixes[1])
        assert one.returncode == 0 and "Nothing remains." in one.stdout, one.stdout + one.stderr
        assert _resources(prefixes[1]) == []
        assert _resources(prefixes[0]) == before[prefixes[0]] and _resources(prefixes[2]) == before[prefixes[2]]
        graded = _orderlab("grade", "--prefix", prefixes[0], "--steps", "01", "--json")
        assert graded.returncode == 0 and json.loads(graded.stdout)[0]["done"] == ["01"], graded.stdout + graded.stderr
    finally:
        everyone = _orderlab("cleanup", "--class", str(run_dir))
    assert everyone.returncode == 0 and "Nothing remains for any learner of the class." in everyone.stdout, (
        everyone.stdout + everyone.stderr
    )
    assert all(_resources(prefix) == [] for prefix in prefixes)
    assert class_run.stop_cloud(), "the class run's cloud was not running at the end"
