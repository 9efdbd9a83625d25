"""The Order Pipeline Lab's small library: what the notebooks import.

>>> from helpers import Lab
>>> lab = Lab.connect(target="local", prefix="alice")   # doctest: +SKIP
>>> lab.name("orders")
'alice-orders'
"""
from helpers.core.lab import Lab
from helpers.core.target import Target, TargetError, resolve_target

__all__ = ["Lab", "Target", "TargetError", "resolve_target"]
