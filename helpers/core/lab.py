"""``Lab``: one learner's view of one target — clients, names, tags — and the account safety gate.

>>> lab = Lab.connect(target="local", prefix="alice")   # starts the local cloud if needed  # doctest: +SKIP
>>> lab.client("dynamodb").list_tables()                                                   # doctest: +SKIP

On a real account (``target="aws"``) nothing is created until the learner has named both the
account and the region the credentials point at — ``ORDERLAB_CONFIRM_ACCOUNT`` and
``ORDERLAB_CONFIRM_REGION`` (or ``confirm_account=`` / ``confirm_region=``). Until then
:meth:`Lab.connect` refuses with :class:`AccountNotConfirmed`, whose message shows the account,
the region and the plan (what the series creates, what it costs), and an unconfirmed ``Lab`` hands
out no client but STS. ``ORDERLAB_REQUIRE_CONFIRMATION=1`` (or ``require_confirmation=True``)
turns the same gate on for the other targets, so it can be tried on the local cloud:

>>> Lab.connect("local", "alice", require_confirmation=True)                               # doctest: +SKIP
Traceback (most recent call last):
...
helpers.core.lab.AccountNotConfirmed: Not confirmed: the lab would create resources in account 000000000000, ...
>>> Lab.connect("local", "alice", require_confirmation=True,                               # doctest: +SKIP
...             confirm_account="000000000000", confirm_region="us-east-1")
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import localcloud
from helpers.core import naming
from helpers.core.session import client as _client
from helpers.core.target import Target, TargetError, resolve_target

__all__ = [
    "CONFIRM_ACCOUNT_ENV",
    "CONFIRM_REGION_ENV",
    "REQUIRE_CONFIRMATION_ENV",
    "AccountNotConfirmed",
    "Lab",
    "show_plan_with",
]

CONFIRM_ACCOUNT_ENV = "ORDERLAB_CONFIRM_ACCOUNT"
CONFIRM_REGION_ENV = "ORDERLAB_CONFIRM_REGION"
REQUIRE_CONFIRMATION_ENV = "ORDERLAB_REQUIRE_CONFIRMATION"
# Read-only calls that tell where the credentials point; allowed before the confirmation.
_BEFORE_CONFIRMATION = frozenset({"sts"})
_REGION_ENVS = ("ORDERLAB_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")


# What an unconfirmed connection shows of what it would create. The plan reads the catalog, above this
# layer, so it is handed in: helpers/__init__.py installs helpers.learn.plan.plan_text.
def _no_plan(lab: Lab) -> str:
    return ""


_plan_text: Callable[[Lab], str] = _no_plan


def show_plan_with(plan_text: Callable[[Lab], str]) -> None:
    """Let :meth:`Lab.confirm`'s refusal show ``plan_text(lab)``: what the series would create, and its cost."""
    global _plan_text
    _plan_text = plan_text


class AccountNotConfirmed(TargetError):
    """The learner has not confirmed this account and region; ``plan`` is what would be created there."""

    def __init__(self, message: str, *, account: str, region: str, plan: str = "") -> None:
        super().__init__(message)
        self.account = account
        self.region = region
        self.plan = plan

    def _render_traceback_(self) -> list[str]:  # Jupyter shows the sentence and the plan, no stack trace
        return str(self).splitlines()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _configured_region(profile: str | None) -> str | None:
    """The region of the AWS config profile (``region = ...`` in ~/.aws/config), if it names one."""
    import botocore.session
    from botocore.exceptions import ProfileNotFound

    try:
        return botocore.session.Session(profile=profile).get_config_variable("region")
    except ProfileNotFound:
        raise TargetError(f"AWS profile {profile!r} is not in your AWS config (aws configure list-profiles)") from None


