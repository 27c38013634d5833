"""Metrics: pure functions of a RequestRecord, and a mergeable histogram.

Every function returns milliseconds (``_ms``) or ``None`` when the record does
not have the timestamps the metric needs (for example no token arrived).

The histogram is HdrHistogram (``hdrhistogram`` on PyPI) recording integer
microseconds with 3 significant digits: <= 0.1 % relative error from 1 us to
one hour, exact merge (bucket counts add), and a compact base64 encoding that
workers ship to the master. DDSketch would also do; HdrHistogram won on
record cost (~1 us) and a serialisation without protobuf.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

from loadkit.core.records import RequestRecord

__all__ = [
    "ttft_ms",
    "ttfb_ms",
    "ttfe_ms",
    "e2e_ms",
    "e2e_from_intended_ms",
    "schedule_lag_ms",
    "tpot_ms",
    "itl_ms",
    "itl_mean_ms",
    "itl_max_ms",
    "LatencyHistogram",
    "PERCENTILES",
]

PERCENTILES = (50.0, 90.0, 95.0, 99.0)

_HIGHEST_US = 3_600_000_000  # one hour


def ttft_ms(r: RequestRecord) -> float | None:
    """Time to first token (first non-empty content/reasoning delta) since sent, ms."""
    if r.first_token_at is None:
        return None
    return (r.first_token_at - r.sent_at) * 1000.0


def ttfb_ms(r: RequestRecord) -> float | None:
    """Time to response headers since sent, ms."""
    if r.headers_at is None:
        return None
    return (r.headers_at - r.sent_at) * 1000.0


def ttfe_ms(r: RequestRecord) -> float | None:
    """Time to the first SSE event (which may carry no token) since sent, ms."""
    if r.first_event_at is None:
        return None
    return (r.first_event_at - r.sent_at) * 1000.0


def e2e_ms(r: RequestRecord) -> float:
    """End-to-end latency of this attempt: done minus sent, ms."""
    return (r.done_at - r.sent_at) * 1000.0


def e2e_from_intended_ms(r: RequestRecord) -> float:
    """Done minus the intended send time, ms: what a user of an open-loop
    schedule saw, including the generator's own lag (no coordinated omission)."""
    return (r.done_at - r.intended_at) * 1000.0


def schedule_lag_ms(r: RequestRecord) -> float:
    """First send minus intended, ms; large values mean the generator fell behind.

    For a retried request the first attempt's send counts: 429 waits are
    throttling, not generator lag."""
    sent = r.first_sent_at if r.first_sent_at is not None else r.sent_at
    return max(0.0, (sent - r.intended_at) * 1000.0)


def tpot_ms(r: RequestRecord) -> float | None:
    """Time per output token after the first: (done - first token) / (tokens - 1), ms."""
    if r.first_token_at is None or r.output_tokens < 2:
        return None
    return (r.done_at - r.first_token_at) * 1000.0 / (r.output_tokens - 1)


def itl_ms(r: RequestRecord) -> list[float]:
    """Every gap between consecutive token events, ms (empty for < 2 events)."""
    times = r.token_times
    return [(b - a) * 1000.0 for a, b in zip(times, times[1:])]


def itl_mean_ms(r: RequestRecord) -> float | None:
    """Mean inter-token gap, ms."""
    times = r.token_times
    if len(times) < 2:
        return None
    return (times[-1] - times[0]) * 1000.0 / (len(times) - 1)


def itl_max_ms(r: RequestRecord) -> float | None:
    """Largest inter-token gap, ms."""
    gaps = itl_ms(r)
    return max(gaps) if gaps else None


_BUCKET_BOUNDS: tuple[np.ndarray, np.ndarray] | None = None


