"""Every function's deployment zip carries the shared module and works on its own.

The zips are built as deploying builds them (helpers.aws.packaging), for the CPython running the tests,
and imported with ``python -I -S``: only the unpacked zip and the runtime's boto3 on sys.path.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers.aws import packaging
from helpers.aws.packaging import REPO_ROOT, SHARED_MODULES_DIR, inputs_hash

SHARED_MODULE = "orderlab_runtime.py"
FUNCTION_DIRS = sorted(
    path for path in (REPO_ROOT / "lambdas").iterdir() if path.is_dir() and path != SHARED_MODULES_DIR
)
# What each handler needs to get past its cold start.
HANDLER_ENVIRONMENT = {"ORDERS_TABLE": "orders", "ORDER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/orders"}


def test_the_shared_module_is_kept_once_in_the_repository():
    assert (SHARED_MODULES_DIR / SHARED_MODULE).is_file()
    assert [rel for rel, _ in packaging.shared_source_files()] == [SHARED_MODULE]
    copies = [path for path in (REPO_ROOT / "lambdas").rglob(SHARED_MODULE) if path.parent != SHARED_MODULES_DIR]
    assert copies == []


@pytest.mark.parametrize("function_dir", FUNCTION_DIRS, ids=lambda path: path.name)
def test_a_change_to_the_shared_module_rebuilds_every_zip(
    function_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    shared = tmp_path / "_shared"
    shutil.copytree(SHARED_MODULES_DIR, shared)
    monkeypatch.setattr(packaging, "SHARED_MODULES_DIR", shared)
    before = inputs_hash(function_dir, "3.12", "x86_64")

    module = shared / SHARED_MODULE
    module.write_text(module.read_text() + "\n# changed\n")

    assert inputs_hash(function_dir, "3.12", "x86_64") != before


@pytest.mark.parametrize("function_dir", FUNCTION_DIRS, ids=lambda path: path.name)
def test_each_zip_carries_the_shared_module_and_imports_on_its_own(
    function_dir: Path, lambda_bundle: Any, run_standalone: Any
):
    unzipped = lambda_bundle(function_dir)
    package = function_dir.name

    assert (unzipped / SHARED_MODULE).read_bytes() == (SHARED_MODULES_DIR / SHARED_MODULE).read_bytes()
    assert (unzipped / package / "handler.py").is_file()
    assert not (unzipped / "_shared").exists() and not (unzipped / "lambdas").exists()
    top = {path.name for path in unzipped.iterdir()}
    assert not {"boto3", "botocore"} & top, "the runtime provides boto3; do not ship it"

    code = (
        "import sys\n"
        "assert not any('site-packages' in p for p in sys.path), sys.path\n"
        f"import {package}.handler\n"
        "import orderlab_runtime\n"
        "assert orderlab_runtime.__file__.startswith(sys.argv[1]), orderlab_runtime.__file__\n"
        f"assert {package}.handler.__file__.startswith(sys.argv[1]), {package}.handler.__file__\n"
        "print('ok')\n"
    )
    result = run_standalone(unzipped, code, HANDLER_ENVIRONMENT)

    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
