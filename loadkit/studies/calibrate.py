"""Calibration: how much of a measured latency is this machine's generator, and at what concurrency it stays small.

:func:`calibrate` starts the gateway simulator with fixed timings (TTFT,
ITL, answer length; no cold start, no errors), then for each planned
concurrency runs ``loadkit run`` (the real generator: Locust users in one
process) against it and compares every warm request with the configured
timings: the **generator's error** per metric is measured minus configured
(TTFT error = TTFT - ttft_ms; ITL error = each gap - itl_ms; e2e error =
e2e - (ttft_ms + (tokens - 1) * itl_ms)), in ms, per percentile. The first
and last ``edge_s`` of each level are left out (ramp-up and stop).

Beside each level, a raw-socket client (:func:`raw_socket_ttft_ms`: blocking
``socket``, one request at a time, no HTTP library) measures the
**simulator's own** TTFT error at that load, so the simulator is not blamed
for the generator's error, or the other way round.

The simulator also logs, per stream, when it read the request and when it
wrote the first token (``--send-log``, CLOCK_MONOTONIC, which the generator's
``time.perf_counter`` shares on Linux). Matched to the run's records
(:func:`own_ttft_errors`), that gives the **generator's own** first-token
error exactly: its stamp minus the simulator's write, whatever the
simulator's lateness (on a busy or CPU-stealing machine, the simulator's
timers are late by more than the generator's whole error).

The answer is the highest concurrency per process whose own first-token
error p99 is under ``max_ttft_error_p99_ms`` (1 ms). Where the send log has
no match (a simulator without it), the older rule stands: TTFT error p99
minus the simulator's median lateness at that load (raw-socket TTFT error
p50), ``ttft_net_p99_ms``. ``loadkit capacity`` divides the planned
concurrency by the answer for "workers needed".
"""

from __future__ import annotations

import bisect
import gzip
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import orjson

from loadkit.core import metrics
from loadkit.core.records import RequestRecord, record_from_dict
from loadkit.errors import ConfigError

__all__ = ["FixedTimings", "start_fixed_simulator", "timing_errors", "raw_socket_ttft_ms", "calibrate",
           "read_send_log", "own_ttft_errors", "MAX_TTFT_ERROR_P99_MS", "PERCENTILES"]

MAX_TTFT_ERROR_P99_MS = 1.0
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_FIRST_CONTENT = re.compile(rb'"content":"[^"]')


@dataclass(frozen=True)
class FixedTimings:
    ttft_ms: float = 20.0
    itl_ms: float = 2.0
    tokens: int = 16

    def __post_init__(self) -> None:
        if self.ttft_ms < 0 or self.itl_ms < 0 or self.tokens < 1:
            raise ConfigError(f"fixed timings need ttft_ms >= 0, itl_ms >= 0, tokens >= 1 (got {self})")

    @property
    def e2e_ms(self) -> float:
        return self.ttft_ms + (self.tokens - 1) * self.itl_ms

    def sim_arg(self) -> str:
        return f"ttft_ms={self.ttft_ms:g},itl_ms={self.itl_ms:g},tokens={self.tokens}"


def start_fixed_simulator(timings: FixedTimings, workdir: Path, model: str) -> tuple[subprocess.Popen, str]:
    """The simulator as its own process on a free port; returns it and its base URL (``.../v1``).

    It logs each stream's read and first-token write to ``workdir / SEND_LOG`` (:func:`read_send_log`)."""
    port_file = workdir / "sim.port"
    cmd = [sys.executable, "-m", "loadkit.simulator", "--host", "127.0.0.1", "--port", "0", "--port-file",
           str(port_file), "--models", model, "--profile", "fixed", "--fixed", timings.sim_arg(),
           "--cold-start-ms", "0", "--error-rate", "0", "--send-log", str(workdir / SEND_LOG)]
    log = open(workdir / "simulator.log", "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise ConfigError(f"the simulator did not start; see {workdir / 'simulator.log'}")


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    if not len(values):
        return {"count": 0, **{f"p{p:g}": None for p in PERCENTILES}, "max": None}
    arr = np.asarray(values, dtype=float)
    out: dict[str, float | int | None] = {"count": int(arr.size)}
    for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES)):
        out[f"p{p:g}"] = round(float(v), 3)
    out["max"] = round(float(arr.max()), 3)
    return out


