"""Locust event hooks: where loadkit's setup, merge and summary live.

- ``init``: settings from the environment (``LOADKIT_*``), the process
  Runtime, preflight on the master/local process (exit 2 before any user
  spawns when the key, host or a model is wrong).
- ``test_start``: sink and monitor greenlet start; the master tells workers
  the run id (``loadkit_run`` message, sent before Locust's spawn messages).
- worker -> master: every Locust stats report carries the worker's
  cumulative RunStats snapshot (``report_to_master``); the master keeps the
  newest per worker, so the merge is exact and a lost message loses nothing.
- ``test_stopping`` (master): before Locust tells workers to quit, the
  master asks every live worker for a final snapshot (``loadkit_flush`` ->
  ``loadkit_final``: the worker stops its users, waits for in-flight requests
  and its sink, then answers) and waits for them. Done here, not in
  ``quitting``: in a headless run Locust sends ``quit`` and kills the
  master's message listener before ``quitting`` fires.
- worker membership (master): a watcher notes every worker that joins, goes
  missing (heartbeats stopped) or leaves, with when and its last report, and
  tells live workers their ``index``/``count`` (``loadkit_workers``) so an
  open-loop rate is split over the workers alive now.
- ``quitting``: merge, write summary.json and set the exit code. A run still live here (headless, or
  a web UI run) was stopped by SIGTERM/Ctrl-C (Locust's own handling): it is drained first
  (loadkit.locust.signals); a web UI run is then written at its ``test_stop`` as after a Stop.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from loadkit.settings import Settings, env_name, flag_name, load_settings
from loadkit.errors import LoadkitError
from loadkit.locust.clock import RequestBudget
from loadkit.locust.runtime import Runtime, get_runtime, set_runtime
from loadkit.locust import finish, sessions, signals, stopfile

log = logging.getLogger("loadkit")

_installed = False
_FINAL_WAIT_S = 15.0
_WATCH_INTERVAL_S = 0.5


def install() -> None:
    """Register the hooks once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    events.init_command_line_parser.add_listener(_add_locust_arguments)
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stopping.add_listener(_on_test_stopping)
    events.test_stop.add_listener(_on_test_stop)
    events.quitting.add_listener(_on_quitting)
    events.report_to_master.add_listener(_on_report_to_master)
    events.worker_report.add_listener(_on_worker_report)


def _add_locust_arguments(parser) -> None:
    # Same name as the loadkit setting, so plain `locust --master --require-workers 2` works too.
    parser.add_argument("--require-workers", type=int, default=None, env_var="LOADKIT_REQUIRE_WORKERS",
                        include_in_web_ui=False,
                        help="loadkit: exit 3 unless this many workers finish with a final report "
                             "(default: every worker that joined)")
    # The traffic mix, editable in the web UI's start form (Locust's "custom parameters").
    # Defaults come from the LOADKIT_* environment, so plain flags, env vars and the form agree.
    for name in UI_SETTINGS:
        default = os.environ.get(env_name(name))
        if default is None:
            value = getattr(Settings(), name)
            default = ",".join(value) if isinstance(value, list) else (
                ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else
                ("true" if value is True else "false" if value is False else str(value)))
        parser.add_argument(flag_name(name), dest=name, type=str, default=default, env_var=env_name(name),
                            include_in_web_ui=True, help=f"loadkit: {name.replace('_', ' ')}")


# Settings a person may change from the web UI between runs.
UI_SETTINGS = ("models", "model_weights", "max_tokens", "stream", "arrival", "rate_per_s")


