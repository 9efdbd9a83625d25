"""``Lab``: one learner's view of one target — clients, names, tags.

>>> lab = Lab.connect(target="local", prefix="alice")   # starts the local cloud if needed  # doctest: +SKIP
>>> lab.client("dynamodb").list_tables()                                                   # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from helpers import naming
from helpers.session import client as _client
from helpers.target import Target, TargetError, resolve_target


@dataclass(frozen=True)
class Lab:
    """A target plus a learner prefix. Cheap to build; clients are cached per target."""

    target: Target
    prefix: str = naming.DEFAULT_PREFIX
    extra_tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        naming.validate_prefix(self.prefix)

    @classmethod
    def connect(
        cls,
        target: str | None = None,
        prefix: str | None = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        confirm_account: str | None = None,
        start_local: bool = True,
    ) -> "Lab":
        """Resolve the target; for ``local``, make sure the local cloud is running.

        ``prefix`` defaults to ``ORDERLAB_PREFIX`` or ``orderlab``. On ``aws`` nothing is
        created until the account is confirmed: ``confirm_account`` (or
        ``ORDERLAB_CONFIRM_ACCOUNT``) must equal the account the credentials belong to.
        """
        resolved = resolve_target(target, region=region, endpoint_url=endpoint_url, profile=profile)
        if resolved.is_local and start_local:
            import localcloud

            localcloud.start(port=resolved.port)
        lab = cls(resolved, prefix or os.environ.get("ORDERLAB_PREFIX") or naming.DEFAULT_PREFIX)
        if resolved.is_aws:
            lab.confirm_aws_account(confirm_account or os.environ.get("ORDERLAB_CONFIRM_ACCOUNT"))
        return lab

    def confirm_aws_account(self, confirmed: str | None) -> None:
        """Refuse to go on in a real account the learner did not name explicitly."""
        account = self.account_id
        if (confirmed or "").strip() != account:
            raise TargetError(
                f"The aws target would create lab resources (prefix {self.prefix!r}, tagged "
                f"{naming.PROJECT_TAG}={naming.PROJECT}) in AWS account {account}, region {self.region}. "
                f"To confirm, pass confirm_account={account!r} (notebook parameter) or set "
                f"ORDERLAB_CONFIRM_ACCOUNT={account}."
            )

    def client(self, service: str) -> Any:
        """A boto3 client on this lab's target."""
        return _client(service, self.target)

    def name(self, component: str) -> str:
        """``<prefix>-<component>``: the name of one of this lab's resources."""
        return naming.resource_name(self.prefix, component)

    @property
    def tags(self) -> dict[str, str]:
        """The tags every resource of this lab carries."""
        return naming.tags_for(self.prefix, **self.extra_tags)

    @property
    def region(self) -> str:
        return self.target.region

    @cached_property
    def account_id(self) -> str:
        """The account the target's credentials belong to (STS GetCallerIdentity)."""
        return self.client("sts").get_caller_identity()["Account"]
