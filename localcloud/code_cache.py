"""Function code and bytecode shared by the execution environments of one local cloud.

On AWS every execution environment of a function version starts from the same read-only
``/var/task``. MiniStack extracted the deployment zip into a new directory for each environment,
in the server process: for the lab's create_order (11 MB, 583 files) that was 0.2 s of every cold
start on an idle machine and over a second on a busy one. Here a zip is extracted once per
cloud, into a directory named by its SHA-256 (so its contents never change), and every
environment of that code starts from it.

Bytecode: workers run with ``-B`` (nothing written into the function's code), so every new
environment compiled botocore, Powertools and pydantic from source again. The worker bootstrap
points ``sys.pycache_prefix`` at :func:`pycache_dir`: the bytecode of what the function imports
is written there, outside its code, once per cloud. A cached ``.pyc`` is only ever used for an
unchanged source (same path, mtime and size): every path it caches is immutable here (the SDK
copy, the standard library, the content-named code directories).

>>> code_dir(b"PK...", port=4599)                                    # doctest: +SKIP
'/root/.orderlab/cloud-4599/lambda-code/3f0c.../code'
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from localcloud import paths

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def code_root(port: int) -> Path:
    """Where the cloud on ``port`` keeps extracted deployment packages, one directory per SHA-256."""
    return paths.cloud_dir(port) / "lambda-code"


def pycache_dir(port: int) -> Path:
    """The bytecode cache (``sys.pycache_prefix``) of the cloud's Lambda workers."""
    return paths.cloud_dir(port) / "lambda-pycache"


def reset(port: int) -> None:
    """Forget the cloud's extracted code and bytecode (at start: no worker uses them yet)."""
    for directory in (code_root(port), pycache_dir(port)):
        shutil.rmtree(directory, ignore_errors=True)


def code_dir(code_zip: bytes, *, port: int) -> str:
    """The directory holding ``code_zip`` extracted, shared by every environment of that code.

    Extracted on first use, atomically (a staging directory renamed into place), once even when
    several environments of the same code start together.
    """
    digest = hashlib.sha256(code_zip).hexdigest()
    final = code_root(port) / digest
    if (final / "code").is_dir():
        return str(final / "code")
    with _locks_guard:
        lock = _locks.setdefault(digest, threading.Lock())
    with lock:
        if not (final / "code").is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=final.parent))
            try:
                with zipfile.ZipFile(io.BytesIO(code_zip)) as archive:
                    archive.extractall(staging / "code")
                os.rename(staging, final)
            except OSError:
                if not (final / "code").is_dir():
                    raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return str(final / "code")
