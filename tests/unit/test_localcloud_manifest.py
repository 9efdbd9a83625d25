"""The MiniStack compatibility manifest (localcloud/ministack_manifest.json, localcloud/manifest.py)."""

from __future__ import annotations

import copy
import doctest
import importlib

import pytest

from localcloud import manifest


def test_every_recorded_symbol_matches_the_installed_ministack() -> None:
    manifest.check()  # raises, naming each symbol, after a MiniStack upgrade


def test_the_manifest_lists_exactly_what_localcloud_uses() -> None:
    recorded = manifest.load()
    scanned = manifest.build(manifest.scan())
    assert recorded["ministack"] == scanned["ministack"]
    unlisted = sorted(set(scanned["symbols"]) - set(recorded["symbols"]))
    unused = sorted(set(recorded["symbols"]) - set(scanned["symbols"]))
    assert not unlisted and not unused, (
        f"run python -m localcloud.manifest --update (new: {unlisted}, no longer used: {unused})"
    )
    assert recorded == scanned


def test_a_changed_or_vanished_symbol_is_named_with_its_users() -> None:
    recorded = manifest.load()
    altered = copy.deepcopy(recorded)
    altered["module_files"]["ministack.services.sqs"] = "sha256:" + "2" * 64  # as after an upgrade
    altered["symbols"]["ministack.services.sqs:_dispatch"]["sha256"] = "sha256:" + "0" * 64
    altered["symbols"]["ministack.services.sqs:_no_such_function"] = {
        "sha256": "sha256:" + "1" * 64,
        "used_in": ["localcloud/services/sqs/reporting.py"],
        "defined_in": "ministack.services.sqs",
    }
    with pytest.raises(manifest.ManifestError) as raised:
        manifest.check(altered)
    message = str(raised.value)
    assert "2 MiniStack symbol(s)" in message
    assert "ministack.services.sqs._dispatch changed (used in localcloud/services/sqs/reporting.py" in message
    assert "ministack.services.sqs._no_such_function vanished" in message
    assert "python -m localcloud.manifest --update" in message


def test_the_cloud_refuses_to_start_on_a_stale_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    from localcloud import patches

    def stale() -> None:
        raise manifest.ManifestError("ministack.services.sqs._dispatch changed")

    monkeypatch.setattr(manifest, "check", stale)
    with pytest.raises(patches.PatchError, match="_dispatch changed"):
        patches.check_ministack()


def test_a_class_attribute_is_hashed_by_its_own_source() -> None:
    assert manifest.symbol_hash("ministack.core.lambda_runtime", "Worker.invoke") != manifest.symbol_hash(
        "ministack.core.lambda_runtime", "Worker._spawn"
    )
    assert manifest.symbol_hash("ministack.core.lambda_runtime", "Worker.no_such") == manifest.VANISHED


@pytest.mark.parametrize(
    "name",
    [
        "localcloud.events",
        "localcloud.manifest",
        "localcloud.services",
        "localcloud.services.awslambda.events",
        "localcloud.services.awslambda.hooks",
        "localcloud.services.awslambda.invocations",
        "localcloud.services.apigateway.events",
        "localcloud.services.apigateway.metering",
        "localcloud.services.sqs.events",
        "localcloud.services.sns.events",
    ],
)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.attempted and not result.failed


def test_each_ministack_function_has_one_wrapper_after_every_patch() -> None:
    """In a fresh interpreter (patching this one would change MiniStack for every other test)."""
    import subprocess
    import sys

    script = (
        "import inspect, sys\n"
        "from localcloud.patches import PatchError, apply_all, wrap\n"
        "from localcloud.services.iam import enforcement\n"
        "apply_all(); apply_all(); enforcement.apply(); enforcement.apply()  # idempotent\n"
        "from ministack.services import lambda_svc, sqs\n"
        "seen = 0\n"
        "for name, module in list(sys.modules.items()):\n"
        "    if not name.startswith('ministack'):\n"
        "        continue\n"
        "    for owner in [module] + [c for _, c in inspect.getmembers(module, inspect.isclass)]:\n"
        "        for attr, value in list(vars(owner).items()):\n"
        "            keys = getattr(value, '__orderlab_patches__', None)\n"
        "            if keys is not None:\n"
        "                seen += 1\n"
        "                assert len(keys) == 1, (name, attr, sorted(keys))\n"
        "assert seen > 40, seen\n"
        "try:\n"
        "    wrap(lambda_svc, '_create_esm', lambda original: original)\n"
        "except PatchError as exc:\n"
        "    assert 'one owner per function' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('a second wrapper of _create_esm was accepted')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
