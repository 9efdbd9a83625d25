"""The notebook series, run once per test session by ``orderlab run``, for every test that needs it.

One run serves the notebook tests (each step's checks, the stored outputs nbval compares, re-runs
that must converge, cleanup), the CLI test and the credentials scan. It starts in the background as
soon as collection is done (``start``), so the rest of the suite runs meanwhile; the tests that read
it wait for it (``finish``) and are ordered last.

Run as a script it is that run, in a process of its own: ``orderlab run`` (``helpers.teach.cli.main``)
for the whole series, on a local cloud it starts and must stop itself, with realistic-looking AWS
credentials in the environment (the local target must never use or show them). Between the last
step and cleanup, while the pipeline is deployed, it re-runs the notebooks that deploy (01, 03,
04) and records what exists before and after each; after cleanup, what remains. That goes to
``run.json`` next to the executed notebooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_FILE = "run.json"
LOG_FILE = "orderlab-run.log"
RERUN_NOTEBOOKS = ("01_order_ingestion", "03_sqs_workers", "04_high_value_pipes")
RERUN_DIR = "rerun"
# The whole series takes about two minutes on 2 idle cores; this bounds a hung run.
RUN_TIMEOUT = 1500


def fake_credentials() -> dict[str, str]:
    """Credentials shaped like real ones (AKIA… key id, 40-character secret, session token)."""
    alphabet = string.ascii_uppercase + "234567"
    return {
        "AWS_ACCESS_KEY_ID": "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)),
        "AWS_SECRET_ACCESS_KEY": "".join(
            secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40)
        ),
        "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjE" + secrets.token_hex(40),
    }


@dataclass
class SeriesRun:
    """The session's run: where it went, what ``orderlab run`` printed, and what ``run.json`` recorded."""

    output: Path
    prefix: str
    port: int | None  # the local cloud ``orderlab run`` started (None on another target)
    credentials: dict[str, str]
    process: Any = None
    started: float = 0.0
    returncode: int | None = None
    stdout: str = ""
    seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    cloud_left_running: bool | None = None

    def notebook(self, name: str) -> Path:
        return self.output / name

    def rerun_notebook(self, name: str) -> Path:
        return self.output / RERUN_DIR / name

    def failure(self) -> str:
        return f"orderlab run exited {self.returncode}:\n{self.stdout[-4000:]}"


def start(base: Path) -> SeriesRun:
    """Start the run in the background (its own process group, output in ``base``)."""
    from cloudtest import BACKGROUND_RUN_MARKER, external_target, free_port, start_in_background

    base.mkdir(parents=True, exist_ok=True)
    port = None if external_target() else free_port()
    run = SeriesRun(
        output=base / "series", prefix=f"sr{uuid.uuid4().hex[:6]}", port=port, credentials=fake_credentials()
    )
    env = dict(os.environ, **run.credentials, **{BACKGROUND_RUN_MARKER: "series"})
    env["ORDERLAB_WORKSPACE"] = str(base / "workspace")  # the handler exercises' copies: not in the repository
    if port is not None:
        env["ORDERLAB_PORT"] = str(port)
    run.process = start_in_background(
        Path(__file__).resolve(), [str(run.output), run.prefix], env=env, log=base / LOG_FILE
    )
    run.started = time.monotonic()
    return run


def finish(run: SeriesRun, *, timeout: float = RUN_TIMEOUT) -> SeriesRun:
    """Wait for the run, then read what it left; stop its cloud if it did not (and say so)."""
    if run.returncode is not None:
        return run
    from cloudtest import finish_in_time

    run.returncode = finish_in_time(run.process, run.started, timeout, lambda: stop(run))  # stopped: see the log
    run.seconds = time.monotonic() - run.started
    run.stdout = (run.output.parent / LOG_FILE).read_text(errors="replace")
    with contextlib.suppress(OSError, ValueError):
        run.report = json.loads((run.output / REPORT_FILE).read_text())
    if run.port is not None:
        import localcloud

        run.cloud_left_running = localcloud.stop(run.port).stopped
        localcloud.reset(run.port)
    return run


def stop(run: SeriesRun) -> None:
    """End a run still going (its process group: the CLI and its kernels), and the cloud it started."""
    if run.process is not None:
        run.process.end()
    if run.port is not None:
        import localcloud

        localcloud.stop(run.port)
        localcloud.reset(run.port)


# ------------------------------------------------------------------------------ the run itself


def _resources(lab: Any) -> list[list[str]]:
    from helpers.ops.discovery import find_lab_resources

    return sorted([r.service, r.kind, r.name] for r in find_lab_resources(lab))


def main(output: Path, prefix: str) -> int:
    """``orderlab run`` for the whole series; re-runs and resource snapshots around cleanup."""
    import helpers.teach.runner as runner
    from helpers import Lab
    from helpers.teach import cli

    report: dict[str, Any] = {"prefix": prefix, "deployed": None, "reruns": [], "after_cleanup": None}
    run_notebook = runner.run_notebook
    failed: list[str] = []

    def run_notebook_then_record(notebook: Path, destination: Path, parameters: dict[str, Any], **options: Any):
        is_cleanup = notebook.name == runner.CLEANUP_NOTEBOOK.name
        if is_cleanup and not failed:
            # Every step passed: the pipeline is deployed. Re-running a step must create or lose nothing.
            lab = Lab.connect(prefix=prefix, announce=None)
            report["deployed"] = _resources(lab)
            for name in RERUN_NOTEBOOKS:
                again = run_notebook(
                    runner.NOTEBOOKS_DIR / f"{name}.ipynb",
                    destination.parent / RERUN_DIR / f"{name}.ipynb",
                    parameters,
                    **options,
                )
                report["reruns"].append(
                    {
                        "notebook": name,
                        "ok": again.ok,
                        "error": again.error,
                        "seconds": again.seconds,
                        "resources": _resources(lab),
                    }
                )
        result = run_notebook(notebook, destination, parameters, **options)
        if not result.ok:
            failed.append(notebook.name)
        if is_cleanup:
            report["after_cleanup"] = _resources(Lab.connect(prefix=prefix, announce=None))
        return result

    runner.run_notebook = run_notebook_then_record
    try:
        return cli.main(["run", "--output", str(output), "-p", "prefix", prefix])
    finally:
        output.mkdir(parents=True, exist_ok=True)
        (output / REPORT_FILE).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
