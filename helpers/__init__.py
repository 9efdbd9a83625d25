"""The Order Pipeline Lab's small library: what the notebooks import.

>>> from helpers import Lab
>>> lab = Lab.connect(target="local", prefix="alice")   # doctest: +SKIP
>>> lab.name("orders")
'alice-orders'
"""

from helpers.core.lab import Lab, show_plan_with
from helpers.core.target import Target, TargetError, resolve_target
from helpers.learn.plan import plan_text

# The account gate (core) shows the plan (learn) without importing it.
show_plan_with(plan_text)

__all__ = ["Lab", "Target", "TargetError", "resolve_target"]
