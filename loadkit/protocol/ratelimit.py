"""Rate-limit headers: the retry hint and the remaining quota, sans-IO.

Accepted hints, in this order (the first usable one wins):

- ``retry-after-ms``: a non-negative decimal number of milliseconds (OpenAI, Azure);
- ``Retry-After`` in its two RFC 9110 forms only: delay-seconds (digits, nothing
  else: ``1e9``, ``1.5``, ``-3`` are not delay-seconds) or an HTTP-date;
- ``x-ratelimit-reset-requests`` / ``-tokens`` / ``x-ratelimit-reset``: a Go-style
  duration (``"1s"``, ``"6m0s"``, ``"120ms"``) or plain decimal seconds.

Anything else is "no hint" (None): the retry policy's own backoff decides. A
caller passes ``cap_s`` (``--max-backoff-s``) so an absurd hint is capped the
same way for accounting as for waiting.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

__all__ = ["retry_after_s", "parse_go_duration_s", "remaining"]

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_DIGITS = re.compile(r"\d+")
_UNITS_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_RESET_HEADERS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset")


def parse_go_duration_s(text: str) -> float | None:
    """Seconds from an OpenAI-style reset value (``"1s"``, ``"6m0s"``, ``"120ms"``, ``"2"``); None if unparsable."""
    s = text.strip()
    if not s:
        return None
    if _DECIMAL.fullmatch(s):
        return float(s)
    total, pos = 0.0, 0
    for mt in _GO_DURATION.finditer(s):
        if mt.start() != pos:
            return None
        total += float(mt.group(1)) * _UNITS_S[mt.group(2)]
        pos = mt.end()
    return total if pos == len(s) and total != float("inf") else None


def _retry_after_header_s(value: str, now_epoch_s: float | None) -> float | None:
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return float(value)
    if not value or value[0].isdigit() or value[0] in "+-.":
        return None  # "1.5", "1e9", "-3": numbers, but not delay-seconds
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):  # "1 Oct 5 99999999999:2" overflows a C long
        return None
    now = time.time() if now_epoch_s is None else now_epoch_s
    return max(0.0, when - now)


def retry_after_s(headers: Mapping[str, str], now_epoch_s: float | None = None,
                  cap_s: float | None = None) -> float | None:
    """The server's retry hint in seconds (>= 0, at most ``cap_s``), or None when absent or not an accepted form.

    ``headers`` must have lower-case names. A date in the past gives 0.
    """
    hint = None
    ms = headers.get("retry-after-ms")
    if ms is not None and _DECIMAL.fullmatch(ms.strip()):
        hint = float(ms.strip()) / 1000.0
    if hint is None:
        ra = headers.get("retry-after")
        if ra is not None:
            hint = _retry_after_header_s(ra, now_epoch_s)
    if hint is None:
        for name in _RESET_HEADERS:
            value = headers.get(name)
            if value is not None:
                hint = parse_go_duration_s(value)
                if hint is not None:
                    break
    if hint is not None and cap_s is not None:
        hint = min(hint, cap_s)
    return hint


def remaining(headers: Mapping[str, str], kind: str) -> int | None:
    """``x-ratelimit-remaining-<kind>`` as an int (kind: requests|tokens), or None."""
    value = headers.get(f"x-ratelimit-remaining-{kind}")
    if value is None:
        return None
    value = value.strip()
    if _DECIMAL.fullmatch(value):
        return int(float(value))
    return None  # "nan", "inf", "1e309", "-1": a garbage header, not a crash