def _window(records: Sequence[RequestRecord], edge_s: float) -> list[RequestRecord]:
    """Warm successful requests with a first token, the first and last ``edge_s`` left out."""
    ok = [r for r in records if r.outcome == "ok" and not r.cold and r.first_token_at is not None]
    if ok:
        lo, hi = min(r.sent_at for r in ok) + edge_s, max(r.done_at for r in ok) - edge_s
        ok = [r for r in ok if lo <= r.sent_at and r.done_at <= hi] or ok
    return ok


def timing_errors(records: Sequence[RequestRecord], timings: FixedTimings, edge_s: float = 1.0) -> dict[str, dict]:
    """Measured minus configured, ms, per metric (``ttft``, ``itl``, ``e2e``) over warm successful requests."""
    ok = _window(records, edge_s)
    ttft = [metrics.ttft_ms(r) - timings.ttft_ms for r in ok]
    itl = [gap - timings.itl_ms for r in ok for gap in metrics.itl_ms(r)]
    e2e = [metrics.e2e_ms(r) - timings.e2e_ms for r in ok]
    return {"ttft": _summary(ttft), "itl": _summary(itl), "e2e": _summary(e2e)}


SEND_LOG = "sends.log"
MATCH_S = 0.005  # a request the simulator read more than 5 ms after it was sent is not matched


def read_send_log(path: Path) -> list[tuple[float, float]]:
    """The simulator's ``--send-log``: (request read, first token written) per stream, monotonic s, by read time."""
    if not path.exists():
        return []
    pairs = [tuple(map(float, line.split())) for line in path.read_text().splitlines() if line.count(" ") == 1]
    return sorted(pairs)  # type: ignore[arg-type]


def own_ttft_errors(pairs: Sequence[tuple[float, float]], sends: Sequence[tuple[float, float]]) -> dict:
    """The generator's own first-token error, ms: its first-token stamp minus the simulator's write of that token.

    ``pairs``: (sent_at, first_token_at) per request, ``time.perf_counter`` s (CLOCK_MONOTONIC on Linux, the
    clock of the simulator's log). Each request is matched to the first stream the simulator read at or after
    its ``sent_at``, within MATCH_S; two requests sent within a fraction of a millisecond of each other can
    swap, which adds at most their spacing. What remains is the generator's own: loopback transit (tens of
    us), a late read, a coalesced read. Also the simulator's own lateness (write - read - nothing else: the
    configured TTFT is the caller's to subtract) and how long a request took to be read.
    """
    received = [r for r, _ in sends]
    own, send_to_read, sim_ttft = [], [], []
    used: set[int] = set()
    for sent_at, first_at in sorted(pairs):
        i = bisect.bisect_left(received, sent_at)
        while i < len(received) and i in used:
            i += 1
        if i >= len(received) or received[i] - sent_at > MATCH_S:
            continue
        used.add(i)
        own.append((first_at - sends[i][1]) * 1000.0)
        send_to_read.append((received[i] - sent_at) * 1000.0)
        sim_ttft.append((sends[i][1] - received[i]) * 1000.0)
    return {"matched": len(own), "own_ms": _summary(own), "send_to_read_ms": _summary(send_to_read),
            "simulator_ttft_ms": _summary(sim_ttft)}


