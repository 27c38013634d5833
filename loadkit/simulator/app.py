"""HTTP routes of the simulator and the admission pipeline of a chat request.

A ``POST /v1/chat/completions`` goes through, in order: body parse (the model
is read even when later checks fail, so every request is counted under its
model, or ``<unknown>``), auth, body validation, model check, rate limits
(buckets, then every-Nth), injected errors (every-Nth, then random), cold
start, the per-model capacity queue, and finally the answer (or, in gateway
mode, the upstream's answer).  ``/_sim/*`` and ``/health`` need no auth.

Deterministic counters: ``--rate-limit-every N`` counts, per model, the
requests that passed auth, validation, the model check and the buckets;
``--error-every N`` counts, over all models, the requests that got past the
rate limits; ``--midstream-error-every N`` counts streamed requests that
reach service, and fails the Nth after ``tokens // 2`` tokens (the random
``--midstream-error-rate`` picks 0..tokens).  Rejected requests are never
charged to a bucket.  ``x-ratelimit-*-requests`` / ``-tokens`` headers are
sent (on 200 and 429) only when an rpm / tpm limit applies to the model.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict

import orjson

from loadkit.simulator import content
from loadkit.simulator.capacity import ColdTracker, ModelCapacity, QueueTimeout
from loadkit.simulator.chat import ChatPlan, write_non_stream, write_stream
from loadkit.simulator.clock import now_s
from loadkit.simulator.config import SimulatorConfig
from loadkit.simulator.httpserver import Request, ResponseWriter
from loadkit.simulator.profiles import CATEGORIES, default_task_success, sample_length, sample_reference_timing
from loadkit.simulator.ratelimit import DEFAULT_MAX_TOKENS_COST, RateLimiter, retry_after_headers
from loadkit.simulator.stats import SimulatorStats

UNKNOWN_MODEL = "<unknown>"
SERVER_ERRORS = {
    500: ("The server had an error while processing your request", "internal_error"),
    502: ("Bad gateway: the upstream returned an invalid response", "bad_gateway"),
    503: ("The engine is currently overloaded, please try again later", "service_unavailable"),
}


def error_body(message: str, error_type: str, code: str | None) -> bytes:
    """Return an OpenAI-style error JSON body."""
    return orjson.dumps({"error": {"message": message, "type": error_type, "code": code}})


def prompt_tokens_of(messages: list) -> int:
    """Return ceil(total characters of all message contents / 4)."""
    chars = 0
    for message in messages:
        if isinstance(message, dict):
            chars += len(content.content_text(message.get("content")))
    return math.ceil(chars / 4)


def bearer_key(request: Request) -> str | None:
    """Return the key of an ``Authorization: Bearer`` header (or ``x-api-key``)."""
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, key = auth.partition(" ")
        return key.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key")


class Simulator:
    """The state of one simulator process and its request handler."""

    def __init__(self, config: SimulatorConfig, rng: random.Random | None = None):
        self.config = config
        self.rng = rng if rng is not None else random.Random(config.seed)
        self.stats = SimulatorStats()
        self.limiter = RateLimiter(config)
        self.cold = ColdTracker(config.idle_s)
        self.capacity = {m: ModelCapacity(config.max_concurrency_for(m)) for m in config.models}
        self.models = set(config.models)
        self.created = int(time.time())
        self.error_count = 0
        self.midstream_count = 0
        self.request_count = 0
        # --send-log: line-buffered, one "received first_written" pair per stream (monotonic s, this host's clock)
        self.send_log = open(config.send_log, "a", buffering=1) if config.send_log else None  # noqa: SIM115
        self.gateway = None
        if config.upstream:
            from loadkit.simulator.gateway import Gateway

            self.gateway = Gateway(config, self.rng)
        self.models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": self.created, "owned_by": _owner(m)} for m in config.models
                ],
            }
        )

    async def close(self) -> None:
        """Release upstream connections (gateway mode) and the send log."""
        if self.send_log is not None:
            self.send_log.close()
        if self.gateway is not None:
            await self.gateway.close()

    async def handle(self, request: Request, writer: ResponseWriter) -> None:
        """Route one request."""
        path, method = request.path, request.method
        if path == "/v1/chat/completions":
            if method == "POST":
                await self.chat(request, writer)
                return
        elif path == "/v1/models":
            if method == "GET":
                if not self._authorized(request):
                    self._auth_error(writer)
                elif self.gateway is not None:
                    await self.gateway.forward_models(request, writer)
                else:
                    writer.send(200, self.models_body)
                return
        elif path == "/v1/messages":
            if method == "POST":
                from loadkit.simulator.anthropic import handle_messages

                await handle_messages(self, request, writer)
                return
        elif path == "/health":
            writer.send(200, b"ok", content_type="text/plain")
            return
        elif path == "/_sim/stats":
            writer.send(200, orjson.dumps(self.stats.snapshot()))
            return
        elif path == "/_sim/reset" and method == "POST":
            self.stats.reset()
            writer.send(200, b'{"reset":true}')
            return
        elif path == "/_sim/config":
            writer.send(200, orjson.dumps(self.config.public_dict(), default=_jsonable))
            return
        else:
            writer.send(404, error_body(f"Unknown path {path}", "invalid_request_error", "not_found"))
            return
        writer.send(405, error_body(f"Method {method} not allowed on {path}", "invalid_request_error", None))

    def _authorized(self, request: Request) -> bool:
        return self.config.api_key is None or bearer_key(request) == self.config.api_key

    def _auth_error(self, writer: ResponseWriter) -> None:
        body = error_body("Invalid API key", "invalid_request_error", "invalid_api_key")
        writer.send(self.config.auth_error_status, body)

    async def chat(self, request: Request, writer: ResponseWriter) -> None:
        """Handle ``POST /v1/chat/completions`` and count it in the stats."""
        stats = self.stats
        stats.request_started()
        model = UNKNOWN_MODEL
        try:
            try:
                payload = orjson.loads(request.body)
            except orjson.JSONDecodeError:
                payload = None
            if isinstance(payload, dict) and isinstance(payload.get("model"), str):
                model = payload["model"]
            await self._chat(request, writer, payload, model)
        finally:
            stats.request_finished(model, writer.status or 499)

    async def _chat(self, request: Request, writer: ResponseWriter, payload, model: str) -> None:
        config = self.config
        if not self._authorized(request):
            self._auth_error(writer)
            return
        if not isinstance(payload, dict):
            writer.send(400, error_body("Invalid JSON body", "invalid_request_error", "invalid_json"))
            return
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            writer.send(400, error_body("'messages' is required", "invalid_request_error", "missing_messages"))
            return
        if model == UNKNOWN_MODEL:
            writer.send(400, error_body("'model' is required", "invalid_request_error", "missing_model"))
            return
        if self.gateway is None and model not in self.models:
            body = error_body(f"The model `{model}` does not exist", "invalid_request_error", "model_not_found")
            writer.send(config.unknown_model_status, body)
            return
        max_tokens = payload.get("max_completion_tokens", payload.get("max_tokens"))
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
            writer.send(400, error_body("'max_tokens' must be an integer >= 1", "invalid_request_error", "invalid_value"))
            return
        prompt_tokens = prompt_tokens_of(messages)
        key = bearer_key(request) or ""
        admission = self.limiter.admit(key, model, prompt_tokens + (max_tokens or DEFAULT_MAX_TOKENS_COST), now_s())
        headers = admission.headers
        if not admission.allowed:
            forced = config.retry_after_s is not None
            seconds = config.retry_after_s if forced else admission.retry_after_s
            headers = headers + retry_after_headers(config.retry_after_format, seconds, forced, time.time())
            body = error_body(
                f"Rate limit reached for {model}; please try again in {seconds:.3g}s",
                "rate_limit_error",
                "rate_limit_exceeded",
            )
            writer.send(429, body, headers)
            return
        status = self._injected_error()
        if status:
            message, code = SERVER_ERRORS[status]
            writer.send(status, error_body(message, "server_error", code), headers)
            return
        if self.gateway is not None:
            await self.gateway.forward_chat(request, payload, writer, headers)
            return
        await self._serve(request, writer, payload, model, messages, max_tokens, prompt_tokens, headers)

    def _injected_error(self) -> int:
        config = self.config
        self.error_count += 1
        if config.error_every and self.error_count % config.error_every == 0:
            return 500
        if config.error_rate and self.rng.random() < config.error_rate:
            return self.rng.choice((500, 502, 503))
        return 0

    def _task_success(self, model: str, category: str) -> float:
        overrides = self.config.task_success
        for key in (f"{model}:{category}", f"*:{category}"):
            if key in overrides:
                return overrides[key]
        return default_task_success(model, category)

    async def _serve(self, request, writer, payload, model, messages, max_tokens, prompt_tokens, headers):
        config, rng = self.config, self.rng
        stream = bool(payload.get("stream"))
        category = request.headers.get("x-loadkit-task", "").strip().lower()
        if category not in CATEGORIES:
            category = ""
        fixed = config.fixed_for(model) if config.profile == "fixed" else None
        uncut = fixed.tokens if fixed is not None and fixed.tokens else sample_length(rng, category)
        if config.profile == "reference":
            timing = sample_reference_timing(rng, model, uncut)
            ttft_ms, itl_ms = timing.ttft_ms, timing.itl_ms
        elif fixed is not None:
            ttft_ms, itl_ms = fixed.ttft_ms, fixed.itl_ms
        else:
            ttft_ms = itl_ms = 0.0
        source = content.last_user_text(messages) if category else ""
        passes = content.draw_passes(rng, self._task_success(model, category)) if category else True
        # A fixed token count is exact (correctness tests count on it); the summary length rule
        # then only decides pass/fail content, not the length.
        wanted = uncut if fixed is not None and fixed.tokens else content.adjust_length(category, passes, uncut, None, source)
        tokens = min(wanted, max_tokens) if max_tokens is not None else wanted
        words = content.answer_words(category, passes, tokens, request.headers.get("x-loadkit-expect"), source)
        midstream_after = None
        if stream:
            self.midstream_count += 1
            if config.midstream_error_every and self.midstream_count % config.midstream_error_every == 0:
                midstream_after = tokens // 2
            elif config.midstream_error_rate and rng.random() < config.midstream_error_rate:
                midstream_after = rng.randrange(tokens + 1)

        cold = self.cold.begin(model, request.received_s)
        cold_ms = config.cold_start_ms_for(model) if cold else 0.0
        if cold_ms > 0:
            self.stats.add_cold_start(model)
        headers = headers + [("x-sim-cold", "1" if cold_ms > 0 else "0")]
        capacity = self.capacity[model]
        try:
            queued = await capacity.acquire(config.queue_timeout_s)
        except QueueTimeout:
            self.cold.end(model, now_s())
            message, code = "Request timed out waiting for capacity", "queue_timeout"
            writer.send(503, error_body(message, "server_error", code), headers)
            return
        sent = 0
        try:
            start_s = now_s() if queued else request.received_s
            plan = ChatPlan(
                request_id=f"chatcmpl-{rng.getrandbits(64):016x}",
                created=int(time.time()),
                model=model,
                words=words,
                finish_reason="length" if tokens < wanted else "stop",
                prompt_tokens=prompt_tokens,
                first_token_s=start_s + (cold_ms + ttft_ms) / 1000.0,
                itl_s=itl_ms / 1000.0,
                include_usage=_include_usage(payload),
                usage_shape=config.usage_shape,
                corked=config.profile == "zero",
                midstream_after=midstream_after,
                midstream_shape=config.midstream_error_shape,
            )
            if stream:
                sent = await write_stream(plan, writer, headers)
                if self.send_log is not None and plan.first_written_s is not None:
                    self.send_log.write(f"{request.received_s:.7f} {plan.first_written_s:.7f}\n")
            else:
                sent = await write_non_stream(plan, writer, headers)
        finally:
            capacity.release()
            self.cold.end(model, now_s())
            self.stats.add_tokens(model, sent)


def _include_usage(payload: dict) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _owner(model: str) -> str:
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith("gpt"):
        return "openai"
    if model.startswith("gemini"):
        return "google"
    if model.startswith("deepseek"):
        return "deepseek"
    return "loadkit-simulator"


def _jsonable(value):
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(type(value).__name__)
