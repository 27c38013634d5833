"""How late a process read its chunks, from the late wakes of a periodic timer.

A timer due at ``due`` that fires at ``woke`` shows the event loop was not
free to run anything in ``[due, woke]`` (busy, or starved of CPU). A chunk read
at ``r`` inside such a stretch may have arrived as early as ``due``: its read
lag is at most ``min(r, woke) - due``. A read more than ``slack_s`` after the
wake was not held up by that stretch. With no kernel receive time this upper
bound is the best a user-space reader knows, and it is the generator's own
error in every timestamp taken in that stretch.

With kernel receive times (the gevent transport) a read is stamped when its
last segment arrived, and how late it was read is measured, not bounded; the
one error left is coalescing: several token events in one read share its
stamp, so all but the last may have arrived earlier, but not before the
previous stamp (:func:`coalesced_errors_ms`).

Pure functions over perf_counter seconds; no I/O, no gevent.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["read_lags_ms", "gap_errors_ms", "coalesced_errors_ms", "gap_bounds_ms", "READ_SLACK_S"]

# A wake and the reads it coincides with run in the same loop iteration, a few
# callbacks apart; a read later than this after the wake was not delayed by it.
READ_SLACK_S = 0.0005


def read_lags_ms(read_times: Sequence[float], late_wakes: Sequence[tuple[float, float]],
                 slack_s: float = READ_SLACK_S) -> list[float]:
    """Upper bound of each read's lag in ms (0.0 where no late wake covers it).

    ``read_times`` sorted ascending; ``late_wakes`` as ``(due, woke)`` pairs."""
    lags = [0.0] * len(read_times)
    if not late_wakes or not read_times:
        return lags
    for due, woke in late_wakes:
        i = bisect_left(read_times, due)
        end = woke + slack_s
        while i < len(read_times) and read_times[i] <= end:
            r = read_times[i]
            lag = (r if r < woke else woke) - due
            if lag * 1000.0 > lags[i]:
                lags[i] = lag * 1000.0
            i += 1
    return lags


def gap_errors_ms(lags_ms: Sequence[float]) -> list[float]:
    """Error of each gap between consecutive reads: how much the two reads' lags differ, ms."""
    return [abs(b - a) for a, b in zip(lags_ms, lags_ms[1:])]


def coalesced_errors_ms(stamps: Sequence[float], *earlier: float | None) -> list[float]:
    """Upper bound of each kernel-stamped token's error in ms: how early it may have arrived.

    Tokens with equal stamps came in one read. The last of such a run arrived at its stamp (0.0); the
    others arrived after the previous distinct stamp, so each may be early by up to ``stamp - previous``.
    Before the first token, the previous stamp is the latest of ``earlier`` (the first event's, the
    headers', the send's time) that is before it."""
    errors = [0.0] * len(stamps)
    if not stamps:
        return errors
    before = [t for t in earlier if t is not None and t < stamps[0]]
    prev = max(before) if before else stamps[0]
    i, n = 0, len(stamps)
    while i < n:
        j = i
        while j + 1 < n and stamps[j + 1] == stamps[i]:
            j += 1
        if j > i:
            bound = max(0.0, (stamps[i] - prev) * 1000.0)
            for k in range(i, j):
                errors[k] = bound
        prev = stamps[i]
        i = j + 1
    return errors


def gap_bounds_ms(errors_ms: Sequence[float]) -> list[float]:
    """Error bound of each gap between two tokens whose stamps are each late by 0..error: the larger one."""
    return [a if a > b else b for a, b in zip(errors_ms, errors_ms[1:])]
