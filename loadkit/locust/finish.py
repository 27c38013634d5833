"""Before and after the load: preflight, sink checks, summary and exit code."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import time

from loadkit.core.cold import PREFLIGHT_E2E_NOTE, cold_source, seed_from_preflight, with_preflight_cold
from loadkit.core.coldview import cold_count_all_workers
from loadkit.errors import LoadkitError
from loadkit.core.metrics import LatencyHistogram
from loadkit.client.preflight import run_preflight
from loadkit.core.summary import build_summary, write_summary
from loadkit.report.table import print_summary
from loadkit.locust.runtime import Runtime
from loadkit.locust.monitor import timing_error_summary

log = logging.getLogger("loadkit")

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_RUN, EXIT_UNTRUSTED = 0, 1, 2, 3
EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # shell convention: 128 + signal number

# Past these the generator's numbers are not trusted (DESIGN.md).
MAX_SCHEDULE_LAG_P99_MS = 10.0
MAX_CPU_PERCENT = 90.0
MAX_LOOP_LAG_P95_MS = 10.0


def _fail_before_load(rt: Runtime, message: str) -> None:
    rt.preflight_failed = message
    print(f"loadkit: {rt.redact(message)}", file=sys.stderr, flush=True)
    sys.exit(EXIT_CANNOT_RUN)


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
    return make_sink(rt.settings, rt.run_id, out_dir, rt.worker)


def merged_loop_lag(rt: Runtime, snapshots: list[dict]) -> LatencyHistogram:
    """Event-loop lag of this process and every worker, merged."""
    lag = LatencyHistogram()
    lag.merge(rt.loop_lag)
    for snap in snapshots:
        if snap.get("loop_lag_ms"):
            lag.merge(LatencyHistogram.from_dict(snap["loop_lag_ms"]))
    return lag


def _trust(rt: Runtime, summary_models: dict, snapshots: list[dict]) -> tuple[bool, list[str]]:
    warnings: list[str] = []
    lag = summary_models.get("schedule_lag_ms", {}).get("p99")
    if lag is not None and lag > MAX_SCHEDULE_LAG_P99_MS:
        warnings.append(f"generator schedule lag p99 {lag:.1f} ms > {MAX_SCHEDULE_LAG_P99_MS:.0f} ms: "
                        "the generator fell behind its schedule; add workers or lower the rate")
    shares = [s.get("cpu_over_90_share", 0.0) for s in snapshots]
    cpu = rt.cpu_samples
    if cpu:
        shares.append(sum(1 for c in cpu if c > MAX_CPU_PERCENT) / len(cpu))
    # p95, not p99: a short run has few probes, and one hiccup must not condemn it; a generator late
    # by > 10 ms for 5 % of the run is systematically starved, and its tail latencies carry that delay.
    loop_p95 = merged_loop_lag(rt, snapshots).percentile(95)
    if loop_p95 is not None and loop_p95 > MAX_LOOP_LAG_P95_MS:
        warnings.append(f"generator event-loop lag p95 {loop_p95:.1f} ms > {MAX_LOOP_LAG_P95_MS:.0f} ms: the generator "
                        "was busy or starved of CPU, and its timings include that delay; add workers or free the CPU")
    if any(share >= 0.2 for share in shares):
        warnings.append(f"generator CPU above {MAX_CPU_PERCENT:.0f} % for 20 % or more of the run: "
                        "timings include the generator's own queueing; add workers")
    return (not warnings), warnings


def _sink_section(snapshots: list[dict], own: dict | None) -> dict[str, Any]:
    parts = [s.get("sink") or {} for s in snapshots]
    if own:
        parts.append(own)
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


def _node_requests(snap: dict) -> int:
    return sum(m.get("requests", 0) for m in snap["stats"]["models"].values())


def _node_schedule_lag_ms(snap: dict) -> dict[str, float | None]:
    """p50/p99/max of one worker's sent - intended, ms (its own generator falling behind)."""
    from loadkit.core.stats import RunStats

    lag = RunStats.from_dict(snap["stats"]).totals().h["schedule_lag_ms"].summary()
    return {k: lag[k] for k in ("p50", "p99", "max")}


