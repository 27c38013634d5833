"""Sleeping until absolute deadlines with sub-millisecond accuracy at low load.

Event-loop timers are millisecond-grained: uvloop's clock is cached in whole
ms, so its timers fire up to ~1 ms early or late, and the default loop
rounds epoll timeouts up to the next ms.  `sleep_until` sleeps on the loop
until ``FINE_WINDOW_S`` before the deadline, then finishes with a blocking
high-resolution ``time.sleep`` (clock_nanosleep).  The blocking part holds
the loop for at most ``FINE_WINDOW_S`` and is only used while few timed
waits are pending (``MAX_FINE_WAITERS``); under heavy load every wait stays
on the loop and timing degrades to timer accuracy instead of stalling I/O.
A blocking sleep beats spinning on ``sleep(0)``: it gives the CPU away, and
the kernel's wakeup preemption gets a sleeper back on time even when other
processes keep the cores busy.
"""

from __future__ import annotations

import asyncio
import time

FINE_WINDOW_S = 0.0015
MAX_FINE_WAITERS = 8

now_s = time.monotonic
_pending = 0


async def sleep_until(deadline_s: float) -> None:
    """Return at (not before) the monotonic time ``deadline_s``, in seconds."""
    global _pending
    remaining = deadline_s - now_s()
    if remaining <= 0:
        return
    _pending += 1
    try:
        if remaining > FINE_WINDOW_S:
            await asyncio.sleep(remaining - FINE_WINDOW_S)
        if _pending <= MAX_FINE_WAITERS:
            remaining = deadline_s - now_s()
            if remaining > 0:
                time.sleep(remaining)
            return
        while (remaining := deadline_s - now_s()) > 0:
            await asyncio.sleep(remaining)
    finally:
        _pending -= 1
