"""What a worker reports to its master, typed: :class:`WorkerSnapshot`, and the one merge of them.

A worker sends its cumulative snapshot with every Locust stats report
(periodic) and once more when asked for its final numbers. The master keeps
the newest snapshot per worker (:meth:`WorkerSnapshot.newer`: a final one is
never replaced, windows accumulate since each report carries only the
windows it touched) and :func:`merge` turns them into one
:class:`MergedView`: exact stats, windows, loop lag, sink counters,
activity logs for cold starts and the generator's health.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from loadkit.core.metrics import LatencyHistogram
from loadkit.core.stats import RunStats
from loadkit.core.windows import WindowStats

__all__ = ["WorkerSnapshot", "MergedView", "merge", "merge_sink"]


@dataclass
class WorkerSnapshot:
    worker: str
    stats: RunStats
    final: bool = False
    sink: dict[str, Any] = field(default_factory=dict)
    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    cpu_busy_share: float = 0.0  # share of CPU samples above trust.MAX_CPU_PERCENT
    duration_s: float = 0.0
    in_flight: int = 0
    interrupted: int = 0
    loop_lag: LatencyHistogram = field(default_factory=LatencyHistogram)
    activity: dict[str, Any] = field(default_factory=dict)  # coldview.ActivityLog.to_dict()
    windows: WindowStats = field(default_factory=WindowStats)
    timing_error: dict[str, Any] | None = None  # locust.monitor.TimingMonitor.to_dict()
    sent_at: float = field(default_factory=time.time)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.stats.models.values())

    def to_wire(self, windows: dict[str, Any] | None = None) -> dict[str, Any]:
        """The message dict (msgpack-able). ``windows``: an already serialised (e.g. only-dirty) window set."""
        return {
            "worker": self.worker, "final": self.final, "stats": self.stats.to_dict(), "sink": self.sink,
            "cpu_percent_mean": self.cpu_percent_mean, "cpu_percent_max": self.cpu_percent_max,
            "cpu_busy_share": self.cpu_busy_share, "duration_s": self.duration_s, "in_flight": self.in_flight,
            "interrupted": self.interrupted, "loop_lag_ms": self.loop_lag.to_dict(), "activity": self.activity,
            "windows": windows if windows is not None else self.windows.to_dict(), "sent_at": self.sent_at,
            "timing_error": self.timing_error,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> "WorkerSnapshot":
        return cls(
            worker=d.get("worker") or "?", stats=RunStats.from_dict(d["stats"]), final=bool(d.get("final")),
            sink=d.get("sink") or {}, cpu_percent_mean=float(d.get("cpu_percent_mean") or 0.0),
            cpu_percent_max=float(d.get("cpu_percent_max") or 0.0),
            cpu_busy_share=float(d.get("cpu_busy_share", d.get("cpu_over_90_share", 0.0)) or 0.0),
            duration_s=float(d.get("duration_s") or 0.0), in_flight=int(d.get("in_flight") or 0),
            interrupted=int(d.get("interrupted") or 0),
            loop_lag=LatencyHistogram.from_dict(d["loop_lag_ms"]) if d.get("loop_lag_ms") else LatencyHistogram(),
            activity=d.get("activity") or {},
            windows=WindowStats.from_dict(d["windows"]) if d.get("windows") else WindowStats(),
            sent_at=float(d.get("sent_at") or 0.0), timing_error=d.get("timing_error"),
        )

    def newer(self, previous: "WorkerSnapshot | None") -> "WorkerSnapshot":
        """The snapshot to keep when this one arrives after ``previous`` from the same worker."""
        if previous is None:
            return self
        if previous.final and not self.final:
            return previous  # a final snapshot is never replaced by an older periodic one
        merged = WindowStats(previous.windows.window_s)
        merged.replace(previous.windows)
        merged.replace(self.windows)  # this report's copy of a window is the newer, cumulative one
        self.windows = merged
        return self


def merge_sink(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """summary.json ``sink`` of several processes: counts add, peaks take the max."""
    out: dict[str, Any] = {"written": 0, "dropped": 0, "buffered_peak": 0, "failed_flushes": 0}
    for p in parts:
        for key in ("written", "dropped", "failed_flushes"):
            out[key] += int(p.get(key, 0) or 0)
        out["buffered_peak"] = max(out["buffered_peak"], int(p.get("buffered_peak", 0) or 0))
        if "target" in p:
            out["target"] = p["target"]
        if "flush_ms" in p:
            out.setdefault("flush_ms", p["flush_ms"])
    out.setdefault("flush_ms", {})
    return out


@dataclass
class MergedView:
    stats: RunStats
    windows: WindowStats
    loop_lag: LatencyHistogram
    sink: dict[str, Any]
    activity_logs: list[dict[str, Any]]
    interrupted: int
    cpu_busy_share: float
    duration_s: float


def merge(snapshots: list[WorkerSnapshot], own: WorkerSnapshot | None = None) -> MergedView:
    """The one merge of worker snapshots (plus ``own``: this process's snapshot, on a master or alone)."""
    parts = list(snapshots) + ([own] if own is not None else [])
    stats = RunStats(own.stats.prices if own is not None else None)
    windows = WindowStats()
    lag = LatencyHistogram()
    for s in parts:
        stats.merge(s.stats)
        windows.merge(s.windows)
        lag.merge(s.loop_lag)
    return MergedView(
        stats=stats, windows=windows, loop_lag=lag, sink=merge_sink([s.sink for s in parts if s.sink]),
        activity_logs=[s.activity for s in parts if s.activity],
        interrupted=sum(s.interrupted for s in parts),
        cpu_busy_share=max((s.cpu_busy_share for s in parts), default=0.0),
        duration_s=max((s.duration_s for s in parts), default=0.0),
    )
