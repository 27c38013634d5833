"""The master's limits: a real Locust master merging snapshots from N workers.

    python bench/master_scale.py [--workers 10,50,100,200] [--run-time 15] [--json bench/results/master_scale.json]

1. Record: a short real local chat run against the simulator writes the stats
   message a worker sends its master every report (Locust's stats plus
   loadkit's RunStats snapshot), built by the same report_to_master listeners.
2. Replay: for each N, a real master (loadkit/locustfiles/chat.py, the
   commands.py argv) and N light workers (bench/_master_scale_replay.py, 50 per
   process) that speak Locust's worker protocol, heartbeat every 1 s, send the
   recorded message every 3 s (Locust's report interval) and answer the final
   flush. They send no requests, so the master's CPU is all merge work.
3. Measure: master CPU per worker report (steady phase, after every worker
   spawned and before the run's end), master RSS, the wire size of one report,
   the final merge + summary time (the run's end to the master's exit), the
   in-process merge of N snapshots (RunStats.from_dict + merge, what the master's
   quitting does), and workers the master lost. The master falls behind its
   report interval when one interval's reports need more than one core-interval
   of CPU (gevent: one core): N_behind = 3 s / CPU per report.

The baseline is the smallest N of the same run; each row gives its CPU per
report as a ratio to it (flat = linear cost per worker).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from locust.rpc import Message  # noqa: E402

from loadkit.core.stats import RunStats  # noqa: E402
from loadkit.locust.commands import master_command, simulator_command  # noqa: E402

LOCUSTFILE = "loadkit/locustfiles/chat.py"
REPORT_INTERVAL_S = 3.0
PER_PROCESS = 50
# The web UI's LLM tab asks for the merged live summary this often; each ask merges every
# worker's snapshot (loadkit/locust/webui.py), on the master's one gevent loop.
WEB_UI_REFRESH_S = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(results: Path, run_id: str, host: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOADKIT_", "LOCUST_"))}
    env.update(PYTHONPATH=str(REPO), LOADKIT_RESULTS_DIR=str(results), LOADKIT_RUN_ID=run_id, LOADKIT_HOST=host,
               **extra)
    return env


def _start_simulator(tmp: Path) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "sim.port"
    argv = simulator_command(bind="127.0.0.1", port=0, profile="reference", python=sys.executable,
                             extra=("--port-file", str(port_file)))
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("simulator did not start")


def record(host: str, tmp: Path, run_time_s: int) -> Path:
    """A real 8-user local run; the stats message it would send as a worker (msgpack, as on the wire)."""
    out = tmp / "recorded.msgpack"
    argv = [sys.executable, "-m", "locust", "-f", "bench/_master_scale_record.py", "--headless", "--only-summary",
            "-u", "8", "-r", "8", "-t", f"{run_time_s}s", "--stop-timeout", "5"]
    subprocess.run(argv, cwd=REPO, env=_env(tmp / "rec", "scale-record", host, MASTER_SCALE_RECORD=str(out)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=run_time_s + 60)
    if not out.exists():
        raise SystemExit("the recording run wrote no stats message")
    return out


def merge_time_ms(snapshot: dict, n: int, repeat: int = 3) -> float:
    """Milliseconds to rebuild and merge ``n`` RunStats snapshots (best of ``repeat``)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        merged = RunStats()
        for _ in range(n):
            merged.merge(RunStats.from_dict(snapshot["stats"]))
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def _cpu_s(ps: psutil.Process) -> float:
    t = ps.cpu_times()
    return t.user + t.system


