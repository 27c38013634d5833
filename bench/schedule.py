"""Open-loop schedule lag: how late loadkit sends against its own Poisson schedule, and the timer floor.

`loadkit run --arrival poisson` keeps one seeded schedule per process; a free user takes each arrival when it
is due, and ``sent - intended`` (the schedule lag) is the generator's own lateness. Its tail decides whether a
run is trusted (p99 <= 10 ms, loadkit/core/trust.py). This bench measures it per rate against a fixed-timing
simulator (TTFT 20 ms, ITL 2 ms, 8 tokens), loadkit and the simulator on different cores where taskset exists.

The baseline, in the same run and on the same core, is the floor: the same schedule kept by a bare gevent
process whose greenlets only sleep until each arrival is due (no HTTP, no accounting). What the floor shows
is the machine's and the event loop's timer (libev sleeps in whole milliseconds), which no generator built on
gevent can beat; the ratio loadkit / floor is what loadkit's own work adds.

    python bench/schedule.py [--rates 40,80,160,320] [--seconds 16] [--repeats 1]

Prints a table and writes bench/results/schedule.json. The e2e test (tests/e2e/test_open_loop.py) checks the
schedule's rate, shape and that the warning says what the figure says; the tail is measured here, because a
busy machine moves it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._simproc import start_simulator  # noqa: E402

USERS = 64
SIM_ARGS = ["--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=2,tokens=8", "--cold-start-ms", "0"]


def _pinned(cmd: list[str], cpus: str) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else cmd


def _percentiles(values_ms: list[float]) -> dict:
    ordered = sorted(values_ms)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))], 3)

    return {"p50": at(0.50), "p99": at(0.99), "p999": at(0.999), "max": round(ordered[-1], 3), "count": n}


def floor_process(rate: float, seconds: float, users: int) -> None:
    """The floor: ``users`` greenlets share one Poisson schedule and only sleep until each arrival is due."""
    import gevent

    from loadkit.workload.arrivals import ArrivalSchedule

    schedule = ArrivalSchedule("poisson", rate, time.perf_counter() + 0.2, random.Random("floor"))
    end = time.perf_counter() + 0.2 + seconds
    lags: list[float] = []

    def user() -> None:
        while True:
            due = schedule.next_intended_at()
            if due >= end:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
            lags.append((time.perf_counter() - due) * 1e3)
            gevent.sleep(0.03)  # busy like a user waiting for an answer, so arrivals spread over the greenlets

    gevent.joinall([gevent.spawn(user) for _ in range(users)])
    print(json.dumps(_percentiles(lags)))


def run_floor(rate: float, seconds: float, cpu: str) -> dict:
    cmd = _pinned([sys.executable, __file__, "--floor", str(rate), "--seconds", str(seconds)], cpu)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_loadkit(host: str, rate: float, seconds: float, cpu: str) -> dict:
    results = Path(tempfile.mkdtemp(prefix="loadkit-bench-schedule-"))
    cmd = _pinned([sys.executable, "-m", "loadkit.cli", "run", "--host", host, "--results-dir", str(results),
                   "--run-id", "s", "--arrival", "poisson", "--rate-per-s", f"{rate:g}", "--users", str(USERS),
                   "--spawn-rate", "1000", "--run-time", f"{seconds:g}s", "--max-tokens", "8"], cpu)
    env = {k: v for k, v in os.environ.items() if k != "LOADKIT_API_KEY"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 120)
    summary_path = results / "s" / "summary.json"
    if not summary_path.exists():
        raise SystemExit(f"loadkit run wrote no summary (exit {proc.returncode}): {proc.stderr[-2000:]}")
    summary = json.loads(summary_path.read_text())
    shutil.rmtree(results, ignore_errors=True)
    lag = summary["totals"]["schedule_lag_ms"]
    gen = summary["generator"]
    return {"p50": lag["p50"], "p99": lag["p99"], "max": lag["max"], "count": lag["count"],
            "rps": round(summary["totals"]["rps"], 1), "cpu_percent_mean": gen.get("cpu_percent_mean"),
            "trusted": summary["trusted"], "exit_code": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="40,80,160,320")
    parser.add_argument("--seconds", type=float, default=16.0)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved runs per rate; the table shows medians")
    parser.add_argument("--floor", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "schedule.json"))
    args = parser.parse_args()
    if args.floor is not None:
        floor_process(args.floor, args.seconds, USERS)
        return
    rates = [float(r) for r in args.rates.split(",")]
    sim, base = start_simulator(SIM_ARGS, cpus="1")
    host = f"{base}/v1"
    runs: dict[str, list[dict]] = {}
    try:
        for _ in range(args.repeats):
            for rate in rates:
                runs.setdefault(f"{rate:g}", []).append(
                    {"loadkit": run_loadkit(host, rate, args.seconds, "0"), "floor": run_floor(rate, args.seconds, "0")})
    finally:
        sim.terminate()
        sim.wait(10)

    def median(rows: list[dict], side: str, key: str) -> float:
        return round(statistics.median(r[side][key] for r in rows), 3)

    table = {}
    for rate, rows in runs.items():
        row = {f"loadkit_{k}": median(rows, "loadkit", k) for k in ("p50", "p99", "max", "rps", "cpu_percent_mean")}
        row.update({f"floor_{k}": median(rows, "floor", k) for k in ("p50", "p99", "max")})
        row["p99_ratio"] = round(row["loadkit_p99"] / max(row["floor_p99"], 1e-3), 2)
        row["trusted_runs"] = f"{sum(r['loadkit']['trusted'] for r in rows)}/{len(rows)}"
        table[rate] = row
    print(f"schedule lag (sent - intended), ms; Poisson, {USERS} users, {args.seconds:g} s; medians of {args.repeats}")
    print(f"{'rate/s':>7} | {'loadkit p50':>11} {'p99':>7} {'max':>7} {'req/s':>7} {'cpu %':>6} {'trusted':>7} | "
          f"{'floor p50':>9} {'p99':>7} {'max':>7} | {'p99 / floor':>11}")
    for rate, row in table.items():
        print(f"{rate:>7} | {row['loadkit_p50']:>11.2f} {row['loadkit_p99']:>7.2f} {row['loadkit_max']:>7.2f} "
              f"{row['loadkit_rps']:>7.1f} {row['loadkit_cpu_percent_mean'] or 0:>6.1f} {row['trusted_runs']:>7} | "
              f"{row['floor_p50']:>9.2f} {row['floor_p99']:>7.2f} {row['floor_max']:>7.2f} | {row['p99_ratio']:>10.2f}x")
    out = {"users": USERS, "seconds": args.seconds, "repeats": args.repeats, "simulator": SIM_ARGS,
           "table": table, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
