"""Open-loop chat at a total rate shared by the live workers (the contract ChatUser's open loop must keep).

The total rate R (requests/s, ``OPENLOOP_RATE_TOTAL``) is for the whole run,
not per worker: each worker sends ``share(R, worker_count, worker_index,
its users)`` per user, with ``worker_count``/``worker_index`` from the
master's latest ``loadkit_workers`` broadcast (``Runtime.worker_count``,
``Runtime.worker_index``). Whenever the broadcast or this worker's user count
changes, each user re-plans its schedule from its last intended time, so
when a worker joins or is lost the survivors' rates add up to R again.
"""

from __future__ import annotations

import os
import time

from loadkit.workload.arrivals import ArrivalSchedule, share
from loadkit.locust import ChatUser, get_runtime

RATE_TOTAL = float(os.environ.get("OPENLOOP_RATE_TOTAL", "60"))


class OpenLoopChatUser(ChatUser):
    def on_start(self) -> None:
        super().on_start()
        self._plan: tuple[int, int, int] | None = None
        self._schedule: ArrivalSchedule | None = None

    def intended_send_time(self) -> float:
        rt = get_runtime()
        count = max(1, rt.worker_count)
        index = min(rt.worker_index or 0, count - 1)
        users = max(1, self.environment.runner.user_count)
        plan = (count, index, users)
        if plan != self._plan:
            start = self._schedule.next_intended_at() if self._schedule else time.perf_counter()
            self._schedule = ArrivalSchedule.constant(share(RATE_TOTAL, count, index, users), start, self.rng)
            self._plan = plan
        return self._schedule.next_intended_at()
