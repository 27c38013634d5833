"""Faults between loadkit and the gateway: latency, bandwidth, stalls, cuts, outages, wrong hosts, TLS.

A fault-injecting proxy (tests/support/faultproxy.py) sits between the chat
client (or `loadkit run`) and a real simulator process; one test puts the
simulator in its own network namespace behind a veth with `tc tbf`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import select
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.metrics import e2e_ms, itl_ms, ttft_ms
from loadkit.transport import TransportOptions, make_transport
from tests.support.faultproxy import FaultProxy
from tests.support.servers import free_port
from tests.support.simproc import start_simulator
from tests.support.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]
TRANSPORTS = ["fasthttp", "httpx"]
FIXED = ("--profile", "fixed", "--cold-start-ms", "0", "--fixed")


def client(url: str, kind: str = "httpx", timeout_s: float = 10.0, **tls) -> ChatClient:
    return ChatClient(make_transport(kind, TransportOptions(url + "/v1", timeout_s=timeout_s, connect_timeout_s=2.0, **tls)))


def ask(c: ChatClient, tokens: int = 10, model: str = "gpt-4o-mini"):
    return c.chat(ChatRequest(model, [{"role": "user", "content": "hello"}], max_tokens=tokens))


def median(values) -> float:
    return statistics.median(values)


@pytest.fixture(scope="module")
def sim():
    with start_simulator(*FIXED, "ttft_ms=40,itl_ms=10,tokens=10") as s:
        yield s


@pytest.fixture
def proxy(sim):
    with FaultProxy("127.0.0.1", sim.port) as p:
        yield p


# --- latency -------------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_added_latency_shifts_ttft_and_e2e_by_exactly_d_and_nothing_else(proxy, kind):
    c = client(proxy.url, kind)
    ask(c)  # connect outside the measurement
    runs = {}
    for latency in (0, 50, 0, 50):  # interleaved: a slow machine moment hits both sides
        proxy.set(latency_ms=latency)
        runs.setdefault(latency, []).extend(ask(c) for _ in range(8))
    c.close()
    for recs in runs.values():
        assert all(r.outcome == "ok" and r.output_tokens == 10 for r in recs)
    med = {d: {"ttft": median(ttft_ms(r) for r in recs), "e2e": median(e2e_ms(r) for r in recs),
               "itl": median(g for r in recs for g in itl_ms(r))} for d, recs in runs.items()}
    # load only ever adds time (to the proxy's sleeps as to the client): the fastest of the 16 requests on each
    # side shift by exactly d (±2 ms); the medians, which a busy box bends, within ±10 ms
    low = {d: {"ttft": min(ttft_ms(r) for r in recs), "e2e": min(e2e_ms(r) for r in recs)} for d, recs in runs.items()}
    assert low[50]["ttft"] - low[0]["ttft"] == pytest.approx(50, abs=2), low
    assert low[50]["e2e"] - low[0]["e2e"] == pytest.approx(50, abs=2), low
    assert med[50]["ttft"] - med[0]["ttft"] == pytest.approx(50, abs=10), med
    assert med[50]["itl"] - med[0]["itl"] == pytest.approx(0, abs=2), med
    assert med[0]["itl"] == pytest.approx(10, abs=2), med
    print("latency", kind, json.dumps({d: {k: round(v, 2) for k, v in m.items()} for d, m in med.items()}))


# --- bandwidth -----------------------------------------------------------


def test_bandwidth_cap_in_the_proxy_makes_bursts_and_keeps_counts_exact(sim, proxy):
    sim.reset_stats()
    c = client(proxy.url, "httpx")
    proxy.set(bandwidth_bps=4000)  # ~25 events/s of ~160 bytes; the stream makes 100/s
    recs = [ask(c, tokens=10) for _ in range(3)]
    c.close()
    served = sim.stats()
    gaps = [g for r in recs for g in itl_ms(r)]
    assert all(r.outcome == "ok" for r in recs)
    assert sum(g < 1.0 for g in gaps) >= len(gaps) // 3, gaps  # events that came in one burst
    assert max(gaps) > 3 * 10, gaps  # and the wait for the next burst
    print("proxy-bandwidth", json.dumps({"gaps_lt_1ms": sum(g < 1.0 for g in gaps), "gaps": len(gaps),
                                         "max_gap_ms": round(max(gaps), 1)}))
    assert served["chat_requests_total"] == len(recs)
    assert sum(r.output_tokens for r in recs) == sum(served["tokens_out"].values())


def _ip(*args: str, ns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    subprocess.run([*prefix, *args], check=True, capture_output=True)


@contextmanager
def namespace_with_veth():
    """A network namespace joined to the root one by a veth pair; yields (ns, host_if, host_addr, ns_addr)."""
    tag = f"{os.getpid() % 10000}"
    ns, host_if, ns_if = f"lkf{tag}", f"lkfh{tag}", f"lkfn{tag}"
    octet = 150 + os.getpid() % 100
    host_addr, ns_addr = f"10.{octet}.7.1", f"10.{octet}.7.2"
    try:
        _ip("ip", "netns", "add", ns)
        _ip("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("ip", "link", "set", ns_if, "netns", ns)
        _ip("ip", "addr", "add", f"{host_addr}/30", "dev", host_if)
        _ip("ip", "link", "set", host_if, "up")
        _ip("ip", "addr", "add", f"{ns_addr}/30", "dev", ns_if, ns=ns)
        _ip("ip", "link", "set", ns_if, "up", ns=ns)
        _ip("ip", "link", "set", "lo", "up", ns=ns)
        yield ns, ns_if, host_addr, ns_addr
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


@contextmanager
def simulator_in(ns: str, addr: str, *args: str):
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "loadkit.simulator", "--host", addr,
                             "--port", "0", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline() if ready else ""
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(5)


def require_root_netns() -> None:
    """Network-namespace tests need root and iproute2: fail with the fix, never skip (CI has both)."""
    if os.geteuid() != 0:
        pytest.fail("network-namespace tests need root (CI runs as root)")
    if not shutil.which("ip") or not shutil.which("tc"):
        pytest.fail("`ip`/`tc` missing: apt-get install -y iproute2")


def test_tbf_on_a_real_veth_makes_itl_bursty_and_counts_stay_exact():
    require_root_netns()
    with namespace_with_veth() as (ns, ns_if, _host_addr, ns_addr):
        with simulator_in(ns, ns_addr, *FIXED, "ttft_ms=20,itl_ms=5,tokens=30") as url:
            c = client(url, "httpx")
            free = [ask(c, tokens=30) for _ in range(2)]
            # the answers leave the namespace through ns_if: cap them at 40 kbit/s (5 KB/s) with a 3 KB bucket
            _ip("tc", "qdisc", "add", "dev", ns_if, "root", "tbf", "rate", "40kbit", "burst", "3kb", "latency", "2s", ns=ns)
            capped = [ask(c, tokens=30) for _ in range(2)]
            c.close()
            with socket.create_connection((ns_addr, int(url.rsplit(":", 1)[1]))) as s:
                s.sendall(b"GET /_sim/stats HTTP/1.0\r\n\r\n")
                raw = b""
                while chunk := s.recv(65536):
                    raw += chunk
            served = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    for r in free + capped:
        assert r.outcome == "ok" and len(r.token_times) == 30 and r.output_tokens == 30
    free_gaps = [g for r in free for g in itl_ms(r)]
    capped_gaps = [g for r in capped for g in itl_ms(r)]
    assert median(free_gaps) == pytest.approx(5, abs=2)
    assert sum(g < 1.0 for g in capped_gaps) >= len(capped_gaps) // 4, capped_gaps  # bursts
    assert max(capped_gaps) > 4 * 5, capped_gaps  # waits for the bucket
    assert median(e2e_ms(r) for r in capped) > median(e2e_ms(r) for r in free) + 50
    print("tbf", json.dumps({"free_itl_p50": round(median(free_gaps), 2), "capped_gaps_lt_1ms": sum(g < 1.0 for g in capped_gaps),
                             "capped_gaps": len(capped_gaps), "capped_max_gap_ms": round(max(capped_gaps), 1),
                             "free_e2e_p50": round(median(e2e_ms(r) for r in free), 1),
                             "capped_e2e_p50": round(median(e2e_ms(r) for r in capped), 1)}))
    assert served["chat_requests_total"] == 4
    assert sum(served["tokens_out"].values()) == sum(r.output_tokens for r in free + capped) == 120


# --- stall, cut ----------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_stalled_connection_times_out_at_the_configured_timeout_and_the_next_request_works(proxy, kind):
    c = client(proxy.url, kind, timeout_s=1.0)
    assert ask(c).outcome == "ok"
    proxy.set(stall=True)
    rec = ask(c)
    took_s = (rec.done_at - rec.sent_at)
    proxy.reset()
    after = ask(c)
    c.close()
    assert (rec.outcome, rec.error_key) == ("timeout", "timeout")
    assert took_s == pytest.approx(1.0, rel=0.2)
    print("stall", kind, round(took_s, 3))
    assert after.outcome == "ok" and after.output_tokens == 10


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_connection_cut_mid_stream_is_in_stream_error_with_partial_tokens_and_the_pool_recovers(proxy, kind):
    c = client(proxy.url, kind)
    proxy.set(cut_after_bytes=900)  # the headers and a few token events
    rec = ask(c, tokens=10)
    proxy.reset()
    after = [ask(c, tokens=10) for _ in range(2)]
    c.close()
    assert rec.outcome == "in_stream_error", (rec.outcome, rec.error_key)
    assert rec.error_key == "stream_broken"
    assert 0 < len(rec.token_times) < 10
    assert rec.output_tokens == len(rec.token_times)  # no usage came: counted events
    assert [a.outcome for a in after] == ["ok", "ok"]
    print("cut", kind, len(rec.token_times))


def test_refused_connections_are_connect_error_and_do_not_reach_the_gateway(sim, proxy):
    sim.reset_stats()
    proxy.set(refuse=True)
    c = client(proxy.url, "fasthttp")
    recs = [ask(c) for _ in range(3)]
    proxy.reset()
    ok = ask(c)
    c.close()
    assert {r.outcome for r in recs} == {"connect_error"}
    assert ok.outcome == "ok"
    assert sim.stats()["chat_requests_total"] == 1


# --- outage during a run ---------------------------------------------------


def _records(run_dir: Path) -> list[dict]:
    out = []
    for p in run_dir.rglob("records.jsonl*"):
        data = p.read_bytes()
        if p.suffix == ".gz":
            data = gzip.decompress(data)
        out += [json.loads(line) for line in data.splitlines() if line.strip()]
    return out


def test_a_ten_second_outage_during_a_run_is_counted_per_model_and_the_run_recovers(tmp_path):
    with start_simulator(*FIXED, "ttft_ms=20,itl_ms=5,tokens=8") as s, FaultProxy("127.0.0.1", s.port) as p:
        env = dict(os.environ)
        env.pop("LOADKIT_API_KEY", None)
        cmd = [sys.executable, "-m", "loadkit.cli", "run", "--host", p.url + "/v1", "--users", "2", "--spawn-rate", "2",
               "--run-time", "22s", "--results-dir", str(tmp_path / "results"), "--run-id", "outage",
               "--connect-timeout-s", "1", "--max-error-rate", "1", "--think-time-s", "0.02"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: s.stats()["chat_requests_total"] >= 20, 60, "traffic through the proxy before the outage")
        outage_started = time.time()
        p.outage(10).join()
        outage_ended = time.time()
        out, err = proc.communicate(timeout=90)
        served = s.stats()
    summary = json.loads((tmp_path / "results" / "outage" / "summary.json").read_text())
    assert proc.returncode in (0, 1), err[-2000:]
    assert "Traceback" not in err
    for model in ("claude-4-haiku", "gpt-4o-mini"):
        outcomes = summary["models"][model]["outcomes"]
        assert outcomes.get("connect_error", 0) > 0, (model, outcomes)
        assert outcomes.get("ok", 0) > 0
    warnings = [ln for ln in err.splitlines() if "request failed" in ln]
    kinds = {re.sub(r".*\] ", "", ln).split(";")[0] for ln in warnings}
    # at most one line per error kind per 10 s window, over a ~22 s run: <= 3 each
    assert len(warnings) <= 3 * len(kinds), warnings
    recs = _records(tmp_path / "results" / "outage")
    assert len(recs) == summary["totals"]["attempts"]
    assert sum(summary["totals"]["outcomes"].values()) == summary["totals"]["attempts"]
    recovered = [r for r in recs if r.get("outcome") == "ok" and r["started_wall_ns"] / 1e9 > outage_ended + 0.5]
    assert len(recovered) > 20  # both users came back by themselves
    during = [r for r in recs if outage_started + 0.5 < r["started_wall_ns"] / 1e9 < outage_ended - 0.5]
    assert during and all(r["outcome"] == "connect_error" for r in during)
    # every request that got through the proxy reached the gateway: served = attempts that connected + preflight,
    # give or take the requests in flight when the outage dropped their connections (<= users)
    # (a request cut by the run's stop is recorded as "interrupted": the gateway may or may not have counted it)
    connected = sum(1 for r in recs if r["outcome"] not in ("connect_error", "interrupted"))
    preflight = sum(summary["preflight"]["requests_by_model"].values())
    assert 0 <= served["chat_requests_total"] - preflight - connected <= 2
    print("outage", json.dumps({"outcomes": summary["totals"]["outcomes"], "warning_lines": len(warnings),
                                "served": served["chat_requests_total"], "connected": connected, "preflight": preflight}))


# --- wrong host, TLS -------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_an_unused_loopback_port_is_a_fast_connect_error(kind):
    c = client(f"http://127.0.0.1:{free_port()}", kind)
    rec = ask(c)
    c.close()
    assert (rec.outcome, rec.error_key) == ("connect_error", "connect_error")
    assert rec.done_at - rec.sent_at < 1.0


@pytest.fixture(scope="module")
def tls_gateway(sim, tmp_path_factory):
    """The simulator behind a TLS-terminating proxy with a self-signed certificate for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with FaultProxy("127.0.0.1", sim.port, ssl_context=ctx) as p:
        yield p.url, str(cert)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_tls_is_verified_by_default_and_ca_bundle_or_insecure_work(tls_gateway, kind):
    url, cert = tls_gateway
    outcomes = {}
    for name, tls in (("default", {}), ("ca_bundle", {"ca_bundle": cert}), ("insecure", {"insecure": True})):
        c = client(url, kind, **tls)
        rec = ask(c)
        c.close()
        outcomes[name] = (rec.outcome, rec.error_key, rec.output_tokens)
    assert outcomes["default"][:2] == ("connect_error", "tls_error"), outcomes
    assert outcomes["ca_bundle"] == ("ok", None, 10), outcomes
    assert outcomes["insecure"] == ("ok", None, 10), outcomes