@dataclass(frozen=True)
class Lab:
    """A target plus a learner prefix. Cheap to build; clients are cached per target.

    ``require_confirmation`` (default: always on ``aws``, elsewhere ``ORDERLAB_REQUIRE_CONFIRMATION``)
    and ``confirmed`` are the account safety gate: see the module docstring.
    """

    target: Target
    prefix: str = naming.DEFAULT_PREFIX
    extra_tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    require_confirmation: bool = field(default_factory=lambda: _env_flag(REQUIRE_CONFIRMATION_ENV), compare=False)
    confirmed: bool = field(default=False, compare=False)

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
        confirm_region: str | None = None,
        require_confirmation: bool | None = None,
        start_local: bool = True,
        announce: Callable[[str], None] | None = print,
    ) -> Lab:
        """Resolve the target; for ``local``, make sure the local cloud is running.

        ``prefix`` defaults to ``ORDERLAB_PREFIX`` or ``orderlab``. On ``aws`` (and wherever
        ``require_confirmation`` is on) the account and region must be confirmed —
        ``confirm_account``/``confirm_region`` or ``ORDERLAB_CONFIRM_ACCOUNT``/``ORDERLAB_CONFIRM_REGION``
        must equal the account the credentials belong to and the region in use — else
        :class:`AccountNotConfirmed` is raised (with the plan) before anything is created.
        Once confirmed, ``announce`` (default ``print``) gets one line saying where the lab works.
        On ``aws`` the region is, in order: ``region``, ``ORDERLAB_REGION``, ``AWS_REGION``,
        ``AWS_DEFAULT_REGION``, the profile's configured region, ``us-east-1``.
        """
        resolved = resolve_target(target, region=region, endpoint_url=endpoint_url, profile=profile)
        if resolved.is_aws and region is None and not any(os.environ.get(name) for name in _REGION_ENVS):
            configured = _configured_region(resolved.profile)
            if configured and configured != resolved.region:
                resolved = resolve_target(target, region=configured, endpoint_url=endpoint_url, profile=profile)
        if resolved.is_local and start_local:
            started = localcloud.start(port=resolved.port)
            if started.note and announce is not None:  # e.g. recovered from a crash: what may be lost
                announce(f"local cloud: {started.note}")
        lab = cls(resolved, prefix or os.environ.get("ORDERLAB_PREFIX") or naming.DEFAULT_PREFIX)
        if require_confirmation is not None:
            lab = replace(lab, require_confirmation=require_confirmation)
        if lab.needs_confirmation:
            lab = lab.confirm(
                confirm_account if confirm_account is not None else os.environ.get(CONFIRM_ACCOUNT_ENV),
                confirm_region if confirm_region is not None else os.environ.get(CONFIRM_REGION_ENV),
            )
            if announce is not None:
                announce(lab.banner())
        return lab

    @property
    def needs_confirmation(self) -> bool:
        """True on ``aws`` always, elsewhere when ``require_confirmation`` is on."""
        return self.target.is_aws or self.require_confirmation

    def confirm(self, account: str | None, region: str | None) -> Lab:
        """This lab, confirmed — if ``account`` and ``region`` are exactly where its credentials point.

        Raises :class:`AccountNotConfirmed` otherwise, with the plan in the message. Creates nothing.
        """
        actual = self.account_id
        wrong = []
        if (account or "").strip() != actual:
            wrong.append(f"account (you confirmed {account.strip()!r})" if account else "account")
        if (region or "").strip() != self.region:
            wrong.append(f"region (you confirmed {region.strip()!r})" if region else "region")
        if not wrong:
            confirmed = replace(self, confirmed=True)
            confirmed.__dict__["account_id"] = actual  # cached_property: no second STS call
            return confirmed

        plan = _plan_text(self)
        raise AccountNotConfirmed(
            f"Not confirmed: the lab would create resources in account {actual}, region {self.region} "
            f"({self.target.describe()}), named {self.prefix}-* and tagged {naming.PROJECT_TAG}={naming.PROJECT}, "
            f"{naming.PREFIX_TAG}={self.prefix}. Unconfirmed: {' and '.join(wrong)}. Nothing has been created.\n"
            f"To go ahead, set {CONFIRM_ACCOUNT_ENV}={actual} and {CONFIRM_REGION_ENV}={self.region} (or pass "
            f"confirm_account={actual!r}, confirm_region={self.region!r}).\n\n{plan}",
            account=actual,
            region=self.region,
            plan=plan,
        )

    def banner(self) -> str:
        """One line: where this lab creates things, under which names and tags."""
        where = f"account {self.account_id}, region {self.region}" if self.confirmed else self.target.describe()
        return (
            f"Confirmed: {where} ({self.target.describe()}); resources named {self.prefix}-*, tagged "
            f"{naming.PROJECT_TAG}={naming.PROJECT}, {naming.PREFIX_TAG}={self.prefix}. "
            f"Delete them with cleanup.ipynb."
        )

    def client(self, service: str) -> Any:
        """A boto3 client on this lab's target (only STS until an account that needs it is confirmed)."""
        if self.needs_confirmation and not self.confirmed and service not in _BEFORE_CONFIRMATION:
            raise AccountNotConfirmed(
                f"This lab's account and region are not confirmed: no {service} client. Use "
                f"Lab.connect(..., confirm_account=..., confirm_region=...) (or {CONFIRM_ACCOUNT_ENV} and "
                f"{CONFIRM_REGION_ENV}).",
                account="?",
                region=self.region,
            )
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
        return str(_client("sts", self.target).get_caller_identity()["Account"])
