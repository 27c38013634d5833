"""Timing fidelity of loadkit (issue 17): the generator's TTFT/ITL error against a fixed-timing simulator.

Generator pinned to CPU 0, simulator (``--profile fixed``, TTFT 20 ms, ITL 2 ms, 16 tokens) to CPU 1.
For each user count: loadkit's stream user, true error from records.jsonl.gz (TTFT - 20 ms, ITL - 2 ms,
warm window only) beside the run's self-measured ``generator.timing_error_ms``; the bare Locust
FastHttpUser that parses each SSE event with orjson at the same users, same run, for the streams/s ratio;
the simulator's own raw-socket TTFT error; the load average (the machine is shared).

    python bench/fidelity.py [--users 4,16,32] [--seconds 8] [--out bench/results/fidelity.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead as ov  # noqa: E402

TTFT_MS, ITL_MS, TOKENS = 20.0, 2.0, 16
SPEC = f"ttft_ms={TTFT_MS:g},itl_ms={ITL_MS:g},tokens={TOKENS}"
RESULTS = ov.BENCH / "results" / "fidelity.json"


def _pct(values: list[float], q: float) -> float | None:
    return round(ov._pct(values, q), 3) if values else None


def true_errors(records_path: Path, window_ns: list[int]) -> dict:
    ttft, itl = [], []
    with gzip.open(records_path, "rt") as lines:
        for line in lines:
            r = json.loads(line)
            if r["outcome"] != "ok" or r.get("first_token_at") is None:
                continue
            if not window_ns[0] <= r["started_wall_ns"] <= window_ns[1]:
                continue
            ttft.append((r["first_token_at"] - r["sent_at"]) * 1000 - TTFT_MS)
            t = r["token_times"]
            itl.extend(abs((b - a) * 1000 - ITL_MS) for a, b in zip(t, t[1:]))
    ttft.sort()
    itl.sort()
    return {"streams": len(ttft), "ttft_error_p50_ms": _pct(ttft, 0.5), "ttft_error_p99_ms": _pct(ttft, 0.99),
            "ttft_error_p99_9_ms": _pct(ttft, 0.999), "itl_error_p99_ms": _pct(itl, 0.99)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", default="4,16,32")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    ov.FIXED_TTFT_MS = TTFT_MS  # the raw-socket client subtracts it
    load_before = os.getloadavg()
    sim_proc, url = ov.start_simulator(["--profile", "fixed", "--fixed", SPEC])
    sim = psutil.Process(sim_proc.pid)
    rows = []
    try:
        sim_error = ov.simulator_error(url, min(args.seconds, 5.0))
        with tempfile.TemporaryDirectory() as tmp:
            for users in [int(u) for u in args.users.split(",")]:
                lk = ov.run_locust("loadkit-fasthttp-stream", url, sim, users, args.seconds, args.warmup, results_dir=tmp)
                bare = ov.run_locust("fasthttp-stream-json", url, sim, users, args.seconds, args.warmup)
                summary = lk.get("summary", {})
                records = Path(tmp) / summary.get("run_id", "-") / "records.jsonl.gz"
                row = {"users": users, "generator_cpu_percent": round(lk["generator_cpu_percent"], 1),
                       "generator_core_busy_percent": round(lk["generator_core_busy_percent"], 1),
                       **(true_errors(records, lk["window_wall_ns"]) if records.exists() else {}),
                       "self_measured": (summary.get("generator") or {}).get("timing_error_ms"),
                       "loop_lag_ms": (summary.get("generator") or {}).get("loop_lag_ms"),
                       "trusted": summary.get("trusted"),
                       "streams_per_s": round(lk["requests_per_s"], 1),
                       "bare_streams_per_s": round(bare["requests_per_s"], 1),
                       "bare_cpu_percent": round(bare["generator_cpu_percent"], 1)}
                row["streams_ratio"] = round(row["streams_per_s"] / max(row["bare_streams_per_s"], 1e-9), 3)
                rows.append(row)
                print(f"users {users}: cpu {row['generator_cpu_percent']}% ttft err p50/p99/p99.9 "
                      f"{row.get('ttft_error_p50_ms')}/{row.get('ttft_error_p99_ms')}/{row.get('ttft_error_p99_9_ms')} ms"
                      f" itl err p99 {row.get('itl_error_p99_ms')} ms; self-measured ttft p99 "
                      f"{(row['self_measured'] or {}).get('ttft_ms', {}).get('p99')} ms; streams/s ratio "
                      f"{row['streams_ratio']}", flush=True)
    finally:
        sim_proc.terminate()
        sim_proc.wait(timeout=10)
    result = {"simulator": f"--profile fixed --fixed {SPEC}", "simulator_own_error_raw_socket": sim_error,
              "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "goals": {"ttft_error_p99_ms": 1.0, "ttft_error_p99_9_ms": 2.0, "itl_error_p99_ms": 0.5, "streams_ratio": 1.0},
              "rows": rows}
    print(f"\nsimulator own TTFT error (raw socket): p50 {sim_error['ttft_error_p50_ms']:.2f} p99 "
          f"{sim_error['ttft_error_p99_ms']:.2f} ms; load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"{'users':>5} {'cpu%':>5} {'ttft p50':>8} {'p99':>7} {'p99.9':>7} {'itl p99':>7} {'self p99':>8} {'ratio':>6} trusted")
    for r in rows:
        s = (r["self_measured"] or {}).get("ttft_ms", {})
        print(f"{r['users']:>5} {r['generator_cpu_percent']:>5} {r.get('ttft_error_p50_ms')!s:>8} "
              f"{r.get('ttft_error_p99_ms')!s:>7} {r.get('ttft_error_p99_9_ms')!s:>7} {r.get('itl_error_p99_ms')!s:>7} "
              f"{s.get('p99')!s:>8} {r['streams_ratio']:>6} {r['trusted']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
