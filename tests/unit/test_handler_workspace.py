"""A learner's copy of a handler (helpers.core.workspace): edited and packaged, the repository untouched."""

from __future__ import annotations

import doctest
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers.aws.packaging import PackagingError, build_lambda_package
from helpers.core import workspace
from helpers.core.paths import LAMBDAS_DIR
from helpers.learn import practice

WORKER = LAMBDAS_DIR / "order_worker"
ENRICHER = LAMBDAS_DIR / "high_value_enricher"
# The edits exercises 03.4 and 04.4 make (their solutions apply the same two patches).
DISCONTINUED_RULE = "    for line in order.items:\n        if line.sku in rules.discontinued_skus:"
TEST_RULE = (
    "    for line in order.items:\n"
    '        if line.sku.startswith("TEST-"):\n'
    '            return Decision(REJECTED, f"SKU {line.sku} is a test product")\n'
)
ENRICHER_PRIORITY = '"priority": priority_of(total, tier, settings),'
BULK_PRIORITY = (
    '"priority": "P1" if int(_attribute(image, "itemCount", "N")) >= 5 else priority_of(total, tier, settings),'
)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_doctests() -> None:
    assert doctest.testmod(workspace).failed == 0
    assert doctest.testmod(practice).failed == 0


def test_open_handler_copies_once_and_keeps_the_learners_edits(tmp_path: Path) -> None:
    rules = workspace.open_handler("alice", "order_worker", "rules.py", root=tmp_path)
    assert rules == tmp_path / "alice" / "lambdas" / "order_worker" / "order_worker" / "rules.py"
    assert rules.read_bytes() == (WORKER / "order_worker" / "rules.py").read_bytes()
    assert not list(rules.parent.parent.rglob("__pycache__"))

    rules.write_text(rules.read_text() + "\n# mine\n")
    again = workspace.open_handler("alice", "order_worker", "rules.py", root=tmp_path)
    assert again == rules and again.read_text().endswith("# mine\n")


def test_only_an_edited_copy_counts_as_edited(tmp_path: Path) -> None:
    assert not workspace.handler_edited("alice", "order_worker", "rules.py", root=tmp_path)  # no copy yet
    rules = workspace.open_handler("alice", "order_worker", "rules.py", root=tmp_path)
    assert not workspace.handler_edited("alice", "order_worker", "rules.py", root=tmp_path)  # copied, unchanged
    practice.patch_handler(rules, old=DISCONTINUED_RULE, new=TEST_RULE + DISCONTINUED_RULE)
    assert workspace.handler_edited("alice", "order_worker", "rules.py", root=tmp_path)
    assert not workspace.handler_edited("bob", "order_worker", "rules.py", root=tmp_path)  # another prefix


def test_an_edited_copy_leaves_the_repository_unchanged(tmp_path: Path) -> None:
    before = tree_digest(WORKER)
    rules = workspace.open_handler("alice", "order_worker", "rules.py", root=tmp_path)
    assert practice.patch_handler(rules, old=DISCONTINUED_RULE, new=TEST_RULE + DISCONTINUED_RULE)
    assert not practice.patch_handler(rules, old=DISCONTINUED_RULE, new=TEST_RULE + DISCONTINUED_RULE)  # once
    assert rules.read_text().count("is a test product") == 1
    assert tree_digest(WORKER) == before
    assert "is a test product" not in (WORKER / "order_worker" / "rules.py").read_text()


def test_deploys_use_the_copy_for_its_prefix_only(tmp_path: Path) -> None:
    assert workspace.deploy_source("alice", WORKER, root=tmp_path) == WORKER  # no copy yet
    workspace.open_handler("alice", "order_worker", root=tmp_path)
    copy = tmp_path / "alice" / "lambdas" / "order_worker"
    assert workspace.deploy_source("alice", WORKER, root=tmp_path) == copy
    assert workspace.deploy_source("bob", WORKER, root=tmp_path) == WORKER
    assert workspace.deploy_source("alice", ENRICHER, root=tmp_path) == ENRICHER  # another function
    elsewhere = tmp_path / "echo_fn"
    (elsewhere / "echo_fn").mkdir(parents=True)
    assert workspace.deploy_source("alice", elsewhere, root=tmp_path) == elsewhere  # not a repository handler

    assert workspace.reset_handler("alice", "order_worker", root=tmp_path)
    assert not copy.exists() and workspace.deploy_source("alice", WORKER, root=tmp_path) == WORKER
    assert not workspace.reset_handler("alice", "order_worker", root=tmp_path)


