"""The exported SAM template: generated from the helpers' declarations, current, lint-clean, least privilege.

No cloud: the template is rendered from declarations only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.aws.runtime import LAB_RUNTIMES, lambda_runtime
from helpers.core.naming import PREFIX_TAG, PROJECT, PROJECT_TAG
from helpers.pipeline import catalog, step1, step2, step3, step4
from helpers.pipeline.security_review import (
    CHECKOV_CONFIG,
    AcceptedFinding,
    Review,
    accepted_findings,
    find_checkov,
    review_template,
    run_checkov,
)
from helpers.pipeline.template import (
    DEFAULT_TEMPLATE_PATH,
    OUTPUTS,
    PARAMETERS,
    lint_template,
    pipeline_template,
    render_template,
    template_runtime,
)

# Resource types whose CloudFormation schema has no Tags (or that SAM tags itself).
UNTAGGED = {"AWS::SQS::QueuePolicy", "AWS::SNS::Subscription", "AWS::CloudWatch::Dashboard"}


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical: resource for logical, resource in template["Resources"].items() if resource["Type"] == resource_type
    }


def test_the_committed_template_is_a_fresh_export() -> None:
    committed = DEFAULT_TEMPLATE_PATH.read_text()
    runtime = template_runtime(committed)
    assert runtime in LAB_RUNTIMES, "infra/template.yaml names none of the lab's runtimes"
    assert committed == render_template(pipeline_template(runtime=runtime)), (
        "infra/template.yaml is stale: run `orderlab iac export` and commit it"
    )


def test_a_helper_setting_change_changes_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    before = pipeline_template()
    assert before["Resources"]["OrderQueue"]["Properties"]["VisibilityTimeout"] == step2.ORDER_QUEUE_VISIBILITY_TIMEOUT

    monkeypatch.setattr(step2, "ORDER_QUEUE_VISIBILITY_TIMEOUT", step2.ORDER_QUEUE_VISIBILITY_TIMEOUT + 30)
    monkeypatch.setattr(step2, "DEFAULT_MAX_RECEIVE_COUNT", 7)
    after = pipeline_template()

    assert (
        after["Resources"]["OrderQueue"]["Properties"]["VisibilityTimeout"]
        == before["Resources"]["OrderQueue"]["Properties"]["VisibilityTimeout"] + 30
    )
    assert after["Parameters"]["MaxReceiveCount"]["Default"] == 7
    assert render_template(after) != render_template(before)


def test_a_mapping_or_role_change_changes_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(step3.ORDER_WORKER_MAPPING, "maximum_concurrency", 9)
    monkeypatch.setattr(
        step1,
        "create_order_role_statements",
        lambda table: [{"Sid": "Put", "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [table.arn]}],
    )
    template = pipeline_template()
    worker_event = template["Resources"]["OrderWorkerFunction"]["Properties"]["Events"]["OrderQueue"]["Properties"]
    assert worker_event["ScalingConfig"] == {"MaximumConcurrency": 9}
    statements = template["Resources"]["CreateOrderRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements[0]["Action"] == ["dynamodb:PutItem"]


def test_sam_template_with_the_parameters_and_outputs_the_lab_promises() -> None:
    template = pipeline_template()
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert tuple(template["Parameters"]) == PARAMETERS
    assert (
        tuple(template["Outputs"])
        == OUTPUTS
        == ("ApiUrl", "OrdersTableName", "OrderQueueUrl", "DeadLetterQueueUrl", "HighValueQueueUrl", "AlertTopicArn")
    )
    assert template["Parameters"]["HighValueThreshold"]["Default"] == str(step1.DEFAULT_HIGH_VALUE_THRESHOLD)
    environment = template["Resources"]["CreateOrderFunction"]["Properties"]["Environment"]["Variables"]
    assert environment[step1.HIGH_VALUE_THRESHOLD_VARIABLE] == {"Ref": "HighValueThreshold"}
    redrive = template["Resources"]["OrderQueue"]["Properties"]["RedrivePolicy"]
    assert redrive == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["OrderDlq", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }


def test_functions_use_the_labs_runtime_and_their_own_roles() -> None:
    for runtime in ("python3.12", "python3.13"):
        functions = resources(pipeline_template(runtime=runtime), "AWS::Serverless::Function")
        assert {f["Properties"]["Runtime"] for f in functions.values()} == {runtime}
    template = pipeline_template()
    functions = resources(template, "AWS::Serverless::Function")
    assert {f["Properties"]["Runtime"] for f in functions.values()} == {lambda_runtime()}
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(set(roles)) == len(functions) == len(catalog.FUNCTIONS), "one role per catalog function"
    for function in catalog.FUNCTIONS:
        properties = template["Resources"][f"{''.join(p.capitalize() for p in function.component.split('-'))}Function"][
            "Properties"
        ]
        assert (properties["Handler"], properties["Timeout"]) == (function.handler, function.timeout)
        assert properties["CodeUri"] == f"../lambdas/{function.package}"
    assert set(roles) <= set(resources(template, "AWS::IAM::Role"))


def test_roles_grant_what_the_notebooks_roles_grant() -> None:
    roles = resources(pipeline_template(), "AWS::IAM::Role")
    worker = roles["OrderWorkerRole"]["Properties"]
    assert worker["Path"] == "/orderlab/"
    assert worker["RoleName"] == {"Fn::Sub": "${Prefix}-order-worker-role"}
    assert "ManagedPolicyArns" not in worker
    statements = {s["Sid"]: s for s in worker["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["DynamoDBOrders"]["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert statements["DynamoDBOrders"]["Resource"] == [{"Fn::GetAtt": ["OrdersTable", "Arn"]}]
    assert statements["SqsConsumeOrderQueue"]["Resource"] == [{"Fn::GetAtt": ["OrderQueue", "Arn"]}]
    assert statements["OwnLogGroup"]["Resource"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:"
            "${AWS::AccountId}:log-group:/aws/lambda/${Prefix}-order-worker:*"
        }
    ]
    enricher = roles["HighValueEnricherRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in enricher] == ["OwnLogGroup"], "the enricher only writes its logs"
    pipe = roles["HighValuePipeRole"]["Properties"]
    trust = pipe["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert set(trust["Condition"]["StringEquals"]) == {"aws:SourceAccount", "aws:SourceArn"}
    for role in roles.values():
        for statement in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
            assert "*" not in str(statement["Action"])
            assert statement["Resource"] != "*"


def test_the_pipe_filters_enriches_and_targets_as_step_4_does() -> None:
    pipe = pipeline_template()["Resources"]["HighValuePipe"]["Properties"]
    assert pipe["Source"] == {"Fn::GetAtt": ["OrdersTable", "StreamArn"]}
    assert pipe["Enrichment"] == {"Fn::GetAtt": ["HighValueEnricherFunction", "Arn"]}
    assert pipe["Target"] == {"Fn::GetAtt": ["HighValueQueue", "Arn"]}
    filters = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
    assert [yaml.safe_load(f["Pattern"]) for f in filters] == [step4.HIGH_VALUE_PATTERN]
    assert pipe["SourceParameters"]["DynamoDBStreamParameters"]["MaximumRetryAttempts"] == step4.PIPE_MAX_RETRIES


def test_every_resource_is_tagged_as_the_lab_tags() -> None:
    for logical, resource in pipeline_template()["Resources"].items():
        if resource["Type"] in UNTAGGED:
            continue
        tags = resource["Properties"].get("Tags")
        assert tags, f"{logical} has no tags"
        if isinstance(tags, list):
            tags = {t["Key"]: t["Value"] for t in tags}
        assert tags[PROJECT_TAG] == PROJECT, logical
        assert tags[PREFIX_TAG] == {"Ref": "Prefix"}, logical


def test_cfn_lint_finds_nothing() -> None:
    assert lint_template(DEFAULT_TEMPLATE_PATH.read_text()) == []


def test_cfn_lint_catches_a_deprecated_runtime() -> None:
    stale = DEFAULT_TEMPLATE_PATH.read_text().replace(
        f"Runtime: {template_runtime(DEFAULT_TEMPLATE_PATH.read_text())}", "Runtime: python3.8"
    )
    assert {finding.rule for finding in lint_template(stale)} == {"W2531"}


def test_every_checkov_skip_says_why() -> None:
    lines = CHECKOV_CONFIG.read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if line.strip().startswith("- CKV_")]
    assert skips, "the skip list is empty: then drop the file"
    for index in skips:
        above = index - 1
        while lines[above].strip().startswith("- CKV_"):  # checks grouped under one reason
            above -= 1
        assert lines[above].strip().startswith("#"), f"{lines[index].strip()} has no reason above it"


def _checkov_or_skip() -> Path:
    checkov = find_checkov()
    if checkov is None:
        if os.environ.get("ORDERLAB_REQUIRE_CHECKOV", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("ORDERLAB_REQUIRE_CHECKOV is set but checkov is not installed (make checkov)", pytrace=False)
        pytest.skip("checkov is not installed beside the lab (docs/infrastructure-as-code.md): make checkov")
    return checkov


@dataclass(frozen=True)
class CheckovRuns:
    """The module's two checkov runs on the committed template, running in the background."""

    with_skips: Future[dict]  # with infra/.checkov.yaml, as docs/infrastructure-as-code.md runs it
    review: Future[Review]  # without the skips: every finding, joined with its reason