def test_tls_on_the_gevent_transport_falls_back_to_the_loop_clock_and_still_times_right(tls_gateway, sim):
    # ssl sockets read through their own buffer (no recvmsg, no kernel stamps): the loop clock, labelled
    from loadkit.core.metrics import LatencyHistogram
    from loadkit.locust.monitor import TimingMonitor

    url, cert = tls_gateway
    recs = {}
    for name, base in (("tls", url), ("plain", sim.url)):
        c = client(base, "fasthttp", ca_bundle=cert if name == "tls" else "")
        ask(c)  # connect (and handshake) outside the measured request
        recs[name] = ask(c)
        c.close()
    tls, plain = recs["tls"], recs["plain"]
    assert (tls.outcome, tls.output_tokens, len(tls.token_times)) == ("ok", 10, 10)
    assert tls.timing_clock is None and tls.first_token_read_lag_ms is None  # not kernel-stamped
    assert plain.timing_clock == "kernel" and plain.first_token_read_lag_ms is not None
    assert ttft_ms(tls) >= 40.0 - 3.0  # the proxy adds time, never takes it
    monitor = TimingMonitor(LatencyHistogram())
    monitor.stamp(tls)
    monitor.stamp(plain)
    assert (tls.timing_clock, plain.timing_clock) == ("loop", "kernel")
    assert (monitor.loop_stamped, monitor.kernel_stamped) == (1, 1)


