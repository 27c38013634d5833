"""summary.json: the contract CI jobs and reports read (DESIGN.md), as a typed :class:`RunSummary`.

:func:`summarize` is the ONE function that builds it: merged :class:`RunStats`
plus a typed :class:`RunContext` (run facts, workers, generator, SLOs,
settings) in; trust, warnings, cold starts across workers, SLO results and
the exit code out. The final summary (locust/finish.py), the web UI's live
view, ``report recompute``, ``compare``, JUnit and the HTML report all use
it; :meth:`RunSummary.to_dict` is summary.json. Fields are added, never
renamed.

Latency blocks are ``{"p50","p90","p95","p99","max","mean","count"}`` in ms
(None when there were no values) and are of warm, successful requests; cold
ones are under ``cold_start`` only (see ``notes``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from loadkit.core.cold import PREFLIGHT_E2E_NOTE, cold_source, with_preflight_cold
from loadkit.core.coldview import cold_count_all_workers
from loadkit.core.records import OUTCOMES
from loadkit.core.context import Generator, RunContext
from loadkit.core.stats import DISTRIBUTION_GRID, ModelStats, RunStats, distributions
from loadkit.core.trust import TrustFacts, judge, judged_clock, kernel_timing_error_estimate_ms
from loadkit.errors import ExitCode

__all__ = ["SCHEMA_VERSION", "RunSummary", "ModelSummary", "RunContext", "Generator", "summarize", "build_summary",
           "model_block", "write_summary", "read_summary", "metric_paths", "NOTES", "distributions",
           "DISTRIBUTION_GRID"]

SCHEMA_VERSION = 1
Latency = dict[str, Any]  # LatencyHistogram.summary(): p50/p90/p95/p99/max/mean in ms, count

# Why counts that look alike differ (summary.json "notes").
NOTES = {
    "requests": "requests = user requests that ended (a 429 retried and then answered is one request)",
    "attempts": "attempts = HTTP requests sent, retries included (attempts - requests = rate_limit.retries)",
    "e2e_ms.count": "latency blocks (e2e_ms, ttft_ms, itl_ms, ...) count warm successful requests only: they "
                    "exclude cold starts (cold_start.count) and failed requests (failures), so e2e_ms.count = "
                    "successes - cold_start.count of the successes",
    "itl_ms.count": "itl_ms counts inter-token gaps, not requests",
    "success_rate": "success_rate = successes / (requests - outcomes.interrupted): a request loadkit cut off at "
                    "stop is no verdict on the gateway (failures = those requests - successes)",
    "cold_start.count_all_workers": "cold starts the gateway saw: a worker's cold mark counts only when no worker "
                                    "sent to the model in the idle_s before it",
    "retry_after_s": "rate_limit.retry_after_s is in seconds (the gateway's Retry-After), not ms",
}


def _safe_div(a: float, b: float) -> float | None:
    return a / b if b else None


def _round(x: float | None, digits: int = 10) -> float | None:
    return None if x is None else round(x, digits)


@dataclass
class Tokens:
    input: int = 0
    output: int = 0
    usage_missing: int = 0
    estimated_output: int = 0


@dataclass
class RateLimit:
    responses_429: int = 0
    retried_ok: int = 0
    gave_up: int = 0
    retries: int = 0
    retries_per_request: float | None = None
    throttled_ms: Latency = field(default_factory=dict)  # plus "total" (ms)
    retry_after_s: Latency = field(default_factory=dict)  # seconds, not ms
    last_remaining_requests: int | None = None
    last_remaining_tokens: int | None = None


@dataclass
class ColdStart:
    count: int = 0
    ttft_ms: Latency = field(default_factory=dict)
    e2e_ms: Latency = field(default_factory=dict)
    warm_ttft_ms: Latency = field(default_factory=dict)
    warm_e2e_ms: Latency = field(default_factory=dict)
    count_all_workers: int = 0
    source: str = "run"  # "preflight" when the preflight's request was the model's cold sample
    e2e_note: str | None = None


@dataclass
class ModelSummary:
    """One model's (or the totals') section of summary.json."""

    requests: int = 0
    attempts: int = 0
    successes: int = 0
    failures: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {o: 0 for o in OUTCOMES})
    errors: dict[str, int] = field(default_factory=dict)
    finish_reasons: dict[str, int] = field(default_factory=dict)  # per final attempt that reported one
    success_rate: float | None = None
    error_rate: float | None = None
    rps: float | None = None
    successful_rps: float | None = None
    output_tokens_per_s: float | None = None
    e2e_ms: Latency = field(default_factory=dict)
    ttft_ms: Latency = field(default_factory=dict)
    ttfb_ms: Latency = field(default_factory=dict)
    itl_ms: Latency = field(default_factory=dict)
    tpot_ms: Latency = field(default_factory=dict)
    e2e_from_intended_ms: Latency = field(default_factory=dict)
    e2e_with_throttle_ms: Latency = field(default_factory=dict)
    schedule_lag_ms: Latency = field(default_factory=dict)
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    cost_per_success_usd: float | None = None
    cost_per_1k_requests_usd: float | None = None
    unpriced_requests: int = 0
    rate_limit: RateLimit = field(default_factory=RateLimit)
    cold_start: ColdStart = field(default_factory=ColdStart)
    task_success: dict[str, float] = field(default_factory=dict)
    task_checked: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0

    @classmethod
    def of(cls, s: ModelStats, duration_s: float) -> "ModelSummary":
        h = s.h
        # A request loadkit itself cut at stop ("interrupted") is no verdict on the gateway: the rates are
        # over the requests that ended by themselves (outcomes.interrupted counts the others).
        judged = s.requests - s.outcomes.get("interrupted", 0)
        failures = judged - s.successes
        throttled = h["throttled_ms"].summary()
        throttled["total"] = round(s.throttled_total_ms, 3)
        return cls(
            requests=s.requests, attempts=s.attempts, successes=s.successes, failures=failures,
            outcomes={name: s.outcomes.get(name, 0) for name in OUTCOMES}, errors=dict(s.errors.most_common(20)),
            finish_reasons=dict(s.finish_reasons.most_common(20)),
            success_rate=_safe_div(s.successes, judged), error_rate=_safe_div(failures, judged),
            rps=_safe_div(s.requests, duration_s), successful_rps=_safe_div(s.successes, duration_s),
            output_tokens_per_s=_safe_div(s.output_tokens, duration_s),
            **{name: h[name].summary() for name in ("e2e_ms", "ttft_ms", "ttfb_ms", "itl_ms", "tpot_ms",
                                                     "e2e_from_intended_ms", "e2e_with_throttle_ms",
                                                     "schedule_lag_ms")},
            tokens=Tokens(s.input_tokens, s.output_tokens, s.usage_missing, s.estimated_output_tokens),
            cost_usd=round(s.cost_usd, 8), cost_per_success_usd=_round(_safe_div(s.cost_usd, s.successes)),
            cost_per_1k_requests_usd=_round(_safe_div(s.cost_usd * 1000, s.requests)), unpriced_requests=s.unpriced,
            rate_limit=RateLimit(
                responses_429=s.responses_429, retried_ok=s.retried_ok, gave_up=s.gave_up,
                retries=s.attempts - s.requests, retries_per_request=_safe_div(s.attempts - s.requests, s.requests),
                throttled_ms=throttled, retry_after_s=h["retry_after_s"].summary(),
                last_remaining_requests=s.remaining_requests, last_remaining_tokens=s.remaining_tokens),
            cold_start=ColdStart(count=s.cold_count, ttft_ms=h["cold_ttft_ms"].summary(),
                                 e2e_ms=h["cold_e2e_ms"].summary(), warm_ttft_ms=h["ttft_ms"].summary(),
                                 warm_e2e_ms=h["e2e_ms"].summary(), count_all_workers=s.cold_count),
            task_success={cat: round(s.task_passed.get(cat, 0) / n, 6)
                          for cat, n in sorted(s.task_checked.items()) if n},
            task_checked=dict(sorted(s.task_checked.items())),
            fallbacks=s.fallbacks,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSummary":
        kw = _known(cls, d)
        for name, typ in (("tokens", Tokens), ("rate_limit", RateLimit), ("cold_start", ColdStart)):
            if isinstance(d.get(name), dict):
                kw[name] = typ(**_known(typ, d[name]))
        return cls(**kw)


@dataclass
class RunSummary:
    schema_version: int = SCHEMA_VERSION
    run_id: str = ""
    started_at: str = ""
    duration_s: float = 0.0
    host: str = ""
    workers: dict[str, Any] = field(default_factory=lambda: {"count": 1})
    users: int = 0
    shape: str = "closed"
    trusted: bool = True
    warnings: list[str] = field(default_factory=list)
    models: dict[str, ModelSummary] = field(default_factory=dict)
    totals: ModelSummary = field(default_factory=ModelSummary)
    projection: dict[str, Any] = field(default_factory=dict)
    preflight: dict[str, Any] = field(default_factory=lambda: {"requests_by_model": {}, "models_offered": []})
    sink: dict[str, Any] = field(default_factory=lambda: {"written": 0, "dropped": 0, "buffered_peak": 0,
                                                          "flush_ms": {}})
    slo: dict[str, Any] = field(default_factory=lambda: {"passed": True, "checks": []})
    generator: Generator = field(default_factory=Generator)
    degraded: bool = False
    exit_code: int = 0
    notes: dict[str, str] = field(default_factory=lambda: dict(NOTES))
    command_line: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # secrets redacted
    versions: dict[str, str] = field(default_factory=dict)
    windows: dict[str, Any] = field(default_factory=dict)  # windows.WindowStats.table(): the over-time series
    distributions: dict[str, Any] = field(default_factory=dict)  # latency by percentile: :func:`distributions`
    interrupted: bool = False  # stopped by a signal before its end
    started_epoch_s: float | None = None  # wall clock of the start, s: time 0 of ``windows``
    stop_signal: str | None = None  # "SIGINT"/"SIGTERM" when `loadkit run` was stopped by one

    def to_dict(self) -> dict[str, Any]:
        """The summary.json dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSummary":
        kw = _known(cls, d)
        kw["models"] = {m: ModelSummary.from_dict(b) for m, b in (d.get("models") or {}).items()}
        if isinstance(d.get("totals"), dict):
            kw["totals"] = ModelSummary.from_dict(d["totals"])
        if isinstance(d.get("generator"), dict):
            kw["generator"] = Generator(**_known(Generator, d["generator"]))
        return cls(**kw)


