"""A capacity run: search every model, judge each step against the SLO, plan from the answer.

:func:`run_capacity` drives a :class:`~loadkit.studies.driver.StepDriver`
through :func:`~loadkit.studies.capacity.search.search_capacity` one model after
another and returns the ``capacity.json`` document (see
:mod:`loadkit.studies.capacity.report`).

A step passes when every SLO that applies to the model (its own, ``"*"``
and overall ones, checked against the step's summary block; run-wide ones
such as ``sink.dropped`` do not apply to a step) is met, and the step's 429
share and error share are at most ``max_429_share`` / ``max_error_share``
(guards so that a rate limit or failures break a step even when the SLO file
says nothing about them), and it was not aborted.

Binding constraint of a model: what broke its first failing step —
``rate_limit`` (a 429 check failed), else ``errors`` (an error / success
check failed), else ``generator`` (the step's schedule lag p99 passed
``max_schedule_lag_p99_ms``, the trust rule of ``loadkit run``: the step
measured this generator, not the gateway, so its latency says nothing),
else ``latency`` (a latency check failed, or the step was aborted with too
many requests in flight); ``none`` when no step up to the maximum failed.

Each model's verdict (``verdict`` in capacity.json) is one of
``limit_found`` (a step passed and a higher one failed: the max sustainable
level), ``limit_not_reached`` (no step failed: the capacity is at least the
highest level tried), ``no_passing_step`` (the first level already failed)
and ``generator_limited`` (the first failing step failed the trust rule:
the answer is a floor set by this generator).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadkit.core import metrics as m
from loadkit.core.pricing import PriceTable
from loadkit.core.records import RequestRecord
from loadkit.core.slo import SLO, evaluate
from loadkit.core.summary import model_block
from loadkit.core.stats import ModelStats, RunStats
from loadkit.studies.driver import StepDriver, StepMeasure
from loadkit.studies.capacity.projection import project
from loadkit.studies.capacity.search import kneedle, search_capacity

__all__ = ["CapacitySettings", "judge_step", "run_capacity", "classify_metric", "verdict", "SCHEMA_VERSION",
           "GENERATOR_METRIC"]

SCHEMA_VERSION = 1
_LATENCY_ROOTS = ("e2e_ms", "ttft_ms", "ttfb_ms", "itl_ms", "tpot_ms", "e2e_from_intended_ms",
                  "e2e_with_throttle_ms", "schedule_lag_ms")
# per-request value of a latency root, for goodput (requests that met every per-request limit)
_PER_REQUEST: dict[str, Callable[[RequestRecord], float | None]] = {
    "e2e_ms": m.e2e_ms, "ttft_ms": m.ttft_ms, "ttfb_ms": m.ttfb_ms, "tpot_ms": m.tpot_ms,
    "itl_ms": m.itl_max_ms, "e2e_from_intended_ms": m.e2e_from_intended_ms,
}
_STATS = ("p50", "p90", "p95", "p99", "max", "mean", "count")


@dataclass(frozen=True)
class CapacitySettings:
    models: tuple[str, ...]
    kind: str = "rate"  # "rate" (requests/s steps) | "concurrency" (user steps)
    start: float = 1.0
    stop: float = 200.0
    step: float = 10.0
    step_s: float = 10.0
    warmup_s: float = 2.0
    search: str = "bisect"
    resolution: float | None = None
    max_429_share: float = 0.01
    max_error_share: float = 0.01
    calls_per_day: float = 10_000.0
    peak_ratio: float = 3.0
    worker_margin: float = 0.5
    latency_metric: str = ""  # the knee's curve; default: the first latency SLO, else e2e_ms.p95
    # trust rule of `loadkit run` (the caller passes the one constant; None: steps are not judged on it)
    max_schedule_lag_p99_ms: float | None = None
    # "fail": an untrusted step fails (the answer is a floor set by the generator); "mark": it is only marked
    # trusted=false (informational, e.g. a functional test on a busy CI machine), as --untrusted-exit-code 0 for run
    untrusted_steps: str = "fail"
    # users one generator process keeps with TTFT error p99 < 1 ms, from `loadkit calibrate` (None: workers
    # needed from this run's requests per CPU-second)
    calibrated_users_per_process: int | None = None


def classify_metric(metric: str) -> str:
    """``rate_limit``, ``errors`` or ``latency``: which kind of constraint a check's metric is."""
    if "429" in metric or "rate_limit" in metric or "rate_limited" in metric:
        return "rate_limit"
    if metric.split(".")[0].split("/")[0].strip() in _LATENCY_ROOTS:
        return "latency"
    return "errors"


