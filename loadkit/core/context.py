"""The facts of a run that are not in its records: what :func:`loadkit.core.summary.summarize` is given
besides the stats (a :class:`RunContext`), and the generator's own health (:class:`Generator`, the
summary's ``generator`` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Generator", "RunContext"]

Latency = dict[str, Any]  # LatencyHistogram.summary(): p50/p90/p95/p99/max/mean in ms, count


@dataclass
class Generator:
    """The load generator's own health (summary.json ``generator``)."""

    cpu_percent_mean: float | None = None
    cpu_percent_max: float | None = None
    interrupted_requests: int = 0
    loop_lag_ms: Latency = field(default_factory=dict)
    timing_error_ms: dict[str, Any] | None = None  # the run's own timing error (locust/monitor.py)
    cpu_busy_share: float = 0.0  # highest share of 1 s CPU samples above trust.MAX_CPU_PERCENT, any process


@dataclass
class RunContext:
    """Everything a summary needs besides the merged stats."""

    run_id: str
    started_at: str = ""
    duration_s: float = 0.0
    host: str = ""
    users: int = 0
    shape: str = "closed"
    workers: dict[str, Any] | None = None  # a master's workers section (nodes, finished, required, lost)
    preflight: dict | None = None
    sink: dict | None = None
    generator: Generator = field(default_factory=Generator)
    slos: list = field(default_factory=list)  # slo.SLO objects, evaluated on the summary
    slo_result: dict | None = None  # an already evaluated result (kept as given)
    trusted: bool | None = None  # None: judged here (core/trust.py)
    warnings: list[str] = field(default_factory=list)  # the caller's own, after the trust warnings
    activity_logs: list[dict] | None = None  # coldview.ActivityLog dicts, one per process
    idle_s: float = 300.0
    calls_per_day: float = 10_000.0
    max_error_rate: float | None = None
    untrusted_exit_code: int = 3
    command_line: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    windows: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    started_epoch_s: float | None = None
    stop_signal: str | None = None