@pytest.fixture(scope="module", autouse=True)
def checkov_runs() -> Iterator[CheckovRuns | None]:
    """Both runs start with the module's first test: each spends seconds starting checkov, and the
    module's other tests (and each other) can go on meanwhile. None when checkov is not installed."""
    checkov = find_checkov()
    if checkov is None:
        yield None
        return
    with ThreadPoolExecutor(2) as pool:
        yield CheckovRuns(
            with_skips=pool.submit(run_checkov, DEFAULT_TEMPLATE_PATH, config=CHECKOV_CONFIG, checkov=checkov),
            review=pool.submit(review_template, DEFAULT_TEMPLATE_PATH, checkov=checkov),
        )


def test_checkov_finds_nothing_outside_the_curated_skips(checkov_runs: CheckovRuns | None) -> None:
    _checkov_or_skip()
    assert checkov_runs is not None
    report = checkov_runs.with_skips.result()
    assert report["summary"]["failed"] == 0, [f["check_id"] for f in report["results"]["failed_checks"]]
    assert report["summary"]["passed"] > 0


def test_every_checkov_finding_has_the_reason_the_lab_accepts_it_and_no_skip_is_stale(
    checkov_runs: CheckovRuns | None,
) -> None:
    _checkov_or_skip()
    assert checkov_runs is not None
    review = checkov_runs.review.result()
    assert review.findings, "checkov found nothing: then the skip list should go"
    assert review.unexplained == []
    assert {finding.check for finding in review.findings} == {skip.check for skip in accepted_findings()}