def _apply_ui_settings(rt: Runtime, environment) -> None:
    """Take the start form's traffic settings (Locust puts them in parsed_options) into the runtime."""
    options = environment.parsed_options
    if options is None:
        return
    given = {name: getattr(options, name) for name in UI_SETTINGS if getattr(options, name, None) not in (None, "")}
    try:
        updated = load_settings(given)
    except LoadkitError as exc:
        log.error("loadkit: the start form's settings are invalid: %s", exc)
        return
    changes = {name: getattr(updated, name) for name in UI_SETTINGS if getattr(updated, name) != getattr(rt.settings, name)}
    if not changes:
        return
    # Unknown model weights for models no longer selected would be refused: keep only the selected models'.
    settings = rt.settings.with_(**changes)
    rt.settings = settings
    rt.workload = rt._make_workload(settings)
    rt.schedule = None
    log.info("loadkit: traffic settings for this run: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))


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
    required = getattr(environment.parsed_options, "require_workers", None)
    if required is not None:
        if required < 0:
            log.error("--require-workers %d is negative; give 0 (every worker that joined) or a count", required)
            sys.exit(2)
        settings = settings.with_(require_workers=required)
    role = _role(environment)
    rt = Runtime(settings, role=role)
    rt.request_event = environment.events.request
    rt.environment = environment
    set_runtime(rt)
    runner = environment.runner
    if role == "worker":
        signals.leave_sigint_to_master(environment)  # `locust --processes N` + Ctrl-C: the master drains
        runner.register_message("loadkit_run", _on_run_message)
        runner.register_message("loadkit_flush", _on_flush_request)
        runner.register_message("loadkit_workers", _on_workers_message)
        runner.register_message("loadkit_reset", sessions.on_worker_reset)
    elif role == "master":
        runner.register_message("loadkit_final", _on_final_snapshot)
    if role in ("local", "master"):
        signals.install(rt, runner)  # plain `locust`: SIGTERM/Ctrl-C drain a live run first
        from loadkit.locust.webui import install_web_ui
        install_web_ui(environment, rt)
        stopfile.watch_stop_file(environment, rt)  # `loadkit run` was sent SIGINT/SIGTERM: stop like --run-time
        finish.load_slos_or_exit(rt)
        finish.preflight_or_exit(rt)
        finish.check_sink_or_exit(rt)


def _on_run_message(msg, **_kw) -> None:
    rt = get_runtime()
    if msg.data["run_id"] != rt.run_id and rt.started_at is not None:
        sessions.begin_run(rt, msg.data["run_id"])  # the master's web UI started a new run
    rt.run_id = msg.data["run_id"]
    finish.take_run_message(rt, msg.data)


def _on_workers_message(msg, **_kw) -> None:
    """The master's current membership: this worker's ``index`` among ``count`` live workers."""
    rt = get_runtime()
    rt.worker_index = msg.data["index"]
    rt.worker_count = msg.data["count"]


def _live_workers(runner) -> list[str]:
    """Client ids of connected, non-missing workers, in Locust's worker-index order."""
    live = [c.id for c in runner.clients.values() if c.state != "missing"]
    return sorted(live, key=runner.get_worker_index)


def _broadcast_membership(rt: Runtime, runner, live: list[str]) -> None:
    for index, cid in enumerate(live):
        runner.send_message("loadkit_workers", {"index": index, "count": len(live)}, cid)
    rt.worker_count = len(live)


def _watch_workers(rt: Runtime, runner) -> None:
    """Master greenlet: record joins and losses, rebroadcast index/count on every change."""
    known: list[str] = []
    while True:
        live = _live_workers(runner)
        for cid in live:
            rt.workers_joined.setdefault(cid, time.time())
        for cid in rt.workers_joined:
            if cid in live or cid in rt.workers_lost or rt.workers.is_final(cid):
                continue
            reason = "heartbeats stopped" if runner.clients.get(cid) is not None else "disconnected"
            rt.workers.note_lost(cid, reason, rt.duration_s())
        if live != known:
            _broadcast_membership(rt, runner, live)
            known = live
        gevent.sleep(_WATCH_INTERVAL_S)


def _on_test_start(environment, **_kw) -> None:
    rt = get_runtime()
    if rt.role in ("local", "master"):
        sessions.on_test_start(rt)  # a web UI start after an earlier one: new run id, fresh stats
    _apply_ui_settings(rt, environment)
    rt.budget = RequestBudget()  # --max-requests counts from each start
    rt.stopping.clear()  # a web UI start after a stop
    if rt.role in ("local", "master") and not finish.preflight_at_start(rt, environment):
        sessions.cancel_run()  # nothing ran: no results folder for it
        gevent.spawn_later(0, environment.runner.stop)
        return
    if rt.role == "master":
        rt.mark_started()
        live = _live_workers(environment.runner)
        for i, cid in enumerate(live):
            run = {"run_id": rt.run_id, "index": i, "count": len(live), "preflight": rt.preflight,
                   "max_requests": rt.settings.max_requests}
            environment.runner.send_message("loadkit_run", run, cid)
        rt.worker_count = len(live)
        rt.final_collected = None  # a web UI session may start again after a stop
        if rt.watcher is None or rt.watcher.dead:
            rt.watcher = gevent.spawn(_watch_workers, rt, environment.runner)
        return
    rt.mark_started()
    if rt.sink is None:
        rt.sink = finish.make_process_sink(rt)
        if rt.sink is not None:
            rt.sink.start()
            rt.sink.submit_run_event("start", {"users": rt.settings.users})
    if not rt.trust.running:
        rt.trust.start(rt)
    _freeze_startup_heap()


def _freeze_startup_heap() -> None:
    """What exists before the users spawn (modules, settings, preflight) lives for the whole run: collect once now
    and move it out of the collector's scans. A full collection in the run then scans only the run's own objects
    (measured at 80 req/s: one 28-36 ms gen-2 pause in the first second, and schedule lag max 52 ms, without this)."""
    gc.collect()
    gc.freeze()


def _on_test_stop(environment, **_kw) -> None:
    rt = get_runtime()
    rt.mark_stopped()
    if rt.sink is not None:
        rt.sink.submit_run_event("stop", {"requests": sum(s.requests for s in rt.stats.models.values())})
    if rt.role in ("local", "master"):
        sessions.on_test_stop(rt, environment)  # a web UI run: its summary/JUnit/report are written now


def _on_report_to_master(client_id, data, **_kw) -> None:
    rt = get_runtime()
    # Only the windows touched since the last report: the master keeps the newest copy of each.
    data["loadkit"] = rt.snapshot().to_wire(windows=rt.windows.to_dict(only_dirty=True))


def _on_worker_report(client_id, data, **_kw) -> None:
    snap = data.get("loadkit")
    if snap is None:
        return
    rt = get_runtime()
    rt.workers.receive(client_id, snap)
    _end_when_budget_done(rt, rt.environment)


def _end_when_budget_done(rt: Runtime, environment) -> None:
    """--max-requests on a master: each worker starts its share; the run ends when the workers' reports add
    up to that many ended requests (within one report interval, 3 s by default)."""
    total = rt.settings.max_requests
    if not total or rt.budget.stop_sent or environment is None or environment.runner is None:
        return
    if sum(snap.requests for snap in rt.worker_snapshots.values()) >= total:
        rt.budget.stop_sent = True
        headless = getattr(environment.parsed_options, "headless", True)
        log.info("loadkit: --max-requests %d reached", total)
        gevent.spawn(environment.runner.quit if headless else environment.runner.stop)


def _on_flush_request(msg, **_kw) -> None:
    rt = get_runtime()
    # Stop the users first (graceful within --stop-timeout) so the final
    # snapshot is the last one: nothing is sent after it.
    rt.environment.runner.stop()
    rt.mark_stopped()
    deadline = time.monotonic() + 10.0
    while rt.in_flight and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if rt.sink is not None:
        rt.sink.stop(timeout_s=10.0)
    rt.environment.runner.send_message("loadkit_final", rt.snapshot(final=True).to_wire())
    rt.sink = None  # stopped; a next run in the same web UI session starts a new one


def _on_final_snapshot(msg, **_kw) -> None:
    get_runtime().workers.receive(msg.node_id, msg.data)


def _collect_final_snapshots(rt: Runtime, environment) -> list[str]:
    """Ask live workers for their final numbers; returns the ids that never answered."""
    runner = environment.runner
    live = _live_workers(runner)
    for cid in live:
        runner.send_message("loadkit_flush", {}, cid)
    deadline = time.monotonic() + _FINAL_WAIT_S
    while time.monotonic() < deadline:
        if all(rt.workers.is_final(cid) for cid in live):
            break
        gevent.sleep(0.05)
    return [cid for cid in live if not rt.workers.is_final(cid)]


def _on_test_stopping(environment, **_kw) -> None:
    rt = get_runtime()
    rt.stopping.set()  # users waiting for an open-loop arrival due after the stop end now (ChatUser)
    if rt.role != "master" or rt.final_collected is not None:
        return
    rt.final_collected = []  # guards re-entry: Locust may call stop() again while we wait
    if rt.watcher is not None:
        rt.watcher.kill(block=False)
    rt.final_collected = _collect_final_snapshots(rt, environment)
    rt.mark_stopped()


def _on_quitting(environment, **_kw) -> None:
    rt = get_runtime()
    if rt.role == "worker" or environment.parsed_options is None:
        _finish_at_quitting(rt, environment)
        return
    how = signals.before_finish(rt, environment)  # a run still live here was stopped by a signal: drain it
    if how is None:
        return  # another quitting finished the run (before_finish waited for it)
    try:
        _finish_at_quitting(rt, environment, cut=how == "cut")
    finally:
        signals.after_finish()


def _finish_at_quitting(rt: Runtime, environment, cut: bool = False) -> None:
    rt.mark_stopped()
    if rt.role == "worker":
        if rt.sink is not None:
            rt.sink.stop(timeout_s=10.0)
        return
    if rt.preflight_failed:
        return
    if cut:
        sessions.cancel_run()  # a web UI run is written here: the drain cut short must not write it again
    elif sessions.finished_in_session(rt):
        return
    if rt.role == "master":
        silent = rt.final_collected
        if cut:  # a second signal: the workers that have not sent their final report yet never will
            silent = [cid for cid in _live_workers(environment.runner) if not rt.workers.is_final(cid)]
        elif silent is None:  # stopped without test_stopping (never started, or an older Locust)
            silent = _collect_final_snapshots(rt, environment)
        finish.finish_run(rt, environment, silent_workers=silent)
        return
    if rt.sink is not None:
        rt.sink.stop(timeout_s=10.0)
    finish.finish_run(rt, environment)
