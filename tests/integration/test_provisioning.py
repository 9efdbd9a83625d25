"""Provisioning helpers against the session's cloud: idempotent deploys, the real HTTP path,
reproducible packages, and a cleanup that leaves nothing of its prefix and nothing else touched.

Uses the ``lab`` fixture (tests/conftest.py): a Lab with a unique prefix on the session target.
The packaging tests need only PyPI.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from helpers import Lab
from helpers.aws import (
    TableSchemaMismatch,
    deploy_function,
    dynamodb_statement,
    ensure_http_api,
    ensure_lambda_role,
    ensure_log_group,
    ensure_orders_table,
)
from helpers.aws.iam import POLICY_NAME, role_name
from helpers.aws.packaging import PackagingError, build_lambda_package
from helpers.aws.runtime import RUNTIME_ENV, lambda_runtime, python_version
from helpers.core.naming import PREFIX_TAG, PROJECT, PROJECT_TAG, tag_list
from helpers.ops.cleanup import destroy_lab
from helpers.ops.discovery import find_lab_resources
from helpers.pipeline.step1 import (
    API_COMPONENT,
    CREATE_ORDER_COMPONENT,
    CREATE_ORDER_DIR,
    ORDERS_COMPONENT,
    deploy_ingestion,
    ingestion_status,
)

pytestmark = pytest.mark.long  # packages built, deployed and cleaned up

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ECHO_FN = FIXTURES / "echo_fn"
FRONTEND_ORIGIN = "http://127.0.0.1:8000"


def cpython_tag(version: str | None = None) -> str:
    """The extension-module tag of a CPython version: ``"3.12"`` -> ``"cpython-312"`` (default: the lab's runtime)."""
    return "cpython-" + (version or python_version()).replace(".", "")


needs_create_order = pytest.mark.skipif(
    not (CREATE_ORDER_DIR / "create_order" / "handler.py").is_file(),
    reason="lambdas/create_order is not there yet",
)


def other_lab(lab: Lab, suffix: str) -> Lab:
    """A second prefix on the same target. ``<prefix>-<suffix>`` on purpose: its names start with
    ``<prefix>-`` too, so cleanup must go by tags, not names."""
    prefix = f"{lab.prefix}-{suffix}"
    if len(prefix) > 20:
        prefix = f"{suffix}{uuid.uuid4().hex[:8]}"
    return Lab(lab.target, prefix=prefix)


def _zip_facts(path: Path) -> tuple[list[str], list[zipfile.ZipInfo]]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist(), archive.infolist()


# --- packaging (PyPI only) ---------------------------------------------------------------


def test_package_build_is_byte_reproducible(tmp_path: Path) -> None:
    first = build_lambda_package(ECHO_FN, build_root=tmp_path / "a", force=True)
    second = build_lambda_package(ECHO_FN, build_root=tmp_path / "b", force=True)
    assert not first.cached and not second.cached
    assert first.zip_path.read_bytes() == second.zip_path.read_bytes()
    assert first.sha256_b64 == second.sha256_b64 and first.size == second.size

    names, infos = _zip_facts(first.zip_path)
    assert names == sorted(names), "entries must be sorted"
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in infos)
    for info in infos:
        mode = stat.S_IMODE(info.external_attr >> 16)
        assert mode == (0o755 if info.is_dir() else 0o644), (info.filename, oct(mode))
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.endswith((".dist-info/RECORD", "direct_url.json"))]
    assert not [n for n in names if n.startswith("bin/")]
    # the function's own files at the root; what is not code stays out
    assert "echo_fn/handler.py" in names and "echo_fn/__init__.py" in names
    assert not {"requirements.txt", "README.md"} & set(names)
    assert not [n for n in names if n.startswith("tests/")]
    # its dependencies, the compiled one built for Lambda (Linux x86_64, the lab runtime's CPython)
    assert "jmespath/__init__.py" in names
    assert [n for n in names if n.startswith(f"markupsafe/_speedups.{cpython_tag()}-x86_64-linux-gnu")]


