"""Before and after the load: preflight, sink checks, summary and exit code."""

from __future__ import annotations

import atexit
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from loadkit.client.preflight import run_preflight
from loadkit.core.cold import seed_from_preflight
from loadkit.core.snapshot import MergedView
from loadkit.core.summary import RunContext, summarize, write_summary
from loadkit.errors import ExitCode, LoadkitError
from loadkit.settings import FIELDS
from loadkit.report.table import print_summary
from loadkit.locust.runtime import Runtime
from loadkit.locust.monitor import timing_error_summary

log = logging.getLogger("loadkit")


def _fail_before_load(rt: Runtime, message: str) -> None:
    rt.preflight_failed = message
    print(f"loadkit: {rt.redact(message)}", file=sys.stderr, flush=True)
    sys.exit(ExitCode.CANNOT_RUN)


def collect_slos(settings) -> list:
    """The SLOs of a run (loadkit.core.slo_inputs): --slo file or inline, then each --slo-check."""
    from loadkit.core.slo_inputs import collect_slos as collect

    return collect(settings)


def load_slos_or_exit(rt: Runtime) -> None:
    try:
        rt.slos = collect_slos(rt.settings)
    except LoadkitError as exc:
        _fail_before_load(rt, str(exc))


def preflight_or_exit(rt: Runtime) -> None:
    done_file = os.environ.get("LOADKIT_PREFLIGHT_FILE")
    if done_file and Path(done_file).is_file():
        data = json.loads(Path(done_file).read_text())
        adopt_preflight(rt, data)
        return
    s = rt.settings
    if not s.preflight:
        return
    if not s.host:
        options = rt.environment.parsed_options if rt.environment is not None else None
        if options is not None and not getattr(options, "headless", False):
            return  # web UI: the host comes from the start form; checked at test_start
        _fail_before_load(rt, "no host: give --host https://gateway.example/v1 (or use `loadkit run` for the simulator)")
    try:
        result = run_preflight(s)
    except LoadkitError as exc:
        _fail_before_load(rt, str(exc))
        return
    adopt_preflight(rt, result.to_dict())


def adopt_preflight(rt: Runtime, preflight: dict) -> None:
    """Take the preflight's result: its model map, and its requests as the models' first activity.

    The preflight's request met each model's cold start, so the cold tracker
    is seeded with when it ended: the run's first request is cold only after
    ``idle_s`` more (the same on workers, from the ``loadkit_run`` message).
    """
    rt.preflight = preflight
    rt.model_map = preflight.get("model_map", {})
    seed_from_preflight(rt.cold, rt.activity, preflight, now_s=time.perf_counter(), now_unix_s=time.time())


def take_run_message(rt: Runtime, data: dict) -> None:
    """A worker: its place among the master's workers, and the master's preflight, which met the cold
    starts, so this worker's first send may be warm."""
    rt.worker_index = data.get("index")
    rt.worker_count = data.get("count", rt.worker_count)
    if data.get("max_requests") is not None:  # the master's --max-requests: each worker starts its share
        rt.settings = rt.settings.with_(max_requests=int(data["max_requests"]))
    if data.get("preflight"):
        seed_from_preflight(rt.cold, rt.activity, data["preflight"], now_s=time.perf_counter(), now_unix_s=time.time())


def preflight_at_start(rt: Runtime, environment) -> bool:
    """Web UI runs: preflight against the host from the start form; False (and the run stopped) on failure."""
    known = rt.preflight.get("model_map") or {}
    if not rt.settings.preflight or all(m in known for m in rt.settings.models):
        return True
    host = rt.settings.host or environment.host
    if not host:
        return True
    s = rt.settings
    try:
        result = run_preflight(s, host)
    except LoadkitError as exc:
        log.error("loadkit preflight failed: %s", rt.redact(str(exc)))
        return False
    adopt_preflight(rt, result.to_dict())
    return True


def check_sink_or_exit(rt: Runtime) -> None:
    s = rt.settings
    if not s.influx_url:
        return
    try:
        from loadkit.sinks import check_influx
    except ImportError:
        return
    try:
        check_influx(s)
    except LoadkitError as exc:
        if s.influx_optional:
            log.warning("InfluxDB unusable (%s); --influx-optional: writing points to the results folder instead",
                        rt.redact(str(exc)))
            rt.settings = s.with_(influx_url="")
            return
        _fail_before_load(rt, str(exc))


def make_process_sink(rt: Runtime):
    try:
        from loadkit.sinks import make_sink
    except ImportError:
        return None
    out_dir = Path(rt.settings.results_dir) / rt.run_id
    if rt.role == "worker":
        # Workers of one machine (--processes) share results_dir: two processes
        # appending to one records.jsonl.gz interleave gzip blocks and corrupt it.
        out_dir = out_dir / "workers" / rt.worker
    # records.jsonl.gz is compressed in gevent's thread pool: a native thread, beside the event loop (gevent's
    # monitor had caught gzip writes of the drain holding the loop > 3 ms, 11 times in a 20 s run of 16 users)
    return make_sink(rt.settings, rt.run_id, out_dir, rt.worker, run_io=_threadpool_apply)


