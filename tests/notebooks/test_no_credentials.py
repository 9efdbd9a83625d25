"""No credentials in notebooks or their outputs.

Scanned: the notebooks as stored in the repository, every executed notebook under ``runs/`` (what
``orderlab run`` writes), and the session's headless run of the whole series (tests/seriesrun.py), made
with realistic-looking AWS credentials in the environment — which the local target must never use,
print or store. Looked for: access key ids (``AKIA``… long-term, ``ASIA``… temporary), secret
access keys and session tokens next to their names, and the exact values of the environment's
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``.

AWS docs: https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html#sec-access-keys-and-secret-access-keys,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from seriesrun import fake_credentials

from helpers.teach.runner import CLEANUP_NOTEBOOK, NOTEBOOKS_DIR, REPO_ROOT

pytestmark = pytest.mark.notebooks

# Access key ids: AKIA (long-term) and ASIA (temporary, STS) + 16 of A-Z2-7/0-9. (AROA/AIDA... are
# unique ids of roles and users, not credentials: they may appear.)
ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
SECRET_KEY = re.compile(r"(?i)(?:aws_?secret_?access_?key|secret_?access_?key|SecretAccessKey)[\"'\s]*[:=][\"'\s]*"
                        r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")
SESSION_TOKEN = re.compile(r"(?i)(?:aws_?session_?token|session_?token|x-amz-security-token)[\"'\s]*[:=][\"'\s]*"
                           r"([A-Za-z0-9/+=]{16,})")
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def notebook_text(path: Path) -> str:
    """Every source line and every output (streams, results, errors, metadata) of a notebook."""
    notebook = nbformat.read(path, as_version=4)
    return json.dumps(notebook, ensure_ascii=False)


def credential_findings(text: str, *, environment: dict[str, str] | None = None) -> list[str]:
    """What in ``text`` looks like an AWS credential (empty list: nothing)."""
    findings = [f"access key id {m.group(0)[:8]}…" for m in ACCESS_KEY_ID.finditer(text)]
    findings += [f"secret access key {m.group(1)[:4]}…" for m in SECRET_KEY.finditer(text)]
    findings += [f"session token {m.group(1)[:6]}…" for m in SESSION_TOKEN.finditer(text)]
    for name in CREDENTIAL_VARIABLES:
        value = (environment if environment is not None else os.environ).get(name, "")
        if len(value) >= 8 and value in text:  # the dummy local "test" is not a secret
            findings.append(f"the value of ${name}")
    return findings


def test_the_scanner_finds_planted_credentials(tmp_path):
    planted = fake_credentials()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("print(creds)", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text=(f"key {planted['AWS_ACCESS_KEY_ID']}\n"
                                       f"aws_secret_access_key = {planted['AWS_SECRET_ACCESS_KEY']}\n"
                                       f"'SessionToken': '{planted['AWS_SESSION_TOKEN']}'\n"))])]
    path = tmp_path / "leaky.ipynb"
    nbformat.write(notebook, path)
    found = credential_findings(notebook_text(path), environment=planted)
    assert any(f.startswith("access key id AKIA") for f in found), found
    assert any(f.startswith("secret access key") for f in found), found
    assert any(f.startswith("session token") for f in found), found
    assert {f"the value of ${name}" for name in CREDENTIAL_VARIABLES} <= set(found), found
    temporary = "ASIA" + "A" * 16
    assert credential_findings(f"role id AROA{'B' * 16}, user AIDA{'C' * 16}, key {temporary}", environment={}) == [
        "access key id ASIAAAAA…"]


STORED = sorted(NOTEBOOKS_DIR.glob("*.ipynb")) + [CLEANUP_NOTEBOOK]
EXECUTED = sorted((REPO_ROOT / "runs").glob("**/*.ipynb"))


@pytest.mark.parametrize("path", STORED + EXECUTED, ids=[str(p.relative_to(REPO_ROOT)) for p in STORED + EXECUTED])
def test_stored_and_executed_notebooks_hold_no_credentials(path: Path):
    assert credential_findings(notebook_text(path)) == []


def test_a_fresh_run_never_shows_the_environments_credentials(series_run):
    """The local target uses dummy credentials: real-looking ones in the environment stay out of outputs.

    The session's series run had ``series_run.credentials`` in its environment (tests/seriesrun.py).
    """
    executed = sorted(series_run.output.glob("**/*.ipynb"))
    assert len(executed) >= len(STORED), series_run.failure()
    for path in executed:
        assert credential_findings(notebook_text(path), environment=series_run.credentials) == [], path.name
    assert credential_findings(series_run.stdout, environment=series_run.credentials) == [], "orderlab run's output"
