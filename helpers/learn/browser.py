"""Headless Chromium for the lab: screenshots of the order page, and the browser the tests drive.

Uses Debian's ``chromium`` and ``chromium-driver`` packages (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) through Selenium — nothing is downloaded at run time.
Install them with ``scripts/install-browser.sh`` (``make test`` runs it).

>>> ensure_browser()                                                         # doctest: +SKIP
True
>>> screenshot("http://127.0.0.1:8000/", "page.png")                         # doctest: +SKIP
PosixPath('page.png')
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

__all__ = [
    "APT_PACKAGES",
    "CHROMEDRIVER",
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "BrowserMissing",
    "chromium_driver",
    "ensure_browser",
    "missing_browser_message",
    "save_screenshot",
    "screenshot",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")
# Headless, no sandbox (containers, root), and nothing that would reach the internet by itself.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
# How often to check a page's state while waiting for it: Selenium's default of 0.5 s made each
# wait for a page that is ready a moment later last up to half a second longer.
PAGE_POLL_SECONDS = 0.1

Action = Callable[["WebDriver"], Any]


class BrowserMissing(RuntimeError):
    """Chromium or chromedriver is not installed; the message says how to install them."""


def missing_browser_message() -> str | None:
    """None when both are installed; otherwise what is missing and the command that installs it."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not (path.is_file() and os.access(path, os.X_OK))]
    if not missing:
        return None
    return (
        f"Headless Chromium is not available: {', '.join(missing)} missing. Install Debian's packages "
        f"{' and '.join(APT_PACKAGES)}: `sudo apt-get install -y --no-install-recommends {' '.join(APT_PACKAGES)}` "
        "(or run scripts/install-browser.sh)."
    )


def ensure_browser() -> bool:
    """Whether ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` are both there."""
    return missing_browser_message() is None


@contextlib.contextmanager
def chromium_driver(*, width: int = 1100, height: int = 900, page_load_timeout: float = 30) -> Iterator[WebDriver]:
    """A Selenium WebDriver on a fresh headless Chromium (its own throw-away profile); quit on exit."""
    problem = missing_browser_message()
    if problem:
        raise BrowserMissing(problem)
    try:
        # selenium on use: a browser is optional (no screenshot without one)
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:  # pragma: no cover - selenium is a main dependency
        raise BrowserMissing("The Python package selenium is missing: pip install 'selenium>=4.20,<5'") from error

    profile = tempfile.mkdtemp(prefix="orderlab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(page_load_timeout)
        yield driver
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _fit_to_page(driver: WebDriver, width: int, height: int, max_height: int = 6000) -> None:
    full = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    inner = driver.execute_script("return window.innerHeight")
    outer = driver.get_window_size()["height"]
    wanted = min(max_height, max(height, int(full) + (outer - int(inner))))
    if wanted != outer:
        driver.set_window_size(width, wanted)


def save_screenshot(driver: WebDriver, path: str | os.PathLike[str], *, full_page: bool = True) -> Path:
    """Save a PNG of the current page (the whole page when ``full_page``); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if full_page:
        size = driver.get_window_size()
        _fit_to_page(driver, size["width"], size["height"])
    if not driver.save_screenshot(str(target)):
        raise RuntimeError(f"Chromium could not save a screenshot to {target}")
    return target


def screenshot(
    url: str,
    path: str | os.PathLike[str],
    *,
    width: int = 1100,
    height: int = 900,
    actions: Action | Iterable[Action] | None = None,
    full_page: bool = False,
) -> Path:
    """Open ``url`` in headless Chromium, run ``actions`` (callables taking the driver), save a PNG.

    Waits for the page's ``load`` event (and for the order page's ``data-ready`` flag when it has one).

    >>> def fill(driver):                                                   # doctest: +SKIP
    ...     driver.find_element("id", "customer-name").send_keys("Ada")
    >>> screenshot("http://127.0.0.1:8000/", "form.png", actions=fill)     # doctest: +SKIP
    """
    # selenium on use: a browser is optional
    from selenium.webdriver.support.ui import WebDriverWait

    steps: list[Action] = [] if actions is None else [actions] if callable(actions) else list(actions)
    with chromium_driver(width=width, height=height) as driver:
        driver.get(url)
        WebDriverWait(driver, 10, poll_frequency=PAGE_POLL_SECONDS).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        if driver.execute_script("return document.getElementById('order-form') !== null"):
            WebDriverWait(driver, 10, poll_frequency=PAGE_POLL_SECONDS).until(
                lambda d: d.execute_script("return document.documentElement.dataset.ready === 'true'")
            )
        for step in steps:
            step(driver)
        return save_screenshot(driver, path, full_page=full_page)
