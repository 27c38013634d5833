"""Per-model service state: FIFO capacity slots and cold/warm tracking."""

from __future__ import annotations

import asyncio
from collections import deque


class QueueTimeout(Exception):
    """A request waited longer than ``--queue-timeout-s`` for a service slot."""


class ModelCapacity:
    """At most ``limit`` requests in service at once; the rest wait FIFO."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.in_service = 0
        self._waiters: deque[asyncio.Future] = deque()

    async def acquire(self, timeout_s: float | None) -> bool:
        """Wait for a slot (FIFO); return True when it had to queue.

        Raises `QueueTimeout` after ``timeout_s`` in the queue."""
        if self.limit is None:
            return False
        if self.in_service < self.limit and not self._waiters:
            self.in_service += 1
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if timeout_s is None:
                await waiter
            else:
                await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up
            else:
                waiter.cancel()
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            if isinstance(exc, asyncio.TimeoutError):
                raise QueueTimeout() from None
            raise
        return True

    def release(self) -> None:
        """Free a slot, handing it straight to the oldest waiter."""
        if self.limit is None:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # slot transfers; in_service unchanged
                return
        self.in_service -= 1


class ColdTracker:
    """Cold = first request to a model, or first after it was idle >= idle_s."""

    def __init__(self, idle_s: float):
        self.idle_s = idle_s
        self._last_activity_s: dict[str, float] = {}
        self._active: dict[str, int] = {}

    def begin(self, model: str, now_s: float) -> bool:
        """Mark a request to a model starting; return True when it is cold."""
        last = self._last_activity_s.get(model)
        cold = last is None or (self._active.get(model, 0) == 0 and now_s - last >= self.idle_s)
        self._last_activity_s[model] = now_s
        self._active[model] = self._active.get(model, 0) + 1
        return cold

    def end(self, model: str, now_s: float) -> None:
        """Mark a request to a model finished (activity ends now)."""
        self._last_activity_s[model] = now_s
        self._active[model] = self._active.get(model, 1) - 1