def test_the_workspace_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(workspace.WORKSPACE_ENV, str(tmp_path))
    assert workspace.open_handler("alice", "high_value_enricher", "enrich.py").is_relative_to(tmp_path)
    assert workspace.deploy_source("alice", ENRICHER) == tmp_path / "alice" / "lambdas" / "high_value_enricher"


@pytest.mark.parametrize(
    ("package", "file", "error"),
    [
        ("_shared", "handler.py", ValueError),
        ("../lambdas", "handler.py", ValueError),
        ("no_such_function", "handler.py", ValueError),
        ("order_worker", "nope.py", FileNotFoundError),
    ],
)
def test_what_is_not_a_handler_file_is_refused(tmp_path: Path, package: str, file: str, error: type) -> None:
    with pytest.raises(error):
        workspace.open_handler("alice", package, file, root=tmp_path)


def test_a_bad_prefix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Invalid prefix"):
        workspace.open_handler("../x", "order_worker", root=tmp_path)


def test_a_patch_whose_anchor_is_gone_says_so(tmp_path: Path) -> None:
    rules = workspace.open_handler("alice", "order_worker", "rules.py", root=tmp_path)
    with pytest.raises(ValueError, match="reset_handler"):
        practice.patch_handler(rules, old="no such line", new="# a rule of my own")


def _decide(copy: Path, order: str) -> str:
    """Evaluate one order message with the copy's rules, in a fresh interpreter (the copy's package)."""
    code = (
        "from order_worker.messages import parse_message; from order_worker.rules import Rules, evaluate; "
        f"print(evaluate(parse_message({order!r}), Rules()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=copy,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(copy)},
    )
    return result.stdout.strip()


def test_the_exercise_rule_works_in_the_copy_only(tmp_path: Path) -> None:
    rules = workspace.open_handler("alice", "order_worker", "rules.py", root=tmp_path)
    practice.patch_handler(rules, old=DISCONTINUED_RULE, new=TEST_RULE + DISCONTINUED_RULE)
    order = (
        '{"orderId": "o-1", "customerId": "c-1", "currency": "EUR", "total": "5.00",'
        ' "items": [{"sku": "TEST-1", "quantity": 1, "unitPrice": "5.00"}]}'
    )
    copy = rules.parent.parent
    assert _decide(copy, order) == "Decision(status='REJECTED', reason='SKU TEST-1 is a test product')"
    assert _decide(WORKER, order) == "Decision(status='CONFIRMED', reason=None)"


def test_the_enricher_patch_applies_to_the_repositorys_code(tmp_path: Path) -> None:
    enrich = workspace.open_handler("alice", "high_value_enricher", "enrich.py", root=tmp_path)
    assert practice.patch_handler(enrich, old=ENRICHER_PRIORITY, new=BULK_PRIORITY)
    compile(enrich.read_text(), str(enrich), "exec")


@pytest.mark.slow  # installs the worker's requirements for the Lambda platform
def test_packaging_the_copy_zips_the_edited_code(tmp_path: Path) -> None:
    rules = workspace.open_handler("alice", "order_worker", "rules.py", root=tmp_path / "ws")
    practice.patch_handler(rules, old=DISCONTINUED_RULE, new=TEST_RULE + DISCONTINUED_RULE)
    source = workspace.deploy_source("alice", WORKER, root=tmp_path / "ws")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"

    def build(folder: Path) -> tuple[str, str, list[str]]:
        """(zip sha256, its rules.py, its names); read at once: a build replaces the older zip of that function."""
        try:
            package = build_lambda_package(folder, python_version=python, build_root=tmp_path / "build")
        except PackagingError as error:
            if "pip" in str(error) and ("connection" in str(error).lower() or "network" in str(error).lower()):
                pytest.skip(f"PyPI unreachable: {str(error)[-200:]}")
            raise
        with zipfile.ZipFile(package.zip_path) as zf:
            return package.sha256_b64, zf.read("order_worker/rules.py").decode(), zf.namelist()

    edited_sha, edited_rules, edited_names = build(source)
    original_sha, original_rules, _ = build(WORKER)
    assert "is a test product" in edited_rules
    assert "orderlab_runtime.py" in edited_names  # the shared module, as for the original
    assert "is a test product" not in original_rules
    assert edited_sha != original_sha