def _workers_section(rt: Runtime, silent: list[str], trusted: bool,
                     warnings: list[str]) -> tuple[dict[str, Any], bool, bool]:
    """summary.json ``workers`` of a master, whether the run is still trusted, and whether it is degraded.

    A worker is lost when it went missing (heartbeats stopped) or sent no
    final report; its last periodic snapshot stays in the merge, so only what
    it did after that report is missing. Degraded: some worker was lost.
    Trusted fails when fewer than ``require_workers`` workers (0: every worker
    that joined) finished with a final report."""
    snaps = rt.worker_snapshots
    lost_ids = sorted(set(silent) | set(rt.workers_lost))
    nodes: dict[str, Any] = {}
    for cid in sorted(set(snaps) | set(rt.workers_joined) | set(lost_ids)):
        s = snaps.get(cid)
        requests = _node_requests(s) if s else 0
        node = {
            "worker": s.get("worker") if s else None,
            "requests": requests,
            "rps": requests / s["duration_s"] if s and s.get("duration_s") else None,
            "cpu_percent_mean": s.get("cpu_percent_mean") if s else None,
            "cpu_percent_max": s.get("cpu_percent_max") if s else None,
            "schedule_lag_ms": _node_schedule_lag_ms(s) if s else None,
            "sink_dropped": (s.get("sink") or {}).get("dropped", 0) if s else 0,
            "final": bool(s and s.get("final")),
            "last_report_at": s.get("sent_at") if s else None,
            "state": "lost" if cid in lost_ids else "finished",
        }
        if cid in rt.workers_lost:
            node.update({k: rt.workers_lost[cid][k] for k in ("lost_at", "lost_after_s", "reason")})
        elif cid in silent:
            node.update({"lost_at": None, "lost_after_s": None, "reason": "no final report"})
        nodes[cid] = node
    finished = sum(1 for n in nodes.values() if n["final"])
    required = rt.settings.require_workers or len(nodes)
    section: dict[str, Any] = {"count": len(nodes), "finished": finished, "required": required, "nodes": nodes}
    degraded = bool(lost_ids)
    if lost_ids:
        section["lost"] = lost_ids
        warnings.append(
            f"{len(lost_ids)} worker(s) lost during the run ({', '.join(lost_ids)}); their last reports are included, "
            "what they did after them is not; the run is degraded")
    if finished < required:
        trusted = False
        warnings.append(f"{finished} worker(s) finished with a final report, {required} required "
                        "(--require-workers / LOADKIT_REQUIRE_WORKERS)")
    return section, trusted, degraded


def add_cold_source(summary: dict, all_view: dict[str, int]) -> None:
    """Per model: the gateway-view cold count and where the cold sample came from (``source``).

    #13 NAME=summary: these belong in RunSummary; the preflight's cold sample counts in both counts.
    """
    preflight = summary.get("preflight")
    total = 0
    for model, block in summary["models"].items():
        cold = block["cold_start"]
        source = cold_source(preflight, model)
        cold["count_all_workers"] = all_view.get(model, 0) + (source == "preflight")
        cold["source"] = source
        if source == "preflight":
            cold["e2e_note"] = PREFLIGHT_E2E_NOTE
        total += cold["count_all_workers"]
    summary["totals"]["cold_start"]["count_all_workers"] = total
    summary["totals"]["cold_start"]["source"] = (
        "preflight" if any(b["cold_start"]["source"] == "preflight" for b in summary["models"].values()) else "run")


