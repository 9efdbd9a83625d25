"""An instructor's class run (``orderlab class``), started in the background when collection is done.

The class run test (tests/integration/test_class_run.py) spends most of its time waiting for
``orderlab class``; started early, that run goes on while the rest of the suite runs, and the test
(ordered last) reads it. It runs on a local cloud of its own, started before ``orderlab class`` as
the session's cloud would be (a cloud already running: the class run must leave it running).

Run as a script (``python tests/classrun.py PORT ARGS...``): start the cloud on PORT, then
``orderlab ARGS...``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_FILE = "orderlab-class.log"
LEARNERS = 3
RUN_TIMEOUT = 900


@dataclass
class ClassRun:
    output: Path
    base: str
    port: int
    process: Any = None
    started: float = 0.0
    returncode: int | None = None
    stdout: str = ""
    running_after_the_class_run: bool | None = None

    @property
    def prefixes(self) -> list[str]:
        return [f"{self.base}{index:02d}" for index in range(1, LEARNERS + 1)]

    def stop_cloud(self) -> bool:
        """Stop the class run's cloud and delete its state; True when it was still running."""
        import localcloud

        stopped = localcloud.stop(self.port).stopped
        localcloud.reset(self.port)
        return stopped


def start(base_dir: Path) -> ClassRun:
    from cloudtest import BACKGROUND_RUN_MARKER, free_port, start_in_background

    base_dir.mkdir(parents=True, exist_ok=True)
    run = ClassRun(output=base_dir / "class-run", base=f"c{uuid.uuid4().hex[:5]}", port=free_port())
    command = [
        "class",
        "--learners",
        str(LEARNERS),
        "--prefix-base",
        run.base,
        "--concurrency",
        "2",
        "--notebooks",
        "00,01",
        "--grade",
        "-p",
        "demo_orders",
        "3",
        "--output",
        str(run.output),
        "--learner-timeout",
        "150",
    ]
    run.process = start_in_background(
        Path(__file__).resolve(),
        [str(run.port), *command],
        env=dict(os.environ, ORDERLAB_PORT=str(run.port), **{BACKGROUND_RUN_MARKER: "class"}),
        log=base_dir / LOG_FILE,
    )
    run.started = time.monotonic()
    return run


def finish(run: ClassRun, *, timeout: float = RUN_TIMEOUT) -> ClassRun:
    if run.returncode is not None:
        return run
    from cloudtest import finish_in_time

    run.returncode = finish_in_time(run.process, run.started, timeout, lambda: stop(run))
    import localcloud

    run.stdout = (run.output.parent / LOG_FILE).read_text(errors="replace")
    run.running_after_the_class_run = localcloud.status(run.port).running
    return run


def stop(run: ClassRun) -> None:
    """End a run still going (its process group), and its cloud."""
    if run.process is not None:
        run.process.end()
    run.stop_cloud()


if __name__ == "__main__":
    import localcloud
    from helpers.teach import cli

    localcloud.start(int(sys.argv[1]))
    sys.exit(cli.main(sys.argv[2:]))