def _known(cls, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def summarize(stats: RunStats, ctx: RunContext) -> RunSummary:
    """THE summary of a run (final, live or recomputed)."""
    from loadkit.core.slo import evaluate, exit_code

    duration_s = max(ctx.duration_s, 1e-9)
    stats = with_preflight_cold(stats, ctx.preflight)  # the preflight's cold sample: a cold start, not a request
    models = {model: ModelSummary.of(s, duration_s) for model, s in sorted(stats.models.items())}
    totals = ModelSummary.of(stats.totals(), duration_s)
    if ctx.activity_logs is not None:
        # Cold starts from the gateway's view (equal to the per-process count in a single-process run).
        all_view = cold_count_all_workers(ctx.activity_logs, ctx.idle_s)
        for model, block in models.items():
            block.cold_start.count_all_workers = all_view.get(model, 0)
        totals.cold_start.count_all_workers = sum(all_view.get(m, 0) for m in models)
    for model, block in models.items():
        block.cold_start.source = cold_source(ctx.preflight, model)
        if block.cold_start.source == "preflight":
            block.cold_start.e2e_note = PREFLIGHT_E2E_NOTE
            if ctx.activity_logs is not None:
                block.cold_start.count_all_workers += 1  # the preflight's cold sample counts in both counts
                totals.cold_start.count_all_workers += 1
    if any(b.cold_start.source == "preflight" for b in models.values()):
        totals.cold_start.source = "preflight"
    workers = ctx.workers if ctx.workers is not None else {"count": 1}
    distributed = "nodes" in workers
    facts = TrustFacts(
        schedule_lag_p99_ms=totals.schedule_lag_ms.get("p99"),
        loop_lag_p95_ms=(ctx.generator.loop_lag_ms or {}).get("p95"),
        cpu_busy_share=ctx.generator.cpu_busy_share,
        workers_finished=workers.get("finished") if distributed else None,
        workers_required=workers.get("required") if distributed else None,
        workers_lost=tuple(workers.get("lost") or ()),
        timing_error_p99_ms=((ctx.generator.timing_error_ms or {}).get("ttft_ms") or {}).get("p99"),
        timing_clock=judged_clock(ctx.generator.timing_error_ms or {}),
        ttft_p50_ms=totals.ttft_ms.get("p50"),
        loop_lag_p99_ms=(ctx.generator.loop_lag_ms or {}).get("p99"),
    )
    verdict = judge(facts)
    generator = ctx.generator
    estimate = kernel_timing_error_estimate_ms(facts)
    if estimate is not None and generator.timing_error_ms:
        # kernel stamps: the error left (coalescing) is not in the records; its estimate is the loop lag p99
        generator = replace(generator, timing_error_ms=dict(generator.timing_error_ms,
                                                                        estimated_ttft_p99_ms=round(estimate, 3)))
    warnings = verdict.warnings + list(ctx.warnings)
    if ctx.interrupted and not ctx.stop_signal:
        warnings.append("the run was stopped before its end (a signal): the numbers cover the part that ran")
    if ctx.stop_signal:
        warnings.append(f"the run was interrupted by {ctx.stop_signal} after {duration_s:.1f} s")
    interrupted = ctx.generator.interrupted_requests
    if interrupted:
        warnings.append(f"{interrupted} request(s) were cut off when users stopped (use --stop-timeout)")
    err = totals.error_rate
    if ctx.max_error_rate is not None and err is not None and err > ctx.max_error_rate:
        warnings.append(f"error rate {err:.2%} is above --max-error-rate {ctx.max_error_rate:.2%}")
    if ctx.max_error_rate is not None and totals.requests == 0:
        warnings.append("no request completed")
    cost_per_req = _safe_div(totals.cost_usd, totals.requests) or 0.0
    summary = RunSummary(
        run_id=ctx.run_id, started_at=ctx.started_at, duration_s=round(duration_s, 3), host=ctx.host,
        workers=workers, users=ctx.users, shape=ctx.shape,
        trusted=verdict.trusted if ctx.trusted is None else ctx.trusted, warnings=warnings,
        models=models, totals=totals,
        projection={"calls_per_day": ctx.calls_per_day, "cost_per_request_usd": _round(cost_per_req),
                    "monthly_cost_usd": round(cost_per_req * ctx.calls_per_day * 30, 2)},
        preflight=ctx.preflight or {"requests_by_model": {}, "models_offered": []},
        sink=ctx.sink or {"written": 0, "dropped": 0, "buffered_peak": 0, "flush_ms": {}},
        generator=generator, degraded=verdict.degraded,
        command_line=list(ctx.command_line), settings=dict(ctx.settings), versions=dict(ctx.versions),
        windows=ctx.windows or {}, distributions=distributions(stats),
        interrupted=ctx.interrupted or bool(ctx.stop_signal),
        started_epoch_s=ctx.started_epoch_s, stop_signal=ctx.stop_signal,
    )
    if ctx.slo_result is not None:
        summary.slo = ctx.slo_result
    elif ctx.slos:
        summary.slo = evaluate(ctx.slos, summary.to_dict())
    if ctx.stop_signal:
        # An interrupted run is never a passing gate: JUnit shows it as a failed testcase.
        summary.slo = dict(summary.slo, passed=False, checks=[*summary.slo["checks"], {
            "name": "run not interrupted", "metric": "interrupted", "op": "==", "limit": False,
            "value": ctx.stop_signal, "passed": False}])
        summary.exit_code = int(ExitCode.TERMINATED if ctx.stop_signal == "SIGTERM" else ExitCode.INTERRUPTED)
    else:
        summary.exit_code = int(exit_code(summary.to_dict(), summary.slo, max_error_rate=ctx.max_error_rate,
                                          untrusted_exit_code=ctx.untrusted_exit_code))
    return summary


def build_summary(stats: RunStats, *, run_id: str, started_at: str, duration_s: float, host: str, users: int,
                  shape: str = "closed", workers: Any = None, trusted: bool | None = None,
                  warnings: list[str] | None = None, preflight: dict | None = None, sink: dict | None = None,
                  slo: dict | None = None, generator: dict | None = None,
                  calls_per_day: float = 10_000.0) -> dict[str, Any]:
    """The summary.json dict from keyword facts (kept for callers of the older API): :func:`summarize`."""
    ctx = RunContext(run_id=run_id, started_at=started_at, duration_s=duration_s, host=host, users=users,
                     shape=shape, workers=workers, preflight=preflight, sink=sink,
                     generator=Generator(**_known(Generator, generator or {})), slo_result=slo,
                     trusted=True if trusted is None else trusted, warnings=list(warnings or []),
                     calls_per_day=calls_per_day)
    return summarize(stats, ctx).to_dict()


def model_block(s: ModelStats, duration_s: float) -> dict[str, Any]:
    """One model's (or the totals') section of summary.json, as a dict."""
    return asdict(ModelSummary.of(s, duration_s))


def metric_paths() -> tuple[frozenset[str], frozenset[str]]:
    """(per-model paths, run-wide paths) of the numbers in a summary: what an SLO may name."""
    def leaves(prefix: str, value: Any, out: set[str]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                leaves(f"{prefix}{k}.", v, out)
        elif not isinstance(value, (list, str)):
            out.add(prefix[:-1])

    from loadkit.core.metrics import LatencyHistogram

    blank = LatencyHistogram().summary()
    block = asdict(ModelSummary.of(ModelStats(), 1.0))
    block["rate_limit"]["throttled_ms"] = {**blank, "total": 0.0}
    model: set[str] = set()
    leaves("", {k: v for k, v in block.items() if k not in ("errors", "finish_reasons", "task_success", "task_checked")}, model)
    top: set[str] = {"trusted", "degraded", "duration_s", "users", "workers", "exit_code"}
    leaves("", {"sink": {"written": 0, "dropped": 0, "buffered_peak": 0, "failed_flushes": 0, "flush_ms": blank},
                "workers": {"count": 0, "finished": 0, "required": 0},
                "generator": {**asdict(Generator()), "loop_lag_ms": blank}}, top)
    return frozenset(model), frozenset(top)


def write_summary(summary: dict[str, Any] | RunSummary, path: Path) -> None:
    """Write atomically (a reader never sees half a file)."""
    if isinstance(summary, RunSummary):
        summary = summary.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_summary(path: str | Path) -> RunSummary:
    """A summary.json file as a :class:`RunSummary` (unknown keys of newer files ignored)."""
    return RunSummary.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