@pytest.mark.slow
def test_package_cache_skips_unchanged_and_rebuilds_changed(tmp_path: Path) -> None:
    source = tmp_path / "echo_fn"
    shutil.copytree(ECHO_FN, source)
    built = build_lambda_package(source, build_root=tmp_path / "build")
    again = build_lambda_package(source, build_root=tmp_path / "build")
    assert again.cached and again.zip_path == built.zip_path and again.sha256_b64 == built.sha256_b64

    (source / "README.md").write_text("docs do not change the code\n")
    assert build_lambda_package(source, build_root=tmp_path / "build").sha256_b64 == built.sha256_b64

    handler = source / "echo_fn" / "handler.py"
    handler.write_text(handler.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
    changed = build_lambda_package(source, build_root=tmp_path / "build")
    assert not changed.cached and changed.sha256_b64 != built.sha256_b64
    assert not built.zip_path.exists(), "the superseded build is removed"


def test_arm64_package_gets_aarch64_wheels(tmp_path: Path) -> None:
    package = build_lambda_package(ECHO_FN, architecture="arm64", build_root=tmp_path)
    names, _ = _zip_facts(package.zip_path)
    assert [n for n in names if n.startswith(f"markupsafe/_speedups.{cpython_tag()}-aarch64-linux-gnu")]
    assert not [n for n in names if "x86_64" in n]


def test_pip_failure_names_package_and_platform(tmp_path: Path) -> None:
    source = tmp_path / "broken_fn"
    (source / "broken_fn").mkdir(parents=True)
    (source / "broken_fn" / "__init__.py").write_text("")
    (source / "requirements.txt").write_text("orderlab-no-such-package-xyz==0.0.1\n")
    with pytest.raises(PackagingError) as caught:
        build_lambda_package(source, build_root=tmp_path / "build")
    message = str(caught.value)
    assert "orderlab-no-such-package-xyz" in message and "manylinux2014_x86_64" in message


@pytest.mark.slow
@needs_create_order
def test_create_order_package_is_self_contained(tmp_path: Path) -> None:
    """What AWS gives a function is stdlib + boto3: everything else must be in the zip."""
    package = build_lambda_package(CREATE_ORDER_DIR)  # deploying's build cache: the tests' deploys share it
    names, _ = _zip_facts(package.zip_path)
    top = {n.split("/", 1)[0] for n in names}
    assert {
        "create_order",
        "aws_lambda_powertools",
        "pydantic",
        "pydantic_core",
        "typing_extensions.py",
        "jmespath",
    } <= top
    assert [n for n in names if n.startswith(f"pydantic_core/_pydantic_core.{cpython_tag()}-x86_64-linux-gnu")]
    assert not {"boto3", "botocore"} & top, "the runtime provides boto3; do not ship it"
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(package.zip_path) as archive:
        archive.extractall(unpacked)
    # -I -S: no site-packages, no PYTHON* variables: only the stdlib and the package.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import aws_lambda_powertools, pydantic, create_order.orders; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(unpacked)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


@pytest.mark.slow
@needs_create_order
@pytest.mark.parametrize("runtime", ["python3.11", "python3.13"])
def test_create_order_package_follows_the_chosen_runtime(monkeypatch, runtime: str) -> None:
    """ORDERLAB_LAMBDA_RUNTIME picks the CPython the compiled dependencies are built for."""
    monkeypatch.setenv(RUNTIME_ENV, runtime)
    package = build_lambda_package(CREATE_ORDER_DIR)  # deploying's build cache: the tests' deploys share it
    names, _ = _zip_facts(package.zip_path)
    compiled = [n for n in names if n.startswith("pydantic_core/_pydantic_core.cpython-")]
    assert compiled and all(n.startswith(f"pydantic_core/_pydantic_core.{cpython_tag(runtime[6:])}-") for n in compiled)
    assert f"-py{runtime[6:]}-" in package.zip_path.name


def test_discovery_drops_deleted_resources_the_tagging_api_still_lists() -> None:
    """AWS's tagging API lags behind deletions; cleanup must not report those as remaining."""
    from botocore.exceptions import ClientError

    from helpers.ops.discovery import LabResource, _Finder

    class GoneLambda:
        def get_function_configuration(self, FunctionName: str) -> None:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "GetFunctionConfiguration"
            )

    class FakeLab:
        prefix, region, account_id = "alice", "us-east-1", "123456789012"

        def client(self, service: str) -> object:
            assert service == "lambda"
            return GoneLambda()

    finder = _Finder(FakeLab())  # type: ignore[arg-type]
    stale = LabResource("lambda", "function", "alice-x", "arn:aws:lambda:us-east-1:123456789012:function:alice-x")
    live = LabResource(
        "dynamodb", "table", "alice-orders", "arn:aws:dynamodb:us-east-1:123456789012:table/alice-orders"
    )
    finder.add(stale, from_tagging=True)
    finder.add(live, from_tagging=True)
    finder.add(live)  # a per-service listing saw it too
    finder.drop_stale()
    assert list(finder.found.values()) == [live]