def run_master(n: int, host: str, recorded: Path, tmp: Path, run_time_s: int) -> dict:
    port = _free_port()
    run_id = f"scale-{n}"
    argv = master_command(LOCUSTFILE, expect_workers=n, users=n, spawn_rate=n, run_time=f"{run_time_s}s",
                          host=host, bind_port=port, stop_timeout_s=5, python=sys.executable)
    argv += ["--master-bind-host", "127.0.0.1", "--expect-workers-max-wait", "120", "--only-summary"]
    log_path = tmp / f"master-{n}.log"
    with open(log_path, "w") as log:
        master = subprocess.Popen(argv, cwd=REPO, env=_env(tmp / "m", run_id, host), stdout=log,
                                  stderr=subprocess.STDOUT)
    replayers = []
    for i in range(math.ceil(n / PER_PROCESS)):
        count = min(PER_PROCESS, n - i * PER_PROCESS)
        replayers.append(subprocess.Popen(
            [sys.executable, "bench/_master_scale_replay.py", "127.0.0.1", str(port), str(count), str(recorded),
             f"replay{i}"], cwd=REPO, env=_env(tmp / "r", run_id, host),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    ps = psutil.Process(master.pid)
    try:
        spawned = None
        while master.poll() is None and spawned is None:
            if "All users spawned" in log_path.read_text(errors="replace"):
                spawned = time.monotonic()
            time.sleep(0.1)
        if spawned is None:
            raise SystemExit(f"master never spawned with {n} workers:\n{log_path.read_text()[-2000:]}")
        # steady phase: from 1 s after the spawn to 1.5 s before the run's end
        time.sleep(1.0)
        cpu0, t0 = _cpu_s(ps), time.monotonic()
        rss_peak = 0.0
        while time.monotonic() - spawned < run_time_s - 1.5 and master.poll() is None:
            rss_peak = max(rss_peak, ps.memory_info().rss / 1e6)
            time.sleep(0.2)
        cpu1, t1 = _cpu_s(ps), time.monotonic()
        end_of_run = spawned + run_time_s
        master.wait(180)
        finish_s = time.monotonic() - end_of_run
    finally:
        for p in [master, *replayers]:
            if p.poll() is None:
                p.kill()
            p.wait(10)
    summary = json.loads((tmp / "m" / run_id / "summary.json").read_text())
    window_s = t1 - t0
    reports = n * window_s / REPORT_INTERVAL_S
    cpu_s = cpu1 - cpu0
    workers = summary["workers"]
    return {
        "workers": n,
        "steady_window_s": round(window_s, 2),
        "master_cpu_percent": round(100 * cpu_s / window_s, 1),
        "master_cpu_ms_per_report": round(1000 * cpu_s / reports, 3),
        "master_rss_mb_peak": round(rss_peak, 1),
        "finish_s": round(finish_s, 2),
        "workers_finished": workers.get("finished"),
        "workers_lost": len(workers.get("lost", [])),
        "merged_requests": summary["totals"]["requests"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="10,50,100,200", help="comma-separated worker counts")
    parser.add_argument("--run-time", type=int, default=15, help="seconds per master run")
    parser.add_argument("--record-time", type=int, default=10, help="seconds of the recorded real run")
    parser.add_argument("--json", default=str(REPO / "bench" / "results" / "master_scale.json"))
    args = parser.parse_args()
    counts = sorted(int(x) for x in args.workers.split(","))
    with tempfile.TemporaryDirectory(prefix="loadkit-master-scale-") as name:
        tmp = Path(name)
        load_before = os.getloadavg()
        sim, host = _start_simulator(tmp)
        try:
            recorded = record(host, tmp, args.record_time)
            wire = recorded.read_bytes()
            data = Message.unserialize(wire).data
            snapshot = data["loadkit"]
            snapshot_bytes = len(Message("x", snapshot, "x").serialize())
            rows = [run_master(n, host, recorded, tmp, args.run_time) for n in counts]
        finally:
            sim.terminate()
            sim.wait(10)
        load_after = os.getloadavg()
    base = rows[0]["master_cpu_ms_per_report"]
    for row in rows:
        row["merge_ms"] = round(merge_time_ms(snapshot, row["workers"]), 1)
        row["cpu_per_report_vs_baseline"] = round(row["master_cpu_ms_per_report"] / base, 2) if base else None
        row["behind"] = row["master_cpu_percent"] >= 90 or row["workers_lost"] > 0
    worst = max(r["master_cpu_ms_per_report"] for r in rows)  # the most pessimistic cost per report
    projected = int(REPORT_INTERVAL_S * 1000 / worst)
    measured_behind = next((r["workers"] for r in rows if r["behind"]), None)
    merge_ms_per_worker = max(r["merge_ms"] / r["workers"] for r in rows)
    projected_ui = int(WEB_UI_REFRESH_S * 1000 / merge_ms_per_worker)
    result = {
        "benchmark": "master_scale", "cpu_count": psutil.cpu_count(), "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "report_interval_s": REPORT_INTERVAL_S, "run_time_s": args.run_time,
        "report_wire_bytes": len(wire), "loadkit_snapshot_wire_bytes": snapshot_bytes,
        "recorded_requests": sum(m["requests"] for m in snapshot["stats"]["models"].values()),
        "baseline": f"{counts[0]} workers", "rows": rows,
        "projected_max_workers_per_master": projected,
        "projection": "3 s report interval / the largest measured master CPU per report (one core: gevent)",
        "measured_falls_behind_at": measured_behind,
        "merge_ms_per_worker": round(merge_ms_per_worker, 2),
        "projected_max_workers_web_ui": projected_ui,
        "projection_web_ui": "2 s LLM-tab refresh / merge ms per worker snapshot (one open tab)",
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"one worker report: {len(wire) / 1000:.1f} kB on the wire "
          f"(loadkit snapshot {snapshot_bytes / 1000:.1f} kB, Locust stats the rest)")
    print(f"{'workers':>8}{'master CPU %':>14}{'CPU ms/report':>15}{'vs base':>9}{'RSS MB':>9}"
          f"{'merge ms':>10}{'finish s':>10}{'lost':>6}{'behind':>8}")
    for r in rows:
        print(f"{r['workers']:>8}{r['master_cpu_percent']:>14.1f}{r['master_cpu_ms_per_report']:>15.3f}"
              f"{r['cpu_per_report_vs_baseline']:>9.2f}{r['master_rss_mb_peak']:>9.1f}{r['merge_ms']:>10.1f}"
              f"{r['finish_s']:>10.2f}{r['workers_lost']:>6}{str(r['behind']):>8}")
    print(f"projected max workers per master (falls behind its {REPORT_INTERVAL_S:g} s report interval): "
          f"{projected}; measured behind at: {measured_behind or 'none of the tested N'}")
    print(f"with the web UI's LLM tab open: each {WEB_UI_REFRESH_S:g} s refresh merges every snapshot "
          f"({merge_ms_per_worker:.1f} ms per worker): the loop is saturated past {projected_ui} workers")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {psutil.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
