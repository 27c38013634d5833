"""Sink benchmark: points/s formatted per core, points/s per writer (file, InfluxDB
1.x API, v2 API via victoria-metrics), and the request-path cost of submit()
next to a no-sink baseline in the same run (plain threads and under gevent).

    python bench/sink.py [--points 50000]

Prints a table and writes bench/results/sink.json. Goals: >= 50,000 points/s
formatted per core; < 20 us added per request.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def submit_cost(n: int) -> dict:
    """us per call: a no-op baseline vs sink.submit (file sink running)."""
    from loadkit.settings import Settings
    from loadkit.sinks import make_sink
    from tests.support.servers import synthetic_records

    records = synthetic_records(n)

    def baseline(record, cost):
        return None

    with tempfile.TemporaryDirectory() as tmp:
        sink = make_sink(Settings(sink_buffer=max(n, 100_000)), "bench", Path(tmp), "w1")
        sink.start()
        out = {}
        for name, fn in (("baseline_us", baseline), ("submit_us", sink.submit)):
            best = float("inf")
            for rep in range(3):
                chunk = records[rep * (n // 3):(rep + 1) * (n // 3)]
                t0 = time.perf_counter()
                for r in chunk:
                    fn(r, 0.001)
                best = min(best, (time.perf_counter() - t0) / len(chunk) * 1e6)
                time.sleep(0)
            out[name] = round(best, 3)
        sink.stop()
    out["added_us"] = round(out["submit_us"] - out["baseline_us"], 3)
    return out


def format_rate(n: int) -> dict:
    """Points/s on one core: line protocol only, and line protocol + records.jsonl line."""
    import orjson

    from loadkit.core.records import record_to_dict
    from loadkit.sinks.lineprotocol import RequestPointFormatter
    from tests.support.servers import synthetic_records

    records = synthetic_records(n)
    fmt = RequestPointFormatter("bench-run", "worker-1")
    t0 = time.process_time()
    for r in records:
        fmt.format(r, 0.001)
    lp = n / (time.process_time() - t0)
    t0 = time.process_time()
    for r in records:
        fmt.format(r, 0.001)
        d = record_to_dict(r)
        d["cost_usd"] = 0.001
        orjson.dumps(d)
    both = n / (time.process_time() - t0)
    return {"line_protocol_points_per_s": round(lp), "with_records_file_points_per_s": round(both)}


def writer_rate(n: int) -> dict:
    """End-to-end points/s from first submit to stop() returning, per writer."""
    from loadkit.settings import Settings
    from loadkit.sinks import make_sink
    from tests.support.servers import InfluxServer, VictoriaMetricsServer, synthetic_records

    records = synthetic_records(n)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        influx = InfluxServer(tmp / "influxd").start()
        influx.create_db("bench")
        vm = VictoriaMetricsServer(tmp / "vm").start()
        targets = {
            "file": Settings(sink_buffer=n),
            "influx-v1": Settings(influx_url=influx.url, influx_db="bench", sink_buffer=n),
            "influx-v2 (victoria-metrics)": Settings(influx_url=vm.url, influx_bucket="bench", influx_org="o", sink_buffer=n),
        }
        try:
            for name, settings in targets.items():
                sink = make_sink(settings, f"bench-{len(out)}", tmp / f"run{len(out)}", "w1")
                sink.start()
                t0 = time.perf_counter()
                c0 = time.process_time()
                for r in records:
                    sink.submit(r, 0.001)
                sink.stop(timeout_s=120)
                wall = time.perf_counter() - t0
                cpu = time.process_time() - c0
                stats = sink.stats()
                out[name] = {"points": stats["written"], "dropped": stats["dropped"],
                             "points_per_s_wall": round(stats["written"] / wall),
                             "points_per_cpu_s": round(stats["written"] / cpu),
                             "flush_ms_p95": stats["flush_ms"]["p95"]}
        finally:
            influx.stop()
            vm.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--submit-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gevent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gevent:
        from gevent import monkey

        monkey.patch_all()
    if args.submit_only:
        print(json.dumps(submit_cost(args.points)))
        return
    result = {"points": args.points, "format": format_rate(args.points),
              "submit_plain": submit_cost(args.points)}
    proc = subprocess.run([sys.executable, __file__, "--submit-only", "--gevent", "--points", str(args.points)],
                          capture_output=True, text=True, check=True)
    result["submit_gevent"] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["writers"] = writer_rate(args.points)
    result["goals"] = {
        "format_points_per_s_per_core>=50000": result["format"]["line_protocol_points_per_s"] >= 50_000,
        "added_us_per_request<20": max(result["submit_plain"]["added_us"], result["submit_gevent"]["added_us"]) < 20,
    }

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sink benchmark ({args.points} points, one process)")
    table.add_column("what")
    table.add_column("value", justify="right")
    f = result["format"]
    table.add_row("format llm_request lines, points/s per core", f"{f['line_protocol_points_per_s']:,}")
    table.add_row("format + records.jsonl line, points/s per core", f"{f['with_records_file_points_per_s']:,}")
    for mode in ("plain", "gevent"):
        s = result[f"submit_{mode}"]
        table.add_row(f"request path ({mode}): no sink / submit() / added, us",
                      f"{s['baseline_us']} / {s['submit_us']} / {s['added_us']}")
    for name, w in result["writers"].items():
        table.add_row(f"writer {name}: points/s wall (per CPU-s), flush p95 ms",
                      f"{w['points_per_s_wall']:,} ({w['points_per_cpu_s']:,}), {w['flush_ms_p95']}")
    for goal, ok in result["goals"].items():
        table.add_row(f"goal {goal}", "met" if ok else "NOT met")
    Console().print(table)
    out = ROOT / "bench" / "results" / "sink.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