def _threadpool_apply(fn, args: tuple):
    import gevent

    return gevent.get_hub().threadpool.apply(fn, args)


def _versions() -> dict[str, str]:
    """Versions of what measured: loadkit, Locust, gevent, Python (from package metadata, nothing imported)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("loadkit", "locust", "gevent"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _settings_redacted(rt: Runtime) -> dict[str, Any]:
    """The run's settings for summary.json: secrets replaced by "***" (set) or "" (not set)."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        value = getattr(rt.settings, f.name)
        out[f.name] = ("***" if value else "") if f.secret else value
    return json.loads(rt.redact(json.dumps(out)))


def run_context(rt: Runtime, environment, silent_workers: list[str] | None = None,
                users: int | None = None) -> tuple[RunContext, MergedView]:
    """The run's typed context (and the merged numbers) for :func:`loadkit.core.summary.summarize`."""
    s = rt.settings
    if rt.role == "master":
        view = rt.workers.merged()
        workers = rt.workers.section(silent_workers or [], s.require_workers)
    else:
        view = rt.workers.merged(own=rt.snapshot())
        workers = {"count": max(1, len(rt.worker_snapshots))}
    duration = max(rt.duration_s(), view.duration_s)
    start = rt.started_epoch_s
    windows = view.windows.table(start, None if start is None else start + duration)
    runner = getattr(environment, "runner", None)
    if users is None:
        users = getattr(runner, "target_user_count", None) or s.users
    ctx = RunContext(
        run_id=rt.run_id, started_at=rt.started_wall or "", duration_s=duration,
        host=s.host or (getattr(environment, "host", "") or ""), users=users,
        shape=s.arrival if s.arrival == "closed" else f"{s.arrival} {s.rate_per_s:g}/s",
        workers=workers, preflight=rt.preflight, sink=view.sink,
        generator=rt.generator(view.loop_lag.summary(), view.interrupted, view.cpu_busy_share,
                               timing_error_summary(rt.timing if rt.role != "master" else None,
                                                    [{"timing_error": s.timing_error}
                                                     for s in rt.worker_snapshots.values()])),
        slos=rt.slos, interrupted=rt.run_interrupted, stop_signal=rt.stop_signal,
        activity_logs=view.activity_logs, idle_s=s.idle_s, calls_per_day=s.calls_per_day,
        max_error_rate=s.max_error_rate, untrusted_exit_code=s.untrusted_exit_code,
        command_line=[rt.redact(a) for a in rt.command_line], settings=_settings_redacted(rt),
        versions=_versions(), windows=windows, started_epoch_s=start,
    )
    return ctx, view


def finish_run(rt: Runtime, environment, silent_workers: list[str] | None = None) -> dict:
    """Build and write the summary, print the table, set the process exit code. Returns the summary."""
    ctx, view = run_context(rt, environment, silent_workers)
    summary = summarize(view.stats, ctx).to_dict()
    code = summary["exit_code"]
    out_dir = Path(rt.settings.results_dir) / rt.run_id
    write_summary(summary, out_dir / "summary.json")
    _write_extras(rt, out_dir, summary)
    environment.process_exit_code = code
    rt.final_summary = summary
    # Locust prints its own tables after the quitting hooks; loadkit's table, the numbers to trust, comes last
    # (atexit runs after Locust's sys.exit), for `loadkit run` and a plain `locust` master alike.
    # A web UI session prints each run's table at its Stop (the process goes on), and the last run's again
    # when the process quits (--autoquit, Ctrl-C), after Locust's tables.
    options = getattr(environment, "parsed_options", None)
    if options is None or getattr(options, "headless", False):
        atexit.register(print_final, summary, out_dir)
    else:
        print_final(summary, out_dir)
        _print_last_at_exit(summary, out_dir)
    return summary


_LAST_RUN: list[tuple[dict, Path]] = []  # a web UI session's last finished run, printed again at exit


def _print_last_at_exit(summary: dict, out_dir: Path) -> None:
    if not _LAST_RUN:
        atexit.register(lambda: _LAST_RUN and print_final(*_LAST_RUN[-1]))
    _LAST_RUN[:] = [(summary, out_dir)]


def print_final(summary: dict, out_dir: Path) -> None:
    """loadkit's table and where the results are: the last lines of the run."""
    print_summary(summary)
    print(f"results: {out_dir}/summary.json (exit code {summary['exit_code']})", flush=True)


def _write_extras(rt: Runtime, out_dir: Path, summary: dict) -> None:
    """JUnit and HTML report when those modules are present; failures are logged, never fatal."""
    try:
        from loadkit.report.junit import write_junit

        write_junit(summary["slo"], out_dir / "junit.xml", f"loadkit {rt.run_id}")
    except ImportError:
        pass
    except Exception as exc:  # a report must never hide the run's result
        log.warning("junit.xml not written: %s", exc)
    try:
        from loadkit.report.html import write_html_report

        write_html_report(out_dir, calls_per_day=rt.settings.calls_per_day)
    except ImportError:
        pass
    except Exception as exc:
        log.warning("report.html not written: %s", exc)


__all__ = ["finish_run", "run_context", "print_final", "preflight_or_exit", "check_sink_or_exit",
           "make_process_sink", "load_slos_or_exit"]