def test_discovery_skips_a_pipe_deleted_between_its_listing_and_its_tags() -> None:
    """A pipe being deleted (e.g. with its stack) is still listed; its tags are then not found."""
    from botocore.exceptions import ClientError

    from helpers.ops.discovery import _Finder

    arns = {name: f"arn:aws:pipes:us-east-1:123456789012:pipe/{name}" for name in ("alice-gone", "alice-kept")}

    class Pipes:
        def get_paginator(self, operation: str) -> Any:
            assert operation == "list_pipes"
            return self

        def paginate(self, **params: Any) -> list[dict[str, Any]]:
            return [{"Pipes": [{"Name": name, "Arn": arn} for name, arn in arns.items()]}]

        def list_tags_for_resource(self, resourceArn: str) -> dict[str, Any]:
            if resourceArn == arns["alice-gone"]:
                raise ClientError({"Error": {"Code": "NotFoundException", "Message": "gone"}}, "ListTagsForResource")
            return {"tags": {PROJECT_TAG: PROJECT, PREFIX_TAG: "alice"}}

    class FakeLab:
        prefix, region, account_id = "alice", "us-east-1", "123456789012"

        def client(self, service: str) -> object:
            assert service == "pipes"
            return Pipes()

    finder = _Finder(FakeLab())  # type: ignore[arg-type]
    finder.pipes()
    assert [resource.name for resource in finder.found.values()] == ["alice-kept"]


# --- the cloud -----------------------------------------------------------------------------