def _bucket_bounds(h: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest equivalent value of every counts index (computed once per process).

    hdrh's own ``get_value_at_percentile`` walks all ~23,500 buckets in Python
    (~1 ms a call, ~6 ms a summary); with these bounds a summary is one numpy
    cumsum, so the live web UI and worker reports never stall the gevent loop.
    """
    global _BUCKET_BOUNDS
    if _BUCKET_BOUNDS is None:
        n = h.counts_len
        lo = np.fromiter((h.get_value_from_index(i) for i in range(n)), dtype=np.float64, count=n)
        hi = np.fromiter((h.get_highest_equivalent_value(int(v)) for v in lo), dtype=np.float64, count=n)
        _BUCKET_BOUNDS = (lo, hi)
    return _BUCKET_BOUNDS


class LatencyHistogram:
    """Mergeable millisecond histogram (HdrHistogram in integer microseconds).

    :meth:`record` is one HdrHistogram record (~1 us). :meth:`record_many`
    (used for the many inter-token gaps of a stream) only appends to a list;
    the values are binned with numpy in batches, before any read, so a 60-token
    stream costs ~60 list appends instead of ~60 Python-level bucket lookups.
    """

    __slots__ = ("_h", "_sum_ms", "_max_ms", "_pending")

    # ITL values are binned in numpy batches of this many: one batch takes ~0.25 ms here (16,384 took 4.5 ms, a
    # stall on the loop the gevent monitor caught), and per value it costs the same
    _BATCH = 1024

    def __init__(self) -> None:
        self._h = HdrHistogram(1, _HIGHEST_US, 3)
        self._sum_ms = 0.0
        self._max_ms = 0.0
        self._pending: list[float] = []

    def record(self, value_ms: float) -> None:
        """Add one value in milliseconds (negative values count as 0)."""
        if value_ms < 0 or value_ms != value_ms:
            value_ms = 0.0
        us = int(value_ms * 1000.0 + 0.5)
        if us > _HIGHEST_US:
            us = _HIGHEST_US
        self._h.record_value(us)
        self._sum_ms += value_ms
        if value_ms > self._max_ms:
            self._max_ms = value_ms

    def record_many(self, values_ms: Iterable[float]) -> None:
        """Add many values in milliseconds (binned lazily, in numpy batches)."""
        pending = self._pending
        pending.extend(values_ms)
        if len(pending) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        values = np.asarray(pending, dtype=np.float64)
        values = np.where((values >= 0) & (values == values), values, 0.0)
        us = np.minimum(np.floor(values * 1000.0 + 0.5), _HIGHEST_US).astype(np.int64)
        h = self._h
        # HdrHistogram's counts index, vectorised (hdrh: _get_bucket_index/_get_sub_bucket_index/_counts_index).
        masked = us | h.sub_bucket_mask
        _, exponent = np.frexp(masked.astype(np.float64))  # bit length, exact below 2**53
        bucket = exponent.astype(np.int64) - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
        sub_bucket = us >> (bucket + h.unit_magnitude)
        index = ((bucket + 1) << h.sub_bucket_half_count_magnitude) + (sub_bucket - h.sub_bucket_half_count)
        counts = np.ctypeslib.as_array(h.counts)[: h.counts_len]
        np.add.at(counts, index, 1)
        h.total_count += len(us)
        h.min_value = min(h.min_value, int(us.min()))
        h.max_value = max(h.max_value, int(us.max()))
        self._sum_ms += float(values.sum())
        top = float(values.max())
        if top > self._max_ms:
            self._max_ms = top

    def memory_bytes(self) -> int:
        """Bytes of the counts array plus pending (not yet binned) values."""
        import ctypes

        return ctypes.sizeof(self._h.counts) + 8 * len(self._pending)

    @property
    def count(self) -> int:
        self._flush()
        return self._h.get_total_count()

    @property
    def sum_ms(self) -> float:
        self._flush()
        return self._sum_ms

    def percentile(self, p: float) -> float | None:
        """Value at percentile ``p`` (0-100) in ms, or None when empty."""
        return self.percentiles((p,))[0]

    def percentiles(self, ps: Iterable[float]) -> list[float | None]:
        """Values at several percentiles (0-100) in ms, one pass over the buckets."""
        ps = list(ps)
        self._flush()
        h = self._h
        total = h.get_total_count()
        if total == 0:
            return [None] * len(ps)
        lo, hi = _bucket_bounds(h)
        cum = np.cumsum(np.ctypeslib.as_array(h.counts)[: h.counts_len])
        out: list[float | None] = []
        for p in ps:
            target = h.get_target_count_at_percentile(p)
            i = int(np.searchsorted(cum, target, side="left"))
            i = min(i, h.counts_len - 1)
            if hi[i] == 0:
                out.append(0.0)
                continue
            # The bucket's midpoint halves HdrHistogram's worst-case (highest-equivalent) error.
            out.append(min((lo[i] + hi[i]) / 2.0 / 1000.0, self._max_ms))
        return out

    def mean(self) -> float | None:
        self._flush()
        return self._sum_ms / self.count if self.count else None

    def max(self) -> float | None:
        self._flush()
        return self._max_ms if self.count else None

    def summary(self) -> dict[str, float | None]:
        """``{"p50","p90","p95","p99","max","mean","count"}`` in ms (None when empty)."""
        out: dict[str, float | None] = {}
        for p, v in zip(PERCENTILES, self.percentiles(PERCENTILES)):
            out[f"p{int(p)}"] = None if v is None else round(float(v), 3)
        m = self.max()
        out["max"] = None if m is None else round(m, 3)
        mean = self.mean()
        out["mean"] = None if mean is None else round(mean, 3)
        out["count"] = self.count
        return out

    def merge(self, other: "LatencyHistogram") -> None:
        """Add ``other``'s counts into this one (exact)."""
        self._flush()
        other._flush()
        self._h.add(other._h)
        self._sum_ms += other._sum_ms
        if other._max_ms > self._max_ms:
            self._max_ms = other._max_ms

    def minus(self, earlier: "LatencyHistogram") -> "LatencyHistogram":
        """What was recorded since ``earlier`` (a copy of this same histogram taken before), as a histogram.

        Counts and sums subtract exactly; the max is this histogram's (an upper
        bound for the interval). Used to cut cumulative stats into time windows."""
        self._flush()
        earlier._flush()
        out = LatencyHistogram()
        mine = np.ctypeslib.as_array(self._h.counts)[: self._h.counts_len]
        theirs = np.ctypeslib.as_array(earlier._h.counts)[: earlier._h.counts_len]
        diff = np.maximum(mine - theirs, 0)
        np.ctypeslib.as_array(out._h.counts)[: out._h.counts_len] = diff
        out._h.total_count = int(diff.sum())
        nonzero = np.flatnonzero(diff)
        if len(nonzero):
            lo, hi = _bucket_bounds(out._h)
            out._h.min_value = int(lo[nonzero[0]])
            out._h.max_value = int(hi[nonzero[-1]])
            out._max_ms = min(self._max_ms, hi[nonzero[-1]] / 1000.0)
        out._sum_ms = max(0.0, self._sum_ms - earlier._sum_ms)
        return out

    def to_dict(self) -> dict:
        """Serialisable form (base64 HdrHistogram + sum and max)."""
        self._flush()
        enc = self._h.encode()
        return {
            "hdr": enc.decode("ascii") if isinstance(enc, bytes) else enc,
            "sum_ms": self._sum_ms,
            "max_ms": self._max_ms,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyHistogram":
        h = cls()
        if data.get("hdr"):
            decoded = HdrHistogram.decode(data["hdr"])
            if decoded.get_total_count():
                h._h.add(decoded)
        h._sum_ms = float(data.get("sum_ms", 0.0))
        h._max_ms = float(data.get("max_ms", 0.0))
        return h

