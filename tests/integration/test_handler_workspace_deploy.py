"""A learner's edited copy of a handler is what gets deployed for their prefix; the repository's copy is untouched.

Uses the ``lab`` fixture (tests/conftest.py): a Lab with a unique prefix on the session target.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
import requests

from helpers import Lab
from helpers.core import workspace
from helpers.learn.practice import patch_handler
from helpers.pipeline.step4 import ENRICHER_DIR, deploy_enricher

PRIORITY = '"priority": priority_of(total, tier, settings),'
BULK_PRIORITY = (
    '"priority": "P1" if int(_attribute(image, "itemCount", "N")) >= 5 else priority_of(total, tier, settings),'
)
RECORD = {
    "eventName": "INSERT",
    "dynamodb": {
        "SequenceNumber": "100",
        "NewImage": {
            "orderId": {"S": "o-bulk"},
            "total": {"N": "1200"},
            "currency": {"S": "EUR"},
            "valueTier": {"S": "HIGH"},
            "itemCount": {"N": "5"},
            "createdAt": {"S": "2026-01-01T00:00:00.000Z"},
            "customer": {"M": {"id": {"S": "cust-bulk"}, "name": {"S": "Bulk Buyer"}}},
        },
    },
}


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def deployed_file(lab: Lab, function_name: str, member: str) -> str:
    location = lab.client("lambda").get_function(FunctionName=function_name)["Code"]["Location"]
    response = requests.get(location, timeout=60)
    response.raise_for_status()
    return zipfile.ZipFile(io.BytesIO(response.content)).read(member).decode()


def priority_of_bulk_order(lab: Lab, function_name: str) -> str:
    result = lab.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps([RECORD]).encode())
    payload = json.loads(result["Payload"].read())
    assert "FunctionError" not in result, payload
    return str(payload[0]["priority"])


@pytest.mark.slow
@pytest.mark.cloud
def test_an_edited_copy_deploys_for_its_prefix_and_the_repository_stays_unchanged(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(workspace.WORKSPACE_ENV, str(tmp_path))
    repository = tree_digest(ENRICHER_DIR)
    original = deploy_enricher(lab)
    assert priority_of_bulk_order(lab, original.name) == "P2"

    enrich = workspace.open_handler(lab.prefix, "high_value_enricher", "enrich.py")
    assert patch_handler(enrich, old=PRIORITY, new=BULK_PRIORITY)
    edited = deploy_enricher(lab)
    assert edited.code_updated and edited.code_sha256 != original.code_sha256
    assert BULK_PRIORITY in deployed_file(lab, edited.name, "high_value_enricher/enrich.py")
    assert priority_of_bulk_order(lab, edited.name) == "P1"
    assert tree_digest(ENRICHER_DIR) == repository

    assert workspace.reset_handler(lab.prefix, "high_value_enricher")
    back = deploy_enricher(lab)
    assert back.code_sha256 == original.code_sha256
    assert priority_of_bulk_order(lab, back.name) == "P2"
