"""The lab's Lambda runtime (helpers.aws.runtime) and the interpreters the local cloud runs runtimes on
(localcloud.runtimes): the Python the lab runs on by default, the nearest one when a runtime has none."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import Lab, Target
from helpers.aws.runtime import (
    LAB_RUNTIMES,
    RUNTIME_ENV,
    RuntimeChoiceError,
    lambda_runtime,
    missing_interpreter_hint,
    python_version,
)
from helpers.learn.plan import plan_frame, plan_text
from helpers.pipeline.catalog import RESOURCES
from localcloud import runtimes
from localcloud.services.awslambda.service import _runtime_refusal

HOST = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _missing_here() -> str:
    """A runtime AWS accepts that this machine has no interpreter for (python3.14 here)."""
    missing = [r for r in runtimes.accepted_python_runtimes() if runtimes.interpreter_for(r) is None]
    if not missing:
        pytest.skip("this machine has an interpreter for every runtime AWS accepts")
    return missing[0]


# --- the lab's runtime ------------------------------------------------------------------


def test_the_runtime_follows_the_python_the_lab_runs_on(monkeypatch):
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    assert lambda_runtime() == HOST
    assert python_version() == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_environment_and_the_argument_override_it(monkeypatch):
    monkeypatch.setenv(RUNTIME_ENV, "python3.13")
    assert lambda_runtime() == "python3.13" and python_version() == "3.13"
    assert lambda_runtime("python3.14") == "python3.14"


@pytest.mark.parametrize("wanted", ["python3.10", "python3.99", "nodejs22.x"])
def test_a_runtime_the_lab_does_not_support_is_a_clear_error(monkeypatch, wanted):
    monkeypatch.setenv(RUNTIME_ENV, wanted)
    with pytest.raises(RuntimeChoiceError) as caught:
        lambda_runtime()
    assert wanted in str(caught.value) and RUNTIME_ENV in str(caught.value)
    assert all(r in str(caught.value) for r in LAB_RUNTIMES)


def test_the_plan_names_the_runtime_of_every_function(monkeypatch):
    monkeypatch.setenv(RUNTIME_ENV, "python3.13")
    frame = plan_frame(Lab(Target("local", "us-east-1", "http://127.0.0.1:9"), "alice"))
    kinds = list(frame[frame["service"] == "Lambda"]["kind"])
    functions = [r for r in RESOURCES if r.service == "Lambda"]  # the pipeline's 5 and the 2 practice copies
    assert len(kinds) == len(functions) == 7 and all("python3.13" in kind for kind in kinds)
    assert f"python3.13 (from {RUNTIME_ENV})" in plan_text(Lab(Target("local", "us-east-1", "http://127.0.0.1:9"), "a"))


def test_a_missing_interpreter_says_what_to_install_or_set(monkeypatch):
    runtime = _missing_here()
    version = runtime.removeprefix("python")
    hint = missing_interpreter_hint(runtime)
    assert f"apt install python{version}" in hint and f"pyenv install {version}" in hint
    assert f"{RUNTIME_ENV}={HOST}" in hint


# --- the local cloud: what AWS accepts, and which interpreter runs it -----------------------


def test_nearest_version_prefers_the_closest_then_the_newer():
    assert runtimes.nearest_version("3.14", ["3.11", "3.12", "3.13"]) == "3.13"
    assert runtimes.nearest_version("3.9", ["3.11", "3.13"]) == "3.11"
    assert runtimes.nearest_version("3.12", ["3.11", "3.13"]) == "3.13"
    assert runtimes.nearest_version("3.12", ["3.12", "3.13"]) == "3.12"
    assert runtimes.nearest_version("3.12", []) is None


def test_every_python_runtime_aws_accepts_is_accepted():
    accepted = runtimes.accepted_python_runtimes()
    assert {"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"} <= set(accepted)
    assert all(runtimes.aws_refusal(r) is None for r in accepted)


def test_refused_runtimes_get_aws_messages():
    assert runtimes.aws_refusal("python2.7") == (
        "The runtime parameter of python2.7 is no longer supported for creating or updating AWS Lambda functions. "
        "We recommend you use a supported runtime while creating or updating functions."
    )
    message = runtimes.aws_refusal("python3.99")
    assert message.startswith(
        "Value python3.99 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs, "
    )
    assert message.endswith("] or be a valid ARN") and ", python3.14, " in message


def test_a_runtime_without_its_interpreter_runs_on_the_nearest_and_says_so(monkeypatch):
    monkeypatch.delenv(runtimes.STRICT_ENV, raising=False)
    runtime = _missing_here()
    chosen = runtimes.select_interpreter(runtime)
    here = [r.removeprefix("python") for r in runtimes.available_runtimes()]
    assert chosen.version.rsplit(".", 1)[0] == runtimes.nearest_version(runtime.removeprefix("python"), here)
    assert chosen.note == f"localcloud: no {runtime} here; running on Python {chosen.version}"
    assert _runtime_refusal("POST", "/2015-03-31/functions", json.dumps({"Runtime": runtime}).encode()) is None


def test_the_launcher_logs_the_substitute_and_keeps_the_runtime_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLAB_HOME", str(tmp_path))
    monkeypatch.delenv(runtimes.STRICT_ENV, raising=False)
    runtime = _missing_here()
    launcher = runtimes.launcher_for(runtime)
    out = subprocess.run(
        [launcher, "-c", "import os; print(os.environ['AWS_EXECUTION_ENV'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"AWS_Lambda_{runtime}"
    assert out.stderr.strip() == runtimes.select_interpreter(runtime).note


def test_a_runtime_with_its_interpreter_runs_on_it_without_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLAB_HOME", str(tmp_path))
    chosen = runtimes.select_interpreter(HOST)
    assert chosen.note == "" and chosen.version.startswith(HOST.removeprefix("python") + ".")
    out = subprocess.run([runtimes.launcher_for(HOST), "-c", "pass"], capture_output=True, text=True, check=True)
    assert out.stderr == ""


def test_strict_mode_refuses_a_runtime_without_its_interpreter(monkeypatch):
    monkeypatch.setenv(runtimes.STRICT_ENV, "1")
    runtime = _missing_here()
    with pytest.raises(RuntimeError):
        runtimes.select_interpreter(runtime)
    refusal = _runtime_refusal("POST", "/2015-03-31/functions", json.dumps({"Runtime": runtime}).encode())
    assert refusal is not None and f"install {runtime}" in refusal and runtimes.STRICT_ENV in refusal
    update = _runtime_refusal("PUT", "/2015-03-31/functions/f/configuration", json.dumps({"Runtime": runtime}).encode())
    assert update == refusal
    assert _runtime_refusal("POST", "/2015-03-31/functions", json.dumps({"Runtime": HOST}).encode()) is None