def finish_run(rt: Runtime, environment, silent_workers: list[str] | None = None) -> dict:
    """Build and write the summary, print the table, set the process exit code. Returns the summary."""
    snapshots = list(rt.worker_snapshots.values())
    own_sink = rt.sink.stats() if rt.sink is not None else None
    duration = rt.duration_s()
    if snapshots:
        duration = max([duration] + [s.get("duration_s", 0.0) for s in snapshots])
    totals_lag = rt.stats.totals().h["schedule_lag_ms"].summary()
    timing_error = timing_error_summary(rt.timing, snapshots)
    trusted, warnings = _trust(rt, {"schedule_lag_ms": totals_lag}, snapshots)
    workers: dict[str, Any] = {"count": max(1, len(snapshots))}
    degraded = False
    if rt.role == "master":
        workers, trusted, degraded = _workers_section(rt, silent_workers or [], trusted, warnings)
    if rt.run_interrupted and not rt.stop_signal:
        warnings.append("the run was stopped before its end (a signal): the numbers cover the part that ran")
    interrupted = rt.interrupted + sum(int(s.get("interrupted", 0)) for s in snapshots)
    if interrupted:
        warnings.append(f"{interrupted} request(s) were cut off when users stopped (use --stop-timeout)")
    cpu = rt.cpu_samples
    summary = build_summary(
        with_preflight_cold(rt.stats, rt.preflight),
        run_id=rt.run_id,
        started_at=rt.started_wall or "",
        duration_s=duration,
        host=rt.settings.host or (environment.host or ""),
        users=getattr(environment.runner, "target_user_count", None) or rt.settings.users,
        shape=rt.settings.arrival if rt.settings.arrival == "closed" else f"{rt.settings.arrival} {rt.settings.rate_per_s:g}/s",
        workers=workers,
        trusted=trusted,
        warnings=warnings,
        preflight=rt.preflight,
        sink=_sink_section(snapshots, own_sink),
        generator={
            "cpu_percent_mean": sum(cpu) / len(cpu) if cpu else None,
            "cpu_percent_max": max(cpu) if cpu else None,
            "interrupted_requests": interrupted,
            "loop_lag_ms": merged_loop_lag(rt, snapshots).summary(),
            "timing_error_ms": timing_error,
        },
        calls_per_day=rt.settings.calls_per_day,
    )
    summary["degraded"] = degraded
    summary["interrupted"] = rt.run_interrupted
    # Cold starts from the gateway's view: a worker's cold mark counts only if no worker sent to the model
    # in the idle_s before it (equal to the per-process count in a single-process run).
    logs = [rt.activity.to_dict()] + [snap["activity"] for snap in snapshots if snap.get("activity")]
    all_view = cold_count_all_workers(logs, rt.settings.idle_s)
    add_cold_source(summary, all_view)
    slo_result = {"passed": True, "checks": []}
    if rt.slos:
        from loadkit.core.slo import evaluate

        slo_result = evaluate(rt.slos, summary)
    if rt.stop_signal:
        # An interrupted run is never a passing gate: JUnit shows it as a failed testcase.
        slo_result = dict(slo_result, passed=False, checks=[*slo_result["checks"], {
            "name": "run not interrupted", "metric": "interrupted", "op": "==", "limit": False,
            "value": rt.stop_signal, "passed": False}])
        summary["warnings"].append(f"the run was interrupted by {rt.stop_signal} after {duration:.1f} s")
    summary["interrupted"] = rt.run_interrupted or bool(rt.stop_signal)
    summary["stop_signal"] = rt.stop_signal
    summary["slo"] = slo_result
    max_err = rt.settings.max_error_rate
    err = summary["totals"]["error_rate"]
    if err is not None and err > max_err:
        summary["warnings"].append(f"error rate {err:.2%} is above --max-error-rate {max_err:.2%}")
    if summary["totals"]["requests"] == 0:
        summary["warnings"].append("no request completed")
    from loadkit.core.slo import exit_code

    code = exit_code(summary, summary["slo"], max_error_rate=max_err)
    if rt.stop_signal:
        code = EXIT_BY_SIGNAL.get(rt.stop_signal, 130)
    summary["exit_code"] = code
    out_dir = Path(rt.settings.results_dir) / rt.run_id
    write_summary(summary, out_dir / "summary.json")
    _write_extras(rt, out_dir, summary)
    print_summary(summary)
    print(f"results: {out_dir}/summary.json (exit code {code})", flush=True)
    environment.process_exit_code = code
    return summary


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


__all__ = ["finish_run", "preflight_or_exit", "check_sink_or_exit", "make_process_sink", "load_slos_or_exit",
           "LatencyHistogram"]
