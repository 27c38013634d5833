"""Preflight: prove the key, the host and the model names before any load.

``GET /models`` then one tiny request per model. Its requests are not load:
they are counted apart (``preflight`` in summary.json), so summary request
counts plus preflight equal what the gateway served.

The request per model is the model's first, so it is the one that meets a
cold start: it is streamed (so it has a TTFT), and ``cold_samples`` keeps its
TTFT, e2e and when it ended (Unix seconds), for the run's cold tracking
(:mod:`loadkit.core.cold`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core import metrics
from loadkit.errors import GatewayError
from loadkit.transport import TransportError, TransportOptions, make_transport

__all__ = ["PreflightResult", "run_preflight", "host_label"]

_AUTH_STATUSES = (401, 403)


def host_label(url: str) -> str:
    """``scheme://host:port`` of a URL (no path, no credentials) for messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}"


@dataclass
class PreflightResult:
    models_offered: list[str] = field(default_factory=list)
    requests_by_model: dict[str, int] = field(default_factory=dict)
    model_map: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)
    # per model sent: {"ok", "status", "ttft_ms", "e2e_ms", "ended_unix_s"} of its preflight request
    cold_samples: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "models_offered": self.models_offered,
            "requests_by_model": self.requests_by_model,
            "model_map": self.model_map,
            "fallbacks": self.fallbacks,
            "cold_samples": self.cold_samples,
        }


def _auth_error(status: int, host: str) -> GatewayError:
    return GatewayError(f"{status} from {host}: the API key was rejected; set LOADKIT_API_KEY (or --api-key-file) to a valid key")


def run_preflight(
    host: str,
    api_key: str,
    models: list[str],
    *,
    fallback: dict[str, str] | None = None,
    timeout_s: float = 30.0,
    connect_timeout_s: float = 5.0,
    ca_bundle: str = "",
    insecure: bool = False,
) -> PreflightResult:
    """Check the gateway; returns what it offers and the model mapping, or raises GatewayError (one line)."""
    label = host_label(host)
    options = TransportOptions(host, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, ca_bundle=ca_bundle, insecure=insecure)
    transport = make_transport("httpx", options)
    headers = {"accept": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    result = PreflightResult()
    try:
        try:
            resp = transport.send("GET", "/models", None, headers)
            body = b"".join(resp.iter_chunks())
            resp.close()
        except TransportError as exc:
            if exc.key == "tls_error":
                raise GatewayError(f"{label}: {exc}") from None
            raise GatewayError(
                f"cannot reach {label} ({exc}); check --host / LOADKIT_HOST and that the gateway is running"
            ) from None
        if resp.status in _AUTH_STATUSES or (resp.status == 400 and b"key" in body.lower()):
            raise _auth_error(resp.status, label)
        if resp.status == 200:
            try:
                data = orjson.loads(body)
                result.models_offered = sorted(str(m["id"]) for m in data.get("data", []) if isinstance(m, dict))
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise GatewayError(
                    f"{label}/models did not return an OpenAI model list; check that --host ends with the API base (e.g. /v1)"
                ) from None
        # else: some gateways do not implement /models; the per-model request below decides.
        fallback = fallback or {}
        for model in models:
            used = model
            if result.models_offered and model not in result.models_offered:
                alt = fallback.get(model)
                if alt and alt in result.models_offered:
                    used = alt
                    result.fallbacks[model] = alt
                else:
                    offered = ", ".join(result.models_offered)
                    raise GatewayError(
                        f"model {model!r} is not offered by {label}; it offers: {offered} "
                        f"(fix --models, or set --model-fallback {model}=<one of them>)"
                    )
            result.model_map[model] = used
            client = ChatClient(transport, api_key=api_key)
            rec = client.chat(ChatRequest(used, [{"role": "user", "content": "ping"}], max_tokens=1, stream=True))
            ended_unix_s = time.time() - (time.perf_counter() - rec.done_at)  # the client's clock is perf_counter
            result.requests_by_model[used] = result.requests_by_model.get(used, 0) + 1
            if used not in result.cold_samples:
                result.cold_samples[used] = {"ok": rec.outcome == "ok", "status": rec.status,
                                             "ttft_ms": metrics.ttft_ms(rec), "e2e_ms": metrics.e2e_ms(rec),
                                             "ended_unix_s": ended_unix_s}
            if rec.status in _AUTH_STATUSES:
                raise _auth_error(rec.status, label)
            if rec.status in (400, 404) and rec.error_key and "model" in rec.error_key:
                raise GatewayError(f"model {used!r} is not known to {label} ({rec.error_key}); fix --models")
            if rec.outcome in ("connect_error", "timeout"):
                raise GatewayError(f"cannot reach {label} ({rec.error_key}); check --host and that the gateway is running")
            if rec.status is not None and 400 <= rec.status < 500 and rec.status != 429:
                raise GatewayError(f"a test request for {used!r} got {rec.error_key} from {label}; check the model name and key")
        return result
    finally:
        transport.close()
