"""summary.json: the contract CI jobs and reports read (DESIGN.md).

:func:`build_summary` turns merged :class:`RunStats` plus run facts into that
dict. Latency blocks are ``{"p50","p90","p95","p99","max","mean","count"}`` in
ms (None when there were no values). Latency percentiles are of warm,
successful requests; cold ones are under ``cold_start`` only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loadkit.core.stats import ModelStats, RunStats
from loadkit.core.records import OUTCOMES

__all__ = ["build_summary", "model_block", "write_summary", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


def _safe_div(a: float, b: float) -> float | None:
    return a / b if b else None


def model_block(s: ModelStats, duration_s: float) -> dict[str, Any]:
    """One model's (or the totals') section of summary.json."""
    h = s.h
    outcomes = {name: s.outcomes.get(name, 0) for name in OUTCOMES}
    failures = s.requests - s.successes
    retry_after = h["retry_after_s"].summary()
    throttled = h["throttled_ms"].summary()
    throttled["total"] = round(s.throttled_total_ms, 3)
    block = {
        "requests": s.requests,
        "attempts": s.attempts,
        "successes": s.successes,
        "failures": failures,
        "outcomes": outcomes,
        "errors": dict(s.errors.most_common(20)),
        "success_rate": _safe_div(s.successes, s.requests),
        "error_rate": _safe_div(failures, s.requests),
        "rps": _safe_div(s.requests, duration_s),
        "successful_rps": _safe_div(s.successes, duration_s),
        "output_tokens_per_s": _safe_div(s.output_tokens, duration_s),
        "e2e_ms": h["e2e_ms"].summary(),
        "ttft_ms": h["ttft_ms"].summary(),
        "ttfb_ms": h["ttfb_ms"].summary(),
        "itl_ms": h["itl_ms"].summary(),
        "tpot_ms": h["tpot_ms"].summary(),
        "e2e_from_intended_ms": h["e2e_from_intended_ms"].summary(),
        "e2e_with_throttle_ms": h["e2e_with_throttle_ms"].summary(),
        "schedule_lag_ms": h["schedule_lag_ms"].summary(),
        "tokens": {
            "input": s.input_tokens,
            "output": s.output_tokens,
            "usage_missing": s.usage_missing,
            "estimated_output": s.estimated_output_tokens,
        },
        "cost_usd": round(s.cost_usd, 8),
        "cost_per_success_usd": _round(_safe_div(s.cost_usd, s.successes)),
        "cost_per_1k_requests_usd": _round(_safe_div(s.cost_usd * 1000, s.requests)),
        "unpriced_requests": s.unpriced,
        "rate_limit": {
            "responses_429": s.responses_429,
            "retried_ok": s.retried_ok,
            "gave_up": s.gave_up,
            "retries": s.attempts - s.requests,
            "retries_per_request": _safe_div(s.attempts - s.requests, s.requests),
            "throttled_ms": throttled,
            "retry_after_s": retry_after,
            "last_remaining_requests": s.remaining_requests,
            "last_remaining_tokens": s.remaining_tokens,
        },
        "cold_start": {
            "count": s.cold_count,
            "ttft_ms": h["cold_ttft_ms"].summary(),
            "e2e_ms": h["cold_e2e_ms"].summary(),
            "warm_ttft_ms": h["ttft_ms"].summary(),
            "warm_e2e_ms": h["e2e_ms"].summary(),
        },
        "task_success": {
            cat: round(s.task_passed.get(cat, 0) / n, 6) for cat, n in sorted(s.task_checked.items()) if n
        },
        "task_checked": dict(sorted(s.task_checked.items())),
        "fallbacks": s.fallbacks,
    }
    return block


def _round(x: float | None, digits: int = 10) -> float | None:
    return None if x is None else round(x, digits)


def build_summary(
    stats: RunStats,
    *,
    run_id: str,
    started_at: str,
    duration_s: float,
    host: str,
    users: int,
    shape: str = "closed",
    workers: Any = None,
    trusted: bool = True,
    warnings: list[str] | None = None,
    preflight: dict | None = None,
    sink: dict | None = None,
    slo: dict | None = None,
    generator: dict | None = None,
    calls_per_day: float = 10_000.0,
) -> dict[str, Any]:
    """The summary.json dict for a finished (or live) run."""
    duration_s = max(duration_s, 1e-9)
    models = {model: model_block(s, duration_s) for model, s in sorted(stats.models.items())}
    totals = model_block(stats.totals(), duration_s)
    cost_per_req = _safe_div(totals["cost_usd"], totals["requests"]) or 0.0
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "started_at": started_at,
        "duration_s": round(duration_s, 3),
        "host": host,
        "workers": workers if workers is not None else {"count": 1},
        "users": users,
        "shape": shape,
        "trusted": trusted,
        "warnings": list(warnings or []),
        "models": models,
        "totals": totals,
        "projection": {
            "calls_per_day": calls_per_day,
            "cost_per_request_usd": _round(cost_per_req),
            "monthly_cost_usd": round(cost_per_req * calls_per_day * 30, 2),
        },
        "preflight": preflight or {"requests_by_model": {}, "models_offered": []},
        "sink": sink or {"written": 0, "dropped": 0, "buffered_peak": 0, "flush_ms": {}},
        "slo": slo or {"passed": True, "checks": []},
        "generator": generator or {},
    }


def write_summary(summary: dict[str, Any], path: Path) -> None:
    """Write atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
