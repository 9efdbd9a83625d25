"""Build a Lambda deployment zip: the function's source plus its requirements, reproducibly.

The zip carries everything the handler imports except the standard library and the
runtime's own boto3/botocore: AWS gives a function nothing else. That includes the modules
every function shares, kept once in ``lambdas/_shared/`` (:data:`SHARED_MODULES_DIR`) and
copied to the root of each zip. Dependencies are installed
with ``pip install --target`` for the *Lambda* platform (manylinux2014, CPython, binary
wheels only), never for this machine, so a compiled dependency (pydantic-core...) is the
Linux build for the function's architecture and its runtime's CPython version (the lab's
runtime, :func:`helpers.aws.runtime.lambda_runtime`, unless told otherwise).

Two builds of the same inputs give byte-identical zips (sorted entries, fixed timestamps and
permissions, no bytecode, no install records), so the zip's SHA-256 — Lambda's
``CodeSha256`` — only changes when the code or its pins change. A build is cached under
``build/lambda`` by a hash of its inputs and skipped when nothing changed.

>>> pkg = build_lambda_package(Path("lambdas/create_order"))          # doctest: +SKIP
>>> pkg.zip_path.name, pkg.size, pkg.sha256_b64                       # doctest: +SKIP
('create_order-x86_64-py3.12-3f0c....zip', 4182311, 'q8m...=')
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from helpers.aws.runtime import python_version as runtime_python_version
from helpers.core.paths import REPO_ROOT

Architecture = Literal["x86_64", "arm64"]

__all__ = [
    "DEFAULT_BUILD_ROOT",
    "DIRECT_UPLOAD_LIMIT",
    "SHARED_MODULES_DIR",
    "Package",
    "PackagingError",
    "build_lambda_package",
    "inputs_hash",
    "pip_platforms",
    "shared_source_files",
    "source_files",
    "write_reproducible_zip",
]

DEFAULT_BUILD_ROOT = REPO_ROOT / "build" / "lambda"
# Lambda's limit for a zip uploaded directly in CreateFunction/UpdateFunctionCode.
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024
# Modules every function imports besides its own package: kept once here, copied to the
# root of each zip (a function's own file of the same name wins).
SHARED_MODULES_DIR = REPO_ROOT / "lambdas" / "_shared"
# Bump when the zip layout changes, so old cached builds are not reused.
_FORMAT_VERSION = "2"

# Top-level files of a function folder that are not part of the deployed code.
_TOP_LEVEL_EXCLUDES = frozenset({"requirements.txt", "README.md"})
# Names excluded at any depth of the function's own folder.
_SOURCE_EXCLUDES = frozenset(
    {
        "__pycache__",
        "tests",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".git",
        ".venv",
        ".DS_Store",
    }
)
# Names excluded at any depth of the zip (dependencies keep their own ``tests`` packages).
_ZIP_EXCLUDES = frozenset({"__pycache__"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Install bookkeeping that differs between installs (RECORD lists hashes and console
# scripts with this machine's paths; direct_url.json names local paths).
_DIST_INFO_EXCLUDES = frozenset({"RECORD", "direct_url.json"})

_LOADED_SUFFIXES = (".py", ".so", ".pyi", ".pth", ".json", ".txt", ".typed")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644
_EXEC_MODE = 0o755
_DIR_MODE = 0o755


class PackagingError(RuntimeError):
    """The package could not be built; the message names the package and platform."""


@dataclass(frozen=True)
class Package:
    """A built deployment zip.

    ``sha256_b64`` is the base64 SHA-256 of the zip, the same form as Lambda's ``CodeSha256``.
    ``cached`` is True when an earlier identical build was reused.
    """

    zip_path: Path
    sha256_b64: str
    size: int
    inputs_hash: str = ""
    cached: bool = False

    def read_bytes(self) -> bytes:
        return self.zip_path.read_bytes()


def pip_platforms(python_version: str, architecture: Architecture) -> list[str]:
    """The ``--platform`` tags pip may pick wheels for on the Lambda runtime.

    Python 3.11 runs on Amazon Linux 2 (glibc 2.26): manylinux2014 (glibc 2.17) wheels.
    Python 3.12+ runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels fit too.

    >>> pip_platforms("3.11", "arm64")
    ['manylinux2014_aarch64']
    >>> pip_platforms("3.12", "x86_64")
    ['manylinux2014_x86_64', 'manylinux_2_28_x86_64']
    """
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}.get(architecture)
    if machine is None:
        raise ValueError(f"Unknown Lambda architecture {architecture!r}: use 'x86_64' or 'arm64'")
    major, _, minor = python_version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"python_version should look like '3.11', got {python_version!r}")
    platforms = [f"manylinux2014_{machine}"]
    if (int(major), int(minor)) >= (3, 12):
        platforms.append(f"manylinux_2_28_{machine}")
    return platforms


def _excluded(rel_parts: tuple[str, ...], is_dir: bool, source: bool) -> bool:
    name = rel_parts[-1]
    if name in (_SOURCE_EXCLUDES if source else _ZIP_EXCLUDES):
        return True
    if source and len(rel_parts) == 1 and not is_dir and name in _TOP_LEVEL_EXCLUDES:
        return True
    if not is_dir and name.endswith(_EXCLUDED_SUFFIXES):
        return True
    return bool(
        not is_dir and len(rel_parts) >= 2 and rel_parts[-2].endswith(".dist-info") and name in _DIST_INFO_EXCLUDES
    )


def _walk(root: Path, *, source: bool) -> Iterator[tuple[str, Path, bool]]:
    """``(posix relative path, path, is_dir)`` below ``root``, excluded names pruned, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).parts
        dirnames[:] = sorted(d for d in dirnames if not _excluded((*rel_dir, d), True, source))
        for d in dirnames:
            yield "/".join((*rel_dir, d)), Path(dirpath, d), True
        for f in sorted(filenames):
            if not _excluded((*rel_dir, f), False, source):
                yield "/".join((*rel_dir, f)), Path(dirpath, f), False


