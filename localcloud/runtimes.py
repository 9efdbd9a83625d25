"""Lambda Python runtimes on this machine: which Runtime AWS accepts, the interpreter that runs it, its SDK.

Details: docs/local-cloud-services.md, `localcloud/runtimes.py`.

>>> select_interpreter("python3.14").note        # on a machine with 3.11-3.13  # doctest: +SKIP
'localcloud: no python3.14 here; running on Python 3.13.0'
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from localcloud.paths import runtime_root

_RUNTIME_RE = re.compile(r"^python(3\.\d+)$")
# What AWS's Python runtimes bundle: boto3, botocore and what they import.
SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
STRICT_ENV = "ORDERLAB_STRICT_RUNTIMES"
# Python runtimes AWS no longer accepts for a new function or an update: the "Deprecated
# runtimes" table of https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
# (python3.8: block function create 2025-02-28). Newer python3.X of the API's enum are accepted.
BLOCKED_PYTHON_RUNTIMES = frozenset({"python2.7", "python3.6", "python3.7", "python3.8"})
# The supported ones in that table, accepted even when the installed botocore's model predates them.
SUPPORTED_PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")


def python_version_of(runtime: str) -> str | None:
    """``"python3.11"`` -> ``"3.11"``; None for a runtime that is not Python 3."""
    match = _RUNTIME_RE.match(runtime or "")
    return match.group(1) if match else None


def _minor(version: str) -> int:
    return int(version.split(".")[1])


@functools.lru_cache(maxsize=1)
def modeled_runtimes() -> tuple[str, ...]:
    """The Lambda API's ``Runtime`` enum, in the API model's order (botocore's service model)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    return tuple(model.shape_for("Runtime").enum)


def accepted_python_runtimes() -> tuple[str, ...]:
    """The Python runtimes AWS accepts for CreateFunction today, oldest first."""
    modeled = {r for r in modeled_runtimes() if python_version_of(r) and r not in BLOCKED_PYTHON_RUNTIMES}
    return tuple(sorted(modeled | set(SUPPORTED_PYTHON_RUNTIMES), key=lambda r: _minor(python_version_of(r) or "3.0")))


def aws_refusal(runtime: object) -> str | None:
    """The message of AWS's ``InvalidParameterValueException`` for a Runtime that CreateFunction or
    UpdateFunctionConfiguration refuses, or None when AWS accepts it.

    >>> aws_refusal("python3.12") is None
    True
    >>> aws_refusal("python2.7")[:46]
    'The runtime parameter of python2.7 is no longe'
    """
    if not isinstance(runtime, str) or runtime.startswith("arn:"):
        return None
    if runtime in BLOCKED_PYTHON_RUNTIMES:
        return (
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions."
        )
    if runtime not in modeled_runtimes() and runtime not in SUPPORTED_PYTHON_RUNTIMES:
        return (
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(modeled_runtimes())}] or be a valid ARN"
        )
    return None


