"""A fault-injecting TCP proxy for tests, in the spirit of Toxiproxy.

It runs an asyncio loop in a background thread and forwards every accepted
connection to one upstream ``host:port``. Faults apply to the downstream
direction (upstream -> client), where a gateway's answers travel, and can be
switched at runtime with :meth:`FaultProxy.set`:

- ``latency_ms`` / ``jitter_ms``: every chunk is delivered ``latency + U(0, jitter)``
  after it arrived (order kept), so a stream is shifted by the latency, not
  stretched by it: gaps between chunks stay what the upstream made them.
- ``bandwidth_bps``: at most this many bytes/s downstream. The writer sends
  whatever has queued up, then sleeps ``bytes / rate``: events that arrived
  meanwhile leave together, so a stream arrives in bursts.
- ``cut_after_bytes``: a connection is closed after this many downstream bytes.
- ``refuse``: new connections are accepted and closed at once.
- ``stall``: nothing is forwarded downstream and nothing is closed.

:meth:`FaultProxy.outage` stops listening (and drops open connections) for
some seconds, then listens again on the same port. An ``ssl_context`` makes it
a TLS-terminating proxy in front of a plain-HTTP upstream.

    with FaultProxy("127.0.0.1", sim.port) as proxy:
        proxy.set(latency_ms=50)
        ChatClient(make_transport("httpx", TransportOptions(proxy.url + "/v1")))...
"""

from __future__ import annotations

import asyncio
import random
import ssl
import threading
import time
from dataclasses import dataclass, replace

__all__ = ["FaultProxy", "Faults"]

_READ = 64 * 1024


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    bandwidth_bps: float = 0.0  # 0: unlimited
    cut_after_bytes: int | None = None
    refuse: bool = False
    stall: bool = False


class FaultProxy:
    """A TCP proxy on ``listen_host:port`` (port 0: a free one) to ``upstream_host:upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, listen_host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, seed: int = 1) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.port = port
        self.faults = Faults()
        self.connections_total = 0
        self._ssl = ssl_context
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """``http://host:port`` (``https`` with an ssl_context)."""
        return f"{'https' if self._ssl else 'http'}://{self.listen_host}:{self.port}"

    # --- control (any thread) ---

    def start(self) -> "FaultProxy":
        self._thread.start()
        self._call(self._listen())
        return self

    def set(self, **changes) -> None:
        """Change faults for every chunk and connection from now on, e.g. ``set(latency_ms=50)``."""
        self.faults = replace(self.faults, **changes)

    def reset(self) -> None:
        self.faults = Faults()

    def stop_listening(self, drop_connections: bool = True) -> None:
        """Close the listening socket (new connections are refused) and, by default, every open connection."""
        self._call(self._stop_listening(drop_connections))

    def resume_listening(self) -> None:
        self._call(self._listen())

    def outage(self, seconds: float) -> threading.Thread:
        """Be gone for ``seconds`` (refusing connections), then come back; returns the timer thread."""
        self.stop_listening()

        def later() -> None:
            time.sleep(seconds)
            self.resume_listening()

        t = threading.Thread(target=later, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._stop_listening(True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # --- the loop ---

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self.listen_host, self.port,
                                                      ssl=self._ssl, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self, drop: bool) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if drop:
            for w in list(self._conns):
                w.transport.abort()
            self._conns.clear()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        faults = self.faults
        if faults.refuse:
            client_w.transport.abort()
            return
        self._conns.add(client_w)
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._conns.discard(client_w)
            client_w.transport.abort()
            return
        self._conns.add(up_w)
        tasks = [asyncio.ensure_future(self._pump_up(client_r, up_w)),
                 asyncio.ensure_future(self._pump_down(up_r, client_w))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for w in (client_w, up_w):
                self._conns.discard(w)
                w.transport.abort()

    async def _pump_up(self, client_r: asyncio.StreamReader, up_w: asyncio.StreamWriter) -> None:
        while True:
            data = await client_r.read(_READ)
            if not data:
                return
            if self.faults.stall:
                continue  # swallowed: the upstream never sees the request
            up_w.write(data)
            await up_w.drain()

    async def _pump_down(self, up_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            loop = asyncio.get_running_loop()
            while True:
                data = await up_r.read(_READ)
                f = self.faults
                delay_s = (f.latency_ms + (self._rng.uniform(0, f.jitter_ms) if f.jitter_ms else 0.0)) / 1000
                await queue.put((loop.time() + delay_s, data))
                if not data:
                    return

        reader = asyncio.ensure_future(read())
        loop = asyncio.get_running_loop()
        sent = 0
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0.002:
                    # epoll rounds timeouts up to whole milliseconds: sleep short, then yield until due
                    await asyncio.sleep(wait - 0.002)
                while loop.time() < due:
                    await asyncio.sleep(0)
                while self.faults.stall:
                    await asyncio.sleep(0.05)
                if not data:
                    return
                f = self.faults
                if f.bandwidth_bps:
                    # everything already due leaves with this chunk: a burst
                    while not queue.empty() and queue._queue[0][0] <= loop.time() and queue._queue[0][1]:  # type: ignore[attr-defined]
                        data += queue.get_nowait()[1]
                if f.cut_after_bytes is not None and sent + len(data) >= f.cut_after_bytes:
                    client_w.write(data[: max(0, f.cut_after_bytes - sent)])
                    await client_w.drain()
                    return  # the caller aborts both sides
                client_w.write(data)
                await client_w.drain()
                sent += len(data)
                if f.bandwidth_bps:
                    await asyncio.sleep(len(data) / f.bandwidth_bps)
        finally:
            reader.cancel()