def source_files(function_dir: Path) -> list[tuple[str, Path]]:
    """The function's own files that go into the zip, as ``(relative posix path, path)``, sorted.

    Everything in the folder except ``requirements.txt``, ``README.md``, ``tests``,
    ``__pycache__`` and ``*.pyc``.
    """
    return sorted((rel, path) for rel, path, is_dir in _walk(function_dir, source=True) if not is_dir)


def shared_source_files() -> list[tuple[str, Path]]:
    """The shared modules every zip carries at its root (:data:`SHARED_MODULES_DIR`), like :func:`source_files`."""
    return source_files(SHARED_MODULES_DIR) if SHARED_MODULES_DIR.is_dir() else []


def inputs_hash(function_dir: Path, python_version: str, architecture: Architecture) -> str:
    """A hex digest of everything a build depends on (source, shared modules, requirements, platform)."""
    digest = hashlib.sha256()
    for part in (_FORMAT_VERSION, python_version, architecture, *pip_platforms(python_version, architecture)):
        digest.update(part.encode() + b"\0")
    requirements = function_dir / "requirements.txt"
    digest.update(b"requirements\0" + (requirements.read_bytes() if requirements.is_file() else b"") + b"\0")
    for rel, path in source_files(function_dir):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    for rel, path in shared_source_files():
        digest.update(b"shared\0" + rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_reproducible_zip(root: Path, zip_path: Path) -> None:
    """Zip the tree at ``root`` so that the same tree always gives the same bytes.

    Sorted entries, 1980-01-01 timestamps, 0o755 directories, 0o644 files (0o755 only for an
    executable a dependency ships, not for ``.py``/``.so``), deflate level 9, no
    ``__pycache__``/``*.pyc``/install records.
    """
    entries = sorted(_walk(root, source=False), key=lambda entry: entry[0] + ("/" if entry[2] else ""))
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for rel, path, is_dir in entries:
            if is_dir:
                info = zipfile.ZipInfo(rel + "/", date_time=_FIXED_DATE)
                info.create_system = 3  # Unix, so external_attr carries the mode
                info.external_attr = ((stat.S_IFDIR | _DIR_MODE) << 16) | 0x10
                info.compress_type = zipfile.ZIP_STORED
                archive.writestr(info, b"")
                continue
            # Extension modules and sources are loaded, not executed: 0o644 like everything else.
            # Only a real executable a dependency ships (a helper binary, a script) keeps its x bit.
            executable = os.stat(path).st_mode & 0o111 and not rel.endswith(_LOADED_SUFFIXES)
            info = zipfile.ZipInfo(rel, date_time=_FIXED_DATE)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | (_EXEC_MODE if executable else _FILE_MODE)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


_PIP_MISSING_RE = re.compile(r"(?:No matching distribution found for|satisfies the requirement)\s+(\S+)")


def _pip_install(requirements: Path, target: Path, python_version: str, architecture: Architecture) -> None:
    platforms = pip_platforms(python_version, architecture)
    command = [sys.executable, "-m", "pip", "install", "--target", str(target), "--requirement", str(requirements)]
    for platform in platforms:
        command += ["--platform", platform]
    command += [
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "--no-compile",
        "--no-input",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--quiet",
    ]
    env = {**os.environ, "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode == 0:
        return
    output = (result.stderr or "") + (result.stdout or "")
    missing = _PIP_MISSING_RE.findall(output)
    where = f"platform {'/'.join(platforms)}, CPython {python_version} ({architecture}), binary wheels only"
    tail = "\n".join(line for line in output.strip().splitlines()[-15:])
    if missing:
        raise PackagingError(
            f"pip could not install {missing[-1]} for {where} from {requirements}: no matching wheel. "
            f"Check that the pinned version exists and publishes a wheel for this platform.\n{tail}"
        )
    raise PackagingError(f"pip install -r {requirements} failed for {where} (exit {result.returncode}):\n{tail}")


def _sha256_b64(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def build_lambda_package(
    function_dir: Path,
    *,
    python_version: str | None = None,
    architecture: Architecture = "x86_64",
    build_root: Path = DEFAULT_BUILD_ROOT,
    force: bool = False,
) -> Package:
    """Build (or reuse) the deployment zip of the function in ``function_dir``.

    The zip holds the folder's files at its root (so ``lambdas/create_order/create_order/handler.py``
    becomes ``create_order/handler.py``, handler ``create_order.handler.lambda_handler``), the shared
    modules (``lambdas/_shared/orderlab_runtime.py`` becomes ``orderlab_runtime.py``) and the
    packages of its ``requirements.txt`` installed for the Lambda platform and ``python_version``
    (default: the lab's runtime, e.g. ``"3.12"``). ``force`` rebuilds even when a build of the same
    inputs exists.

    >>> pkg = build_lambda_package(Path("lambdas/create_order"), architecture="arm64")   # doctest: +SKIP
    >>> pkg.cached                                                                      # doctest: +SKIP
    False
    """
    python_version = python_version or runtime_python_version()
    function_dir = Path(function_dir).resolve()
    if not function_dir.is_dir():
        raise PackagingError(f"Function folder {function_dir} does not exist")
    if not source_files(function_dir):
        raise PackagingError(f"Function folder {function_dir} holds no source files")
    key = inputs_hash(function_dir, python_version, architecture)
    build_root = Path(build_root)
    build_root.mkdir(parents=True, exist_ok=True)
    # The folder's path is in the name: a learner's edited copy (workspace/<prefix>/lambdas/<name>) has the
    # same folder name, and building it must not remove the original's zip while it is in use.
    folder = hashlib.sha256(str(function_dir).encode()).hexdigest()[:8]
    stem = f"{function_dir.name}-{folder}-{architecture}-py{python_version}"
    zip_path = build_root / f"{stem}-{key[:20]}.zip"
    if zip_path.is_file() and not force:
        return Package(zip_path, _sha256_b64(zip_path), zip_path.stat().st_size, key, cached=True)

    work = Path(tempfile.mkdtemp(prefix=f".{stem}-", dir=build_root))
    try:
        staging = work / "package"
        staging.mkdir()
        requirements = function_dir / "requirements.txt"
        if requirements.is_file() and _has_requirements(requirements):
            deps = work / "deps"
            _pip_install(requirements, deps, python_version, architecture)
            shutil.rmtree(deps / "bin", ignore_errors=True)  # console scripts: host paths, useless on Lambda
            shutil.copytree(deps, staging, dirs_exist_ok=True)
        # The function's own files last: they win over a dependency or a shared module of the same name.
        for rel, path in shared_source_files() + source_files(function_dir):
            destination = staging / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        partial = work / "package.zip"
        write_reproducible_zip(staging, partial)
        os.replace(partial, zip_path)  # atomic: a concurrent build never sees half a zip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in build_root.glob(f"{stem}-*.zip"):  # keep one build per function and platform
        if old != zip_path:
            old.unlink(missing_ok=True)
    return Package(zip_path, _sha256_b64(zip_path), zip_path.stat().st_size, key, cached=False)


def _has_requirements(requirements: Path) -> bool:
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return True
    return False