def strict() -> bool:
    """``ORDERLAB_STRICT_RUNTIMES`` is on: a runtime with no interpreter of its own is refused."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _candidates(version: str) -> list[str]:
    found: list[str] = []
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        found.append(getattr(sys, "_base_executable", sys.executable))
    path = shutil.which(f"python{version}")
    if path:
        found.append(path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}")))
    found += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    return found


@functools.cache
def _probe(candidate: str) -> str | None:
    """The full version (``"3.13.0"``) ``candidate`` runs, or None if it does not run."""
    if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
        return None
    try:
        return (
            subprocess.run(
                [candidate, "-I", "-S", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def _found(version: str) -> tuple[str, str] | None:
    """``(path, full version)`` of an interpreter of Python ``version`` (``"3.12"``) here, or None."""
    for candidate in _candidates(version):
        full = _probe(candidate)
        if full and full.rsplit(".", 1)[0] == version:
            return os.path.realpath(candidate), full
    return None


def interpreter_for(runtime: str) -> str | None:
    """A Python interpreter whose version is the one ``runtime`` names, or None."""
    version = python_version_of(runtime)
    found = _found(version) if version else None
    return found[0] if found else None


def _scanned_versions() -> list[str]:
    """Every Python 3 minor version a Lambda runtime may name, from 3.9 to the newest AWS models."""
    newest = max(_minor(v) for v in map(python_version_of, accepted_python_runtimes()) if v)
    return [f"3.{minor}" for minor in range(9, newest + 1)]


def available_runtimes() -> list[str]:
    """The python3.X runtimes this machine has an interpreter for, e.g. ``["python3.11", "python3.12"]``."""
    return [f"python{version}" for version in _scanned_versions() if _found(version)]


def nearest_version(wanted: str, have: Iterable[str]) -> str | None:
    """The version of ``have`` closest to ``wanted`` (``"3.X"``); on a tie the newer one, since
    a newer Python runs older code more often than the reverse.

    >>> nearest_version("3.14", ["3.11", "3.12", "3.13"])
    '3.13'
    >>> nearest_version("3.12", ["3.11", "3.13"])
    '3.13'
    """
    target = _minor(wanted)
    return min(have, key=lambda v: (abs(_minor(v) - target), -_minor(v)), default=None)


@dataclass(frozen=True)
class Interpreter:
    """The interpreter that runs a runtime here; ``note`` (for the function's log) when it is
    another version than the runtime names."""

    runtime: str
    path: str
    version: str
    note: str = ""


def select_interpreter(runtime: str) -> Interpreter:
    """The interpreter for ``runtime``: its own version, else (unless :func:`strict`) the nearest
    Python 3 here. Raises RuntimeError with :func:`unavailable_message` when there is none."""
    version = python_version_of(runtime)
    if version is None:
        raise RuntimeError(f"{runtime!r} is not a python3.X runtime")
    found = _found(version)
    if found:
        return Interpreter(runtime, found[0], found[1])
    nearest = None if strict() else nearest_version(version, [v for v in _scanned_versions() if _found(v)])
    if nearest is None:
        raise RuntimeError(unavailable_message(runtime))
    path, full = _found(nearest)  # type: ignore[misc]  # nearest is one of the versions found
    return Interpreter(runtime, path, full, note=f"localcloud: no {runtime} here; running on Python {full}")


def install_hint(runtime: str) -> str:
    """How to get ``runtime``'s interpreter on this machine."""
    version = python_version_of(runtime) or runtime
    return f"install python{version} (apt install python{version} / pyenv install {version})"


def launcher_for(runtime: str) -> str:
    """An executable that starts ``runtime``'s interpreter isolated; raises if there is none.

    It sets ``AWS_EXECUTION_ENV`` from the runtime (as AWS does) and, when the interpreter is
    another version, writes the note to stderr first: the function's log at each cold start.
    """
    interpreter = select_interpreter(runtime)
    root = runtime_root()
    root.mkdir(parents=True, exist_ok=True)
    launcher = root / f"{runtime}-isolated"
    # -I: no PYTHON* variables, no user site, no script dir; -S: no site-packages;
    # -B: write no .pyc into the function's code (read-only /var/task on AWS).
    script = "#!/bin/sh\n"
    if interpreter.note:
        script += f"echo '{interpreter.note}' >&2\n"
    script += f"AWS_EXECUTION_ENV=AWS_Lambda_{runtime}\nexport AWS_EXECUTION_ENV\n"
    script += f'exec "{interpreter.path}" -I -S -B "$@"\n'
    if not launcher.exists() or launcher.read_text() != script:
        _atomic_write(launcher, script, mode=0o755)
    return str(launcher)


def unavailable_message(runtime: str) -> str:
    """Why the local cloud cannot run ``runtime`` (strict, or no Python 3 at all), and what to do."""
    have = ", ".join(available_runtimes()) or "none"
    why = (
        f"{STRICT_ENV}=1 asks for the interpreter the runtime names"
        if strict()
        else "no Python 3 interpreter was found"
    )
    return (
        f"The local cloud cannot run Runtime {runtime}: no python{python_version_of(runtime)} interpreter on this "
        f"machine ({why}). Runtimes available here: {have}. Use one of those, or {install_hint(runtime)} and "
        f"restart the local cloud"
        + (f", or unset {STRICT_ENV} to run it on the nearest Python here." if strict() else ".")
    )


@functools.lru_cache(maxsize=1)
def sdk_dir() -> str:
    """A directory with only the runtime's SDK (boto3, botocore and their dependencies).

    Copied from the distributions installed beside the local cloud, once per set of
    versions, so a function sees the SDK but never the rest of the host's site-packages.
    """
    dists = [md.distribution(name) for name in SDK_DISTRIBUTIONS]
    key = "-".join(f"{d.metadata['Name']}{d.version}" for d in dists).lower().replace("_", "-")
    target = runtime_root() / "sdk" / key
    if (target / ".complete").exists():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sdk-", dir=target.parent))
    for dist in dists:
        for file in dist.files or []:
            rel = Path(str(file))
            if rel.parts[0] == ".." or "__pycache__" in rel.parts or rel.suffix == ".pyc":
                continue
            src = Path(str(file.locate()))
            if src.is_file():
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    (staging / ".complete").write_text(key + "\n")
    try:
        os.rename(staging, target)
    except OSError:  # another server built it first
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
