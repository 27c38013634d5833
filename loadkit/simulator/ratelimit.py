"""Rate limits of the simulator: token buckets, every-Nth 429s and their headers.

Buckets are per (API key, model): capacity = the per-minute limit (the burst),
refilled continuously at limit/60 per second.  A request costs 1 from the
requests bucket and prompt_tokens + max_tokens (256 when absent) from the
tokens bucket, both taken only when both have enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from email.utils import formatdate

DEFAULT_MAX_TOKENS_COST = 256
EVERY_NTH_RETRY_AFTER_S = 1.0


class TokenBucket:
    """A continuous-refill token bucket; ``clock`` is seconds (monotonic)."""

    __slots__ = ("capacity", "rate_per_s", "level", "updated_at")

    def __init__(self, per_minute: float, now_s: float):
        self.capacity = per_minute
        self.rate_per_s = per_minute / 60.0
        self.level = per_minute
        self.updated_at = now_s

    def refill(self, now_s: float) -> None:
        """Add what accrued since the last update (never above capacity)."""
        elapsed = now_s - self.updated_at
        if elapsed > 0:
            self.level = min(self.capacity, self.level + elapsed * self.rate_per_s)
        self.updated_at = now_s

    def wait_s(self, cost: float) -> float:
        """Return seconds until ``cost`` is available (0 when it is now)."""
        missing = min(cost, self.capacity) - self.level
        return max(0.0, missing / self.rate_per_s)

    def reset_s(self) -> float:
        """Return seconds until the bucket is full again."""
        return max(0.0, (self.capacity - self.level) / self.rate_per_s)


@dataclass
class Admission:
    """Outcome of a rate-limit check; ``headers`` go on the response either way."""

    allowed: bool
    retry_after_s: float
    headers: list[tuple[str, str]]


def go_duration(seconds: float) -> str:
    """Return seconds as an OpenAI-style Go duration: '120ms', '1s', '1.5s', '6m0s'."""
    if seconds < 1.0:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{round(seconds, 3):g}s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{secs}s"


def retry_after_headers(fmt: str, seconds: float, forced: bool, now_epoch_s: float) -> list[tuple[str, str]]:
    """Return the retry hint headers of a 429 in the configured format."""
    if fmt == "none":
        return []
    if fmt == "ms-header":
        return [("retry-after-ms", str(max(0, math.ceil(seconds * 1000))))]
    if fmt == "http-date":
        return [("retry-after", formatdate(now_epoch_s + max(1, math.ceil(seconds)), usegmt=True))]
    if forced and seconds != int(seconds):
        return [("retry-after", f"{seconds:g}")]
    return [("retry-after", str(max(1, math.ceil(seconds))))]


class RateLimiter:
    """Per (key, model) buckets plus the deterministic every-Nth-per-model 429."""

    def __init__(self, config):
        self._config = config
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._every_counts: dict[str, int] = {}

    def _bucket(self, kind: str, key: str, model: str, per_minute: float, now_s: float) -> TokenBucket:
        bucket = self._buckets.get((kind, key, model))
        if bucket is None:
            bucket = self._buckets[(kind, key, model)] = TokenBucket(per_minute, now_s)
        else:
            bucket.refill(now_s)
        return bucket

    def admit(self, api_key: str, model: str, token_cost: int, now_s: float) -> Admission:
        """Check and charge the limits of one request; return the admission."""
        config = self._config
        headers: list[tuple[str, str]] = []
        waits: list[float] = []
        charges: list[tuple[TokenBucket, float]] = []
        rpm = config.rpm_for(model)
        tpm = config.tpm_for(model)
        for kind, limit, cost in (("requests", rpm, 1.0), ("tokens", tpm, float(token_cost))):
            if limit is None:
                continue
            bucket = self._bucket(kind, api_key, model, limit, now_s)
            wait = bucket.wait_s(cost)
            waits.append(wait)
            charges.append((bucket, cost))
        allowed = all(w == 0.0 for w in waits)
        retry_after_s = max(waits) if waits and not allowed else 0.0
        if allowed and config.rate_limit_every:
            count = self._every_counts.get(model, 0) + 1
            self._every_counts[model] = count
            if count % config.rate_limit_every == 0:
                allowed = False
                retry_after_s = EVERY_NTH_RETRY_AFTER_S
        if allowed:  # a rejected request is not charged
            for bucket, cost in charges:
                bucket.level -= cost
        kinds = [kind for kind, limit in (("requests", rpm), ("tokens", tpm)) if limit is not None]
        for (bucket, _cost), kind in zip(charges, kinds):
            headers.append((f"x-ratelimit-limit-{kind}", f"{bucket.capacity:g}"))
            headers.append((f"x-ratelimit-remaining-{kind}", str(max(0, int(bucket.level)))))
            headers.append((f"x-ratelimit-reset-{kind}", go_duration(bucket.reset_s())))
        return Admission(allowed=allowed, retry_after_s=retry_after_s, headers=headers)