@pytest.mark.cloud
@needs_create_order
def test_deploy_ingestion_twice_converges(lab: Lab) -> None:
    first = deploy_ingestion(lab)
    second = deploy_ingestion(lab)

    assert (second.table.name, second.table.arn) == (first.table.name, first.table.arn)
    assert second.function.arn == first.function.arn
    assert second.function.code_sha256 == first.function.code_sha256
    assert second.function.last_modified == first.function.last_modified, "the function was updated again"
    assert not second.function.changed
    assert second.api.api_id == first.api.api_id and second.api.endpoint_url == first.api.endpoint_url

    apigw = lab.client("apigatewayv2")
    named = [
        a
        for a in apigw.get_paginator("get_apis").paginate().build_full_result()["Items"]
        if a["Name"] == lab.name(API_COMPONENT)
    ]
    assert len(named) == 1
    route_keys = [r["RouteKey"] for r in apigw.get_routes(ApiId=first.api.api_id)["Items"]]
    assert sorted(route_keys) == ["GET /orders/{orderId}", "POST /orders"]
    integrations = apigw.get_integrations(ApiId=first.api.api_id)["Items"]
    assert len(integrations) == 1 and integrations[0]["PayloadFormatVersion"] == "2.0"
    assert integrations[0]["IntegrationType"] == "AWS_PROXY"
    stage = apigw.get_stage(ApiId=first.api.api_id, StageName="$default")
    assert stage["AutoDeploy"] is True
    cors = apigw.get_api(ApiId=first.api.api_id)["CorsConfiguration"]
    assert cors["AllowOrigins"] == [FRONTEND_ORIGIN]
    assert {h.lower() for h in cors["AllowHeaders"]} == {"content-type", "idempotency-key"}

    tables = lab.client("dynamodb").list_tables()["TableNames"]
    assert tables.count(lab.name(ORDERS_COMPONENT)) == 1

    policy = json.loads(lab.client("lambda").get_policy(FunctionName=first.function.name)["Policy"])
    assert len(policy["Statement"]) == 1
    assert policy["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"] == f"{first.api.execution_arn}/*/*"

    iam = lab.client("iam")
    name = role_name(lab, CREATE_ORDER_COMPONENT)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == [POLICY_NAME]
    document = iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    ddb_statement = next(s for s in document["Statement"] if s["Sid"] != "OwnLogGroup")
    assert sorted(ddb_statement["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem"]
    assert ddb_statement["Resource"] in ([first.table.arn], first.table.arn)
    logs_resource = by_sid["OwnLogGroup"]["Resource"]
    logs_resource = logs_resource if isinstance(logs_resource, str) else logs_resource[0]
    assert logs_resource.endswith(f":log-group:/aws/lambda/{first.function.name}:*")
    assert iam.get_role(RoleName=name)["Role"]["Path"] == "/orderlab/"

    status = ingestion_status(lab)
    assert status["ready"], status["missing"]
    assert status["api"]["orders_url"] == first.orders_url


@pytest.mark.cloud
@needs_create_order
def test_post_through_http_api_creates_item(lab: Lab) -> None:
    stack = deploy_ingestion(lab)
    order = {"customer": {"id": "c-42", "name": "Ada"}, "items": [{"sku": "BOOK-1", "quantity": 2, "unitPrice": 12.5}]}
    response = requests.post(
        stack.orders_url, json=order, timeout=30, headers={"idempotency-key": f"test-{uuid.uuid4()}"}
    )
    assert response.status_code == 201, response.text
    order_id = response.json()["orderId"]

    item = (
        lab.client("dynamodb")
        .get_item(TableName=stack.table.name, Key={"orderId": {"S": order_id}}, ConsistentRead=True)
        .get("Item")
    )
    assert item is not None
    # The session's lab may already carry the later steps (another test file deployed them on this
    # worker): then the worker can decide the order before this read. PENDING, or decided by the worker.
    assert item["status"]["S"] == "PENDING" or "processedAt" in item, item

    fetched = requests.get(stack.api.url(f"/orders/{order_id}"), timeout=30)
    assert fetched.status_code == 200 and fetched.json()["orderId"] == order_id

    bad = requests.post(stack.orders_url, data="not json", headers={"content-type": "application/json"}, timeout=30)
    assert 400 <= bad.status_code < 500

    preflight = requests.options(
        stack.orders_url,
        timeout=30,
        headers={
            "Origin": FRONTEND_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") == FRONTEND_ORIGIN


@pytest.mark.slow
@pytest.mark.cloud
def test_deploy_function_updates_only_what_changed(lab: Lab, tmp_path: Path) -> None:
    source = tmp_path / "echo_fn"
    shutil.copytree(ECHO_FN, source)
    role = ensure_lambda_role(lab, "echo", [])
    kwargs = dict(component="echo", handler="echo_fn.handler.lambda_handler", role_arn=role)
    created = deploy_function(lab, source, environment={"GREETING": "hi"}, **kwargs)
    assert created.created and created.state == "Active"

    same = deploy_function(lab, source, environment={"GREETING": "hi"}, **kwargs)
    assert not same.changed and same.last_modified == created.last_modified

    handler = source / "echo_fn" / "handler.py"
    handler.write_text(handler.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
    new_code = deploy_function(lab, source, environment={"GREETING": "hi"}, **kwargs)
    assert new_code.code_updated and not new_code.config_updated
    assert new_code.code_sha256 != created.code_sha256

    new_env = deploy_function(lab, source, environment={"GREETING": "hello"}, **kwargs)
    assert new_env.config_updated and not new_env.code_updated

    result = lab.client("lambda").invoke(FunctionName=new_env.name, Payload=json.dumps({"name": "<b>"}))
    payload = json.loads(result["Payload"].read())
    assert "FunctionError" not in result, payload
    assert payload["version"] == "2" and payload["greeting"] == "hello" and payload["escaped"] == "&lt;b&gt;"

    tags = lab.client("lambda").list_tags(Resource=new_env.arn)["Tags"]
    assert tags.items() >= lab.tags.items()
    group_tags = lab.client("logs").list_tags_for_resource(
        resourceArn=f"arn:aws:logs:{lab.region}:{lab.account_id}:log-group:/aws/lambda/{new_env.name}"
    )["tags"]
    assert group_tags.items() >= lab.tags.items()


@pytest.mark.slow
@pytest.mark.cloud
def test_deploy_function_follows_the_lab_runtime(lab: Lab, monkeypatch) -> None:
    """A function deployed on another runtime is moved to the lab's, with its dependencies rebuilt for it."""
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    lab_runtime = lambda_runtime()
    other = "python3.13" if lab_runtime != "python3.13" else "python3.12"
    role = ensure_lambda_role(lab, "echo-runtime", [])
    kwargs = dict(
        component="echo-runtime",
        handler="echo_fn.handler.lambda_handler",
        role_arn=role,
        environment={"GREETING": "hi"},
    )
    before = deploy_function(lab, ECHO_FN, runtime=other, **kwargs)
    after = deploy_function(lab, ECHO_FN, **kwargs)
    assert (before.runtime, after.runtime) == (other, lab_runtime)
    assert after.code_updated and after.config_updated, "the zip carries wheels for the runtime's CPython"
    result = lab.client("lambda").invoke(FunctionName=after.name, Payload=json.dumps({"name": "<b>"}))
    assert "FunctionError" not in result and json.loads(result["Payload"].read())["escaped"] == "&lt;b&gt;"


@pytest.mark.cloud
def test_http_api_reconciles_routes_and_cors(lab: Lab) -> None:
    role = ensure_lambda_role(lab, "echo", [])
    fn = deploy_function(
        lab, ECHO_FN, component="echo", handler="echo_fn.handler.lambda_handler", role_arn=role, environment={}
    )
    apigw = lab.client("apigatewayv2")

    api = ensure_http_api(
        lab, component="recon-api", cors_allow_origins=["http://a.example"], routes={"GET /a": fn.arn, "GET /b": fn.arn}
    )
    api2 = ensure_http_api(
        lab,
        component="recon-api",
        cors_allow_origins=["http://b.example"],
        routes={"GET /a": fn.arn, "POST /c": fn.arn},
    )
    assert api2.api_id == api.api_id
    assert sorted(r["RouteKey"] for r in apigw.get_routes(ApiId=api.api_id)["Items"]) == ["GET /a", "POST /c"]
    assert apigw.get_api(ApiId=api.api_id)["CorsConfiguration"]["AllowOrigins"] == ["http://b.example"]
    assert len(apigw.get_integrations(ApiId=api.api_id)["Items"]) == 1

    # a crashed earlier run left a duplicate API of the same name and tags: converge to one
    apigw.create_api(Name=lab.name("recon-api"), ProtocolType="HTTP", Tags=lab.tags)
    api3 = ensure_http_api(
        lab, component="recon-api", cors_allow_origins=["http://b.example"], routes={"GET /a": fn.arn}
    )
    named = [
        a
        for a in apigw.get_paginator("get_apis").paginate().build_full_result()["Items"]
        if a["Name"] == lab.name("recon-api")
    ]
    assert [a["ApiId"] for a in named] == [api3.api_id]


@pytest.mark.cloud
def test_lambda_role_converges_to_one_scoped_policy(lab: Lab) -> None:
    iam = lab.client("iam")
    table_arn = f"arn:aws:dynamodb:{lab.region}:{lab.account_id}:table/{lab.name('roletest')}"
    arn = ensure_lambda_role(lab, "roletest", [dynamodb_statement(table_arn, ["dynamodb:PutItem"])])
    name = role_name(lab, "roletest")
    iam.put_role_policy(
        RoleName=name,
        PolicyName="stray",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    iam.untag_role(RoleName=name, TagKeys=list(lab.tags))

    again = ensure_lambda_role(lab, "roletest", [dynamodb_statement(table_arn, ["dynamodb:GetItem"])])
    assert again == arn
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == [POLICY_NAME]
    document = iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"]
    actions = [s["Action"] for s in document["Statement"] if s["Sid"] != "OwnLogGroup"]
    assert actions in ([["dynamodb:GetItem"]], ["dynamodb:GetItem"])
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
    assert tags.items() >= lab.tags.items()
    with pytest.raises(ValueError, match="Resource"):
        ensure_lambda_role(lab, "roletest", [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}])


@pytest.mark.cloud
def test_orders_table_refuses_another_key_schema(lab: Lab) -> None:
    name = lab.name("wrong-key")
    ddb = lab.client("dynamodb")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        Tags=tag_list(lab.tags),
    )
    with pytest.raises(TableSchemaMismatch, match="orderId"):
        ensure_orders_table(lab, name)


@pytest.mark.cloud
def test_orders_table_gets_its_tags_back(lab: Lab) -> None:
    table = ensure_orders_table(lab, lab.name("retag"))
    ddb = lab.client("dynamodb")
    ddb.untag_resource(ResourceArn=table.arn, TagKeys=list(lab.tags))
    ensure_orders_table(lab, lab.name("retag"))
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table.arn)["Tags"]}
    assert tags.items() >= lab.tags.items()


@pytest.mark.cloud
def test_cleanup_after_half_finished_deploy(lab: Lab) -> None:
    half = other_lab(lab, "h")
    try:
        table = ensure_orders_table(half, half.name("orders"))
        ensure_lambda_role(half, "create-order", [dynamodb_statement(table.arn, ["dynamodb:PutItem"])])
        # an API whose stage and routes were never made, and a log group Lambda made itself (untagged)
        half.client("apigatewayv2").create_api(Name=half.name("orders-api"), ProtocolType="HTTP", Tags=half.tags)
        half.client("logs").create_log_group(logGroupName=f"/aws/lambda/{half.name('create-order')}")
        assert len(find_lab_resources(half)) == 4

        report = destroy_lab(half)
        assert report.ok, report.summary()
        assert find_lab_resources(half) == []
        assert half.name("orders") not in half.client("dynamodb").list_tables()["TableNames"]
    finally:
        destroy_lab(half)


@pytest.mark.cloud
@needs_create_order
def test_cleanup_removes_everything_and_spares_another_prefix(lab: Lab) -> None:
    """Last in this module: it tears down what the tests above built for ``lab``."""
    deploy_ingestion(lab)
    other = other_lab(lab, "o")
    try:
        table = ensure_orders_table(other)
        ensure_lambda_role(other, CREATE_ORDER_COMPONENT, [dynamodb_statement(table.arn, ["dynamodb:GetItem"])])
        ensure_log_group(other, other.name(CREATE_ORDER_COMPONENT))
        before_other = find_lab_resources(other)
        assert {(r.service, r.kind) for r in before_other} == {
            ("dynamodb", "table"),
            ("iam", "role"),
            ("logs", "log-group"),
        }
        assert {(r.service, r.kind) for r in find_lab_resources(lab)} >= {
            ("dynamodb", "table"),
            ("iam", "role"),
            ("logs", "log-group"),
            ("lambda", "function"),
            ("apigateway", "api"),
        }

        report = destroy_lab(lab)
        assert report.ok, report.summary()
        assert report.remaining == [] and find_lab_resources(lab) == []
        assert not ingestion_status(lab)["table"]["exists"]

        assert find_lab_resources(other) == before_other, "another prefix's resources were touched"
        assert other.client("dynamodb").describe_table(TableName=table.name)["Table"]["TableStatus"] == "ACTIVE"
    finally:
        final = destroy_lab(other)
    assert final.ok and final.remaining == [], final.summary()