def _loadkit(args, tmp_path, timeout=90):
    env = dict(os.environ)
    env.pop("LOADKIT_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "loadkit.cli", "run", "--results-dir", str(tmp_path / "results"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_loadkit_run_refuses_a_self_signed_gateway_in_one_line_and_accepts_ca_bundle_and_insecure(tls_gateway, tmp_path):
    url, cert = tls_gateway
    # The TLS outcome is under test, not the generator: an untrusted (busy-box) run stays informational.
    base = ["--host", url + "/v1", "--users", "1", "--run-time", "1s", "--models", "gpt-4o-mini", "--untrusted-exit-code", "0"]
    refused = _loadkit(base, tmp_path)
    assert refused.returncode == 2, refused.stderr[-2000:]
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("loadkit: ") and "certificate" in lines[0], lines
    assert "--ca-bundle" in lines[0] and "--insecure" in lines[0]
    assert not (tmp_path / "results").exists()
    for i, extra in enumerate((["--ca-bundle", cert], ["--insecure", "true"])):
        ok = _loadkit([*base, *extra, "--run-id", f"tls{i}"], tmp_path)
        assert ok.returncode == 0, ok.stderr[-2000:]
        summary = json.loads((tmp_path / "results" / f"tls{i}" / "summary.json").read_text())
        assert summary["totals"]["outcomes"].get("ok", 0) == summary["totals"]["attempts"] > 0
