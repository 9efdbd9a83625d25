"""Target selection: local by default, real AWS only when chosen and confirmed."""

from __future__ import annotations

import pytest

from helpers import Lab, TargetError, resolve_target
from helpers.core.lab import AccountNotConfirmed
from helpers.core.naming import tags_for, validate_prefix
from helpers.core.session import botocore_config, client, session
from helpers.core.target import Target


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "ORDERLAB_TARGET",
        "ORDERLAB_PORT",
        "ORDERLAB_REGION",
        "AWS_ENDPOINT_URL",
        "ORDERLAB_PREFIX",
        "ORDERLAB_CONFIRM_ACCOUNT",
    ):
        monkeypatch.delenv(name, raising=False)


def test_default_is_the_local_cloud_even_with_aws_settings_around(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    target = resolve_target()
    assert target.kind == "local"
    assert target.endpoint_url == "http://127.0.0.1:4599"
    assert target.region == "us-east-1"


def test_local_port_comes_from_orderlab_port(monkeypatch):
    monkeypatch.setenv("ORDERLAB_PORT", "4700")
    assert resolve_target("local").endpoint_url == "http://127.0.0.1:4700"
    assert resolve_target("local").port == 4700
    assert resolve_target("aws").port is None
    monkeypatch.setenv("ORDERLAB_PORT", "http")
    with pytest.raises(TargetError, match="ORDERLAB_PORT"):
        resolve_target("local")


def test_target_from_environment(monkeypatch):
    monkeypatch.setenv("ORDERLAB_TARGET", "endpoint")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/")
    target = resolve_target()
    assert (target.kind, target.endpoint_url) == ("endpoint", "http://127.0.0.1:4566")


@pytest.mark.parametrize("bad", ["azure", "AWS-prod", ""])
def test_unknown_target_is_refused(bad):
    if bad == "":
        assert resolve_target(bad).kind == "local"  # empty means default
        return
    with pytest.raises(TargetError, match="Unknown target"):
        resolve_target(bad)


def test_endpoint_target_needs_a_url():
    with pytest.raises(TargetError, match="AWS_ENDPOINT_URL"):
        resolve_target("endpoint")
    with pytest.raises(TargetError, match="http"):
        resolve_target("endpoint", endpoint_url="localhost:4566")


def test_aws_target_uses_the_usual_config_and_ignores_endpoint_overrides(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    target = resolve_target("aws", profile="lab")
    assert (target.kind, target.region, target.profile, target.endpoint_url) == ("aws", "eu-west-1", "lab", None)
    assert botocore_config(target).ignore_configured_endpoint_urls is True


def test_local_sessions_never_carry_real_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    target = Target("local", "us-east-1", "http://127.0.0.1:4599")
    creds = session(target).get_credentials()
    assert creds.access_key == "test"
    assert client("dynamodb", target).meta.endpoint_url == "http://127.0.0.1:4599"


@pytest.mark.parametrize("prefix", ["orderlab", "alice", "a1-b2"])
def test_valid_prefixes(prefix):
    assert validate_prefix(prefix) == prefix
    assert tags_for(prefix) == {"orderlab:project": "order-pipeline-lab", "orderlab:prefix": prefix}


@pytest.mark.parametrize("prefix", ["Alice", "1abc", "a_b", "x" * 21, "abc-", ""])
def test_invalid_prefixes(prefix):
    with pytest.raises(ValueError, match="Invalid prefix"):
        validate_prefix(prefix)


def test_lab_names_and_prefix_from_environment(monkeypatch):
    monkeypatch.setenv("ORDERLAB_PREFIX", "bob")
    lab = Lab.connect("local", start_local=False)
    assert lab.prefix == "bob" and lab.name("orders") == "bob-orders"
    assert lab.tags["orderlab:prefix"] == "bob"


def test_aws_target_refuses_an_unconfirmed_account_or_region():
    lab = Lab(Target("aws", "us-east-1"), "alice")
    lab.__dict__["account_id"] = "123456789012"  # what STS would answer
    with pytest.raises(AccountNotConfirmed, match="account 123456789012, region us-east-1") as refused:
        lab.confirm(None, None)
    assert "confirm_account='123456789012', confirm_region='us-east-1'" in str(refused.value)
    for account, region in (("210987654321", "us-east-1"), ("123456789012", "eu-west-1")):
        with pytest.raises(TargetError):
            lab.confirm(account, region)
    assert lab.confirm("123456789012", "us-east-1").confirmed
