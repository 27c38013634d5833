"""RunStats: everything the summary needs, aggregated per model, mergeable.

Fed one :class:`RequestRecord` per attempt on the request path (cheap: a few
histogram records), serialisable with :meth:`RunStats.to_dict` so workers can
ship it to a master, and merged exactly with :meth:`RunStats.merge`.

Cold requests are kept out of the main latency histograms: they go to the
``cold_*`` histograms only, so no percentile mixes cold and warm.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadkit.core import metrics as m
from loadkit.core.metrics import LatencyHistogram
from loadkit.core.pricing import PriceTable
from loadkit.core.records import INTERRUPTED_WAITING, RequestRecord

__all__ = ["ModelStats", "RunStats", "distributions", "DISTRIBUTION_GRID"]

_HISTOGRAMS = (
    "e2e_ms",
    "ttft_ms",
    "ttfb_ms",
    "itl_ms",
    "tpot_ms",
    "e2e_from_intended_ms",
    "schedule_lag_ms",
    "e2e_with_throttle_ms",
    "throttled_ms",
    "retry_after_s",
    "cold_ttft_ms",
    "cold_e2e_ms",
)


class ModelStats:
    """Aggregates of one model (or of all models, for totals)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.requests = 0
        self.successes = 0
        self.outcomes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.finish_reasons: Counter[str] = Counter()  # per final attempt that reported one
        self.h = {name: LatencyHistogram() for name in _HISTOGRAMS}
        self.input_tokens = 0
        self.output_tokens = 0
        self.usage_missing = 0
        self.estimated_output_tokens = 0
        self.cost_usd = 0.0
        self.unpriced = 0
        self.responses_429 = 0
        self.retried_ok = 0
        self.gave_up = 0
        self.throttled_total_ms = 0.0
        self.remaining_requests: int | None = None
        self.remaining_tokens: int | None = None
        self.cold_count = 0
        self.fallbacks = 0
        self.task_checked: Counter[str] = Counter()
        self.task_passed: Counter[str] = Counter()
        self.first_sent_at: float | None = None
        self.last_done_at: float | None = None

    def add(self, r: RequestRecord, cost_usd: float | None) -> None:
        """Account one attempt (and, when ``r.final``, the request it ends)."""
        if r.error_key != INTERRUPTED_WAITING:  # a chain cut while waiting made no new attempt
            self.attempts += 1
        if r.status == 429:
            self.responses_429 += 1
            if r.retry_after_s is not None:
                self.h["retry_after_s"].record(r.retry_after_s)  # unit: seconds
        if r.ratelimit_remaining_requests is not None:
            self.remaining_requests = r.ratelimit_remaining_requests
        if r.ratelimit_remaining_tokens is not None:
            self.remaining_tokens = r.ratelimit_remaining_tokens
        self.input_tokens += r.input_tokens if r.status == 200 else 0
        self.output_tokens += r.output_tokens
        if r.status == 200 and not r.usage_reported:
            self.usage_missing += 1
        self.estimated_output_tokens += r.estimated_output_tokens
        if cost_usd is None:
            if r.status == 200:
                self.unpriced += 1
        else:
            self.cost_usd += cost_usd
        if self.first_sent_at is None or r.sent_at < self.first_sent_at:
            self.first_sent_at = r.sent_at
        if self.last_done_at is None or r.done_at > self.last_done_at:
            self.last_done_at = r.done_at
        if not r.final:
            return
        self.requests += 1
        self.outcomes[r.outcome] += 1
        if r.error_key:
            self.errors[r.error_key] += 1
        if r.finish_reason:
            self.finish_reasons[r.finish_reason] += 1
        if r.fallback_from:
            self.fallbacks += 1
        if r.attempt > 1:
            if r.outcome == "ok":
                self.retried_ok += 1
        if r.outcome == "rate_limited":
            self.gave_up += 1
        if r.throttled_s > 0:
            self.h["throttled_ms"].record(r.throttled_s * 1000.0)
            self.throttled_total_ms += r.throttled_s * 1000.0
        h = self.h
        if r.outcome != "interrupted":  # its send time is when it was cut, not when it was due
            h["schedule_lag_ms"].record(m.schedule_lag_ms(r))
        if r.task_ok is not None:
            self.task_checked[r.category] += 1
            if r.task_ok:
                self.task_passed[r.category] += 1
        if r.outcome != "ok":
            return
        self.successes += 1
        e2e = m.e2e_ms(r)
        ttft = m.ttft_ms(r)
        if r.cold:
            self.cold_count += 1
            h["cold_e2e_ms"].record(e2e)
            if ttft is not None:
                h["cold_ttft_ms"].record(ttft)
            return
        h["e2e_ms"].record(e2e)
        h["e2e_from_intended_ms"].record(m.e2e_from_intended_ms(r))
        started = r.first_sent_at if r.first_sent_at is not None else r.sent_at
        h["e2e_with_throttle_ms"].record((r.done_at - started) * 1000.0)
        if ttft is not None:
            h["ttft_ms"].record(ttft)
        ttfb = m.ttfb_ms(r)
        if ttfb is not None:
            h["ttfb_ms"].record(ttfb)
        tpot = m.tpot_ms(r)
        if tpot is not None:
            h["tpot_ms"].record(tpot)
        times = r.token_times
        if len(times) > 1:
            h["itl_ms"].record_many([(b - a) * 1000.0 for a, b in zip(times, times[1:])])

    def merge(self, other: "ModelStats") -> None:
        for name in ("attempts", "requests", "successes", "input_tokens", "output_tokens", "usage_missing",
                     "estimated_output_tokens", "cost_usd", "unpriced", "responses_429", "retried_ok", "gave_up",
                     "throttled_total_ms", "cold_count", "fallbacks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)
        self.errors.update(other.errors)
        self.finish_reasons.update(other.finish_reasons)
        self.task_checked.update(other.task_checked)
        self.task_passed.update(other.task_passed)
        for name, hist in other.h.items():
            self.h[name].merge(hist)
        if other.remaining_requests is not None:
            self.remaining_requests = other.remaining_requests
        if other.remaining_tokens is not None:
            self.remaining_tokens = other.remaining_tokens
        # first/last are per-process perf_counter values: not comparable across
        # processes, so they are merged only as durations by the summary.

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in (
            "attempts", "requests", "successes", "input_tokens", "output_tokens", "usage_missing",
            "estimated_output_tokens", "cost_usd", "unpriced", "responses_429", "retried_ok", "gave_up",
            "throttled_total_ms", "cold_count", "fallbacks", "remaining_requests", "remaining_tokens")}
        out["outcomes"] = dict(self.outcomes)
        out["errors"] = dict(self.errors)
        out["finish_reasons"] = dict(self.finish_reasons)
        out["task_checked"] = dict(self.task_checked)
        out["task_passed"] = dict(self.task_passed)
        out["h"] = {name: hist.to_dict() for name, hist in self.h.items() if hist.count}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelStats":
        s = cls()
        for name, value in data.items():
            if name == "h":
                for hname, hd in value.items():
                    s.h[hname] = LatencyHistogram.from_dict(hd)
            elif name in ("outcomes", "errors", "finish_reasons", "task_checked", "task_passed"):
                setattr(s, name, Counter(value))
            elif hasattr(s, name):
                setattr(s, name, value)
        return s


