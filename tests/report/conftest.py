"""A realistic run folder (summary.json + records.jsonl.gz) from a seeded generator.

The generator plays a closed-loop run of a few users against two models with
log-normal latencies calibrated to DESIGN.md's reference table (median and
p95), cold first requests, 429s answered with a retry, a few upstream errors
and task checks. Records go through RunStats and build_summary exactly as a
real run's would.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path

import pytest

from loadkit.core.records import RequestRecord, record_to_dict
from loadkit.core.stats import RunStats

# model: (median e2e ms, p95 e2e ms, cold start ms)
REFERENCE = {
    "claude-4-haiku": (820.0, 1450.0, 2100.0),
    "gpt-4o-mini": (580.0, 980.0, 1400.0),
}
CATEGORIES = ("code", "summarization", "factual", "creative", "math")
WALL_START_NS = 1_764_000_000_000_000_000


def generate_records(
    seed: int = 7,
    duration_s: float = 60.0,
    users: int = 6,
    e2e_factor: float = 1.0,
    rate_limit_p: float = 0.03,
    error_p: float = 0.004,
) -> list[RequestRecord]:
    """Synthetic attempts of a closed-loop run; ``e2e_factor`` scales every latency (to inject a regression)."""
    rng = random.Random(seed)
    perf_start = 5000.0
    records: list[RequestRecord] = []
    last_used: dict[str, float] = {}
    for user in range(users):
        now = perf_start + rng.uniform(0, 1.0)
        while now < perf_start + duration_s:
            model = rng.choice(sorted(REFERENCE))
            median, p95, cold_ms = REFERENCE[model]
            sigma = math.log(p95 / median) / 1.645
            category = rng.choice(CATEGORIES)
            intended = now
            sent = intended + abs(rng.gauss(0.0005, 0.0003))
            cold = model not in last_used
            last_used[model] = sent
            attempt, throttled_s, first_sent = 1, 0.0, None
            if rng.random() < rate_limit_p:
                done = sent + rng.uniform(0.005, 0.02)
                records.append(_record(model, category, intended, sent, None, done, [], status=429,
                                       outcome="rate_limited", final=False, retry_after_s=1.0, user=user))
                first_sent = sent
                throttled_s = 1.0 + rng.uniform(0, 0.2)
                sent = done + throttled_s
                attempt = 2
            e2e_s = rng.lognormvariate(math.log(median), sigma) * e2e_factor / 1000.0
            if cold:
                e2e_s += cold_ms * e2e_factor / 1000.0 - median / 1000.0
            done = sent + e2e_s
            if rng.random() < error_p:
                records.append(_record(model, category, intended, sent, None, done, [], status=502,
                                       outcome="upstream_error", attempt=attempt, throttled_s=throttled_s,
                                       first_sent=first_sent, user=user))
            else:
                output_tokens = rng.randint(30, 160)
                first_token = sent + e2e_s * rng.uniform(0.25, 0.4)
                step = (done - first_token) / (output_tokens - 1)
                token_times = [first_token + i * step * rng.uniform(0.9, 1.1) for i in range(output_tokens - 1)]
                token_times.append(done)
                records.append(_record(model, category, intended, sent, first_token, done, token_times,
                                       status=200, outcome="ok", attempt=attempt, throttled_s=throttled_s,
                                       first_sent=first_sent, output_tokens=output_tokens, cold=cold,
                                       task_ok=rng.random() < 0.83, user=user,
                                       input_tokens=rng.randint(40, 400)))
            now = done + rng.uniform(0.05, 0.3)
    return records


def _record(model, category, intended, sent, first_token, done, token_times, *, status, outcome, final=True,
            attempt=1, throttled_s=0.0, first_sent=None, output_tokens=0, input_tokens=120, cold=False,
            task_ok=None, retry_after_s=None, user=0) -> RequestRecord:
    perf_start = 5000.0
    return RequestRecord(
        model=model, category=category, worker=f"w{user % 2}", attempt=attempt,
        intended_at=intended, sent_at=sent, headers_at=sent + 0.01 if status == 200 else done,
        first_event_at=first_token, first_token_at=first_token, done_at=done, token_times=token_times,
        started_wall_ns=WALL_START_NS + int((sent - perf_start) * 1e9), status=status, outcome=outcome,
        error_key=None if status == 200 else f"http_{status}", finish_reason="stop" if status == 200 else None,
        input_tokens=input_tokens if status == 200 else 0, output_tokens=output_tokens,
        usage_reported=status == 200, estimated_output_tokens=output_tokens, throttled_s=throttled_s,
        first_sent_at=first_sent, retry_after_s=retry_after_s, final=final, cold=cold, task_ok=task_ok,
    )


def write_run(run_dir: Path, records: list[RequestRecord], *, run_id: str | None = None, users: int = 6,
              duration_s: float = 60.0, slo: dict | None = None, trusted: bool = True) -> Path:
    """Write ``records.jsonl.gz`` and ``summary.json`` the way a run does; returns ``run_dir``."""
    from loadkit.core.summary import build_summary, write_summary

    run_dir.mkdir(parents=True, exist_ok=True)
    stats = RunStats()
    with gzip.open(run_dir / "records.jsonl.gz", "wt", encoding="utf-8") as fh:
        for record in sorted(records, key=lambda r: r.started_wall_ns):
            cost = stats.add(record)
            fh.write(json.dumps({**record_to_dict(record), "cost_usd": cost}) + "\n")
    summary = build_summary(
        stats, run_id=run_id or run_dir.name, started_at="2025-11-24T16:00:00Z", duration_s=duration_s,
        host="http://127.0.0.1:8000/v1", users=users, trusted=trusted,
        warnings=[] if trusted else ["schedule lag p99 14.2 ms > 10 ms"],
        sink={"written": len(records), "dropped": 0, "buffered_peak": 42,
              "flush_ms": {"p50": 1.2, "p90": 2.0, "p95": 2.4, "p99": 4.0, "max": 6.1, "mean": 1.4, "count": 60}},
        slo=slo,
    )
    write_summary(summary, run_dir / "summary.json")
    return run_dir


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """A 60 s, 6-user, two-model run folder."""
    return write_run(tmp_path_factory.mktemp("results") / "20251124-160000-sample", generate_records(seed=7))


@pytest.fixture(scope="session")
def make_run(tmp_path_factory):
    """``make_run(name, **generate_records kwargs) -> run folder`` (another run, e.g. a slower one)."""

    def make(name: str, **kwargs) -> Path:
        return write_run(tmp_path_factory.mktemp("results") / name, generate_records(**kwargs))

    return make


@pytest.fixture(scope="session")
def sample_summary(sample_run) -> dict:
    return json.loads((sample_run / "summary.json").read_text())
