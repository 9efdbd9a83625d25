"""Where the local cloud keeps its files: ``$ORDERLAB_HOME`` (default ``~/.orderlab``).

>>> cloud_dir(4599).name
'cloud-4599'
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The local cloud's home: pid files, logs and the Lambda runtime live below it."""
    return Path(os.environ.get("ORDERLAB_HOME") or Path.home() / ".orderlab").expanduser()


def cloud_dir(port: int) -> Path:
    """One directory per port, so a test cloud never collides with a learner's."""
    return home() / f"cloud-{port}"


def pid_file(port: int) -> Path:
    return cloud_dir(port) / "server.pid"


def log_file(port: int) -> Path:
    return cloud_dir(port) / "server.log"


def runtime_root() -> Path:
    """Interpreter wrappers and the bundled SDK that local Lambda functions see."""
    return home() / "lambda-runtime"
