"""Waiting in tests: poll for a condition with a deadline, never a fixed sleep.

    wait_until(lambda: sim.stats()["chat_requests_total"] >= 20, 30, what="traffic through the proxy")
    summary = wait_stable(lambda: httpx.get(url).json(), 20, what="the final summary")
    hold_for(0.6, "idle longer than --idle-s 0.5, so the next request is cold")

``hold_for`` is for the sleeps that ARE the behaviour under test (an idle gap, load running before a fault):
it says why in the call, so ``grep -rn 'sleep(' tests`` finds only servers, pacing and these helpers.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

__all__ = ["wait_until", "wait_stable", "hold_for"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.05,
               ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """``predicate()``'s first truthy value, polled every ``interval_s`` until ``timeout_s``.

    Exceptions in ``ignoring`` (e.g. ``httpx.HTTPError`` while a server starts) count as "not yet".
    Past the deadline: AssertionError naming ``what``, the time waited and the last value or exception.
    """
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except ignoring as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what} (last: {last!r})")
        time.sleep(interval_s)


def wait_stable(read: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.5) -> T:
    """``read()``'s value once two reads ``interval_s`` apart agree (numbers that stopped moving)."""
    previous: list[Any] = [object()]

    def settled() -> Any:
        current = read()
        same = current == previous[0]
        previous[0] = current
        return (current,) if same else None

    return wait_until(settled, timeout_s, f"{what} to stop changing", interval_s)[0]


def hold_for(duration_s: float, why: str) -> None:
    """Let ``duration_s`` pass on purpose: the elapsed time is the behaviour under test (``why`` says which)."""
    assert why, "say why the test lets time pass"
    time.sleep(duration_s)
