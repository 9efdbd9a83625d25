"""Account safety: nothing is created in an account or region the learner did not confirm.

The ``aws`` target always needs the confirmation; this machine cannot reach AWS, so the same gate
is switched on for the local cloud (``require_confirmation=True`` / ``ORDERLAB_REQUIRE_CONFIRMATION=1``)
and exercised there: the refusal shows the account, the region and the plan, and creates nothing;
only the exact account *and* region pass. For ``aws`` itself, an unconfirmed lab hands out no
client (checked offline, no credentials needed).

AWS docs: https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html (which
account the credentials belong to), https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html
"""

from __future__ import annotations

import uuid

import pytest
from cloudtest import external_target

from helpers.core.lab import CONFIRM_ACCOUNT_ENV, CONFIRM_REGION_ENV, REQUIRE_CONFIRMATION_ENV, AccountNotConfirmed, Lab
from helpers.core.target import Target, resolve_target
from helpers.learn.plan import plan_frame
from helpers.ops.discovery import sweep

pytestmark = pytest.mark.cloud


@pytest.fixture
def prefix() -> str:
    return f"s{uuid.uuid4().hex[:8]}"


@pytest.fixture
def account(cloud) -> str:
    return Lab.connect(prefix="sprobe", announce=None).account_id


@pytest.mark.skipif(external_target() is not None, reason="exercises the gate on the local cloud")
def test_without_confirmation_the_plan_is_shown_and_nothing_is_created(cloud, prefix, account, monkeypatch):
    monkeypatch.delenv(CONFIRM_ACCOUNT_ENV, raising=False)
    monkeypatch.delenv(CONFIRM_REGION_ENV, raising=False)
    with pytest.raises(AccountNotConfirmed) as refused:
        Lab.connect(prefix=prefix, require_confirmation=True)
    message = str(refused.value)
    region = refused.value.region
    assert refused.value.account == account
    assert f"account {account}, region {region}" in message
    assert "Nothing has been created" in message
    assert f"{CONFIRM_ACCOUNT_ENV}={account}" in message and f"{CONFIRM_REGION_ENV}={region}" in message
    # The plan: every resource of the series, by name, with the tags and the cost.
    plan = refused.value.plan
    lab = Lab(resolve_target(), prefix)
    for name in plan_frame(lab)["name"]:
        assert name in plan, name
    assert f"orderlab:prefix={prefix}" in plan and "Cost:" in plan
    assert sweep(lab).remaining == []


@pytest.mark.skipif(external_target() is not None, reason="exercises the gate on the local cloud")
@pytest.mark.parametrize("wrong", ["account", "region", "both"])
def test_a_wrong_account_or_region_is_refused(cloud, prefix, account, wrong):
    region = resolve_target().region
    confirm_account = "111111111111" if wrong in ("account", "both") else account
    confirm_region = "ap-south-2" if wrong in ("region", "both") else region
    with pytest.raises(AccountNotConfirmed) as refused:
        Lab.connect(
            prefix=prefix, require_confirmation=True, confirm_account=confirm_account, confirm_region=confirm_region
        )
    unconfirmed = str(refused.value).split("Unconfirmed: ", 1)[1].split(".", 1)[0]
    assert ("account" in unconfirmed) == (wrong in ("account", "both"))
    assert ("region" in unconfirmed) == (wrong in ("region", "both"))


@pytest.mark.skipif(external_target() is not None, reason="exercises the gate on the local cloud")
def test_the_exact_account_and_region_pass_by_parameter_or_environment(cloud, prefix, account, monkeypatch):
    region = resolve_target().region
    said: list[str] = []
    lab = Lab.connect(
        prefix=prefix, require_confirmation=True, confirm_account=account, confirm_region=region, announce=said.append
    )
    assert lab.confirmed and said and f"account {account}, region {region}" in said[0]
    assert lab.client("sqs").list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200  # clients once confirmed
    monkeypatch.setenv(REQUIRE_CONFIRMATION_ENV, "1")
    monkeypatch.setenv(CONFIRM_ACCOUNT_ENV, account)
    monkeypatch.setenv(CONFIRM_REGION_ENV, region)
    assert Lab.connect(prefix=prefix, announce=None).confirmed


@pytest.mark.skipif(external_target() is not None, reason="exercises the gate on the local cloud")
def test_an_unconfirmed_lab_hands_out_no_client_but_sts(cloud, prefix):
    lab = Lab(resolve_target(), prefix, require_confirmation=True)
    assert lab.client("sts").get_caller_identity()["Account"] == lab.account_id
    for service in ("sqs", "dynamodb", "lambda", "iam"):
        with pytest.raises(AccountNotConfirmed):
            lab.client(service)
    # Without the gate (the local default) the same lab works.
    assert Lab(resolve_target(), prefix, require_confirmation=False).client("sqs") is not None


def test_the_aws_target_always_needs_the_confirmation(monkeypatch):
    """Offline: no AWS call is made before the gate, and no client but STS comes out of it."""
    monkeypatch.delenv(REQUIRE_CONFIRMATION_ENV, raising=False)
    lab = Lab(Target("aws", "eu-west-1", None, None), "alice", require_confirmation=False)
    assert lab.needs_confirmation and not lab.confirmed
    with pytest.raises(AccountNotConfirmed):
        lab.client("dynamodb")


def test_the_local_cloud_is_the_default_and_needs_no_confirmation(cloud, monkeypatch):
    if external_target() is not None:
        pytest.skip("the local default only")
    monkeypatch.delenv(REQUIRE_CONFIRMATION_ENV, raising=False)
    lab = Lab.connect(prefix="sdefault", announce=None)
    assert lab.target.is_local and not lab.needs_confirmation
