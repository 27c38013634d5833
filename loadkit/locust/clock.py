"""The open-loop clock: when this process's next request is due."""

from __future__ import annotations

import random
import time

from loadkit.settings import Settings
from loadkit.workload.arrivals import ArrivalSchedule

__all__ = ["OpenLoopClock"]


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
