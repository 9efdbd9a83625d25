"""'Check your work' cells: friendly, specific verdicts that still fail a headless run.

>>> check = Checklist("Step 1: order ingestion")
>>> check.expect(1 + 1 == 2, "the table exists", hint="run the 'Create the table' cell")
True
>>> check.done()          # prints the verdict; raises CheckFailed if anything failed
✅ Step 1: order ingestion — all 1 checks passed
  ✔ the table exists

A failed check raises :class:`CheckFailed`; in Jupyter it is shown as the verdict alone (no stack
trace: IPython renders an exception's ``_render_traceback_``), while papermill, nbval and the
class report still see the cell fail with the verdict as the message.

Long waits in checks and exercises: :func:`wait_for` shows a progress bar (tqdm) and, when time is
up, fails with what it waited for and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from helpers.core.errors import FriendlyError
from helpers.core.progress import progress_bar
from helpers.core.waiters import WaitTimeout, wait_until

T = TypeVar("T")


class CheckFailed(FriendlyError, AssertionError):
    """A 'check your work' cell found something wrong; the message says what to look at."""


class WaitedTooLong(FriendlyError, TimeoutError):
    """:func:`wait_for` ran out of time; the message says what was awaited and what to do."""


@dataclass
class Checklist:
    title: str
    results: list[tuple[bool, str, str]] = field(default_factory=list)

    def expect(self, condition: object, what: str, *, hint: str = "") -> bool:
        """Record one check: ``what`` should hold; ``hint`` says what to do when it does not."""
        passed = bool(condition)
        self.results.append((passed, what, hint))
        return passed

    @property
    def failures(self) -> list[tuple[bool, str, str]]:
        return [r for r in self.results if not r[0]]

    @property
    def passed(self) -> bool:
        return bool(self.results) and not self.failures

    def report(self) -> str:
        failed = self.failures
        head = (
            f"✅ {self.title} — all {len(self.results)} checks passed"
            if not failed
            else f"❌ {self.title} — {len(failed)} of {len(self.results)} checks failed"
        )
        lines = [head]
        for passed, what, hint in self.results:
            lines.append(f"  {'✔' if passed else '✘'} {what}" + ("" if passed or not hint else f"\n      → {hint}"))
        return "\n".join(lines)

    def done(self) -> None:
        """Print the verdict; raise :class:`CheckFailed` (so papermill/nbval fail) if any check failed.

        >>> check = Checklist("Demo")
        >>> check.expect(False, "the queue is empty", hint="run the worker cell again")
        False
        >>> check.done()
        Traceback (most recent call last):
        ...
        helpers.learn.checks.CheckFailed: ❌ Demo — 1 of 1 checks failed
          ✘ the queue is empty
              → run the worker cell again
        """
        text = self.report()
        if not self.failures:
            print(text)
            return
        # Not printed here: Jupyter shows the exception as exactly this text (no stack trace), and
        # printing it as well would show the verdict twice.
        raise CheckFailed(text)


def wait_for(
    condition: Callable[[], T | bool | None],
    *,
    timeout: float,
    what: str,
    hint: str,
    interval: float = 0.5,
    progress: bool = True,
) -> T:
    """Call ``condition`` until it returns something truthy (returned), with a tqdm bar of the seconds.

    On timeout raises :class:`WaitedTooLong` saying what was awaited, for how long, and ``hint``
    (what to do). Exceptions from ``condition`` propagate.

    >>> wait_for(lambda: "ready", timeout=1, what="the queue to drain", hint="x", progress=False)
    'ready'
    >>> wait_for(lambda: False, timeout=0.2, interval=0.05, what="pigs to fly", hint="try wings", progress=False)
    Traceback (most recent call last):
    ...
    helpers.learn.checks.WaitedTooLong: ⏱ Gave up after 0.2 s waiting for pigs to fly. What to do: try wings
    """
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0, got {timeout}")
    start = time.monotonic()
    bar: Any = progress_bar(
        total=round(timeout),
        desc=f"waiting for {what}",
        unit="s",
        disable=not progress,
        leave=False,
        bar_format="{desc}: {n:.0f}/{total} s {bar}",
    )

    def tick() -> None:
        bar.n = min(time.monotonic() - start, timeout)
        bar.refresh()

    try:
        return wait_until(condition, timeout=timeout, interval=interval, what=what, on_wait=tick)
    except WaitTimeout:
        raise WaitedTooLong(f"⏱ Gave up after {timeout:g} s waiting for {what}. What to do: {hint}") from None
    finally:
        bar.close()
