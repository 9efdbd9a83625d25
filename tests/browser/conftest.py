"""Browser fixtures: one headless Chromium (Debian's chromium + chromedriver, via Selenium) per module.

Skipped, with the reason, when Chromium or chromedriver is missing — unless
``ORDERLAB_REQUIRE_BROWSER`` is set (``make test`` and CI set it): then a missing browser is a failure.
Screenshots go to ``test-artifacts/browser/`` for a reviewer to look at.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.browser import missing_browser_message

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"


def browser_required() -> bool:
    return os.environ.get("ORDERLAB_REQUIRE_BROWSER", "").strip().lower() not in ("", "0", "false", "no")


def need_browser() -> None:
    """Skip (or fail, when the browser is required) if Chromium/chromedriver/selenium are missing."""
    problem = missing_browser_message()
    if problem is None:
        try:
            import selenium  # noqa: F401
        except ImportError:
            problem = "The Python package selenium is not installed (it is a main dependency: pip install -e .)"
    if problem is None:
        return
    if browser_required():
        pytest.fail(f"ORDERLAB_REQUIRE_BROWSER is set but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    need_browser()
    from helpers.browser import chromium_driver

    with chromium_driver(width=1100, height=900) as web:
        yield web
