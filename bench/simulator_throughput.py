"""Throughput of the gateway simulator on one core (zero-latency profile).

Starts ``python -m loadkit.simulator --profile zero`` pinned to CPU 0 and
drives it with keep-alive connections from CPU 1: ``wrk`` when
/usr/bin/wrk exists, else a multi-connection aiohttp client in a separate
process.  Scenarios: non-stream chat, streamed chat (60 token events each,
usage chunk on), and ``GET /health`` as the floor of the HTTP layer.  Prints
a table and writes bench/results/simulator_throughput.json.

    python bench/simulator_throughput.py [--duration-s 5] [--connections 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _simproc import start_simulator as start_bench_simulator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "simulator_throughput.json"
WRK = "/usr/bin/wrk"
TOKENS = 60
CHAT_BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say something short about load testing."}],
    "max_tokens": TOKENS,
}
STREAM_BODY = dict(CHAT_BODY, stream=True, stream_options={"include_usage": True})
ZERO = ["--profile", "zero"]
# Fixed profile with zero delays: same answer, but every token event is its
# own transport write (what timed profiles do), instead of one corked write.
PER_EVENT_WRITES = ["--profile", "fixed", "--fixed", f"ttft_ms=0,itl_ms=0,tokens={TOKENS}", "--cold-start-ms", "0"]
SCENARIOS = {
    "health": (ZERO, "GET", "/health", None),
    "chat_non_stream": (ZERO, "POST", "/v1/chat/completions", dict(CHAT_BODY, stream=False)),
    "chat_stream_60_tokens": (ZERO, "POST", "/v1/chat/completions", STREAM_BODY),
    "chat_stream_60_tokens_per_event_writes": (PER_EVENT_WRITES, "POST", "/v1/chat/completions", STREAM_BODY),
}


def start_simulator(cpu: int | None, server_args: list[str]) -> tuple[subprocess.Popen, str]:
    """Start the simulator (pinned to ``cpu`` when possible); return (process, url)."""
    return start_bench_simulator(["--seed", "1", *server_args], cpus=None if cpu is None else str(cpu))


def run_wrk(url: str, method: str, path: str, body: dict | None, duration_s: float, connections: int, cpu: int | None) -> dict:
    """Run wrk against one scenario; return requests/s and totals."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "{method}"\n')
        if body is not None:
            script.write("wrk.headers['Content-Type'] = 'application/json'\n")
            script.write(f"wrk.body = [[{json.dumps(body)}]]\n")
    cmd = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "-s", script.name, "--latency", url + path]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = None
    if p99:
        p99_ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return {"requests": requests, "rps": rps, "non_2xx": int(errors.group(1)) if errors else 0, "p99_ms": p99_ms}


async def _client_worker(session, url: str, method: str, body: bytes | None, deadline: float, counts: list) -> None:
    while time.monotonic() < deadline:
        async with session.request(method, url, data=body, headers={"content-type": "application/json"}) as response:
            await response.read()
            counts[0] += 1
            if response.status >= 300:
                counts[1] += 1


def _client_process(url: str, method: str, body: str | None, duration_s: float, connections: int, out_path: str) -> None:
    import asyncio

    import aiohttp

    async def run() -> None:
        counts = [0, 0]
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            start = time.monotonic()
            deadline = start + duration_s
            data = body.encode() if body else None
            await asyncio.gather(*(_client_worker(session, url, method, data, deadline, counts) for _ in range(connections)))
            elapsed = time.monotonic() - start
        Path(out_path).write_text(json.dumps({"requests": counts[0], "rps": counts[0] / elapsed, "non_2xx": counts[1], "p99_ms": None}))

    asyncio.run(run())


def run_python_client(url, method, path, body, duration_s, connections, cpu) -> dict:
    """Fallback load generator: aiohttp keep-alive client in a separate process."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as out:
        code = (
            "import sys, json; sys.path.insert(0, %r); import simulator_throughput as b; "
            "b._client_process(%r, %r, %r, %r, %r, %r)"
        ) % (str(Path(__file__).parent), url + path, method, json.dumps(body) if body else None, duration_s, connections, out.name)
        cmd = [sys.executable, "-c", code]
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu)] + cmd
        subprocess.run(cmd, check=True)
        return json.loads(Path(out.name).read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client to CPUs 0/1")
    args = parser.parse_args()
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (0, 1) if pin else (None, None)
    tool = "wrk" if os.path.exists(WRK) else "aiohttp-client"
    runner = run_wrk if tool == "wrk" else run_python_client
    results = {}
    for name, (server_args, method, path, body) in SCENARIOS.items():
        proc, url = start_simulator(server_cpu, server_args)
        try:
            runner(url, method, path, body, 1.0, args.connections, client_cpu)  # warm-up
            results[name] = runner(url, method, path, body, args.duration_s, args.connections, client_cpu)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        if body and body.get("stream"):
            results[name]["token_events_per_s"] = results[name]["rps"] * TOKENS
    print(f"simulator throughput, profile zero, server on 1 core, {args.connections} keep-alive connections, {tool}")
    print(f"{'scenario':<40}{'req/s':>10}{'tokens/s':>12}{'non-2xx':>9}{'p99 ms':>9}")
    for name, row in results.items():
        p99 = f"{row['p99_ms']:.2f}" if row.get("p99_ms") is not None else "-"
        tokens = f"{row['token_events_per_s']:,.0f}" if "token_events_per_s" in row else "-"
        print(f"{name:<40}{row['rps']:>10,.0f}{tokens:>12}{row['non_2xx']:>9}{p99:>9}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "simulator_throughput",
                "tool": tool,
                "connections": args.connections,
                "duration_s": args.duration_s,
                "server_pinned_cpu": server_cpu,
                "tokens_per_stream": TOKENS,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpu_count": os.cpu_count(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
