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
        f"run python -m localcloud.manifest --update (new: {unlisted}, no longer used: {unused})")
    assert recorded == scanned


def test_a_changed_or_vanished_symbol_is_named_with_its_users() -> None:
    recorded = manifest.load()
    altered = copy.deepcopy(recorded)
    altered["module_files"]["ministack.services.sqs"] = "sha256:" + "2" * 64  # as after an upgrade
    altered["symbols"]["ministack.services.sqs:_dispatch"]["sha256"] = "sha256:" + "0" * 64
    altered["symbols"]["ministack.services.sqs:_no_such_function"] = {
        "sha256": "sha256:" + "1" * 64, "used_in": ["localcloud/services/sqs/reporting.py"], "defined_in": "ministack.services.sqs"}
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
    assert manifest.symbol_hash("ministack.core.lambda_runtime", "Worker.invoke") != \
        manifest.symbol_hash("ministack.core.lambda_runtime", "Worker._spawn")
    assert manifest.symbol_hash("ministack.core.lambda_runtime", "Worker.no_such") == manifest.VANISHED


@pytest.mark.parametrize("name", [
    "localcloud.events", "localcloud.manifest", "localcloud.services", "localcloud.services.awslambda.events",
    "localcloud.services.awslambda.hooks", "localcloud.services.awslambda.invocations",
    "localcloud.services.apigateway.events", "localcloud.services.apigateway.metering",
    "localcloud.services.sqs.events", "localcloud.services.sns.events",
])
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.attempted and not result.failed
