"""The generator watching itself: a fine event-loop lag probe, and each record's read lag.

A greenlet sleeps ``PROBE_INTERVAL_S`` over and over; how late each wake is
goes into the run's loop-lag histogram, and every wake later than
``LATE_WAKE_MS`` is kept for a few seconds as ``(due, woke)``. When a request
finishes, :meth:`TimingMonitor.stamp` bounds how late each of its chunk reads
was (:func:`loadkit.core.readlag.read_lags_ms`), sets the record's
``first_token_read_lag_ms``/``read_lag_ms``, and adds them to the run's
timing-error histograms (TTFT: the first token's read; ITL: the difference of
two consecutive reads' lags). Those are ``generator.timing_error_ms`` in
summary.json: the error of this run's own timings, measured in the run.
Kernel-stamped records (the gevent transport on plain TCP) come with measured
read lags; their timings' error is only coalescing, and their read lag goes
to ``read_lag_ms`` (what the loop clock would have been off by).

The probe costs one timer wake per ``PROBE_INTERVAL_S`` (~5 us each); a stretch
shorter than the interval is seen in proportion to its length, so its share of
the run is measured right even when one request's bound misses it.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import gevent

from loadkit.core.metrics import LatencyHistogram
from loadkit.core.readlag import coalesced_errors_ms, gap_bounds_ms, gap_errors_ms, read_lags_ms
from loadkit.core.records import RequestRecord

__all__ = ["TimingMonitor", "PROBE_INTERVAL_S", "LATE_WAKE_MS"]

PROBE_INTERVAL_S = 0.002
# Below this a wake counts as on time (the loop's own timer slop when idle is ~0.05-0.1 ms).
LATE_WAKE_MS = 0.2
_KEEP_WAKES = 4096  # ~8 s of wakes if every one were late; records look back one request


class TimingMonitor:
    """Loop-lag probe plus the run's timing-error histograms (one per process)."""

    def __init__(self, loop_lag: LatencyHistogram) -> None:
        self.loop_lag = loop_lag
        self.late_wakes: deque[tuple[float, float]] = deque(maxlen=_KEEP_WAKES)
        self.ttft_error = LatencyHistogram()
        self.itl_error = LatencyHistogram()
        # how late first tokens were read (kernel-measured, or the loop bound): the error kernel stamps remove
        self.read_lag = LatencyHistogram()
        self.kernel_stamped = 0
        self.loop_stamped = 0
        self.probe: Any = None

    def start(self) -> None:
        """Spawn the probe greenlet (idempotent)."""
        if self.probe is None:
            self.probe = gevent.spawn(self._probe)

    def _probe(self) -> None:
        clock, sleep, interval = time.perf_counter, gevent.sleep, PROBE_INTERVAL_S
        record, late = self.loop_lag.record, self.late_wakes.append
        while True:
            due = clock() + interval
            sleep(interval)
            woke = clock()
            lag_ms = (woke - due) * 1000.0
            record(lag_ms)
            if lag_ms > LATE_WAKE_MS:
                late((due, woke))

    def stamp(self, rec: RequestRecord) -> None:
        """Set ``rec``'s read lags (ms, "loop" clock) and add them to the timing-error histograms.

        A kernel-stamped record (``timing_clock == "kernel"``) already has its measured read lags; its
        timings' own error is only coalescing (:func:`loadkit.core.readlag.coalesced_errors_ms`)."""
        if rec.timing_clock == "kernel":
            self.kernel_stamped += 1
            if rec.first_token_read_lag_ms is not None:
                self.read_lag.record(rec.first_token_read_lag_ms)
            if rec.token_times:
                errors = coalesced_errors_ms(rec.token_times, rec.first_event_at, rec.headers_at, rec.sent_at)
                self.ttft_error.record(errors[0])
                self.itl_error.record_many(gap_bounds_ms(errors))
            return
        if rec.timing_clock is not None:  # another transport's own measurement
            if rec.first_token_read_lag_ms is not None:
                self.ttft_error.record(rec.first_token_read_lag_ms)
            return
        reads = rec.token_times if rec.token_times else ([rec.first_token_at] if rec.first_token_at else [])
        if not reads:
            return
        start = rec.sent_at
        wakes = []
        for due, woke in reversed(self.late_wakes):
            if woke < start:
                break
            wakes.append((due, woke))
        if wakes:
            lags = read_lags_ms(reads, wakes)
            first = lags[0] if rec.first_token_at is not None else None
            rec.read_lag_ms = max(lags)
            self.itl_error.record_many(gap_errors_ms(lags))
        else:
            first = 0.0 if rec.first_token_at is not None else None
            rec.read_lag_ms = 0.0
            if len(reads) > 1:
                self.itl_error.record_many([0.0] * (len(reads) - 1))
        rec.first_token_read_lag_ms = first
        rec.timing_clock = "loop"
        self.loop_stamped += 1
        if first is not None:
            self.ttft_error.record(first)
            self.read_lag.record(first)

    def to_dict(self) -> dict:
        """Mergeable form for worker snapshots."""
        return {"ttft_ms": self.ttft_error.to_dict(), "itl_ms": self.itl_error.to_dict(),
                "read_lag_ms": self.read_lag.to_dict(), "kernel_stamped": self.kernel_stamped,
                "loop_stamped": self.loop_stamped}


def _block(h: LatencyHistogram) -> dict:
    p50, p99, p999 = h.percentiles((50, 99, 99.9))
    r = lambda v: None if v is None else round(float(v), 3)  # noqa: E731
    return {"p50": r(p50), "p99": r(p99), "p99_9": r(p999), "max": r(h.max()), "count": h.count}


def timing_error_summary(own: "TimingMonitor | None", snapshots: list[dict]) -> dict:
    """``generator.timing_error_ms``: {"ttft_ms", "itl_ms"} -> {"p50","p99","p99_9","max","count"}, merged
    over this process and every worker snapshot's ``timing_error``: the error of the run's own timings.
    ``read_lag_ms``: how late first tokens were read (what the loop clock would have been off by);
    ``clock``: "kernel" (every stamped attempt kernel-stamped), "loop", or "mixed"."""
    ttft, itl, lag = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    kernel = loop = 0
    parts = [own.to_dict()] if own is not None else []
    parts += [snap["timing_error"] for snap in snapshots if snap.get("timing_error")]
    for part in parts:
        ttft.merge(LatencyHistogram.from_dict(part["ttft_ms"]))
        itl.merge(LatencyHistogram.from_dict(part["itl_ms"]))
        if part.get("read_lag_ms"):
            lag.merge(LatencyHistogram.from_dict(part["read_lag_ms"]))
        kernel += part.get("kernel_stamped", 0)
        loop += part.get("loop_stamped", 0)
    clock = "mixed" if kernel and loop else "kernel" if kernel else "loop"
    return {"clock": clock, "ttft_ms": _block(ttft), "itl_ms": _block(itl), "read_lag_ms": _block(lag),
            "kernel_stamped": kernel, "loop_stamped": loop}
