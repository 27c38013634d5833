"""Web UI sessions: every Start from the UI is its own run.

A web UI process lives through many runs: Start, Stop, change the users,
Start again. Each start gets a new run id and fresh stats; each Stop writes
that run's summary.json, junit.xml and report.html (the same ``finish_run``
a headless run uses) into ``results/<run_id>/``; Reset zeroes loadkit's
numbers like Locust's (on a master, the workers' too). The session keeps the
list of its runs for the LLM tab and, after a Stop, that run's final windows
for its charts (while a run goes, they are the runtime's own windows,
merged across workers: ``webui.live_windows``).

Headless runs never create a session: there the hooks finish the one run at
``quitting`` as before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from loadkit.core.coldview import ActivityLog
from loadkit.core.metrics import LatencyHistogram
from loadkit.core.stats import RunStats
from loadkit.locust.runtime import Runtime, new_run_id

log = logging.getLogger("loadkit")

__all__ = ["WebSession", "install", "get_session", "begin_run", "reset_stats", "live_stats",
           "RUN_FILES", "cancel_run", "on_test_start", "on_test_stop", "on_worker_reset",
           "finished_in_session"]

# files a finished run offers for download from the LLM tab: name -> MIME type
RUN_FILES = {"summary.json": "application/json", "junit.xml": "application/xml", "report.html": "text/html"}


def live_stats(rt: Runtime) -> RunStats:
    """This process's stats, or on a master the merge of the newest worker snapshots."""
    if rt.role != "master":
        return rt.stats
    return rt.workers.merged().stats


class WebSession:
    """The runs of one web UI process, and the live windows of the current one."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []  # finished runs, oldest first
        self.active = False  # a run started and not yet written
        self.started_any = False
        self.last_windows: dict[str, Any] | None = None  # the last finished run's window table (summary.json)

    def run_entry(self, summary: dict[str, Any], files: list[str]) -> dict[str, Any]:
        totals = summary.get("totals") or {}
        return {"run_id": summary.get("run_id"), "started_at": summary.get("started_at"),
                "duration_s": summary.get("duration_s"), "users": summary.get("users"),
                "requests": totals.get("requests"), "exit_code": summary.get("exit_code"), "files": files}


_SESSION: WebSession | None = None


def get_session() -> WebSession | None:
    """This process's web UI session (None in a headless run)."""
    return _SESSION


def install(environment, rt: Runtime) -> WebSession:
    """Start a session for a web UI process (local or master); Reset in the UI resets loadkit's numbers too."""
    global _SESSION
    _SESSION = WebSession()
    environment.events.reset_stats.add_listener(lambda **_kw: reset_stats(rt))
    return _SESSION


def begin_run(rt: Runtime, run_id: str) -> None:
    """Fresh per-run state under ``run_id`` (a new web UI run; on a worker, the master's new run)."""
    rt.run_id = run_id
    rt.stats = RunStats(rt.stats.prices)
    rt.started_at = rt.stopped_at = None
    rt.started_wall = None
    rt.cpu_samples = []
    rt.interrupted = 0
    rt.loop_lag = LatencyHistogram()
    rt.activity = ActivityLog()
    rt.worker_snapshots = {}
    rt.workers_lost = {}
    rt.final_collected = None
    rt.schedule = None
    # the preflight's requests were load of the first run only; what it learned (model map) still holds
    rt.preflight = {**rt.preflight, "requests_by_model": {}, "cold_samples": {}}


def reset_stats(rt: Runtime) -> None:
    """The UI's Reset: loadkit's numbers start again from now (on a master, the workers' too)."""
    rt.stats = RunStats(rt.stats.prices)
    rt.worker_snapshots = {}
    rt.interrupted = 0
    if rt.started_at is not None and rt.stopped_at is None:
        rt.started_at = time.perf_counter()
    runner = rt.environment.runner if rt.environment is not None else None
    if rt.role == "master" and runner is not None:
        for client_id in list(runner.clients):
            runner.send_message("loadkit_reset", {"run_id": rt.run_id}, client_id)
    log.info("loadkit: stats reset")


def on_worker_reset(msg, **_kw) -> None:
    """Worker side of Reset: zero this worker's stats (its next report replaces the master's copy)."""
    from loadkit.locust.runtime import get_runtime

    rt = get_runtime()
    rt.stats = RunStats(rt.stats.prices)
    rt.interrupted = 0


def on_test_start(rt: Runtime) -> None:
    """Local/master ``test_start``: a start after an earlier one in this session is a new run."""
    session = _SESSION
    if session is None:
        return
    if session.started_any:
        begin_run(rt, new_run_id())
        log.info("loadkit: new web UI run %s", rt.run_id)
    session.started_any = True
    session.active = True
    session.last_windows = None


def cancel_run() -> None:
    """The run was refused before any load (preflight failed at start): nothing to write at Stop."""
    if _SESSION is not None:
        _SESSION.active = False


def on_test_stop(rt: Runtime, environment) -> None:
    """Local/master ``test_stop``: write this run's summary, JUnit and report; the session lists it."""
    from loadkit.locust import finish

    session = _SESSION
    if session is None or not session.active:
        return
    session.active = False
    if rt.role == "master":
        rt.stats = live_stats(rt)
    elif rt.sink is not None:
        rt.sink.stop(timeout_s=10.0)
    summary = finish.finish_run(rt, environment, silent_workers=rt.final_collected or [])
    session.last_windows = summary.get("windows") or None
    rt.sink = None  # stopped; the next run writes its own folder
    out_dir = rt.results_dir
    files = [name for name in RUN_FILES if (out_dir / name).exists()]
    session.runs.append(session.run_entry(summary, files))


def finished_in_session(rt: Runtime) -> bool:
    """True when a web UI session already wrote every run it started (``quitting`` has nothing to write)."""
    return _SESSION is not None and not _SESSION.active
