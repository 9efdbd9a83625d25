"""The Lambda runtime of the lab's functions: the Python version the lab itself runs on.

Every deploy, the packaging of dependencies (wheels for that CPython), the plan and the
notebooks read it from here, on every target. ``ORDERLAB_LAMBDA_RUNTIME`` (or the
``override`` argument) picks another of the runtimes the lab supports.

>>> lambda_runtime()                       # the lab running on Python 3.12   # doctest: +SKIP
'python3.12'
>>> lambda_runtime("python3.13"), python_version("python3.13")
('python3.13', '3.13')
"""

from __future__ import annotations

import os
import sys

import localcloud
from helpers.core.errors import FriendlyError

__all__ = [
    "LAB_RUNTIMES",
    "RUNTIME_ENV",
    "RuntimeChoiceError",
    "describe_runtime",
    "host_runtime",
    "lambda_runtime",
    "missing_interpreter_hint",
    "python_version",
]

RUNTIME_ENV = "ORDERLAB_LAMBDA_RUNTIME"
# The AWS Lambda Python runtimes the lab's functions and their pinned dependencies run on.
LAB_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")


class RuntimeChoiceError(FriendlyError, ValueError):
    """The runtime asked for (or the Python the lab runs on) is not one the lab supports."""


def host_runtime() -> str:
    """The runtime named after the Python running this code, e.g. ``"python3.12"``."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def lambda_runtime(override: str | None = None) -> str:
    """The runtime of the lab's functions: ``override``, else ``ORDERLAB_LAMBDA_RUNTIME``, else
    the Python version the lab runs on. Raises :class:`RuntimeChoiceError` outside :data:`LAB_RUNTIMES`."""
    from_env = os.environ.get(RUNTIME_ENV, "").strip()
    chosen = override or from_env or host_runtime()
    if chosen not in LAB_RUNTIMES:
        where = (
            "asked for"
            if override
            else f"set in {RUNTIME_ENV}"
            if from_env
            else f"the Python the lab runs on ({sys.version.split()[0]})"
        )
        raise RuntimeChoiceError(
            f"Lambda runtime {chosen!r} ({where}) is not one the lab supports: {', '.join(LAB_RUNTIMES)}. "
            f"Set {RUNTIME_ENV} to one of them, or run the lab on Python 3.11-3.14."
        )
    return chosen


def python_version(runtime: str | None = None) -> str:
    """The CPython version of ``runtime`` (default: :func:`lambda_runtime`), e.g. ``"3.12"``."""
    chosen = runtime or lambda_runtime()
    version = localcloud.python_version_of(chosen)
    if version is None:
        raise RuntimeChoiceError(f"Lambda runtime {chosen!r} is not a Python 3 runtime")
    return version


def describe_runtime() -> str:
    """The runtime and where it comes from, for the environment table and the plan."""
    runtime = lambda_runtime()
    if os.environ.get(RUNTIME_ENV, "").strip():
        return f"{runtime} (from {RUNTIME_ENV})"
    return f"{runtime} (the Python the lab runs on, {sys.version.split()[0]})"


def missing_interpreter_hint(runtime: str) -> str:
    """What to do when this machine has no interpreter for ``runtime`` (local target)."""
    hint = f"{localcloud.install_hint(runtime)} and restart the local cloud"
    if runtime != host_runtime() and host_runtime() in LAB_RUNTIMES:
        hint += f", or set {RUNTIME_ENV}={host_runtime()}"
    return hint
