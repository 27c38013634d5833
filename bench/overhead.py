"""Load-generator overhead per core: plain Locust users vs loadkit's ChatUser, plus loadkit's timing error.

One invocation, 2 cores: every generator runs pinned to CPU 0 (``taskset``),
the simulator (``--profile zero``: no sleeps, a whole stream in one write) on
CPU 1. Each configuration runs headless Locust with 64 users; after a
warm-up, the counts of a fixed window are read from the simulator's
``/_sim/stats`` (exact, not Locust's), with the generator's CPU from psutil.
Configurations run round-robin, ``--repeats`` times, and the median is
reported, because the machine may be shared. Ratios are to FastHttpUser in
the same invocation (non-stream to ``fasthttp``, stream to ``fasthttp-stream``),
both raw and per generator CPU-second (rate / generator CPU fraction), which
is the fairer number when the generator did not reach 100 % of its core.

Then the timing error: loadkit's stream user against ``--profile fixed``
(TTFT 50 ms, ITL 10 ms, 20 tokens) at user counts scaled to ~25/50/90 %
generator CPU, reporting summary.json TTFT p50/p99 minus 50 ms; and the
simulator's own error, measured with a raw-socket client at low load.
Last, a cProfile of a plain-Python loop of ChatClient (fasthttp transport)
streaming against the zero simulator: the hot spots.

    python bench/overhead.py [--seconds 10] [--repeats 3] [--configs fasthttp,loadkit-fasthttp-stream]
                             [--skip-timing] [--skip-profile] [--out bench/results/overhead.json]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import platform
import pstats
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from _simproc import start_simulator as start_bench_simulator

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results" / "overhead.json"
PYTHON = sys.executable
LOCUST = [PYTHON, "-m", "locust"]
WRK = shutil.which("wrk") or "/usr/bin/wrk"
GENERATOR_CPU, TARGET_CPU = 0, 1
MAX_TOKENS = 60
FIXED_TTFT_MS = 50.0
FIXED_SPEC = f"ttft_ms={FIXED_TTFT_MS:g},itl_ms=10,tokens=20"
CPU_TARGETS_PERCENT = (25, 50, 90)
RUN_TIME_MARGIN_S = 2.0
EXIT_WAIT_S = 60.0
MAX_TIMING_USERS = 1000

# name -> (kind, what, stream). kind: locust (plain users), loadkit (ChatUser; what = transport), wrk (what = scenario).
CONFIGS: dict[str, tuple[str, str, bool]] = {
    "fasthttp": ("locust", "FastNonStream", False),
    "fasthttp-stream": ("locust", "FastStream", True),
    "fasthttp-stream-json": ("locust", "FastStreamJson", True),
    "httpuser": ("locust", "RequestsNonStream", False),
    "httpx": ("locust", "HttpxNonStream", False),
    "httpx-stream": ("locust", "HttpxStream", True),
    "loadkit-fasthttp": ("loadkit", "fasthttp", False),
    "loadkit-fasthttp-stream": ("loadkit", "fasthttp", True),
    "loadkit-httpx": ("loadkit", "httpx", False),
    "loadkit-httpx-stream": ("loadkit", "httpx", True),
    "wrk-health": ("wrk", "health", False),
    "wrk-chat": ("wrk", "chat", False),
    "wrk-chat-stream": ("wrk", "chat", True),
}
BASELINE = {False: "fasthttp", True: "fasthttp-stream"}
# Measured on this machine before any loadkit code (DESIGN.md, issue 3), per core, 64 users.
REFERENCE = {
    "fasthttp": {"requests_per_s": 8900},
    "fasthttp-stream": {"streams_per_s": 3200, "sse_events_per_s": 211_000},
    "httpuser": {"requests_per_s": 1800},
    "httpx": {"requests_per_s": 1950},
    "httpx-stream": {"streams_per_s": 1400},
}
GOALS = {"loadkit_ratio_to_fasthttp_min": 0.8, "timing_error_p99_ms_max_under_50pct_cpu": 1.0}
_MESSAGES = [{"role": "user", "content": "Say something short about load testing."}]
CHAT_BODY = {"model": "gpt-4o-mini", "messages": _MESSAGES, "max_tokens": MAX_TOKENS}
STREAM_BODY = dict(CHAT_BODY, stream=True, stream_options={"include_usage": True})


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else cmd


def start_simulator(args: list[str]) -> tuple[subprocess.Popen, str]:
    """Start the simulator on TARGET_CPU; return (process, base URL without /v1)."""
    return start_bench_simulator(["--seed", "1", "--cold-start-ms", "0", *args], cpus=str(TARGET_CPU))


def sim_stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/_sim/stats", timeout=10) as resp:
        return json.loads(resp.read())


def _totals(stats: dict) -> tuple[int, int]:
    return stats["chat_requests_total"], sum(stats["tokens_out"].values())


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def non_token_events_per_stream(url: str) -> int:
    """SSE ``data:`` events of one stream that carry no token (role chunk, finish, usage, [DONE])."""
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(STREAM_BODY).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    lines = [ln for ln in body.split(b"\n") if ln.startswith(b"data:")]
    usage = json.loads(lines[-2][5:])["usage"]
    return len(lines) - usage["completion_tokens"]


def _wait_for_traffic(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    start_total = _totals(sim_stats(url))[0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"generator exited early with {proc.returncode}")
        if _totals(sim_stats(url))[0] > start_total:
            return
        time.sleep(0.05)
    raise RuntimeError("no traffic reached the simulator")


def measure_window(url: str, gen: psutil.Process, sim: psutil.Process, seconds: float) -> dict:
    """Counts and CPU over one window of ``seconds``: requests/s, token events/s, CPU % of generator and simulator."""
    c0, w0 = psutil.cpu_times(percpu=True), time.time_ns()
    s0, g0, m0, t0 = sim_stats(url), cpu_s(gen), cpu_s(sim), time.perf_counter()
    time.sleep(seconds)
    s1, g1, m1, t1 = sim_stats(url), cpu_s(gen), cpu_s(sim), time.perf_counter()
    c1, w1 = psutil.cpu_times(percpu=True), time.time_ns()
    elapsed = t1 - t0
    requests = _totals(s1)[0] - _totals(s0)[0]
    tokens = _totals(s1)[1] - _totals(s0)[1]
    errors = sum(v for k, v in s1["by_status"].items() if k != "200") - sum(v for k, v in s0["by_status"].items() if k != "200")
    return {"elapsed_s": round(elapsed, 3), "requests": requests, "non_200": errors, "token_events": tokens,
            "requests_per_s": requests / elapsed, "token_events_per_s": tokens / elapsed,
            "generator_cpu_percent": 100 * (g1 - g0) / elapsed, "sim_cpu_percent": 100 * (m1 - m0) / elapsed,
            # how busy each pinned core was in all, other people's processes included (the machine is shared)
            "generator_core_busy_percent": _busy_percent(c0[GENERATOR_CPU], c1[GENERATOR_CPU]),
            "target_core_busy_percent": _busy_percent(c0[TARGET_CPU], c1[TARGET_CPU]),
            "window_wall_ns": [w0, w1]}


def _busy_percent(before, after) -> float:
    total = sum(after) - sum(before)
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return 100 * (total - idle) / total if total > 0 else 0.0


def window_ttft_ms(records_path: Path, window_wall_ns: list[int]) -> list[float]:
    """Sorted TTFT (ms) of the successful streams sent inside the measured window, from records.jsonl.gz."""
    import gzip

    values = []
    with gzip.open(records_path, "rt") as lines:
        for line in lines:
            rec = json.loads(line)
            if (rec["outcome"] == "ok" and rec.get("first_token_at") is not None
                    and window_wall_ns[0] <= rec["started_wall_ns"] <= window_wall_ns[1]):
                values.append((rec["first_token_at"] - rec["sent_at"]) * 1000)
    return sorted(values)


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run_locust(name: str, url: str, sim: psutil.Process, users: int, seconds: float, warmup_s: float,
               env_extra: dict[str, str] | None = None, results_dir: str | None = None,
               locustfile: Path | None = None) -> dict:
    """One headless Locust run pinned to GENERATOR_CPU; returns the measured window (and summary.json for loadkit).

    ``locustfile``: another loadkit locustfile than _overhead_loadkit.py (bench/fidelity.py's)."""
    kind, what, stream = CONFIGS[name]
    env = dict(os.environ)
    if kind == "locust":
        cmd = [*LOCUST, "-f", str(BENCH / "_overhead_users.py"), "--host", url, what]
    else:
        run_id = f"overhead-{name}-{os.getpid()}-{time.monotonic_ns()}"
        env.update({"LOADKIT_HOST": url + "/v1", "LOADKIT_PREFLIGHT": "false", "LOADKIT_MODELS": "gpt-4o-mini",
                    "LOADKIT_MAX_TOKENS": str(MAX_TOKENS), "LOADKIT_STREAM": "true" if stream else "false",
                    "LOADKIT_TRANSPORT": what, "LOADKIT_RESULTS_DIR": results_dir or tempfile.gettempdir(),
                    "LOADKIT_RUN_ID": run_id, "LOADKIT_MAX_ERROR_RATE": "1"})
        cmd = [*LOCUST, "-f", str(locustfile or BENCH / "_overhead_loadkit.py")]
    env.update(env_extra or {})
    # Locust's own run time ends the run (SIGTERM makes Locust fire `quitting` while users still run, which
    # with hundreds of loadkit users took minutes); the window starts at the first request + warmup_s.
    # --stop-timeout > 0: a loadkit run whose streams are killed mid-body at the end (--stop-timeout 0)
    # was seen not to exit at all.
    run_time_s = warmup_s + seconds + RUN_TIME_MARGIN_S
    cmd += ["--headless", "-u", str(users), "-r", str(max(users * 10, 100)), "-t", f"{math.ceil(run_time_s)}s",
            "--stop-timeout", "10", "--only-summary", "--loglevel", "WARNING"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(pinned(GENERATOR_CPU, cmd), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_traffic(url, proc)
            time.sleep(warmup_s)
            gen = psutil.Process(proc.pid)
            if gen.name() == "taskset":  # taskset execs, but be safe
                gen = gen.children()[0]
            row = measure_window(url, gen, sim, seconds)
            if proc.poll() is not None:
                raise RuntimeError(f"{name}: Locust ended before the measured window did; raise RUN_TIME_MARGIN_S")
            try:
                proc.wait(timeout=EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                row["exit_hung"] = True
                print(f"  {name}: Locust did not exit {EXIT_WAIT_S:g} s after its run time; killed", flush=True)
        except BaseException:
            proc.kill()
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-3000:])
            raise
    if kind == "loadkit":
        summary = Path(env["LOADKIT_RESULTS_DIR"]) / env["LOADKIT_RUN_ID"] / "summary.json"
        if summary.exists():
            row["summary"] = json.loads(summary.read_text())
            records = summary.parent / "records.jsonl.gz"
            if records.exists():
                row["window_ttft_ms"] = window_ttft_ms(records, row["window_wall_ns"])
            if results_dir is None:
                shutil.rmtree(summary.parent, ignore_errors=True)
    return row


def run_wrk(name: str, url: str, sim: psutil.Process, seconds: float) -> dict:
    """wrk (1 thread, 64 connections) pinned to GENERATOR_CPU: the no-op ceiling of the target."""
    _, scenario, stream = CONFIGS[name]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if scenario == "chat":
            script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
            script.write(f"wrk.body = [[{json.dumps(STREAM_BODY if stream else CHAT_BODY)}]]\n")
    path = "/health" if scenario == "health" else "/v1/chat/completions"
    cmd = pinned(GENERATOR_CPU, [WRK, "-t1", "-c64", f"-d{max(1, round(seconds))}s", "-s", script.name, url + path])
    s0, m0, c0 = sim_stats(url), cpu_s(sim), psutil.cpu_times(percpu=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    gen = psutil.Process(proc.pid)
    g_last = 0.0
    out = ""
    while proc.poll() is None:
        try:
            g_last = cpu_s(gen)
        except psutil.Error:
            break
        time.sleep(0.1)
    out = proc.communicate()[0]
    s1, m1, c1 = sim_stats(url), cpu_s(sim), psutil.cpu_times(percpu=True)
    os.unlink(script.name)
    found = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if found is None:
        raise RuntimeError(f"wrk output not understood: {out!r}")
    elapsed = float(found.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[found.group(3)]
    wrk_requests = int(found.group(1))
    # /health is not counted by the simulator: wrk's own count there; chat counts come from /_sim/stats.
    requests = wrk_requests if scenario == "health" else _totals(s1)[0] - _totals(s0)[0]
    tokens = _totals(s1)[1] - _totals(s0)[1]
    return {"elapsed_s": elapsed, "requests": requests, "non_200": 0, "token_events": tokens,
            "requests_per_s": requests / elapsed, "token_events_per_s": tokens / elapsed,
            "generator_cpu_percent": 100 * g_last / elapsed, "sim_cpu_percent": 100 * (m1 - m0) / elapsed,
            "generator_core_busy_percent": _busy_percent(c0[GENERATOR_CPU], c1[GENERATOR_CPU]),
            "target_core_busy_percent": _busy_percent(c0[TARGET_CPU], c1[TARGET_CPU])}


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def summarise_throughput(runs: dict[str, list[dict]], extra_events: int) -> dict:
    """Per configuration: median rates, per-generator-CPU rates and ratios to the FastHttpUser baseline."""
    out: dict[str, dict] = {}
    for name, rows in runs.items():
        kind, what, stream = CONFIGS[name]
        rps = _median(rows, "requests_per_s")
        cpu = _median(rows, "generator_cpu_percent")
        row = {"kind": kind, "what": what, "stream": stream, "runs": rows,
               "requests_per_s": rps, "generator_cpu_percent": cpu,
               "sim_cpu_percent": _median(rows, "sim_cpu_percent"),
               "generator_core_busy_percent": _median(rows, "generator_core_busy_percent"),
               "target_core_busy_percent": _median(rows, "target_core_busy_percent"),
               "requests_per_generator_cpu_s": statistics.median(r["requests_per_s"] / max(r["generator_cpu_percent"], 1e-9) * 100
                                                                 for r in rows)}
        if stream:
            row["streams_per_s"] = rps
            row["sse_token_events_per_s"] = _median(rows, "token_events_per_s")
            # parsed SSE events = token events + the role, finish, usage and [DONE] events of every stream
            row["sse_events_per_s"] = statistics.median(r["token_events_per_s"] + extra_events * r["requests_per_s"] for r in rows)
        out[name] = row
    for name, row in out.items():
        base = out.get(BASELINE[row["stream"]])
        if base is not None:
            row["ratio_to_fasthttp"] = row["requests_per_s"] / base["requests_per_s"]
            row["ratio_to_fasthttp_per_cpu"] = row["requests_per_generator_cpu_s"] / base["requests_per_generator_cpu_s"]
        json_base = out.get("fasthttp-stream-json")
        if row["stream"] and json_base is not None:
            # The fair stream baseline: FastHttpUser that also parses each event to find the tokens.
            row["ratio_to_fasthttp_json"] = row["requests_per_s"] / json_base["requests_per_s"]
            row["ratio_to_fasthttp_json_per_cpu"] = (row["requests_per_generator_cpu_s"]
                                                     / json_base["requests_per_generator_cpu_s"])
        if name in REFERENCE:
            row["reference"] = REFERENCE[name]
    return out


# ---- timing error ---------------------------------------------------------------------------------

def _raw_ttft_worker(host: str, port: int, deadline: float, samples: list[float]) -> None:
    body = json.dumps(dict(STREAM_BODY, max_tokens=20)).encode()
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    first_token = re.compile(rb'"content":"[^"]')
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while time.monotonic() < deadline:
            buf = b""
            sent = time.perf_counter()
            sock.sendall(request)
            got_token = False
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
                if not got_token and first_token.search(buf):
                    samples.append((time.perf_counter() - sent) * 1000 - FIXED_TTFT_MS)
                    got_token = True
                if buf.endswith(b"\r\n0\r\n\r\n"):
                    break
    finally:
        sock.close()


def simulator_error(url: str, seconds: float, connections: int = 4) -> dict:
    """The simulator's own TTFT error (measured - configured, ms) seen by a minimal raw-socket client at low load."""
    host, port = url.split("//", 1)[1].split(":")
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=_raw_ttft_worker, args=(host, int(port), deadline, samples)) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples.sort()
    return {"connections": connections, "samples": len(samples),
            "ttft_error_p50_ms": samples[len(samples) // 2], "ttft_error_p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))]}


def timing_error(seconds: float, warmup_s: float, repeats: int, tmp: str) -> dict:
    """TTFT error of the loadkit stream user (fasthttp) at ~25/50/90 % generator CPU against the fixed simulator."""
    sim_proc, url = start_simulator(["--profile", "fixed", "--fixed", FIXED_SPEC])
    sim = psutil.Process(sim_proc.pid)
    try:
        baseline = simulator_error(url, seconds)
        calib_users = 64
        calib = run_locust("loadkit-fasthttp-stream", url, sim, calib_users, seconds, warmup_s, results_dir=tmp)
        cpu_per_user = max(calib["generator_cpu_percent"], 0.5) / calib_users
        levels = []
        for target in CPU_TARGETS_PERCENT:
            users = min(MAX_TIMING_USERS, max(4, round(target / cpu_per_user)))
            rows = []
            first = None
            # CPU is not linear in users (and the core may be shared): rescale once when far off the target.
            first = run_locust("loadkit-fasthttp-stream", url, sim, users, seconds, warmup_s, results_dir=tmp)
            measured = max(first["generator_cpu_percent"], 0.5)
            print(f"  timing: target {target}% users {users}: cpu {measured:.0f}%", flush=True)
            if abs(measured - target) > 10 and users < MAX_TIMING_USERS:
                users = min(MAX_TIMING_USERS, max(4, round(users * target / measured)))
                first = None
            for attempt in range(repeats):
                row = first if attempt == 0 and first is not None else run_locust(
                    "loadkit-fasthttp-stream", url, sim, users, seconds, warmup_s, results_dir=tmp)
                if "summary" not in row:
                    continue
                ttft = row["summary"]["models"]["gpt-4o-mini"]["ttft_ms"]
                win = row.get("window_ttft_ms") or [float("nan")]
                rows.append({"users": users, "generator_cpu_percent": row["generator_cpu_percent"],
                             "sim_cpu_percent": row["sim_cpu_percent"],
                             "generator_core_busy_percent": row["generator_core_busy_percent"],
                             "target_core_busy_percent": row["target_core_busy_percent"],
                             "window_streams": len(win),
                             "window_ttft_error_p50_ms": _pct(win, 0.5) - FIXED_TTFT_MS,
                             "window_ttft_error_p99_ms": _pct(win, 0.99) - FIXED_TTFT_MS,
                             "summary_cpu_percent_mean": row["summary"]["generator"]["cpu_percent_mean"],
                             "trusted": row["summary"]["trusted"], "streams_per_s": row["requests_per_s"],
                             "ttft_p50_ms": ttft["p50"], "ttft_p99_ms": ttft["p99"],
                             "ttft_error_p50_ms": ttft["p50"] - FIXED_TTFT_MS, "ttft_error_p99_ms": ttft["p99"] - FIXED_TTFT_MS})
                print(f"  timing: target {target}% users {users}: cpu {row['generator_cpu_percent']:.0f}% "
                      f"ttft error p50 {rows[-1]['ttft_error_p50_ms']:.2f} p99 {rows[-1]['ttft_error_p99_ms']:.2f} ms", flush=True)
            if not rows:
                continue
            levels.append({"target_cpu_percent": target, "users": users, "runs": rows,
                           **{k: _median(rows, k) for k in ("generator_cpu_percent", "generator_core_busy_percent", "sim_cpu_percent",
                                                             "streams_per_s", "ttft_error_p50_ms", "ttft_error_p99_ms",
                                                             "window_ttft_error_p50_ms", "window_ttft_error_p99_ms")},
                           "trusted": all(r["trusted"] for r in rows)})
        return {"simulator": f"--profile fixed --fixed {FIXED_SPEC}", "configured_ttft_ms": FIXED_TTFT_MS,
                "simulator_own_error_raw_socket": baseline,
                "calibration": {"users": calib_users, "generator_cpu_percent": calib["generator_cpu_percent"]},
                "levels": levels}
    finally:
        sim_proc.terminate()
        sim_proc.wait(timeout=10)


# ---- profile --------------------------------------------------------------------------------------

def profile_stream_client(url: str, seconds: float, top: int = 10) -> dict:
    """cProfile of ChatClient (fasthttp transport) streaming in a plain loop; top functions by own time."""
    from loadkit.client.chat import ChatClient, ChatRequest
    from loadkit.transport import TransportOptions, make_transport

    old_affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {GENERATOR_CPU})
    client = ChatClient(make_transport("fasthttp", TransportOptions(url + "/v1")))
    req = ChatRequest("gpt-4o-mini", _MESSAGES, max_tokens=MAX_TOKENS, stream=True)
    for _ in range(50):
        client.chat(req)
    profiler = cProfile.Profile()
    count, deadline = 0, time.monotonic() + seconds
    profiler.enable()
    while time.monotonic() < deadline:
        client.chat(req)
        count += 1
    profiler.disable()
    client.close()
    os.sched_setaffinity(0, old_affinity)
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())  # own time of every function

    def label(key) -> str:
        filename, line, func = key
        path = Path(filename)
        for anchor in ("loadkit", "geventhttpclient", "gevent", "orjson", "locust"):
            if anchor in path.parts:
                return f"{'/'.join(path.parts[path.parts.index(anchor):])}:{func}"
        return f"{path.name}:{func}" if filename != "~" else re.sub(r" at 0x[0-9a-f]+", "", func)

    by_own = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)
    # gevent's socket recv blocks in the hub while the simulator answers: waiting, not work of this process.
    wait = sum(v[2] for k, v in by_own if k[2] == "recv" and "gevent" in k[0])
    busy = max(total - wait, 1e-9)

    def rows(entries):
        return [{"function": label(k), "own_percent": round(100 * v[2] / total, 1), "cum_percent": round(100 * v[3] / total, 1),
                 "own_percent_of_busy": round(100 * v[2] / busy, 1), "calls_per_stream": round(v[1] / max(count, 1), 2)}
                for k, v in entries]

    loadkit_only = [kv for kv in by_own if "/loadkit/" in kv[0][0]]
    return {"streams": count, "seconds": seconds, "streams_per_s_profiled": count / seconds,
            "top_own_time": rows(by_own[:top]), "top_loadkit_own_time": rows(loadkit_only[:top]),
            "recv_wait_percent": round(100 * wait / total, 1),
            "loadkit_own_percent_total": round(100 * sum(v[2] for _, v in loadkit_only) / total, 1),
            "loadkit_own_percent_of_busy": round(100 * sum(v[2] for _, v in loadkit_only) / busy, 1)}


# ---- main ------------------------------------------------------------------------------------------

def print_table(rows: dict) -> None:
    print(f"\n{'config':<25}{'req|str/s':>10}{'SSE ev/s':>10}{'gen CPU%':>9}{'core0%':>7}{'sim CPU%':>9}{'per CPU-s':>10}"
          f"{'x fast':>8}{'x fast/CPU':>11}{'x json/CPU':>11}{'reference':>11}")
    for name, r in rows.items():
        events = f"{r['sse_events_per_s']:,.0f}" if "sse_events_per_s" in r else "-"
        ratio = f"{r['ratio_to_fasthttp']:.2f}" if "ratio_to_fasthttp" in r else "-"
        ratio_cpu = f"{r['ratio_to_fasthttp_per_cpu']:.2f}" if "ratio_to_fasthttp_per_cpu" in r else "-"
        ratio_json = f"{r['ratio_to_fasthttp_json_per_cpu']:.2f}" if "ratio_to_fasthttp_json_per_cpu" in r else "-"
        ref = REFERENCE.get(name, {})
        ref_text = f"{next(iter(ref.values())):,}" if ref else "-"
        print(f"{name:<25}{r['requests_per_s']:>10,.0f}{events:>10}{r['generator_cpu_percent']:>9.0f}"
              f"{r['generator_core_busy_percent']:>7.0f}{r['sim_cpu_percent']:>9.0f}"
              f"{r['requests_per_generator_cpu_s']:>10,.0f}{ratio:>8}{ratio_cpu:>11}{ratio_json:>11}{ref_text:>11}")


def _locust_version() -> str:
    import locust

    return locust.__version__


def write_results(out: Path, meta: dict, throughput: dict, timing: dict | None, profile: dict | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**meta, "throughput": throughput, "timing_error": timing, "profile": profile}, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="after the first request, before the window")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {', '.join(CONFIGS)}")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    if not os.path.exists(WRK):
        names = [n for n in names if CONFIGS[n][0] != "wrk"]
    for name in list(names):  # every ratio needs its FastHttpUser baseline in the same invocation
        base = BASELINE[CONFIGS[name][2]]
        if CONFIGS[name][0] != "wrk" and base not in names:
            names.insert(0, base)
    load_average = os.getloadavg()
    started = time.time()
    print(f"load average at start: {load_average[0]:.2f} {load_average[1]:.2f} {load_average[2]:.2f}; "
          f"generator on CPU {GENERATOR_CPU}, simulator on CPU {TARGET_CPU}", flush=True)

    sim_proc, url = start_simulator(["--profile", "zero"])
    sim = psutil.Process(sim_proc.pid)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    profile = None
    try:
        extra_events = non_token_events_per_stream(url)
        for repeat in range(args.repeats):
            for name in names:  # round-robin, so slow phases of a shared machine hit every config alike
                if CONFIGS[name][0] == "wrk":
                    row = run_wrk(name, url, sim, args.seconds)
                else:
                    row = run_locust(name, url, sim, args.users, args.seconds, args.warmup_s)
                    row.pop("summary", None)
                    row.pop("window_ttft_ms", None)
                runs[name].append(row)
                print(f"  [{repeat + 1}/{args.repeats}] {name:<24} {row['requests_per_s']:>8,.0f}/s  "
                      f"gen CPU {row['generator_cpu_percent']:.0f}%  sim CPU {row['sim_cpu_percent']:.0f}%  "
                      f"core busy {row['generator_core_busy_percent']:.0f}/{row['target_core_busy_percent']:.0f}%", flush=True)
        if not args.skip_profile:
            profile = profile_stream_client(url, max(args.seconds, 2.0))
    finally:
        sim_proc.terminate()
        sim_proc.wait(timeout=10)
    throughput = summarise_throughput(runs, extra_events)
    print_table(throughput)
    meta = {"benchmark": "overhead",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "load_average_at_start": [round(x, 2) for x in load_average],
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "locust": _locust_version(),
            "generator_cpu": GENERATOR_CPU, "target_cpu": TARGET_CPU, "users": args.users, "seconds": args.seconds,
            "warmup_s": args.warmup_s, "repeats": args.repeats, "max_tokens": MAX_TOKENS,
            "non_token_sse_events_per_stream": extra_events, "simulator": "--profile zero", "goals": GOALS}
    write_results(args.out, meta, throughput, None, profile)

    timing = None
    if not args.skip_timing:
        with tempfile.TemporaryDirectory() as tmp:
            timing = timing_error(args.seconds, args.warmup_s, args.repeats, tmp)
        print(f"\ntiming error vs configured TTFT {FIXED_TTFT_MS:g} ms (simulator --fixed {FIXED_SPEC})")
        own = timing["simulator_own_error_raw_socket"]
        print(f"{'simulator, raw socket':<25}{'':>6}{'':>9}{own['ttft_error_p50_ms']:>10.2f}{own['ttft_error_p99_ms']:>10.2f}")
        print(f"{'level':<25}{'users':>6}{'gen CPU%':>9}{'p50 err':>10}{'p99 err':>10}{'win p50':>10}{'win p99':>10}"
              f"{'core0 busy%':>12}{'str/s':>8}{'trusted':>9}")
        for lv in timing["levels"]:
            print(f"{'loadkit ~' + str(lv['target_cpu_percent']) + '% CPU':<25}{lv['users']:>6}{lv['generator_cpu_percent']:>9.0f}"
                  f"{lv['ttft_error_p50_ms']:>10.2f}{lv['ttft_error_p99_ms']:>10.2f}{lv['window_ttft_error_p50_ms']:>10.2f}"
                  f"{lv['window_ttft_error_p99_ms']:>10.2f}{lv['generator_core_busy_percent']:>12.0f}{lv['streams_per_s']:>8.0f}"
                  f"{str(lv['trusted']):>9}")
        print("  (p50/p99 err: summary.json TTFT minus configured, whole run incl. spawn; win: streams sent in the measured window)")
    if profile is not None:
        print(f"\nprofile: ChatClient stream loop, fasthttp transport, {profile['streams_per_s_profiled']:,.0f} streams/s under cProfile;"
              f" loadkit code = {profile['loadkit_own_percent_total']}% of own time")
        print(f"  gevent recv wait (simulator answering) {profile['recv_wait_percent']}% of profiled time; "
              f"loadkit code {profile['loadkit_own_percent_of_busy']}% of the rest ('busy')")
        for title, key in (("top own time, all code", "top_own_time"), ("top own time, loadkit code", "top_loadkit_own_time")):
            print(f"  {title}:")
            for row in profile[key]:
                print(f"  {row['own_percent_of_busy']:>5.1f}% of busy {row['own_percent']:>5.1f}% own {row['cum_percent']:>5.1f}% cum"
                      f"  {row['calls_per_stream']:>7} calls/stream  {row['function']}")

    write_results(args.out, meta, throughput, timing, profile)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
