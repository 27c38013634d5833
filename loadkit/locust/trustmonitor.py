"""The trust monitor: this process's CPU (and, through monitor.TimingMonitor, its event-loop lag), sampled while it generates load.

Its numbers go into summary.json ``generator`` (and each worker's snapshot);
the judgement of them is core/trust.py's.
"""

from __future__ import annotations

from typing import Any

import gevent
import psutil

from loadkit.core.metrics import LatencyHistogram
from loadkit.core.trust import cpu_busy_share
from loadkit.locust.monitor import TimingMonitor

__all__ = ["TrustMonitor"]

CPU_SAMPLE_S = 1.0


class TrustMonitor:
    def __init__(self) -> None:
        self.cpu_samples: list[float] = []  # percent of one core, every CPU_SAMPLE_S
        self.loop_lag = LatencyHistogram()  # how late the TimingMonitor probe woke, ms
        self.greenlets: list[Any] = []

    @property
    def running(self) -> bool:
        return bool(self.greenlets)

    def reset(self) -> None:
        self.cpu_samples = []
        self.loop_lag = LatencyHistogram()

    def cpu_percent_mean(self) -> float | None:
        return sum(self.cpu_samples) / len(self.cpu_samples) if self.cpu_samples else None

    def cpu_percent_max(self) -> float | None:
        return max(self.cpu_samples) if self.cpu_samples else None

    def cpu_busy_share(self) -> float:
        return cpu_busy_share(self.cpu_samples)

    def start(self, rt: Any) -> None:
        """Sample CPU (and send the per-second worker point to the sink) and probe the loop lag."""
        proc = psutil.Process()
        proc.cpu_percent(None)

        def sample() -> None:
            last_requests = 0
            while True:
                gevent.sleep(CPU_SAMPLE_S)
                cpu = proc.cpu_percent(None)
                if rt.stopped_at is not None:
                    continue  # between runs (web UI): an idle generator is not the run's generator
                self.cpu_samples.append(cpu)
                requests = sum(s.requests for s in rt.stats.models.values())
                runner = rt.environment.runner if rt.environment is not None else None
                if rt.sink is not None:
                    rt.sink.submit_worker({
                        "users": getattr(runner, "user_count", 0) if runner else 0,
                        "in_flight": rt.in_flight,
                        "rps": float(requests - last_requests),
                        "cpu_percent": float(cpu),
                        "rss_mb": proc.memory_info().rss / 1e6,
                        "user_greenlets": float(len(getattr(runner, "user_greenlets", ()) or ())) if runner else 0.0,
                        "histogram_bytes": float(rt.stats.memory_bytes()),
                    })
                last_requests = requests

        self.greenlets = [gevent.spawn(sample)]
        # Loop lag and each record's read lag (issue 17): a 2 ms probe, loadkit/locust/monitor.py.
        rt.timing = TimingMonitor(_WhileRunning(self, rt))
        rt.timing.start()
        self.greenlets.append(rt.timing.probe)


class _WhileRunning:
    """The loop-lag histogram as the probe sees it: wakes between runs (web UI) are not the run's."""

    def __init__(self, monitor: TrustMonitor, rt: Any) -> None:
        self.monitor, self.rt = monitor, rt

    def record(self, value_ms: float) -> None:
        if self.rt.stopped_at is None:
            self.monitor.loop_lag.record(value_ms)  # read at each call: a new run resets the histogram
