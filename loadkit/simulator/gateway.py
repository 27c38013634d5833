"""Gateway mode: forward chat requests to an upstream simulator, chunk by chunk.

Before forwarding, the gateway waits N(overhead_ms, overhead_jitter_ms) ms
(clamped >= 0, drawn from the seeded generator), measured from the moment the
request was fully received.  The body is sent unchanged except for
``--model-map``; the client's Authorization header is passed through unless
``--upstream-api-key-env`` names the key to use.  The upstream's status,
content type, retry and rate-limit headers are copied, and its body is
forwarded piece by piece as it arrives (one chunk per read).
"""

from __future__ import annotations

import os
import random

import aiohttp
import orjson

from loadkit.simulator.clock import sleep_until
from loadkit.simulator.httpserver import Request, ResponseWriter

COPIED_HEADERS = ("retry-after", "retry-after-ms", "x-sim-cold")
FORWARDED_REQUEST_HEADERS = ("x-loadkit-task", "x-loadkit-expect", "content-type")


class Gateway:
    """One keep-alive aiohttp session to the upstream."""

    def __init__(self, config, rng: random.Random):
        self.config = config
        self.rng = rng
        self._session: aiohttp.ClientSession | None = None
        self._upstream_key = os.environ.get(config.upstream_api_key_env) if config.upstream_api_key_env else None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)
        return self._session

    async def close(self) -> None:
        """Close the upstream session."""
        if self._session is not None:
            await self._session.close()

    def _headers(self, request: Request) -> dict[str, str]:
        headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers}
        if self._upstream_key is not None:
            headers["authorization"] = f"Bearer {self._upstream_key}"
        elif "authorization" in request.headers:
            headers["authorization"] = request.headers["authorization"]
        return headers

    def overhead_s(self) -> float:
        """Return one drawn gateway overhead in seconds (>= 0)."""
        config = self.config
        if config.overhead_jitter_ms > 0:
            overhead_ms = self.rng.gauss(config.overhead_ms, config.overhead_jitter_ms)
        else:
            overhead_ms = config.overhead_ms
        return max(0.0, overhead_ms) / 1000.0

    async def forward_chat(self, request: Request, payload: dict, writer: ResponseWriter, headers: list) -> None:
        """Forward one chat request after the overhead and relay the answer."""
        await sleep_until(request.received_s + self.overhead_s())
        model = payload.get("model")
        if model in self.config.model_map:
            payload = dict(payload, model=self.config.model_map[model])
            body = orjson.dumps(payload)
        else:
            body = request.body
        url = f"{self.config.upstream}/v1/chat/completions"
        await self._relay(url, "POST", body, request, writer, headers)

    async def forward_models(self, request: Request, writer: ResponseWriter) -> None:
        """Relay ``GET /v1/models`` from the upstream."""
        await self._relay(f"{self.config.upstream}/v1/models", "GET", None, request, writer, [])

    async def _relay(self, url, method, body, request, writer, headers) -> None:
        try:
            response = await self._client().request(method, url, data=body, headers=self._headers(request))
        except (aiohttp.ClientError, OSError) as exc:
            message = f"Upstream unreachable: {type(exc).__name__}"
            writer.send(502, orjson.dumps({"error": {"message": message, "type": "server_error", "code": "bad_gateway"}}))
            return
        async with response:
            out = list(headers)
            for name in COPIED_HEADERS:
                if name in response.headers:
                    out.append((name, response.headers[name]))
            for name, value in response.headers.items():
                if name.lower().startswith("x-ratelimit-"):
                    out.append((name.lower(), value))
            content_type = response.headers.get("content-type", "application/json")
            if content_type.startswith("text/event-stream"):
                writer.start_stream(response.status, out, content_type)
                try:
                    async for piece in response.content.iter_any():
                        writer.write_chunk(piece)
                        await writer.drain()
                        if writer.closed:
                            return
                except (aiohttp.ClientError, OSError):
                    writer.abort()  # the upstream cut the stream: cut ours too
                    return
                writer.finish()
            else:
                writer.send(response.status, await response.read(), out, content_type)
