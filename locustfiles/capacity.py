"""Stepped capacity load for the Locust web UI (or plain `locust --headless`).

    LOADKIT_API_KEY=sk-... LOADKIT_CAPACITY_MODE=rate LOADKIT_CAPACITY_START=1 \\
    LOADKIT_CAPACITY_MAX=50 LOADKIT_CAPACITY_STEP=5 LOADKIT_CAPACITY_STEP_S=30 \\
        locust -f locustfiles/capacity.py --host https://gateway.example/v1

A linear sweep of steps, each ``LOADKIT_CAPACITY_WARMUP_S + LOADKIT_CAPACITY_STEP_S``
long, watched live in the UI's charts and the LLM tab:

- ``rate`` mode (default): ``LOADKIT_CAPACITY_USERS`` open-loop users (default
  100; give at least peak rate × latency) share the step's rate, each sending
  on a constant schedule of rate / users per second, so the load does not
  adapt to a slow gateway;
- ``concurrency`` mode: the step's level is the number of closed-loop users.

The bisection search, the SLO verdict per step, the knee and the projection
are `loadkit capacity`'s (loadkit.studies.capacity); this file only shapes load.
"""

from __future__ import annotations

import os
import random
import time

from locust import LoadTestShape

from loadkit.workload.arrivals import ArrivalSchedule
from loadkit.locust import ChatUser


def _env(name: str, default: float) -> float:
    return float(os.environ.get(f"LOADKIT_CAPACITY_{name}", default))


MODE = os.environ.get("LOADKIT_CAPACITY_MODE", "rate")
START, MAX, STEP = _env("START", 1), _env("MAX", 50), _env("STEP", 5)
STEP_S, WARMUP_S = _env("STEP_S", 30), _env("WARMUP_S", 5)
RATE_USERS = int(_env("USERS", 100))


def level_at(elapsed_s: float) -> float | None:
    """The step's level (req/s or users) ``elapsed_s`` after the start; None after the last step."""
    level = START + int(elapsed_s // (STEP_S + WARMUP_S)) * STEP
    return level if level <= MAX * (1 + 1e-9) else None


class CapacityShape(LoadTestShape):
    def tick(self):
        level = level_at(self.get_run_time())
        if level is None:
            return None
        users = RATE_USERS if MODE == "rate" else max(1, int(level))
        return users, max(users, 10)


class CapacityUser(ChatUser):
    """Closed loop in concurrency mode; in rate mode, sends on the step's share of the rate."""

    def on_start(self) -> None:
        super().on_start()
        self._step_level: float | None = None
        self._schedule: ArrivalSchedule | None = None
        self._started = getattr(self.environment.runner, "_capacity_started", None) or time.perf_counter()
        if self.environment.runner is not None and not hasattr(self.environment.runner, "_capacity_started"):
            self.environment.runner._capacity_started = self._started

    def intended_send_time(self) -> float | None:
        if MODE != "rate":
            return None
        now = time.perf_counter()
        level = level_at(now - self._started) or MAX
        if level != self._step_level:
            self._step_level = level
            self._schedule = ArrivalSchedule.constant(level / RATE_USERS, now, random.Random())
        return self._schedule.next_intended_at()
