"""Real headless Chromium for the report and web UI tests (Playwright driving /usr/bin/chromium).

Never skips: without Chromium or Playwright the test fails with the install command.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

from tests.support.waits import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium", "poll", "start_from_form"]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A launched Playwright Chromium browser, closed on exit."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install it with `apt-get install -y chromium` (browser tests never skip)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: /work/main/.venv/bin/pip install playwright")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def start_from_form(page: Any, url: str, users: int, spawn_rate: int | None = None,
                    custom: dict[str, str] | None = None) -> None:
    """Open the Locust web UI at ``url`` and press Start with ``users`` (and its "Custom parameters")."""
    page.goto(url)
    page.fill("input[name=userCount]", str(users))
    page.fill("input[name=spawnRate]", str(spawn_rate or users))
    if custom:
        page.get_by_text("Custom parameters").click()
        for name, value in custom.items():
            page.fill(f"input[name={name}]", value)
    page.get_by_role("button", name="Start").click()


def poll(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    """``condition()``'s first truthy value, polled until ``timeout_s``; AssertionError naming ``what`` after."""
    return wait_until(condition, timeout_s, what, interval_s)
