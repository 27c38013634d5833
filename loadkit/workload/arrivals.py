"""Arrival schedules: when each request is meant to be sent.

Closed loop: each user sends, waits for the answer, thinks, sends again — the
load adapts to the server. Open loop: requests are due at a target rate
whatever the server does, so a slow server meets a queue, as real traffic
would. An open-loop schedule is a sequence of absolute *intended* send times
(``time.perf_counter`` seconds) from a seeded generator: a request sent late
does not push the next ones later, so latency measured from the intended time
is free of coordinated omission and ``sent - intended`` (the schedule lag)
shows when the generator itself cannot keep up.

A total rate R is shared by W workers with U users each: every worker gets
R / W and each of its users R / (W * U); superposed, the users' Poisson
streams form a Poisson stream at R (and constant ones a rate-R comb, staggered
by a random phase per user).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from loadkit.core.trust import MAX_CPU_PERCENT, MAX_SCHEDULE_LAG_P99_MS

__all__ = [
    "ArrivalSchedule",
    "ThinkTime",
    "share",
    "assess_schedule",
    "MAX_TRUSTED_LAG_P99_MS",
    "MAX_TRUSTED_CPU_PERCENT",
]

# The public names of the run's trust limits (kept for locustfiles that import them): one set of limits,
# loadkit.core.trust's, which is what judges every run.
MAX_TRUSTED_LAG_P99_MS = MAX_SCHEDULE_LAG_P99_MS
MAX_TRUSTED_CPU_PERCENT = MAX_CPU_PERCENT


def share(rate_total: float, n_workers: int, worker_index: int, n_users: int) -> float:
    """Requests/s each of the ``n_users`` users of worker ``worker_index`` must send.

    Every worker gets an equal part of ``rate_total`` (requests/s) whatever its
    user count, so the parts add up to the total even when Locust spreads
    users unevenly.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1 (got {n_workers})")
    if not 0 <= worker_index < n_workers:
        raise ValueError(f"worker_index must be in 0..{n_workers - 1} (got {worker_index})")
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1 (got {n_users})")
    if rate_total < 0 or math.isnan(rate_total):
        raise ValueError(f"rate_total must be >= 0 requests/s (got {rate_total})")
    return rate_total / n_workers / n_users


class ArrivalSchedule:
    """Intended send times of one user's open-loop stream (perf_counter seconds)."""

    __slots__ = ("kind", "rate_per_s", "start_at", "_rng", "_index", "_phase_s", "_last_at")

    def __init__(self, kind: str, rate_per_s: float, start_at: float, rng: random.Random, stagger: bool = True):
        if kind not in ("constant", "poisson"):
            raise ValueError(f"arrival kind {kind!r} is not constant or poisson")
        if not rate_per_s > 0 or math.isinf(rate_per_s):
            raise ValueError(f"rate must be a positive number of requests/s (got {rate_per_s})")
        self.kind = kind
        self.rate_per_s = float(rate_per_s)
        self.start_at = float(start_at)
        self._rng = rng
        self._index = 0
        # A random phase keeps users of a constant schedule from firing together.
        self._phase_s = rng.uniform(0.0, 1.0 / rate_per_s) if (stagger and kind == "constant") else 0.0
        self._last_at = self.start_at

    @classmethod
    def constant(cls, rate_per_s: float, start_at: float, rng: random.Random, *, stagger: bool = True) -> "ArrivalSchedule":
        """One request every ``1/rate_per_s`` seconds from ``start_at`` (+ a random phase if ``stagger``)."""
        return cls("constant", rate_per_s, start_at, rng, stagger)

    @classmethod
    def poisson(cls, rate_per_s: float, start_at: float, rng: random.Random) -> "ArrivalSchedule":
        """Exponential gaps with mean ``1/rate_per_s`` seconds from ``start_at``."""
        return cls("poisson", rate_per_s, start_at, rng, False)

    def next_intended_at(self) -> float:
        """The next intended send time, perf_counter seconds (never earlier than the previous one)."""
        if self.kind == "constant":
            # Computed from the index, not accumulated, so there is no float drift.
            at = self.start_at + self._phase_s + self._index / self.rate_per_s
        else:
            at = self._last_at + self._rng.expovariate(self.rate_per_s)
        self._index += 1
        self._last_at = at
        return at

    def wait(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> float:
        """Sleep until the next intended time (not at all when already late); returns that time."""
        at = self.next_intended_at()
        delay = at - clock()
        if delay > 0:
            sleep(delay)
        return at


class ThinkTime:
    """Closed-loop pause between a user's answer and its next request, seconds.

    ``kind``: ``fixed`` (always ``mean_s``) or ``exponential`` (mean ``mean_s``).
    """

    __slots__ = ("mean_s", "kind", "_rng")

    def __init__(self, mean_s: float, rng: random.Random, kind: str = "fixed"):
        if mean_s < 0:
            raise ValueError(f"think time must be >= 0 s (got {mean_s})")
        if kind not in ("fixed", "exponential"):
            raise ValueError(f"think time kind {kind!r} is not fixed or exponential")
        self.mean_s, self.kind, self._rng = float(mean_s), kind, rng

    def next_s(self) -> float:
        """Seconds to pause before the next request."""
        if self.mean_s == 0 or self.kind == "fixed":
            return self.mean_s
        return self._rng.expovariate(1.0 / self.mean_s)


def assess_schedule(lag_p99_ms: float | None, cpu_percent: float | None) -> list[str]:
    """Warnings that make a run untrusted (empty list: the generator kept its schedule), by the run's own limits
    (loadkit.core.trust); a run's summary is judged by ``loadkit.core.trust.judge``, which also weighs loop lag,
    CPU over time and the timing error.

    ``lag_p99_ms`` is the p99 of sent - intended (ms) of an open-loop run
    (None for closed loop); ``cpu_percent`` the generator's peak CPU use.
    """
    warnings: list[str] = []
    if lag_p99_ms is not None and lag_p99_ms > MAX_TRUSTED_LAG_P99_MS:
        warnings.append(
            f"schedule lag p99 is {lag_p99_ms:.1f} ms (> {MAX_TRUSTED_LAG_P99_MS:g} ms): the load generator could not "
            "send on time, so latencies and rates are not trustworthy; add workers or lower the rate"
        )
    if cpu_percent is not None and cpu_percent > MAX_TRUSTED_CPU_PERCENT:
        warnings.append(
            f"load generator CPU reached {cpu_percent:.0f} % (> {MAX_TRUSTED_CPU_PERCENT:g} %): measured latencies "
            "include the generator's own queueing; add workers or lower the rate"
        )
    return warnings
