"""Preflight: prove the key, the host and the model names before any load.

``GET /models`` (model discovery, :mod:`loadkit.client.discovery`, decides which
model each wanted one maps to) then one tiny request per model. Every command
that sends load (``run``, ``check --gateway``, ``capacity``, ``coldstart``,
``overhead``) calls :func:`run_preflight` with its :class:`~loadkit.settings.Settings`,
so they agree on what a usable gateway is. Its requests are not load: they are
counted apart (``preflight`` in summary.json), so summary request counts plus
preflight equal what the gateway served.

The request per model is the model's first, so it is the one that meets a
cold start: it is streamed (so it has a TTFT), and ``cold_samples`` keeps its
TTFT, e2e and when it ended (Unix seconds), for the run's cold tracking
(:mod:`loadkit.core.cold`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.client.discovery import parse_models_response, resolve_models
from loadkit.core import metrics
from loadkit.errors import GatewayError
from loadkit.settings import Settings
from loadkit.transport import TransportError, TransportOptions, make_transport

__all__ = ["PreflightResult", "run_preflight", "host_label", "PREFLIGHT_MAX_TIMEOUT_S"]

_AUTH_STATUSES = (401, 403)
# A preflight that waits a full --timeout-s of 10 minutes helps nobody: it is a ping.
PREFLIGHT_MAX_TIMEOUT_S = 30.0


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


class _Gateway:
    """One preflight's connection to the gateway and the /v1 hint it can give."""

    def __init__(self, settings: Settings, host: str) -> None:
        self.host = host
        self.label = host_label(host)
        timeout_s = min(settings.timeout_s, PREFLIGHT_MAX_TIMEOUT_S)
        self.options = TransportOptions(host, timeout_s=timeout_s, connect_timeout_s=settings.connect_timeout_s,
                                        ca_bundle=settings.ca_bundle, insecure=settings.insecure)
        self.transport = make_transport("httpx", self.options)
        self.headers = {"accept": "application/json"}
        if settings.api_key:
            self.headers["authorization"] = f"Bearer {settings.api_key}"

    def get_models(self) -> tuple[int, bytes]:
        try:
            resp = self.transport.send("GET", "/models", None, self.headers)
            body = b"".join(resp.iter_chunks())
            resp.close()
        except TransportError as exc:
            if exc.key == "tls_error":
                raise GatewayError(f"{self.label}: {exc}") from None
            raise GatewayError(
                f"cannot reach {self.label} ({exc}); check --host / LOADKIT_HOST and that the gateway is running"
            ) from None
        return resp.status, body

    def v1_hint(self) -> str:
        """``"; add /v1 to --host (…)"`` when the host lacks /v1 and ``<host>/v1/models`` answers, else ``""``."""
        path = urlsplit(self.host).path.rstrip("/")
        if path.endswith("/v1"):
            return ""
        probe = make_transport("httpx", TransportOptions(
            self.host + "/v1", timeout_s=self.options.timeout_s, connect_timeout_s=self.options.connect_timeout_s,
            ca_bundle=self.options.ca_bundle, insecure=self.options.insecure))
        try:
            resp = probe.send("GET", "/models", None, self.headers)
            body = b"".join(resp.iter_chunks())
            resp.close()
            if resp.status == 200 and parse_models_response(body) is not None:
                return f"; add /v1 to --host (e.g. --host {self.host}/v1): {self.host}/v1/models answers"
        except (TransportError, GatewayError):
            pass
        finally:
            probe.close()
        return ""


def run_preflight(settings: Settings, host: str | None = None) -> PreflightResult:
    """Check the gateway at ``host`` (default ``settings.host``) for ``settings.models``.

    Returns what it offers and the model mapping (fallbacks applied), or raises
    GatewayError (one line, no secret)."""
    gw = _Gateway(settings, host or settings.host)
    label = gw.label
    result = PreflightResult()
    try:
        status, body = gw.get_models()
        if status in _AUTH_STATUSES or (status == 400 and b"key" in body.lower()):
            raise _auth_error(status, label)
        if status == 200:
            try:
                result.models_offered = sorted(parse_models_response(body))
            except GatewayError:
                raise GatewayError(f"{label}/models did not return an OpenAI model list; check that --host ends "
                                   f"with the API base (e.g. /v1){gw.v1_hint()}") from None
            result.model_map, result.fallbacks = resolve_models(result.models_offered, settings.models,
                                                                settings.model_fallback)
        else:
            # some gateways do not implement /models; the per-model request below decides.
            result.model_map = {m: m for m in settings.models}
        client = ChatClient(gw.transport, api_key=settings.api_key)
        for model in settings.models:
            used = result.model_map[model]
            rec = client.chat(ChatRequest(used, [{"role": "user", "content": "ping"}], max_tokens=1, stream=True))
            ended_unix_s = time.time() - (time.perf_counter() - rec.done_at)  # the client's clock is perf_counter
            result.requests_by_model[used] = result.requests_by_model.get(used, 0) + 1
            if used not in result.cold_samples:
                result.cold_samples[used] = {"ok": rec.outcome == "ok", "status": rec.status,
                                             "ttft_ms": metrics.ttft_ms(rec), "e2e_ms": metrics.e2e_ms(rec),
                                             "ended_unix_s": ended_unix_s}
            if rec.status in _AUTH_STATUSES:
                raise _auth_error(rec.status, label)
            if rec.outcome == "timeout" and rec.status is not None:
                # it answered (headers came) but the answer never ended: not a host problem
                raise GatewayError(f"a test request for {used!r} got headers from {label} but did not end within "
                                   f"{gw.options.timeout_s:g} s (timeout); raise --timeout-s or check the model")
            if rec.outcome in ("connect_error", "timeout"):
                raise GatewayError(f"cannot reach {label} ({rec.error_key}); check --host and that the gateway is running")
            if rec.status == 404 and status != 200:
                hint = gw.v1_hint()
                if hint:
                    raise GatewayError(f"a test request for {used!r} got {rec.error_key} from {label}{hint}")
            if rec.status in (400, 404) and rec.error_key and "model" in rec.error_key:
                raise GatewayError(f"model {used!r} is not known to {label} ({rec.error_key}); fix --models")
            if rec.status is not None and 400 <= rec.status < 500 and rec.status != 429:
                raise GatewayError(f"a test request for {used!r} got {rec.error_key} from {label}; "
                                   f"check the model name and key{gw.v1_hint()}")
        return result
    finally:
        gw.transport.close()