class RunStats:
    """Per-model :class:`ModelStats` of one process (or the merge of many)."""

    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices = prices or PriceTable()
        self.models: dict[str, ModelStats] = {}

    def add(self, r: RequestRecord) -> float | None:
        """Account one attempt; returns its cost in USD (None if unpriced)."""
        cost = self.prices.cost_usd(r.model, r.input_tokens, r.output_tokens) if r.status == 200 else 0.0
        stats = self.models.get(r.model)
        if stats is None:
            stats = self.models[r.model] = ModelStats()
        stats.add(r, cost)
        return cost

    def memory_bytes(self) -> int:
        """Bytes held by the histograms (counts arrays and not-yet-binned values): the soak watches it."""
        return sum(h.memory_bytes() for stats in self.models.values() for h in stats.h.values())

    def totals(self) -> ModelStats:
        total = ModelStats()
        for stats in self.models.values():
            total.merge(stats)
        return total

    def merge(self, other: "RunStats") -> None:
        for model, stats in other.models.items():
            mine = self.models.get(model)
            if mine is None:
                mine = self.models[model] = ModelStats()
            mine.merge(stats)

    def to_dict(self) -> dict[str, Any]:
        return {"models": {model: s.to_dict() for model, s in self.models.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], prices: PriceTable | None = None) -> "RunStats":
        rs = cls(prices)
        for model, sd in data.get("models", {}).items():
            rs.models[model] = ModelStats.from_dict(sd)
        return rs


# The percentiles of the report's "by percentile" plots: every integer, then the tail.
DISTRIBUTION_GRID = tuple(float(q) for q in range(100)) + (99.5, 99.9, 100.0)


def distributions(stats: RunStats) -> dict[str, Any]:
    """Warm e2e and TTFT latency at every percentile of :data:`DISTRIBUTION_GRID`, per model, from the same
    histograms as the summary's p50–p99 (merged across workers on a master, so a distributed run's report
    draws them without any worker's records): ``{"grid": [...], "models": {m: {"e2e_ms": [...], ...}}}``."""
    models: dict[str, dict[str, list[float]]] = {}
    for model, s in sorted(stats.models.items()):
        curves = {name: [round(float(v), 3) for v in s.h[name].percentiles(DISTRIBUTION_GRID)]
                  for name in ("e2e_ms", "ttft_ms") if s.h[name].count}
        if curves:
            models[model] = curves
    return {"grid": list(DISTRIBUTION_GRID), "models": models}
