"""Soak: a steady open-loop rate against the simulator for a long time; the generator must not leak.

    python bench/soak.py                     # 30 minutes at 20 requests/s
    python bench/soak.py --minutes 2         # the CI-sized version

Runs `loadkit run --arrival constant --rate-per-s R` against a simulator
process and samples the Locust generator process from outside (psutil) every
``--interval-s``: RSS, open file descriptors, threads, CPU. Reports RSS growth
after warm-up (goal < 5 %), descriptor growth (goal 0) and whether the
summary's request counts plus the preflight equal what the simulator served,
per model (goal: exactly). Prints a table; writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from _simproc import start_simulator

ROOT = Path(__file__).resolve().parents[1]



def _generator(cli: psutil.Process) -> psutil.Process | None:
    try:
        for child in cli.children(recursive=True):
            if "locust" in " ".join(child.cmdline()):
                return child
    except psutil.NoSuchProcess:
        pass
    return None


def _sample(p: psutil.Process, t0: float) -> dict | None:
    try:
        with p.oneshot():
            return {"t_s": round(time.monotonic() - t0, 1), "rss_mb": round(p.memory_info().rss / 2**20, 2),
                    "fds": p.num_fds(), "threads": p.num_threads(), "cpu_s": round(sum(p.cpu_times()[:2]), 2)}
    except psutil.NoSuchProcess:
        return None


def run_soak(seconds: float, rate_per_s: float = 20.0, interval_s: float = 10.0, warmup_s: float | None = None,
             users: int = 20) -> dict:
    """Run the soak; returns samples, growth figures and the count comparison."""
    warmup_s = min(120.0, seconds * 0.25) if warmup_s is None else warmup_s
    with tempfile.TemporaryDirectory(prefix="loadkit-soak-") as tmp:
        work = Path(tmp)
        sim, url = start_simulator(["--profile", "fixed", "--fixed", "ttft_ms=30,itl_ms=5,tokens=20", "--cold-start-ms", "0"])
        try:
            env = dict(os.environ)
            env.pop("LOADKIT_API_KEY", None)
            cmd = [sys.executable, "-m", "loadkit.cli", "run", "--host", url + "/v1", "--arrival", "constant",
                   "--rate-per-s", str(rate_per_s), "--users", str(users), "--spawn-rate", str(users),
                   "--run-time", f"{int(seconds)}s", "--results-dir", str(work / "results"), "--run-id", "soak"]
            cli = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            t0 = time.monotonic()
            samples: list[dict] = []
            cli_proc = psutil.Process(cli.pid)
            gen = None
            next_at = t0
            while cli.poll() is None:
                gen = gen or _generator(cli_proc)
                if gen is not None and time.monotonic() >= next_at:
                    s = _sample(gen, t0)
                    if s:
                        samples.append(s)
                    next_at += interval_s
                time.sleep(0.2)
            stdout, stderr = cli.communicate()
            with urllib.request.urlopen(url + "/_sim/stats", timeout=10) as r:
                served = json.loads(r.read())
            summary = json.loads((work / "results" / "soak" / "summary.json").read_text())
            inside = _worker_points(work / "results" / "soak")
        finally:
            sim.terminate()
            sim.wait(10)
    after = [s for s in samples if s["t_s"] >= warmup_s]
    # the run's last seconds are the stop (users ending, final report): judge the steady part
    steady = [s for s in after if s["t_s"] <= seconds - 2] or after
    rss_start = steady[0]["rss_mb"] if steady else None
    rss_end = statistics.median(s["rss_mb"] for s in steady[-3:]) if steady else None
    models = {}
    for model, n in served.get("chat_requests", {}).items():
        attempts = summary["models"].get(model, {}).get("attempts", 0)
        pre = summary["preflight"]["requests_by_model"].get(model, 0)
        models[model] = {"served": n, "attempts": attempts, "preflight": pre, "exact": attempts + pre == n}
    return {
        "seconds": seconds, "rate_per_s": rate_per_s, "interval_s": interval_s, "warmup_s": warmup_s,
        "exit_code": cli.returncode, "stderr_tail": stderr[-1500:],
        "samples": samples,
        "rss_start_mb": rss_start, "rss_end_mb": rss_end,
        "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2) if steady else None,
        "fds_start": steady[0]["fds"] if steady else None, "fds_max": max(s["fds"] for s in steady) if steady else None,
        "fd_growth": (steady[-1]["fds"] - steady[0]["fds"]) if steady else None,
        "threads_max": max(s["threads"] for s in samples) if samples else None,
        "requests": summary["totals"]["attempts"], "achieved_rps": summary["totals"].get("rps"),
        "outcomes": summary["totals"]["outcomes"],
        "models": models, "counts_exact": bool(models) and all(m["exact"] for m in models.values()),
        # sampled inside the generator every second (loadkit_worker points in points.lp)
        "user_greenlets_max": max((p["user_greenlets"] for p in inside), default=None),
        "histogram_bytes_start": inside[len(inside) // 4]["histogram_bytes"] if inside else None,
        "histogram_bytes_end": inside[-1]["histogram_bytes"] if inside else None,
    }


def _worker_points(run_dir: Path) -> list[dict]:
    """The generator's own per-second samples: fields of the loadkit_worker points in points.lp."""
    out = []
    for path in [run_dir / "points.lp", *sorted(run_dir.glob("workers/*/points.lp"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            if line.startswith("loadkit_worker,"):
                fields = line.split(" ")[1]
                values = dict(kv.split("=", 1) for kv in fields.split(","))
                if "user_greenlets" in values and "histogram_bytes" in values:
                    out.append({"user_greenlets": float(values["user_greenlets"].rstrip("i")),
                                "histogram_bytes": float(values["histogram_bytes"].rstrip("i"))})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate-per-s", type=float, default=20.0)
    parser.add_argument("--interval-s", type=float, default=10.0)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "soak.json"))
    args = parser.parse_args()
    result = run_soak(args.minutes * 60, args.rate_per_s, args.interval_s)
    print(f"{'t_s':>7} {'rss_mb':>8} {'fds':>5} {'threads':>7} {'cpu_s':>7}")
    for s in result["samples"]:
        print(f"{s['t_s']:>7} {s['rss_mb']:>8} {s['fds']:>5} {s['threads']:>7} {s['cpu_s']:>7}")
    print(f"\nrequests {result['requests']} at {result['achieved_rps']} req/s, outcomes {result['outcomes']}, "
          f"exit {result['exit_code']}")
    print(f"user greenlets max {result['user_greenlets_max']}; histogram memory "
          f"{result['histogram_bytes_start']} -> {result['histogram_bytes_end']} bytes (fixed-size HdrHistograms)")
    print(f"RSS after warm-up: {result['rss_start_mb']} -> {result['rss_end_mb']} MB "
          f"({result['rss_growth_pct']} %, goal < 5 %)")
    print(f"open fds: {result['fds_start']} -> max {result['fds_max']} (growth {result['fd_growth']}, goal 0)")
    for model, m in result["models"].items():
        print(f"{model}: served {m['served']} = attempts {m['attempts']} + preflight {m['preflight']}: "
              f"{'exact' if m['exact'] else 'MISMATCH'}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    ok = result["counts_exact"] and (result["rss_growth_pct"] or 0) < 5 and (result["fd_growth"] or 0) <= 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
