"""Deploy a Lambda function from a folder under ``lambdas/``: build, create or converge, wait.

>>> fn = deploy_function(                                                  # doctest: +SKIP
...     lab, Path("lambdas/create_order"), component="create-order",
...     handler="create_order.handler.lambda_handler", role_arn=role_arn,
...     environment={"ORDERS_TABLE": table.name},
... )
>>> fn.name, fn.state, fn.code_updated                                     # doctest: +SKIP
('alice-create-order', 'Active', False)

Idempotent: the code is uploaded only when the zip's SHA-256 differs from the function's
``CodeSha256`` (builds are byte-reproducible, so an unchanged folder uploads nothing), the
configuration only when a setting differs; both wait for the update to finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from helpers.aws.common import error_code, error_message, log_group_arn, log_group_name, retry_on, tags_missing
from helpers.aws.packaging import DIRECT_UPLOAD_LIMIT, Package, PackagingError, build_lambda_package
from helpers.aws.runtime import lambda_runtime, python_version
from helpers.core.waiters import wait_function_active, wait_function_updated
from helpers.core.workspace import deploy_source

if TYPE_CHECKING:
    from helpers.core.lab import Lab

__all__ = ["FunctionInfo", "deploy_function", "ensure_log_group", "get_function", "waiter_delay"]

Architecture = Literal["x86_64", "arm64"]
# How long to retry CreateFunction while a new role propagates through IAM (real AWS).
ROLE_PROPAGATION_TIMEOUT = 90.0
# How often to ask whether a function finished being created or updated: AWS takes seconds
# (boto3's own waiters poll it every 5 s); the local cloud settles a function half a second after
# the change, which a 1 s poll would round up to a full second on every deploy.
WAITER_DELAY = 1.0
LOCAL_WAITER_DELAY = 0.1


@dataclass(frozen=True)
class FunctionInfo:
    """A deployed function. ``created``/``code_updated``/``config_updated`` say what this call changed."""

    name: str
    arn: str
    code_sha256: str
    version: str
    state: str
    last_modified: str
    last_update_status: str | None = None
    runtime: str = ""
    created: bool = False
    code_updated: bool = False
    config_updated: bool = False

    @property
    def changed(self) -> bool:
        return self.created or self.code_updated or self.config_updated

    @classmethod
    def from_configuration(cls, configuration: dict[str, Any], **changes: bool) -> FunctionInfo:
        """The function as GetFunction's ``Configuration`` describes it; ``changes``: what a deploy changed.

        >>> FunctionInfo.from_configuration({"FunctionName": "f", "FunctionArn": "arn:f"}).state
        'Active'
        """
        return cls(
            name=configuration["FunctionName"],
            arn=configuration["FunctionArn"],
            code_sha256=configuration.get("CodeSha256", ""),
            version=configuration.get("Version", "$LATEST"),
            state=configuration.get("State", "Active"),
            last_modified=configuration.get("LastModified", ""),
            last_update_status=configuration.get("LastUpdateStatus"),
            runtime=configuration.get("Runtime", ""),
            **changes,
        )


def waiter_delay(lab: Lab) -> float:
    """Seconds between two polls of a function's state on ``lab``'s target (see :data:`LOCAL_WAITER_DELAY`)."""
    return LOCAL_WAITER_DELAY if lab.target.is_local else WAITER_DELAY


def get_function(lab: Lab, name: str) -> dict[str, Any] | None:
    """GetFunction's response (``Configuration``, ``Tags``...), or None if the function does not exist."""
    try:
        return lab.client("lambda").get_function(FunctionName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def ensure_log_group(lab: Lab, function_name: str, retention_days: int = 7) -> str:
    """Create the function's log group ``/aws/lambda/<function_name>`` (tagged, with retention).

    Created up front so that it carries the lab's tags (cleanup finds it) and does not keep
    logs forever. Returns the log group name.

    >>> ensure_log_group(lab, lab.name("create-order"))     # doctest: +SKIP
    '/aws/lambda/alice-create-order'
    """
    logs = lab.client("logs")
    name = log_group_name(function_name)
    group = _describe_log_group(logs, name)
    if group is None:
        try:
            logs.create_log_group(logGroupName=name, tags=lab.tags)
        except ClientError as error:
            if error_code(error) != "ResourceAlreadyExistsException":  # created meanwhile (by Lambda itself?)
                raise
        group = _describe_log_group(logs, name) or {}
    arn = log_group_arn(lab.region, lab.account_id, name)
    current = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
    missing = tags_missing(current, lab.tags)
    if missing:
        logs.tag_resource(resourceArn=arn, tags=missing)
    if group.get("retentionInDays") != retention_days:
        logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
    return name


def _describe_log_group(logs: Any, name: str) -> dict[str, Any] | None:
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
        for group in page.get("logGroups", []):
            if group["logGroupName"] == name:
                return dict(group)
    return None


def _is_role_not_ready(error: ClientError) -> bool:
    """IAM has not propagated a new role (or its trust) to Lambda yet."""
    return error_code(error) == "InvalidParameterValueException" and "cannot be assumed by Lambda" in error_message(
        error
    )


def _is_update_in_progress(error: ClientError) -> bool:
    return error_code(error) == "ResourceConflictException" and "in progress" in error_message(error).lower()


def _wanted_configuration(
    *,
    role_arn: str,
    handler: str,
    runtime: str,
    timeout: int,
    memory: int,
    environment: dict[str, str],
) -> dict[str, Any]:
    return {
        "Role": role_arn,
        "Handler": handler,
        "Runtime": runtime,
        "Timeout": timeout,
        "MemorySize": memory,
        "Environment": {"Variables": dict(environment)},
    }


def _configuration_diff(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``wanted`` that differ from GetFunction's ``Configuration``."""
    diff: dict[str, Any] = {}
    for key, value in wanted.items():
        if key == "Environment":
            if (current.get("Environment") or {}).get("Variables", {}) != value["Variables"]:
                diff[key] = value
        elif current.get(key) != value:
            diff[key] = value
    return diff


def deploy_function(
    lab: Lab,
    source_dir: Path,
    *,
    component: str,
    handler: str,
    role_arn: str,
    environment: dict[str, str],
    runtime: str | None = None,
    timeout: int = 10,
    memory: int = 256,
    architecture: Architecture = "x86_64",
    log_retention_days: int = 7,
    wait_timeout: float = 300,
) -> FunctionInfo:
    """Build ``source_dir`` and create or converge function ``lab.name(component)``.

    ``runtime`` defaults to the lab's (:func:`helpers.aws.runtime.lambda_runtime`: the Python the lab
    runs on); the dependencies are packaged for that CPython version. Creates its tagged log group
    first. On real AWS, CreateFunction right after CreateRole can fail until IAM propagates the
    role: that error is retried with bounded backoff. When the prefix has its own copy of a repository
    handler (:func:`helpers.core.workspace.open_handler`), that copy is what gets packaged.
    """
    runtime = lambda_runtime(runtime)
    name = lab.name(component)
    # A learner's edited copy of a repository handler (helpers.core.workspace) wins, for this prefix only.
    source = deploy_source(lab.prefix, Path(source_dir))
    package = build_lambda_package(source, python_version=python_version(runtime), architecture=architecture)
    if package.size > DIRECT_UPLOAD_LIMIT:
        raise PackagingError(
            f"{package.zip_path} is {package.size / 2**20:.1f} MiB: above Lambda's {DIRECT_UPLOAD_LIMIT // 2**20} MiB "
            "limit for a direct upload. Trim the requirements (or use a layer/S3 upload)."
        )
    ensure_log_group(lab, name, log_retention_days)
    lam = lab.client("lambda")
    delay = waiter_delay(lab)
    wanted = _wanted_configuration(
        role_arn=role_arn, handler=handler, runtime=runtime, timeout=timeout, memory=memory, environment=environment
    )
    existing = get_function(lab, name)
    created = code_updated = config_updated = False

    if existing is None:
        created = _create(lab, name, package, wanted, architecture)
        if not created:  # somebody else created it meanwhile: converge it below
            existing = get_function(lab, name)
            assert existing is not None
    if created:
        wait_function_active(lam, name, timeout=wait_timeout, delay=delay)
    else:
        assert existing is not None
        configuration = existing["Configuration"]
        if configuration.get("State") == "Pending":
            wait_function_active(lam, name, timeout=wait_timeout, delay=delay)
        if configuration.get("LastUpdateStatus") == "InProgress":
            wait_function_updated(lam, name, timeout=wait_timeout, delay=delay)
        if configuration.get("CodeSha256") != package.sha256_b64 or configuration.get("Architectures", ["x86_64"]) != [
            architecture
        ]:
            _retry_busy(
                lam,
                name,
                wait_timeout,
                delay,
                lambda: lam.update_function_code(
                    FunctionName=name, ZipFile=package.read_bytes(), Architectures=[architecture]
                ),
            )
            wait_function_updated(lam, name, timeout=wait_timeout, delay=delay)
            code_updated = True
        diff = _configuration_diff(configuration, wanted)
        if diff:
            retry_on(
                lambda: _retry_busy(
                    lam,
                    name,
                    wait_timeout,
                    delay,
                    lambda: lam.update_function_configuration(FunctionName=name, **diff),
                ),
                should_retry=_is_role_not_ready,
                timeout=ROLE_PROPAGATION_TIMEOUT,
                what=f"UpdateFunctionConfiguration of {name} (IAM role propagation)",
            )
            wait_function_updated(lam, name, timeout=wait_timeout, delay=delay)
            config_updated = True
        missing = tags_missing(existing.get("Tags") or {}, lab.tags)
        if missing:
            lam.tag_resource(Resource=configuration["FunctionArn"], Tags=missing)

    final = get_function(lab, name)
    if final is None:
        raise RuntimeError(f"Lambda function {name} vanished right after it was deployed")
    configuration = final["Configuration"]
    if configuration.get("CodeSha256") != package.sha256_b64:
        raise RuntimeError(
            f"Lambda function {name} reports CodeSha256 {configuration.get('CodeSha256')} "
            f"after deploying {package.zip_path.name} ({package.sha256_b64})"
        )
    return FunctionInfo.from_configuration(
        configuration, created=created, code_updated=code_updated, config_updated=config_updated
    )


def _create(lab: Lab, name: str, package: Package, wanted: dict[str, Any], architecture: str) -> bool:
    """CreateFunction; False if it already exists. Retries while IAM propagates the role."""
    lam = lab.client("lambda")
    code = package.read_bytes()

    def create() -> None:
        lam.create_function(
            FunctionName=name,
            Code={"ZipFile": code},
            Architectures=[architecture],
            PackageType="Zip",
            Publish=False,
            Description="Order pipeline lab",
            Tags=lab.tags,
            **wanted,
        )

    try:
        retry_on(
            create,
            should_retry=_is_role_not_ready,
            timeout=ROLE_PROPAGATION_TIMEOUT,
            what=f"CreateFunction {name} (IAM role propagation)",
        )
    except ClientError as error:
        if error_code(error) == "ResourceConflictException" and not _is_update_in_progress(error):
            return False
        raise
    return True


def _retry_busy(lam: Any, name: str, wait_timeout: float, delay: float, call: Any) -> Any:
    """Run an update; if another update is still in progress, wait for it, then try once more."""
    try:
        return call()
    except ClientError as error:
        if not _is_update_in_progress(error):
            raise
        wait_function_updated(lam, name, timeout=wait_timeout, delay=delay)
        return call()
