"""'Check your work' cells: friendly, specific verdicts that still fail a headless run.

>>> check = Checklist("Step 1: order ingestion")
>>> check.expect(1 + 1 == 2, "the table exists", hint="run the 'Create the table' cell")
True
>>> check.done()          # prints the verdict; raises CheckFailed if anything failed
✅ Step 1: order ingestion — all 1 checks passed
  ✔ the table exists
"""
from __future__ import annotations

from dataclasses import dataclass, field


class CheckFailed(AssertionError):
    """A 'check your work' cell found something wrong; the message says what to look at."""


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

    def report(self) -> str:
        failed = self.failures
        head = (f"✅ {self.title} — all {len(self.results)} checks passed" if not failed
                else f"❌ {self.title} — {len(failed)} of {len(self.results)} checks failed")
        lines = [head]
        for passed, what, hint in self.results:
            lines.append(f"  {'✔' if passed else '✘'} {what}" + ("" if passed or not hint else f"\n      → {hint}"))
        return "\n".join(lines)

    def done(self) -> None:
        """Print the verdict; raise :class:`CheckFailed` (so papermill/nbval fail) if any check failed."""
        text = self.report()
        print(text)
        if self.failures:
            raise CheckFailed(text)
