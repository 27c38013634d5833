"""Per-process state of a Locust run: settings, stats, sink, cold tracking.

One :class:`Runtime` per Locust process (local, master or worker), created in
the ``init`` hook. Users call :meth:`Runtime.account` with every attempt
record; that updates the mergeable stats, fires Locust's request event (so the
normal stats and UI work, name = model) and hands the record to the sink.
Nothing here blocks on I/O.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loadkit.client.chat import ChatRequest
from loadkit.workload.arrivals import ArrivalSchedule
from loadkit.core.cold import ColdTracker
from loadkit.core.coldview import ActivityLog
from loadkit.settings import Settings, load_settings, redact, secrets_of
from loadkit.core.metrics import LatencyHistogram, e2e_ms
from loadkit.core.records import RequestRecord
from loadkit.core.stats import RunStats

log = logging.getLogger("loadkit")

__all__ = ["Runtime", "get_runtime", "new_run_id", "LLMRequestFailed"]


class LLMRequestFailed(Exception):
    """What Locust's failure table shows: a stable ``<outcome>: <key>`` text, no raw server text."""


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class SimpleWorkload:
    """Weighted model mix with one short prompt: used when no shaping module is configured."""

    def __init__(self, settings: Settings) -> None:
        weights = settings.weights()
        self.models = [m for m, w in weights.items() if w > 0]
        self.weights = [weights[m] for m in self.models]
        self.settings = settings

    def next_request(self, rng: random.Random) -> ChatRequest:
        model = rng.choices(self.models, self.weights)[0]
        return ChatRequest(
            model,
            [{"role": "user", "content": "Explain in two sentences what a load test measures."}],
            max_tokens=self.settings.max_tokens,
            stream=self.settings.stream,
        )


class Runtime:
    def __init__(self, settings: Settings, role: str = "local", worker: str | None = None) -> None:
        self.settings = settings
        self.role = role
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}"
        self.run_id = settings.run_id or os.environ.get("LOADKIT_RUN_ID") or new_run_id()
        self.stats = RunStats()
        self.workload: Any = self._make_workload(settings)
        self.sink = None
        self.secrets = secrets_of(settings)
        self.started_wall: str | None = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.in_flight = 0
        self.cold = ColdTracker(settings.idle_s)
        self.activity = ActivityLog()  # for judging cold starts across workers (master view)
        self.loop_lag = LatencyHistogram()  # wake-up delay of a periodic 50 ms sleep, ms
        self.loop_lag_probe: Any = None
        self.timing: Any = None  # loadkit.locust.monitor.TimingMonitor once the run starts
        self.schedule: ArrivalSchedule | None = None
        self._last_intended_at = 0.0
        self.preflight: dict = {"requests_by_model": {}, "models_offered": []}
        self.preflight_failed: str | None = None
        self.cpu_samples: list[float] = []
        self.model_map: dict[str, str] = {}
        self.request_event = None
        self.worker_snapshots: dict[str, dict] = {}
        self.worker_meta: dict[str, dict] = {}
        self._error_lines: dict[str, float] = {}
        self.interrupted = 0  # requests cut by Locust stopping a user mid-request
        # The run was still going when the process was told to quit (SIGTERM from
        # `docker stop`/Kubernetes, Ctrl-C): summary.json says ``interrupted``.
        self.run_interrupted = False
        self.stop_signal: str | None = None  # "SIGINT"/"SIGTERM" when `loadkit run` was stopped by one (stopfile)
        self.environment: Any = None
        self.worker_index: int | None = None
        # Live workers the master last announced (loadkit_workers): an open-loop
        # schedule gives this process rate / worker_count.
        self.worker_count = 1
        # master only: membership over the run and the final-report round
        self.workers_joined: dict[str, float] = {}
        self.workers_lost: dict[str, dict] = {}
        self.watcher: Any = None
        self.final_collected: list[str] | None = None
        self.monitor: Any = None
        self.slos: list = []

    @staticmethod
    def _make_workload(settings: Settings):
        try:
            from loadkit.workload import Workload  # shaping is optional until configured
        except ImportError:
            return SimpleWorkload(settings)
        return Workload.from_settings(settings) if hasattr(Workload, "from_settings") else Workload(settings)

    @property
    def results_dir(self) -> Path:
        return Path(self.settings.results_dir) / self.run_id

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def next_intended_at(self) -> float | None:
        """Open loop: the perf_counter time the next request of this process is due (None: closed loop).

        One schedule per process, shared by its users: any free user takes the
        next arrival, so a slow reply never delays later arrivals (no
        coordinated omission); when no user is free, the lateness shows up as
        schedule lag. The process's rate is the run's rate over the live worker
        count, rebuilt from "now" when workers join or leave.
        """
        s = self.settings
        if s.arrival == "closed":
            return None
        rate = s.rate_per_s / max(1, self.worker_count)
        now = time.perf_counter()
        if self.schedule is None or self.schedule.rate_per_s != rate:
            start = now if self.schedule is None else max(now, self._last_intended_at)
            rng = random.Random(f"{self.run_id}:{self.worker_index or 0}")
            self.schedule = ArrivalSchedule(s.arrival, rate, start, rng)
        self._last_intended_at = self.schedule.next_intended_at()
        return self._last_intended_at

    def mark_cold(self, model: str, now: float) -> bool:
        """True when this send is the model's first, or the first after ``idle_s`` without activity
        (idle counts from the end of the model's last request, as a gateway sees it)."""
        return self.cold.mark_send(model, now)

    def account(self, rec: RequestRecord) -> None:
        """Record one attempt everywhere: stats, Locust's request event, sink."""
        cost = self.stats.add(rec)
        if self.request_event is not None:
            exc = None
            if rec.outcome != "ok":
                exc = LLMRequestFailed(f"{rec.outcome}: {rec.error_key or rec.status}")
            self.request_event.fire(
                request_type="STREAM" if rec.stream else "CHAT",
                name=rec.model,
                response_time=e2e_ms(rec),
                response_length=rec.output_tokens,
                response=None,
                context={},
                exception=exc,
                start_time=rec.started_wall_ns / 1e9,
                url=None,
            )
        if self.sink is not None:
            self.sink.submit(rec, cost)
        if rec.outcome not in ("ok", "rate_limited"):
            self._log_error_once(rec)

    def _log_error_once(self, rec: RequestRecord) -> None:
        """One line per error kind per 10 s, never a traceback per request."""
        key = f"{rec.model}:{rec.outcome}:{rec.error_key}"
        now = time.monotonic()
        if now - self._error_lines.get(key, -1e9) >= 10.0:
            self._error_lines[key] = now
            log.warning("%s request failed: %s (%s); further ones are counted, not logged, for 10 s",
                        rec.model, rec.outcome, rec.error_key)

    def mark_started(self) -> None:
        if self.started_at is None:
            self.started_at = time.perf_counter()
            self.started_wall = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def mark_stopped(self) -> None:
        if self.started_at is not None and self.stopped_at is None:
            self.stopped_at = time.perf_counter()

    def duration_s(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.stopped_at if self.stopped_at is not None else time.perf_counter()
        return end - self.started_at


_RUNTIME: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime (created lazily from the environment when a user runs outside the hooks)."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = Runtime(load_settings())
    return _RUNTIME


def set_runtime(rt: Runtime | None) -> None:
    global _RUNTIME
    _RUNTIME = rt