def test_accepted_findings_share_the_reason_written_above_them(tmp_path) -> None:
    config = tmp_path / "checkov.yaml"
    config.write_text(
        "# a header comment\nframework:\n  - cloudformation\nskip-check:\n"
        "  # KMS keys cost money\n  # and outlive cleanup.\n  - CKV_AWS_119\n  - CKV_AWS_158\n"
        "  # No VPC here.\n  - CKV_AWS_117\ncompact: true\n"
    )
    assert accepted_findings(config) == [
        AcceptedFinding("CKV_AWS_119", "KMS keys cost money and outlive cleanup."),
        AcceptedFinding("CKV_AWS_158", "KMS keys cost money and outlive cleanup."),
        AcceptedFinding("CKV_AWS_117", "No VPC here."),
    ]


def test_the_prefix_parameter_defaults_to_the_prefix_asked_for() -> None:
    assert pipeline_template()["Parameters"]["Prefix"]["Default"] == "orderlab"
    assert pipeline_template(prefix="alice")["Parameters"]["Prefix"]["Default"] == "alice"
    with pytest.raises(ValueError):
        pipeline_template(prefix="Not A Prefix")


def test_orderlab_iac_export_writes_a_lint_clean_template(tmp_path, capsys) -> None:
    from helpers.teach.cli import main

    assert main(["iac", "export", "--prefix", "alice", "-o", str(tmp_path / "t.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 't.yaml'}" in out and "cfn-lint: 0 finding(s)" in out
    assert yaml.safe_load((tmp_path / "t.yaml").read_text())["Parameters"]["Prefix"]["Default"] == "alice"
