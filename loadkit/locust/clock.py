"""The open-loop clock: when this process's next request is due."""

from __future__ import annotations

import random
import time

from loadkit.settings import Settings
from loadkit.workload.arrivals import ArrivalSchedule

__all__ = ["OpenLoopClock", "RequestBudget"]


class OpenLoopClock:
    """One schedule per process, shared by its users: any free user takes the next arrival, so a slow reply
    never delays later arrivals (no coordinated omission); when no user is free, the lateness shows up as
    schedule lag. The process's rate is the run's rate over the live worker count, rebuilt from "now" when
    workers join or leave."""

    def __init__(self) -> None:
        self.schedule: ArrivalSchedule | None = None
        self.worker_index: int | None = None
        self.worker_count = 1  # live workers the master last announced
        self._last_intended_at = 0.0

    def next_intended_at(self, settings: Settings, run_id: str) -> float | None:
        """The perf_counter time the next request is due (None: closed loop)."""
        if settings.arrival == "closed":
            return None
        rate = settings.rate_per_s / max(1, self.worker_count)
        now = time.perf_counter()
        if self.schedule is None or self.schedule.rate_per_s != rate:
            start = now if self.schedule is None else max(now, self._last_intended_at)
            rng = random.Random(f"{run_id}:{self.worker_index or 0}")
            self.schedule = ArrivalSchedule(settings.arrival, rate, start, rng)
        self._last_intended_at = self.schedule.next_intended_at()
        return self._last_intended_at


class RequestBudget:
    """``--max-requests``: the requests this process may still start. A run's budget is split over the live
    workers as the open-loop rate is (worker ``i`` of ``n`` takes ``N // n``, plus one when ``i < N % n``),
    so the run starts exactly N requests; retries of a started request are not new requests."""

    def __init__(self) -> None:
        self.started = 0
        self.stop_sent = False  # the process asked Locust to end the run

    @staticmethod
    def share(total: int, worker_index: int | None, worker_count: int) -> int:
        """This process's part of ``total``: all of it for a local run (no index)."""
        if worker_index is None or worker_count <= 1:
            return total
        return total // worker_count + (1 if worker_index < total % worker_count else 0)

    def take(self, settings: Settings, worker_index: int | None, worker_count: int) -> bool:
        """Reserve one request; False once this process's share is started (always True without a limit)."""
        if not settings.max_requests:
            return True
        if self.started >= self.share(settings.max_requests, worker_index, worker_count):
            return False
        self.started += 1
        return True

    def spent(self, settings: Settings, worker_index: int | None, worker_count: int) -> bool:
        """True when a limit is set and this process has started its whole share."""
        return bool(settings.max_requests) and \
            self.started >= self.share(settings.max_requests, worker_index, worker_count)