def _applies(slo: SLO, model: str) -> bool:
    return not slo.is_top_level and slo.model in (None, "*", model)


def _latency_limits(slos: list[SLO]) -> list[tuple[str, float]]:
    """Per-request limits implied by latency SLOs (``e2e_ms.p95 < 300`` -> each request's e2e < 300 ms)."""
    out = []
    for slo in slos:
        root = slo.metric.split(".")[0]
        if "/" not in slo.metric and root in _PER_REQUEST and slo.op in ("<", "<=") and not isinstance(slo.value, bool):
            out.append((root, float(slo.value)))
    return out


def _good(r: RequestRecord, limits: list[tuple[str, float]]) -> bool:
    if r.outcome != "ok":
        return False
    for root, limit in limits:
        value = _PER_REQUEST[root](r)
        if value is not None and value > limit:
            return False
    return True


def _pick(block: dict, key: str) -> dict:
    stats = block.get(key) or {}
    return {s: stats.get(s) for s in _STATS}


def judge_step(measure: StepMeasure, slos: list[SLO], settings: CapacitySettings,
               prices: PriceTable | None = None) -> tuple[dict[str, Any], ModelStats]:
    """The step's row for capacity.json (and its aggregates): rates, percentiles, shares, verdict."""
    model = measure.model
    stats = RunStats(prices)
    for r in measure.records:
        stats.add(r)
    model_stats = stats.models.get(model) or ModelStats()
    window_s = max(measure.window_s, 1e-9)
    block = model_block(model_stats, window_s)
    applicable = [s for s in slos if _applies(s, model)]
    checks = evaluate(applicable, {"models": {model: block}, "totals": block})["checks"] if applicable else []
    requests = model_stats.requests
    share_429 = (model_stats.responses_429 / requests) if requests else None
    errors = requests - model_stats.successes - model_stats.outcomes.get("rate_limited", 0)
    error_share = (errors / requests) if requests else None
    # one check per applicable SLO, in order ("*" gives one: the block holds one model)
    checks = [dict(c, metric=slo.metric) for slo, c in zip(applicable, checks)]
    checks.append({"name": f"429 share <= {settings.max_429_share:g}", "metric": "rate_limit.responses_429 / requests",
                   "limit": settings.max_429_share, "value": share_429,
                   "passed": share_429 is not None and share_429 <= settings.max_429_share})
    checks.append({"name": f"error share <= {settings.max_error_share:g}", "metric": "error_share",
                   "limit": settings.max_error_share, "value": error_share,
                   "passed": error_share is not None and error_share <= settings.max_error_share})
    limits = _latency_limits(applicable)
    good = sum(1 for r in measure.records if _good(r, limits))
    lag = block["schedule_lag_ms"]
    failed = [c for c in checks if not c["passed"]]
    row = {
        "level": measure.level,
        "kind": measure.kind,
        "offered_rps": measure.level if measure.kind == "rate" else None,
        "users": int(measure.level) if measure.kind == "concurrency" else None,
        "achieved_rps": requests / window_s,
        "ok_rps": model_stats.successes / window_s,
        "goodput_rps": good / window_s,
        "requests": requests,
        "window_s": round(measure.window_s, 3),
        "e2e_ms": _pick(block, "e2e_ms"),
        "ttft_ms": _pick(block, "ttft_ms"),
        "e2e_from_intended_ms": _pick(block, "e2e_from_intended_ms"),
        "share_429": share_429,
        "error_share": error_share,
        "schedule_lag_p99_ms": lag.get("p99"),
        "peak_in_flight": measure.peak_in_flight,
        "aborted": measure.aborted,
        "passed": not failed and measure.aborted is None,
        "failed": [{"name": c["name"], "metric": c["metric"], "value": c["value"], "limit": c["limit"]}
                   for c in failed],
        "checks": checks,
        "generator": {"cpu_s": round(measure.cpu_s, 4), "wall_s": round(measure.wall_s, 4),
                      "answered": measure.answered_total},
    }
    if measure.aborted:
        row["failed"].append({"name": "in-flight cap", "metric": "in_flight", "value": measure.peak_in_flight,
                              "limit": None})
    max_lag = settings.max_schedule_lag_p99_ms
    lag_p99 = lag.get("p99")
    row["trusted"] = max_lag is None or lag_p99 is None or lag_p99 <= max_lag
    if not row["trusted"] and settings.untrusted_steps == "fail":
        row["passed"] = False
        row["failed"].append({"name": f"generator schedule lag p99 <= {max_lag:g} ms", "metric": GENERATOR_METRIC,
                              "value": lag_p99, "limit": max_lag})
    return row, model_stats


