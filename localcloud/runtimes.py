"""Lambda Python runtimes on this machine: the interpreter a Runtime names, and its SDK.

On AWS a ``python3.11`` function runs on Python 3.11 and can import the standard library,
the runtime's bundled boto3/botocore (with their dependencies) and what its own package
and layers carry — nothing from anyone's site-packages. The local cloud reproduces that:
:func:`interpreter_for` finds a real ``python3.X`` for the Runtime, :func:`launcher_for`
wraps it so it starts isolated (``-I -S``: no site-packages, no PYTHON* variables, no
current directory), and :func:`sdk_dir` is a directory holding only boto3, botocore and
their dependencies, appended to ``sys.path`` after the function's code and layers, where
AWS's runtime puts its copy.

>>> interpreter_for("python3.11") is not None   # on this machine  # doctest: +SKIP
True
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
from pathlib import Path

from localcloud.paths import runtime_root

_RUNTIME_RE = re.compile(r"^python(3\.\d+)$")
# What AWS's Python runtimes bundle: boto3, botocore and what they import.
SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")


def python_version_of(runtime: str) -> str | None:
    """``"python3.11"`` -> ``"3.11"``; None for a runtime that is not Python."""
    match = _RUNTIME_RE.match(runtime or "")
    return match.group(1) if match else None


def _candidates(version: str) -> list[str]:
    found: list[str] = []
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        found.append(getattr(sys, "_base_executable", sys.executable))
    for name in (f"python{version}",):
        path = shutil.which(name)
        if path:
            found.append(path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}")))
    found += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    return found


@functools.lru_cache(maxsize=None)
def interpreter_for(runtime: str) -> str | None:
    """A Python interpreter whose version is the one ``runtime`` names, or None."""
    version = python_version_of(runtime)
    if version is None:
        return None
    for candidate in _candidates(version):
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        try:
            out = subprocess.run(
                [candidate, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out == version:
            return os.path.realpath(candidate)
    return None


def available_runtimes() -> list[str]:
    """The python3.X runtimes this machine can run, e.g. ``["python3.11"]``."""
    return [f"python3.{minor}" for minor in range(9, 15) if interpreter_for(f"python3.{minor}")]


def launcher_for(runtime: str) -> str:
    """An executable that starts ``runtime``'s interpreter isolated; raises if there is none."""
    interpreter = interpreter_for(runtime)
    if interpreter is None:
        raise RuntimeError(unavailable_message(runtime))
    root = runtime_root()
    root.mkdir(parents=True, exist_ok=True)
    launcher = root / f"{runtime}-isolated"
    # -I: no PYTHON* variables, no user site, no script dir; -S: no site-packages;
    # -B: write no .pyc into the function's code (read-only /var/task on AWS).
    script = f'#!/bin/sh\nexec "{interpreter}" -I -S -B "$@"\n'
    if not launcher.exists() or launcher.read_text() != script:
        _atomic_write(launcher, script, mode=0o755)
    return str(launcher)


def unavailable_message(runtime: str) -> str:
    have = ", ".join(available_runtimes()) or "none"
    return (
        f"The local cloud cannot run Runtime {runtime}: no python{python_version_of(runtime)} "
        f"interpreter on this machine, and running it on another Python version would hide "
        f"errors AWS would show. Runtimes available here: {have}. Use one of those, or install "
        f"python{python_version_of(runtime)} (on PATH or under pyenv) and restart the local cloud."
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
