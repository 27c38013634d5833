"""InfluxDB down or slow: submit() stays fast, nothing is lost that is not counted."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from loadkit.settings import Settings
from loadkit.sinks import make_sink
from tests.support.servers import InfluxServer, free_port, synthetic_records

RATE_PER_S = 2000
OUTAGE_S = 10.0


def _count(server: InfluxServer, db: str, run_id: str) -> int:
    res = server.query(f"SELECT COUNT(\"attempt\") FROM \"llm_request\" WHERE \"run_id\" = '{run_id}'", db=db)
    series = res["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def _paced_submit(sinks, records, rate_per_s, during=None):
    """Submit at a steady rate to every sink; return each submit() duration in us."""
    durations = []
    t0 = time.perf_counter()
    for i, r in enumerate(records):
        if during is not None:
            during(time.perf_counter() - t0)
        due = t0 + i / rate_per_s
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for sink in sinks:
            start = time.perf_counter_ns()
            sink.submit(r, 0.001)
            durations.append((time.perf_counter_ns() - start) / 1000.0)
    return durations


@pytest.mark.slow
def test_outage_loses_nothing_with_room_and_exactly_the_counted_overflow_without(tmp_path):
    server = InfluxServer(tmp_path / "influxd").start()
    try:
        server.create_db("outage")
        settings = Settings(influx_url=server.url, influx_db="outage")
        roomy = make_sink(settings, "roomy", tmp_path / "roomy", "w1")
        small_bound = 4000  # 2 s of traffic, the outage is 10 s
        tight = make_sink(settings.with_(sink_buffer=small_bound), "tight", tmp_path / "tight", "w1")
        for sink in (roomy, tight):
            sink.backoff_max_s = 1.0
            sink.start()
        records = synthetic_records(int(RATE_PER_S * (OUTAGE_S + 3)))
        state = {"down": False, "up": False}

        def outage(elapsed_s):
            if elapsed_s > 1.0 and not state["down"]:
                state["down"] = True
                threading.Thread(target=server.kill).start()
            if elapsed_s > 1.0 + OUTAGE_S and not state["up"]:
                state["up"] = True
                threading.Thread(target=server.start).start()

        durations = _paced_submit([roomy, tight], records, RATE_PER_S, during=outage)
        assert state["up"]
        for sink in (roomy, tight):
            sink.stop(timeout_s=20)
        # never waits on the outage (that would be >= the 1 s backoff): 50 ms leaves room for a busy box's
        # scheduling; how fast submit() is, is bench/sink.py's table
        assert max(durations) < 50_000, f"submit() blocked {max(durations):.0f} us"
        n = len(records)
        r_stats, t_stats = roomy.stats(), tight.stats()
        assert r_stats["failed_flushes"] > 0 and t_stats["failed_flushes"] > 0
        assert (r_stats["written"], r_stats["dropped"]) == (n, 0)
        assert _count(server, "outage", "roomy") == n
        assert t_stats["dropped"] > n // 2  # most of the outage did not fit
        assert t_stats["written"] + t_stats["dropped"] == n
        assert _count(server, "outage", "tight") == n - t_stats["dropped"]
        assert t_stats["buffered_peak"] <= small_bound + RATE_PER_S * 1.5
    finally:
        server.stop()


class DelayingProxy:
    """TCP proxy that holds every response chunk from upstream for ``delay_s`` (a slow InfluxDB)."""

    def __init__(self, upstream_port: int, delay_s: float) -> None:
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _pipe(self, reader, writer, delay_s):
        try:
            while data := await reader.read(65536):
                if delay_s:
                    await asyncio.sleep(delay_s)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(self._pipe(client_reader, up_writer, 0), self._pipe(up_reader, client_writer, self.delay_s))

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_slow_influx_does_not_slow_submit(tmp_path):
    server = InfluxServer(tmp_path / "influxd").start()
    try:
        server.create_db("slow")
        with DelayingProxy(server.port, delay_s=0.5) as proxy:
            settings = Settings(influx_url=f"http://127.0.0.1:{proxy.port}", influx_db="slow")
            sink = make_sink(settings, "slow", tmp_path / "slow", "w1")
            sink.start()
            records = synthetic_records(12_000)
            durations = _paced_submit([sink], records, 4000)
            sink.stop(timeout_s=20)
            stats = sink.stats()
        durations.sort()
        p99_us = durations[int(len(durations) * 0.99)]
        # never waits on the slow server (each write waits >= 500 ms): p99 far under 1 ms; how fast submit() is,
        # is bench/sink.py's table (a GIL switch to the drainer thread can cost one call tens of us)
        assert p99_us < 1_000, f"submit() p99 {p99_us:.1f} us"
        assert (stats["written"], stats["dropped"]) == (len(records), 0)
        assert stats["flush_ms"]["p50"] >= 500  # every write really waited on the slow server
        assert _count(server, "slow", "slow") == len(records)
    finally:
        server.stop()