GENERATOR_METRIC = "schedule_lag_ms.p99"


def verdict(best: dict | None, breaking: dict | None, binding: str) -> str:
    """One of ``limit_found``, ``limit_not_reached``, ``no_passing_step``, ``generator_limited`` (module docstring)."""
    if breaking is None:
        return "limit_not_reached" if best is not None else "no_passing_step"
    if binding == "generator":
        return "generator_limited"
    return "limit_found" if best is not None else "no_passing_step"


def _binding(row: dict | None) -> str:
    if row is None:
        return "none"
    kinds = {"generator" if f["metric"] == GENERATOR_METRIC else
             classify_metric(f["metric"]) if f["metric"] != "in_flight" else "latency" for f in row["failed"]}
    for kind in ("rate_limit", "errors", "generator", "latency"):  # an untrusted step says nothing of latency
        if kind in kinds:
            return kind
    return "latency"


def _latency_metric(slos: list[SLO], wanted: str) -> str:
    if wanted:
        return wanted
    for slo in slos:
        parts = slo.metric.split(".")
        if len(parts) == 2 and parts[0] in ("e2e_ms", "ttft_ms", "e2e_from_intended_ms") and parts[1] in _STATS:
            return slo.metric
    return "e2e_ms.p95"


def _value(row: dict, metric: str) -> float | None:
    root, stat = metric.split(".")
    return (row.get(root) or {}).get(stat)


