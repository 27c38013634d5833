"""Per-process state of a Locust run, made of small parts with one job each.

One :class:`Runtime` per Locust process (local, master or worker), created in
the ``init`` hook. Its parts:

- :class:`~loadkit.locust.recorder.Recorder` records an attempt (stats,
  windows, Locust's request event, sink): users call :meth:`Runtime.account`;
- :class:`~loadkit.locust.clock.OpenLoopClock` says when the next open-loop
  request is due;
- :class:`~loadkit.locust.workers.WorkerView` is a master's view of its
  workers (snapshots, joins, losses);
- :class:`~loadkit.locust.monitor.TrustMonitor` samples the generator's CPU
  and event-loop lag.

The older attribute names (``rt.stats``, ``rt.worker_snapshots``, ...) stay
as properties, for locustfiles that use them.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gevent.event

from loadkit.client.chat import ChatRequest
from loadkit.core.cold import ColdTracker
from loadkit.core.coldview import ActivityLog
from loadkit.core.records import RequestRecord
from loadkit.core.snapshot import WorkerSnapshot
from loadkit.core.summary import Generator
from loadkit.locust.clock import OpenLoopClock, RequestBudget
from loadkit.locust.trustmonitor import TrustMonitor
from loadkit.locust.recorder import LLMRequestFailed, Recorder
from loadkit.locust.workers import WorkerView
from loadkit.settings import Settings, load_settings, redact, secrets_of

__all__ = ["Runtime", "get_runtime", "new_run_id", "LLMRequestFailed"]


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


def _delegate(part: str, name: str, doc: str) -> property:
    """``rt.<name>`` reads and writes ``rt.<part>.<name>`` (the name it had before the split)."""
    return property(lambda self: getattr(getattr(self, part), name),
                    lambda self, value: setattr(getattr(self, part), name, value), doc=doc)


class Runtime:
    def __init__(self, settings: Settings, role: str = "local", worker: str | None = None) -> None:
        self.settings = settings
        self.role = role
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}"
        self.run_id = settings.run_id or os.environ.get("LOADKIT_RUN_ID") or new_run_id()
        self.recorder = Recorder()
        self.clock = OpenLoopClock()
        self.budget = RequestBudget()  # --max-requests
        self.workers = WorkerView()
        self.trust = TrustMonitor()
        self.workload: Any = self._make_workload(settings)
        self.secrets = secrets_of(settings)
        self.command_line = list(sys.argv)
        self.started_wall: str | None = None
        self.started_at: float | None = None
        self.started_epoch_s: float | None = None  # wall clock of the start: the windows' time 0
        self.stopped_at: float | None = None
        self.in_flight = 0
        self.due_later = 0  # open-loop arrivals taken (--max-requests budget spent) and waiting until due
        self.stopping = gevent.event.Event()  # set when the run starts to stop: waits for arrivals end at once
        self.cold = ColdTracker(settings.idle_s)
        self.activity = ActivityLog()  # for judging cold starts across workers (master view)
        self.timing: Any = None  # loadkit.locust.monitor.TimingMonitor once the run starts
        self.preflight: dict = {"requests_by_model": {}, "models_offered": []}
        self.preflight_failed: str | None = None
        self.model_map: dict[str, str] = {}
        self.interrupted = 0  # requests cut by Locust stopping a user mid-request
        # The run was still going when the process was told to quit (SIGTERM from
        # `docker stop`/Kubernetes, Ctrl-C): summary.json says ``interrupted``.
        self.run_interrupted = False
        self.stop_signal: str | None = None  # "SIGINT"/"SIGTERM" when `loadkit run` was stopped by one (stopfile)
        self.environment: Any = None
        self.slos: list = []

    sink = _delegate("recorder", "sink", "the process's sink (None on a master)")
    request_event = _delegate("recorder", "request_event", "Locust's request event")
    windows = _delegate("recorder", "windows", "this process's 5 s windows")
    schedule = _delegate("clock", "schedule", "the open-loop arrival schedule")
    worker_index = _delegate("clock", "worker_index", "this worker's index among the live workers")
    worker_count = _delegate("clock", "worker_count", "live workers: an open-loop process runs rate / count")
    cpu_samples = _delegate("trust", "cpu_samples", "CPU percent samples")
    loop_lag = _delegate("trust", "loop_lag", "event-loop lag histogram, ms")
    worker_snapshots = _delegate("workers", "snapshots", "master: newest WorkerSnapshot per client id")
    workers_joined = _delegate("workers", "joined", "master: client id -> when it joined")
    workers_lost = _delegate("workers", "lost", "master: client id -> how it was lost")
    watcher = _delegate("workers", "watcher", "master: the membership greenlet")
    final_collected = _delegate("workers", "final_collected", "master: ids without a final report")

    @property
    def stats(self):
        return self.recorder.stats

    @stats.setter
    def stats(self, value) -> None:
        """A new RunStats means the numbers start again: the windows too."""
        self.recorder.reset(value)

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
        """Open loop: the perf_counter time the next request of this process is due (None: closed loop)."""
        return self.clock.next_intended_at(self.settings, self.run_id)

    def take_request(self) -> bool:
        """--max-requests: reserve the next request of this process (False once its share is started)."""
        return self.budget.take(self.settings, self.worker_index, self.worker_count)

    def mark_cold(self, model: str, now: float) -> bool:
        """True when this send is the model's first, or the first after ``idle_s`` without activity
        (idle counts from the end of the model's last request, as a gateway sees it)."""
        return self.cold.mark_send(model, now)

    def account(self, rec: RequestRecord) -> None:
        """Record one attempt everywhere: stats, windows, Locust's request event, sink."""
        self.recorder.account(rec)

    def snapshot(self, final: bool = False, windows: dict | None = None) -> WorkerSnapshot:
        """This process's numbers as a worker snapshot (what a worker sends; a local run merges its own)."""
        return WorkerSnapshot(
            worker=self.worker, stats=self.stats, final=final,
            sink=self.sink.stats() if self.sink is not None else {},
            cpu_percent_mean=self.trust.cpu_percent_mean() or 0.0, cpu_percent_max=self.trust.cpu_percent_max() or 0.0,
            cpu_busy_share=self.trust.cpu_busy_share(), duration_s=self.duration_s(), in_flight=self.in_flight,
            interrupted=self.interrupted, loop_lag=self.loop_lag, activity=self.activity.to_dict(),
            timing_error=self.timing.to_dict() if self.timing is not None else None,
            windows=self.windows, sent_at=time.time())

    def generator(self, loop_lag_ms: dict, interrupted: int, cpu_busy_share: float,
                  timing_error_ms: dict | None = None) -> Generator:
        """summary.json ``generator``: this process's CPU, the run's loop lag, interruptions and CPU share."""
        return Generator(cpu_percent_mean=self.trust.cpu_percent_mean(), cpu_percent_max=self.trust.cpu_percent_max(),
                         interrupted_requests=interrupted, loop_lag_ms=loop_lag_ms,
                         cpu_busy_share=max(cpu_busy_share, self.trust.cpu_busy_share()),
                         timing_error_ms=timing_error_ms)

    def mark_started(self) -> None:
        if self.started_at is None:
            self.started_at = time.perf_counter()
            self.started_wall = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self.started_epoch_s = time.time()

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
