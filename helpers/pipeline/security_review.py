"""checkov's security review of the exported template, joined with the reasons the lab accepts each finding.

>>> [skip.check for skip in accepted_findings()][:2]
['CKV_AWS_115', 'CKV_AWS_116']
>>> review = review_template(DEFAULT_TEMPLATE_PATH)               # doctest: +SKIP
>>> review.unexplained                                             # doctest: +SKIP
[]

checkov cannot be installed beside the lab's dependencies (it pins older boto3/botocore), so it
runs from its own virtualenv: ``make checkov`` makes ``.venv-checkov``; ``CHECKOV`` or the PATH
may name another one. Design notes: docs/infrastructure-as-code.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers.core.paths import REPO_ROOT

CHECKOV_CONFIG = REPO_ROOT / "infra" / ".checkov.yaml"
CHECKOV_VENV = REPO_ROOT / ".venv-checkov"


@dataclass(frozen=True)
class AcceptedFinding:
    """A checkov check the lab skips, with the reason written above it in the config."""

    check: str
    reason: str


@dataclass(frozen=True)
class Finding:
    """One failed checkov check on one resource of the template."""

    check: str
    title: str
    resource: str
    reason: str | None  # why the lab accepts it; None when the config does not say


@dataclass(frozen=True)
class Review:
    """checkov's verdict on a template, without the config's skips, so every finding is shown."""

    passed: int
    findings: list[Finding]
    version: str

    @property
    def unexplained(self) -> list[Finding]:
        """Findings no skip accounts for: each one is a problem to fix (or a reason to write)."""
        return [finding for finding in self.findings if finding.reason is None]


def accepted_findings(config: Path = CHECKOV_CONFIG) -> list[AcceptedFinding]:
    """The ``skip-check`` list of a checkov config, each check with the comment block above it.

    Checks listed under one comment share its reason.
    """
    accepted: list[AcceptedFinding] = []
    reason: list[str] = []
    in_skips = after_check = False
    for line in config.read_text().splitlines():
        text = line.strip()
        if text.startswith("skip-check"):
            in_skips = True
        elif in_skips and text.startswith("#"):
            if after_check:
                reason = []
            reason.append(text.lstrip("# "))
            after_check = False
        elif in_skips and text.startswith("- "):
            accepted.append(AcceptedFinding(check=text[2:].strip(), reason=" ".join(reason)))
            after_check = True
        elif in_skips and text and not line.startswith(" "):
            in_skips = False
    return accepted


def find_checkov() -> Path | None:
    """checkov's executable: ``$CHECKOV``, then ``.venv-checkov`` (``make checkov``), then the PATH."""
    candidates = [os.environ.get("CHECKOV"), str(CHECKOV_VENV / "bin" / "checkov"), shutil.which("checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def run_checkov(template: Path, *, config: Path | None = None, checkov: Path | None = None) -> dict:
    """checkov's JSON report on one CloudFormation template (with a config's skips when given).

    Runs offline: ``--skip-download`` keeps it from calling Prisma Cloud's API.
    """
    executable = checkov or find_checkov()
    if executable is None:
        raise FileNotFoundError("checkov is not installed: `make checkov` installs it into .venv-checkov")
    command = [str(executable), "-f", str(template), "--framework", "cloudformation", "--quiet", "-o", "json"]
    command += ["--skip-download"] + (["--config-file", str(config)] if config else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    try:
        report: dict = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"checkov gave no JSON report (exit {result.returncode}): {result.stderr[-800:]}") from error
    return report


def review_template(template: Path, *, config: Path = CHECKOV_CONFIG, checkov: Path | None = None) -> Review:
    """Every finding checkov reports on ``template``, each with the reason the lab accepts it (if any)."""
    report = run_checkov(template, checkov=checkov)
    reasons = {skip.check: skip.reason for skip in accepted_findings(config)}
    findings = [
        Finding(
            check=failed["check_id"],
            title=failed["check_name"],
            resource=failed["resource"],
            reason=reasons.get(failed["check_id"]),
        )
        for failed in report["results"]["failed_checks"]
    ]
    summary = report["summary"]
    return Review(passed=summary["passed"], findings=findings, version=summary["checkov_version"])