def run_capacity(
    driver: StepDriver,
    slos: list[SLO],
    settings: CapacitySettings,
    *,
    prices: PriceTable | None = None,
    on_step: Callable[[str, dict], None] | None = None,
    warm_up_models: bool = True,
) -> dict[str, Any]:
    """Search each model in turn; returns the capacity.json document (without run facts)."""
    prices = prices or PriceTable()
    integer = settings.kind == "concurrency"
    latency_metric = _latency_metric(slos, settings.latency_metric)
    models_out: dict[str, Any] = {}
    cpu_total = 0.0
    answered_total = 0
    wall_total = 0.0
    preflight: dict[str, int] = {}
    for model in settings.models:
        if warm_up_models:  # a cold start belongs to no step
            driver.send_one(model)
            preflight[model] = 1
        rows: list[dict] = []
        aggregate = ModelStats()
        per_level: dict[float, dict] = {}

        def run_step(level: float) -> bool:
            nonlocal cpu_total, answered_total, wall_total
            if integer:
                measure = driver.concurrency_step(model, int(level), settings.step_s, settings.warmup_s)
            else:
                measure = driver.rate_step(model, level, settings.step_s, settings.warmup_s)
            row, stats = judge_step(measure, slos, settings, prices)
            row["index"] = len(rows)
            rows.append(row)
            per_level[level] = row
            aggregate.merge(stats)
            cpu_total += measure.cpu_s
            answered_total += measure.answered_total
            wall_total += measure.wall_s
            if on_step is not None:
                on_step(model, row)
            return row["passed"]

        result = search_capacity(run_step, start=settings.start, stop=settings.stop, step=settings.step,
                                 mode=settings.search, resolution=settings.resolution, integer=integer)
        phases = {s.index: s.phase for s in result.steps}
        for row in rows:
            row["phase"] = phases.get(row["index"], "sweep")
        best = per_level.get(result.last_pass) if result.last_pass is not None else None
        breaking = per_level.get(result.first_fail) if result.first_fail is not None else None
        levels = [r["level"] for r in rows]
        knee_index = kneedle(levels, [_value(r, latency_metric) for r in rows])
        knee_row = rows[knee_index] if knee_index is not None else None
        successes = aggregate.successes
        mean_in = aggregate.input_tokens / successes if successes else None
        mean_out = aggregate.output_tokens / successes if successes else None
        max_rps = None
        if best is not None:
            max_rps = best["offered_rps"] if settings.kind == "rate" else best["ok_rps"]
        models_out[model] = {
            "steps": rows,
            "search": result.to_dict(),
            "max_sustainable": None if best is None else {
                "level": best["level"], "rps": max_rps, "step": best["index"],
                "achieved_rps": best["achieved_rps"], "goodput_rps": best["goodput_rps"],
                "e2e_ms": best["e2e_ms"]},
            "breaking_step": None if breaking is None else {
                "step": breaking["index"], "level": breaking["level"], "failed": breaking["failed"]},
            "binding_constraint": _binding(breaking),
            "verdict": verdict(best, breaking, _binding(breaking)),
            "highest_level_tried": max(levels) if levels else None,
            "knee": {"method": "kneedle", "metric": latency_metric,
                     "level": None if knee_row is None else knee_row["level"],
                     "step": None if knee_row is None else knee_row["index"]},
            "mean_tokens": {"input": mean_in, "output": mean_out},
        }
    rps_per_cpu_s = answered_total / cpu_total if cpu_total > 0 else None
    generator = {
        "transport": "httpx",
        "threads_max": driver.max_in_flight,
        "cpu_s": round(cpu_total, 4),
        "wall_s": round(wall_total, 4),
        "answered": answered_total,
        "requests_per_cpu_s": rps_per_cpu_s,
        "calibrated_users_per_process": settings.calibrated_users_per_process,
        "cpu_utilisation": (cpu_total / wall_total) if wall_total > 0 else None,
    }
    projection = {}
    for model, out in models_out.items():
        best = out["max_sustainable"]
        mean_ms = best["e2e_ms"]["mean"] if best else None
        p95_ms = best["e2e_ms"]["p95"] if best else None
        projection[model] = project(
            calls_per_day=settings.calls_per_day, peak_ratio=settings.peak_ratio,
            mean_latency_s=None if mean_ms is None else mean_ms / 1000.0,
            p95_latency_s=None if p95_ms is None else p95_ms / 1000.0,
            max_sustainable_rps=best["rps"] if best else None,
            mean_input_tokens=out["mean_tokens"]["input"], mean_output_tokens=out["mean_tokens"]["output"],
            price=prices.get(model), worker_margin=settings.worker_margin, generator_rps_per_core=rps_per_cpu_s,
            users_per_process=settings.calibrated_users_per_process,
        ).to_dict()
    return {
        "schema_version": SCHEMA_VERSION,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.__dict__.items()},
        "slo": [s.check_name() for s in slos],
        "preflight": {"requests_by_model": preflight},
        "models": models_out,
        "generator": generator,
        "projection": {"calls_per_day": settings.calls_per_day, "peak_ratio": settings.peak_ratio,
                       "models": projection},
    }
