"""429 policy: deciding how long to wait before retrying.

Reading the hints (``Retry-After``, ``retry-after-ms``, ``x-ratelimit-reset-*``)
lives in :mod:`loadkit.protocol.ratelimit`; it is re-exported here because
copied locustfiles import it from this module.

Policies (``rate_limit_policy``):
- ``none``: a 429 is a failure, no retry.
- ``backoff``: exponential backoff with full jitter, at least Retry-After when
  given, each wait capped at ``max_backoff_s``, at most ``max_retries`` retries.
- ``respect``: wait exactly Retry-After (``backoff`` when the hint is missing).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from loadkit.protocol.ratelimit import parse_go_duration_s, remaining, retry_after_s

__all__ = ["RetryPolicy", "retry_after_s", "parse_go_duration_s", "remaining"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    policy: str = "none"
    max_retries: int = 3
    max_backoff_s: float = 30.0
    base_s: float = 0.5

    def wait_s(self, retry_number: int, hint_s: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before retry ``retry_number`` (1-based), or None to give up."""
        if self.policy == "none" or retry_number > self.max_retries:
            return None
        if self.policy == "respect" and hint_s is not None:
            return min(hint_s, self.max_backoff_s)
        # Full jitter (AWS architecture blog): uniform(0, base * 2^n), never below the hint.
        ceiling = min(self.max_backoff_s, self.base_s * (2 ** (retry_number - 1)))
        wait = rng.uniform(0, ceiling)
        if hint_s is not None:
            wait = max(wait, hint_s)
        return min(wait, self.max_backoff_s)
