"""429 policy: reading retry hints and deciding how long to wait.

Hints seen in the wild: ``Retry-After`` as seconds or as an HTTP date,
``retry-after-ms``, vendor-prefixed ``x-ratelimit-reset-*`` durations such as
``"6m0s"``/``"1s"``/``"120ms"``. :func:`retry_after_s` returns the best hint
in seconds, or None when there is none or it is garbage (never raises).

Policies (``rate_limit_policy``):
- ``none``: a 429 is a failure, no retry.
- ``backoff``: exponential backoff with full jitter, at least Retry-After when
  given, each wait capped at ``max_backoff_s``, at most ``max_retries`` retries.
- ``respect``: wait exactly Retry-After (``backoff`` when the hint is missing).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "retry_after_s", "parse_go_duration_s", "remaining"]

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")


def parse_go_duration_s(text: str) -> float | None:
    """Seconds from an OpenAI-style reset value (``"1s"``, ``"6m0s"``, ``"120ms"``, ``"2"``); None if unparsable."""
    s = text.strip()
    if not s:
        return None
    try:
        v = float(s)
        return v if v >= 0 and v == v and v != float("inf") else None
    except ValueError:
        pass
    total, pos = 0.0, 0
    for mt in _GO_DURATION.finditer(s):
        if mt.start() != pos:
            return None
        unit = mt.group(2)
        total += float(mt.group(1)) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}[unit]
        pos = mt.end()
    return total if pos == len(s) and total != float("inf") else None


def retry_after_s(headers: Mapping[str, str], now_epoch_s: float | None = None) -> float | None:
    """The server's retry hint in seconds (>= 0), or None when absent or unparsable.

    ``headers`` must have lower-case names. A date in the past gives 0.
    Negative or non-numeric values are ignored (None), so a garbage header
    falls back to the policy's own backoff.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            v = float(ms)
            if v >= 0 and v == v and v != float("inf"):
                return v / 1000.0
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is not None:
        ra = ra.strip()
        try:
            v = float(ra)
            if v >= 0 and v == v and v != float("inf"):
                return v
            return None
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(ra).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):  # "1 Oct 5 99999999999:2" overflows a C long
            when = None
        if when is not None:
            now = time.time() if now_epoch_s is None else now_epoch_s
            return max(0.0, when - now)
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            parsed = parse_go_duration_s(value)
            if parsed is not None:
                return parsed
    return None


def remaining(headers: Mapping[str, str], kind: str) -> int | None:
    """``x-ratelimit-remaining-<kind>`` as an int (kind: requests|tokens), or None."""
    value = headers.get(f"x-ratelimit-remaining-{kind}")
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # "nan", "inf", "1e309": a garbage header, not a crash
        return None


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
