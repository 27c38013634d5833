"""Anthropic-style ``POST /v1/messages`` (non-stream only).

Same auth (``x-api-key`` or ``Authorization: Bearer``), models, latency
profile and task-answer rules as chat completions; no rate limits, cold
starts, capacity queue or fault injection, and not counted in ``/_sim/stats``.
"""

from __future__ import annotations

import orjson

from loadkit.simulator import content
from loadkit.simulator.clock import sleep_until
from loadkit.simulator.profiles import CATEGORIES, sample_length, sample_reference_timing


def _error(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


async def handle_messages(sim, request, writer) -> None:
    """Answer one Anthropic Messages API request."""
    from loadkit.simulator.app import prompt_tokens_of

    config, rng = sim.config, sim.rng
    if not sim._authorized(request):
        writer.send(config.auth_error_status, _error("authentication_error", "invalid x-api-key"))
        return
    try:
        payload = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list) or not payload["messages"]:
        writer.send(400, _error("invalid_request_error", "'messages' is required"))
        return
    model = payload.get("model")
    if model not in sim.models:
        writer.send(config.unknown_model_status, _error("not_found_error", f"model: {model}"))
        return
    if payload.get("stream"):
        writer.send(400, _error("invalid_request_error", "the simulator's /v1/messages does not stream"))
        return
    max_tokens = payload.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        writer.send(400, _error("invalid_request_error", "max_tokens: an integer >= 1 is required"))
        return
    messages = payload["messages"]
    category = request.headers.get("x-loadkit-task", "").strip().lower()
    category = category if category in CATEGORIES else ""
    uncut = sample_length(rng, category)
    fixed = config.fixed_for(model) if config.profile == "fixed" else None
    if fixed is not None:
        uncut = fixed.tokens or uncut
        ttft_ms, itl_ms = fixed.ttft_ms, fixed.itl_ms
    elif config.profile == "reference":
        timing = sample_reference_timing(rng, model, uncut)
        ttft_ms, itl_ms = timing.ttft_ms, timing.itl_ms
    else:
        ttft_ms = itl_ms = 0.0
    source = content.last_user_text(messages) if category else ""
    passes = content.draw_passes(rng, sim._task_success(model, category)) if category else True
    wanted = content.adjust_length(category, passes, uncut, None, source)
    tokens = min(wanted, max_tokens)
    words = content.answer_words(category, passes, tokens, request.headers.get("x-loadkit-expect"), source)
    await sleep_until(request.received_s + (ttft_ms + (tokens - 1) * itl_ms) / 1000.0)
    body = {
        "id": f"msg_{rng.getrandbits(64):016x}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "".join(w + " " for w in words)}],
        "stop_reason": "max_tokens" if tokens < wanted else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens_of(messages), "output_tokens": tokens},
    }
    writer.send(200, orjson.dumps(body))
