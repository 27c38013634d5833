"""Sleeping until absolute deadlines with sub-millisecond accuracy at low load.

Event-loop timers are millisecond-grained (uvloop's clock is cached in whole
ms, so its timers fire up to ~1 ms early or late; the default loop rounds
epoll timeouts up).  `sleep_until` sleeps on the loop until ``SPIN_WINDOW_S``
before the deadline, then yields to the loop (``sleep(0)``) until the
monotonic clock passes it.  Spinning only happens while few waits are
pending (``MAX_SPINNERS``), so under heavy load it degrades to plain timer
accuracy instead of burning the core.
"""

from __future__ import annotations

import asyncio
import time

SPIN_WINDOW_S = 0.0025
MAX_SPINNERS = 16

now_s = time.monotonic
_spinners = 0


async def sleep_until(deadline_s: float) -> None:
    """Return at (not before) the monotonic time ``deadline_s``, in seconds."""
    global _spinners
    remaining = deadline_s - now_s()
    if remaining <= 0:
        return
    if remaining > SPIN_WINDOW_S:
        await asyncio.sleep(remaining - SPIN_WINDOW_S)
    if _spinners >= MAX_SPINNERS:
        while (remaining := deadline_s - now_s()) > 0:
            await asyncio.sleep(remaining)
        return
    _spinners += 1
    try:
        while now_s() < deadline_s:
            await asyncio.sleep(0)
    finally:
        _spinners -= 1
