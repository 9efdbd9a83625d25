"""Errors a learner reads as a sentence (no stack trace in Jupyter)."""

from __future__ import annotations

__all__ = ["FriendlyError"]


class FriendlyError(Exception):
    """An error a learner should read as a sentence: Jupyter shows its message without a stack trace."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook (InteractiveShell.showtraceback)
        return str(self).splitlines() or [type(self).__name__]
