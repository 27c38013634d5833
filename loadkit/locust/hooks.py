"""Locust event hooks: where loadkit's setup, merge and summary live.

- ``init``: settings from the environment (``LOADKIT_*``), the process
  Runtime, preflight on the master/local process (exit 2 before any user
  spawns when the key, host or a model is wrong).
- ``test_start``: sink and monitor greenlet start; the master tells workers
  the run id (``loadkit_run`` message, sent before Locust's spawn messages).
- worker -> master: every Locust stats report carries the worker's
  cumulative RunStats snapshot (``report_to_master``); the master keeps the
  newest per worker, so the merge is exact and a lost message loses nothing.
- ``quitting``: the master asks every live worker for a final snapshot
  (``loadkit_flush`` -> ``loadkit_final``), waits for them, merges, writes
  summary.json and sets the exit code.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import gevent
import psutil
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from ..config import load_settings
from ..errors import LoadkitError
from ..stats import RunStats
from .runtime import Runtime, get_runtime, set_runtime
from . import finish

log = logging.getLogger("loadkit")

_installed = False
_FINAL_WAIT_S = 15.0


def install() -> None:
    """Register the hooks once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)
    events.quitting.add_listener(_on_quitting)
    events.report_to_master.add_listener(_on_report_to_master)
    events.worker_report.add_listener(_on_worker_report)


def _role(environment) -> str:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return "master"
    if isinstance(runner, WorkerRunner):
        return "worker"
    return "local"


def _on_init(environment, **_kw) -> None:
    try:
        settings = load_settings()
    except LoadkitError as exc:
        log.error("%s", exc)
        sys.exit(2)
    if not settings.host and environment.host:
        settings = settings.with_(host=environment.host)
    role = _role(environment)
    rt = Runtime(settings, role=role)
    rt.request_event = environment.events.request
    rt.environment = environment
    set_runtime(rt)
    runner = environment.runner
    if role == "worker":
        runner.register_message("loadkit_run", _on_run_message)
        runner.register_message("loadkit_flush", _on_flush_request)
    elif role == "master":
        runner.register_message("loadkit_final", _on_final_snapshot)
    if role in ("local", "master"):
        finish.load_slos_or_exit(rt)
        finish.preflight_or_exit(rt)
        finish.check_sink_or_exit(rt)


def _on_run_message(msg, **_kw) -> None:
    rt = get_runtime()
    rt.run_id = msg.data["run_id"]
    rt.worker_index = msg.data.get("index")


def _start_monitor(rt: Runtime) -> None:
    proc = psutil.Process()
    proc.cpu_percent(None)

    def loop() -> None:
        last_requests = 0
        while True:
            gevent.sleep(1.0)
            cpu = proc.cpu_percent(None)
            rt.cpu_samples.append(cpu)
            requests = sum(s.requests for s in rt.stats.models.values())
            runner = getattr(rt, "environment", None) and rt.environment.runner
            if rt.sink is not None:
                rt.sink.submit_worker({
                    "users": getattr(runner, "user_count", 0) if runner else 0,
                    "in_flight": rt.in_flight,
                    "rps": float(requests - last_requests),
                    "cpu_percent": float(cpu),
                    "rss_mb": proc.memory_info().rss / 1e6,
                })
            last_requests = requests

    rt.monitor = gevent.spawn(loop)


def _on_test_start(environment, **_kw) -> None:
    rt = get_runtime()
    if rt.role == "master":
        rt.mark_started()
        for i, client in enumerate(list(environment.runner.clients.values())):
            environment.runner.send_message("loadkit_run", {"run_id": rt.run_id, "index": i}, client.id)
        return
    rt.mark_started()
    if rt.sink is None:
        rt.sink = finish.make_process_sink(rt)
        if rt.sink is not None:
            rt.sink.start()
            rt.sink.submit_run_event("start", {"users": rt.settings.users})
    if getattr(rt, "monitor", None) is None:
        _start_monitor(rt)


def _on_test_stop(environment, **_kw) -> None:
    rt = get_runtime()
    rt.mark_stopped()
    if rt.sink is not None:
        rt.sink.submit_run_event("stop", {"requests": sum(s.requests for s in rt.stats.models.values())})


def _snapshot(rt: Runtime, final: bool = False) -> dict:
    sink_stats = rt.sink.stats() if rt.sink is not None else {}
    cpu = rt.cpu_samples
    return {
        "worker": rt.worker,
        "final": final,
        "stats": rt.stats.to_dict(),
        "sink": sink_stats,
        "cpu_percent_mean": sum(cpu) / len(cpu) if cpu else 0.0,
        "cpu_percent_max": max(cpu) if cpu else 0.0,
        "cpu_over_90_share": (sum(1 for c in cpu if c > 90) / len(cpu)) if cpu else 0.0,
        "duration_s": rt.duration_s(),
        "in_flight": rt.in_flight,
        "interrupted": rt.interrupted,
        "sent_at": time.time(),
    }


def _on_report_to_master(client_id, data, **_kw) -> None:
    data["loadkit"] = _snapshot(get_runtime())


def _on_worker_report(client_id, data, **_kw) -> None:
    snap = data.get("loadkit")
    if snap is None:
        return
    rt = get_runtime()
    prev = rt.worker_snapshots.get(client_id)
    if prev is not None and prev.get("final"):
        return  # a final snapshot is never replaced by an older periodic one
    rt.worker_snapshots[client_id] = snap


def _on_flush_request(msg, **_kw) -> None:
    rt = get_runtime()
    rt.mark_stopped()
    deadline = time.monotonic() + 10.0
    while rt.in_flight and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if rt.sink is not None:
        rt.sink.stop(timeout_s=10.0)
    rt.environment.runner.send_message("loadkit_final", _snapshot(rt, final=True))


def _on_final_snapshot(msg, **_kw) -> None:
    rt = get_runtime()
    rt.worker_snapshots[msg.node_id] = msg.data


def _collect_final_snapshots(rt: Runtime, environment) -> list[str]:
    """Ask live workers for their final numbers; returns the ids that never answered."""
    runner = environment.runner
    live = [c.id for c in runner.clients.values() if c.state != "missing"]
    for cid in live:
        runner.send_message("loadkit_flush", {}, cid)
    deadline = time.monotonic() + _FINAL_WAIT_S
    while time.monotonic() < deadline:
        if all(rt.worker_snapshots.get(cid, {}).get("final") for cid in live):
            break
        gevent.sleep(0.05)
    return [cid for cid in live if not rt.worker_snapshots.get(cid, {}).get("final")]


def _on_quitting(environment, **_kw) -> None:
    rt = get_runtime()
    rt.mark_stopped()
    if rt.role == "worker":
        if rt.sink is not None:
            rt.sink.stop(timeout_s=10.0)
        return
    if rt.preflight_failed:
        return
    if rt.role == "master":
        silent = _collect_final_snapshots(rt, environment)
        merged = RunStats(rt.stats.prices)
        for snap in rt.worker_snapshots.values():
            merged.merge(RunStats.from_dict(snap["stats"]))
        rt.stats = merged
        finish.finish_run(rt, environment, silent_workers=silent)
        return
    if rt.sink is not None:
        rt.sink.stop(timeout_s=10.0)
    finish.finish_run(rt, environment)