def raw_socket_ttft_ms(base_url: str, model: str, timeout_s: float = 10.0) -> float | None:
    """TTFT of one streamed request over a plain blocking socket (a new connection), ms; None on failure.

    The clock starts after the request's bytes are sent and stops at the
    first ``recv`` that holds a non-empty ``content``: no HTTP library, no
    event loop, so what remains is the simulator's own timing (and the kernel).
    """
    url = urlsplit(base_url)
    body = orjson.dumps({"model": model, "stream": True, "max_tokens": 1,
                         "messages": [{"role": "user", "content": "calibrate"}]})
    head = (f"POST {url.path.rstrip('/')}/chat/completions HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    try:
        with socket.create_connection((url.hostname, url.port), timeout=timeout_s) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(head + body)
            sent = time.perf_counter()
            seen = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                seen = seen[-64:] + chunk
                if _FIRST_CONTENT.search(seen):
                    first = time.perf_counter()
                    while sock.recv(65536):  # read the answer out, so the server finishes it
                        pass
                    return (first - sent) * 1000.0
    except OSError:
        return None


def _probe_while(base_url: str, model: str, stop: threading.Event, gap_s: float, out: list[float]) -> None:
    while not stop.is_set():
        value = raw_socket_ttft_ms(base_url, model)
        if value is not None:
            out.append(value)
        stop.wait(gap_s)


def _read_records(run_dir: Path) -> list[RequestRecord]:
    out = []
    for path in sorted(run_dir.rglob("records.jsonl.gz")):
        with gzip.open(path, "rb") as fh:
            out += [record_from_dict(orjson.loads(line)) for line in fh if line.strip()]
    return out


def _run_level(base_url: str, model: str, users: int, run_time_s: float, workdir: Path) -> tuple[list, int]:
    """One ``loadkit run`` at ``users`` against the simulator; returns its records and exit code."""
    run_id = f"calibrate-{users}u"
    cmd = [sys.executable, "-m", "loadkit.cli", "run", "--host", base_url, "--models", model, "--users", str(users),
           "--spawn-rate", str(users), "--run-time", f"{run_time_s:g}s", "--results-dir", str(workdir),
           "--run-id", run_id, "--idle-s", "3600"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=run_time_s + 120)
    return _read_records(workdir / run_id), proc.returncode


def calibrate(
    levels: Sequence[int],
    *,
    timings: FixedTimings = FixedTimings(),
    run_time_s: float = 6.0,
    edge_s: float = 1.0,
    model: str = "gpt-4o-mini",
    max_ttft_error_p99_ms: float = MAX_TTFT_ERROR_P99_MS,
    probe_gap_s: float = 0.05,
    progress: Callable[[dict], None] | None = None,
    stop_early: bool = True,
) -> dict:
    """Measure the generator's and the simulator's timing error at each concurrency; returns calibration.json.

    Levels run in ascending order; with ``stop_early`` the search stops at the
    first level whose TTFT error p99 reaches the limit (higher ones would only
    fail more). The answer is the highest passing level below the first failing one.
    """
    levels = sorted({int(u) for u in levels})
    if not levels or levels[0] < 1:
        raise ConfigError(f"calibrate needs concurrency levels >= 1 (got {list(levels)})")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="loadkit-calibrate-") as tmp:
        workdir = Path(tmp)
        sim, base_url = start_fixed_simulator(timings, workdir, model)
        try:
            for users in levels:
                stop, sim_ttft = threading.Event(), []
                prober = threading.Thread(target=_probe_while, args=(base_url, model, stop, probe_gap_s, sim_ttft),
                                          daemon=True)
                prober.start()
                records, code = _run_level(base_url, model, users, run_time_s, workdir)
                stop.set()
                prober.join(15)
                errors = timing_errors(records, timings, edge_s)
                sim_error = _summary([v - timings.ttft_ms for v in sim_ttft])
                p99 = errors["ttft"]["p99"]
                net_p99 = None if p99 is None else round(p99 - max(0.0, sim_error["p50"] or 0.0), 3)
                kept = [(r.sent_at, r.first_token_at) for r in _window(records, edge_s)]
                own = own_ttft_errors(kept, read_send_log(workdir / SEND_LOG))
                own_p99 = own["own_ms"]["p99"] if own["matched"] >= max(10, len(kept) // 2) else None
                judged = own_p99 if own_p99 is not None else net_p99
                ok = [r for r in records if r.outcome == "ok"]
                span_s = (max(r.done_at for r in ok) - min(r.sent_at for r in ok)) if len(ok) > 1 else 0.0
                row = {"users": users, "requests": len(records), "exit_code": code,
                       "requests_per_s": round(len(ok) / span_s, 2) if span_s > 0 else None,
                       "generator_error_ms": errors,
                       "simulator_ttft_error_ms": sim_error, "ttft_net_p99_ms": net_p99,
                       "generator_own_ttft_error_ms": own["own_ms"], "own_matched": own["matched"],
                       "simulator_own_ttft_ms": own["simulator_ttft_ms"],
                       "judged_by": "own" if own_p99 is not None else "net",
                       "passed": judged is not None and judged < max_ttft_error_p99_ms}
                rows.append(row)
                if progress is not None:
                    progress(row)
                if not row["passed"] and stop_early:
                    break
        finally:
            sim.terminate()
            sim.wait(10)
    first_fail = next((i for i, r in enumerate(rows) if not r["passed"]), len(rows))
    best = rows[first_fail - 1] if first_fail > 0 else None
    return {
        "schema_version": 1,
        "fixed": {"ttft_ms": timings.ttft_ms, "itl_ms": timings.itl_ms, "tokens": timings.tokens},
        "run_time_s": run_time_s, "edge_s": edge_s, "max_ttft_error_p99_ms": max_ttft_error_p99_ms,
        "levels": rows,
        "max_users_per_process": None if best is None else best["users"],
        "requests_per_s_at_max": None if best is None else best["requests_per_s"],
    }
