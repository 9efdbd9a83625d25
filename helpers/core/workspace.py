"""A learner's own copy of a Lambda handler: edited and deployed without touching the repository.

``workspace/<prefix>/lambdas/<package>/`` (gitignored) holds a copy of ``lambdas/<package>/``, made on
demand by :func:`open_handler`. While it exists, every deploy of that function *for that prefix*
packages the copy instead of the repository's folder (:func:`deploy_source`); another prefix, the
tests and the repository keep the original. :func:`reset_handler` deletes the copy: the next deploy
is the repository's code again. See docs/notebook-conventions.md (handler exercises).

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> path = open_handler("alice", "order_worker", "rules.py", root=root)
>>> path.relative_to(root).as_posix()
'alice/lambdas/order_worker/order_worker/rules.py'
>>> deploy_source("alice", LAMBDAS_DIR / "order_worker", root=root) == root / "alice/lambdas/order_worker"
True
>>> deploy_source("bob", LAMBDAS_DIR / "order_worker", root=root) == LAMBDAS_DIR / "order_worker"
True
>>> reset_handler("alice", "order_worker", root=root)
True
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from helpers.core.naming import validate_prefix
from helpers.core.paths import LAMBDAS_DIR, REPO_ROOT

__all__ = [
    "WORKSPACE_ENV",
    "deploy_source",
    "handler_copy",
    "open_handler",
    "reset_handler",
    "set_aside",
    "workspace_root",
]

WORKSPACE_ENV = "ORDERLAB_WORKSPACE"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def workspace_root() -> Path:
    """Where learners' copies live: ``$ORDERLAB_WORKSPACE``, else ``<repository>/workspace``."""
    configured = os.environ.get(WORKSPACE_ENV, "").strip()
    return Path(configured).expanduser() if configured else REPO_ROOT / "workspace"


def _package_dir(package: str) -> Path:
    original = LAMBDAS_DIR / package
    if package.startswith(("_", ".")) or "/" in package or not (original / package).is_dir():
        known = sorted(p.name for p in LAMBDAS_DIR.iterdir() if (p / p.name).is_dir())
        raise ValueError(f"No handler package {package!r} under lambdas/: use one of {', '.join(known)}")
    return original


def handler_copy(prefix: str, package: str, *, root: Path | None = None) -> Path:
    """The folder of ``prefix``'s copy of ``lambdas/<package>`` (it may not exist)."""
    _package_dir(package)
    return (root or workspace_root()) / validate_prefix(prefix) / "lambdas" / package


def open_handler(prefix: str, package: str, file: str = "handler.py", *, root: Path | None = None) -> Path:
    """The path of ``file`` in ``prefix``'s copy of the handler ``package``, copied first if needed.

    ``file`` is relative to the package's code folder (``lambdas/<package>/<package>/``), e.g.
    ``"rules.py"``. An existing copy is kept as it is: the learner's edits survive a re-run.
    """
    original = _package_dir(package)
    copy = handler_copy(prefix, package, root=root)
    if not copy.is_dir():
        copy.parent.mkdir(parents=True, exist_ok=True)
        staging = copy.with_name(f".{package}.copying")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(original, staging, ignore=_IGNORED)
        staging.rename(copy)  # all or nothing: a half-made copy is never deployed
    path = copy / package / file
    if not path.is_file():
        raise FileNotFoundError(f"{file!r} is not a file of handler {package!r} (looked for {path})")
    return path


def handler_edited(prefix: str, package: str, file: str, *, root: Path | None = None) -> bool:
    """Whether ``prefix``'s copy of ``file`` differs from the repository's (False: no copy, or unchanged)."""
    copy = handler_copy(prefix, package, root=root) / package / file
    original = _package_dir(package) / package / file
    return copy.is_file() and copy.read_bytes() != original.read_bytes()


def reset_handler(prefix: str, package: str, *, root: Path | None = None) -> bool:
    """Delete ``prefix``'s copy of ``package`` (True if there was one): deploys use the repository's code again."""
    copy = handler_copy(prefix, package, root=root)
    if not copy.exists():
        return False
    shutil.rmtree(copy)
    return True


def set_aside(prefix: str, *, root: Path | None = None, stamp: str | None = None) -> Path | None:
    """Move every handler copy of ``prefix`` to ``workspace/<prefix>/set-aside-<stamp>/`` (None: there was
    none): deploys use the repository's code again, and the learner's edits are kept to look at.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = open_handler("alice", "order_worker", root=root)
    >>> set_aside("alice", root=root, stamp="20260101T000000").relative_to(root).as_posix()
    'alice/set-aside-20260101T000000'
    >>> deploy_source("alice", LAMBDAS_DIR / "order_worker", root=root) == LAMBDAS_DIR / "order_worker"
    True
    """
    copies = (root or workspace_root()) / validate_prefix(prefix) / "lambdas"
    if not copies.is_dir() or not any(copies.iterdir()):
        return None
    if stamp is None:
        from datetime import UTC, datetime

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = copies.parent / f"set-aside-{stamp}"
    copies.rename(target)
    return target


def deploy_source(prefix: str, source_dir: Path, *, root: Path | None = None) -> Path:
    """The folder to package for ``source_dir``: ``prefix``'s copy when ``source_dir`` is a repository
    handler (``lambdas/<package>``) and that copy exists, else ``source_dir`` itself."""
    source = Path(source_dir).resolve()
    if source.parent != LAMBDAS_DIR.resolve() or not (source / source.name).is_dir():
        return Path(source_dir)
    copy = (root or workspace_root()) / validate_prefix(prefix) / "lambdas" / source.name
    return copy if (copy / source.name).is_dir() else Path(source_dir)
