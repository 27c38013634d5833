"""Writing one chat answer: OpenAI non-stream JSON or an SSE stream, on schedule.

Stream format (each event is ``data: <json>\\n\\n``, its own HTTP chunk, and
— outside the zero profile — its own write, sent at its scheduled time):

1. role chunk ``delta: {"role": "assistant", "content": ""}`` (no token),
   written at headers time;
2. one chunk per token, ``delta: {"content": "<word> "}``;
3. ``delta: {}`` with ``finish_reason`` "stop" or "length";
4. with ``stream_options.include_usage``: a usage chunk whose ``choices`` is
   ``[]`` (``--usage-shape empty-choices``) or one choice with ``delta: {}``;
5. ``data: [DONE]``.

Token k is written at service start + cold start + ttft + k * itl (absolute
deadlines, so timer errors never accumulate).  A non-stream answer is sent
at the time its last token would have been.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from loadkit.simulator.clock import now_s, sleep_until
from loadkit.simulator.httpserver import ResponseWriter

DONE_EVENT = b"data: [DONE]\n\n"


@dataclass
class ChatPlan:
    """Everything decided about one answer before the first byte is written."""

    request_id: str
    created: int
    model: str
    words: list[str]
    finish_reason: str
    prompt_tokens: int
    first_token_s: float  # monotonic deadline of the first token
    itl_s: float
    include_usage: bool
    usage_shape: str
    corked: bool  # zero profile: one write for the whole stream
    midstream_after: int | None = None  # tokens sent before a mid-stream failure
    midstream_shape: str = "event-then-done"
    first_written_s: float | None = None  # set by write_stream: when the first token went to the socket

    def usage(self, completion_tokens: int) -> dict:
        """Return the OpenAI usage object for this answer."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }


def _chunk(plan: ChatPlan, choices: list, usage: dict | None = None) -> bytes:
    event = {
        "id": plan.request_id,
        "object": "chat.completion.chunk",
        "created": plan.created,
        "model": plan.model,
        "choices": choices,
    }
    if usage is not None:
        event["usage"] = usage
    return b"data: " + orjson.dumps(event) + b"\n\n"


async def write_non_stream(plan: ChatPlan, writer: ResponseWriter, headers: list) -> int:
    """Send the whole answer when its last token is due; return tokens sent."""
    tokens = len(plan.words)
    await sleep_until(plan.first_token_s + max(0, tokens - 1) * plan.itl_s)
    if writer.closed:
        return 0
    body = {
        "id": plan.request_id,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(w + " " for w in plan.words)},
                "finish_reason": plan.finish_reason,
            }
        ],
        "usage": plan.usage(tokens),
    }
    writer.send(200, orjson.dumps(body), headers)
    return tokens


async def write_stream(plan: ChatPlan, writer: ResponseWriter, headers: list) -> int:
    """Stream the answer token by token on schedule; return tokens sent."""
    writer.start_stream(200, headers)
    writer.write_chunk(_chunk(plan, [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
    if plan.corked:
        await sleep_until(plan.first_token_s)  # only a cold start can delay the zero profile
        writer.cork()
    prefix = (
        b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
        b'"choices":[{"index":0,"delta":{"content":' % (plan.request_id.encode(), plan.created, orjson.dumps(plan.model))
    )
    suffix = b'},"finish_reason":null}]}\n\n'
    sent = 0
    first, itl = plan.first_token_s, plan.itl_s
    for k, word in enumerate(plan.words):
        if plan.midstream_after is not None and k == plan.midstream_after:
            await _fail_midstream(plan, writer)
            return sent
        deadline = first + k * itl
        if not plan.corked and deadline > now_s():
            await sleep_until(deadline)
            if writer.closed:
                return sent
        if not sent:
            plan.first_written_s = now_s()  # just before the write: the kernel's receive stamp comes after it
        writer.write_chunk(prefix + orjson.dumps(word + " ") + suffix)
        sent += 1
    if plan.midstream_after is not None and plan.midstream_after >= len(plan.words):
        await _fail_midstream(plan, writer)
        return sent
    writer.write_chunk(_chunk(plan, [{"index": 0, "delta": {}, "finish_reason": plan.finish_reason}]))
    if plan.include_usage:
        if plan.usage_shape == "empty-choices":
            choices: list = []
        else:
            choices = [{"index": 0, "delta": {}, "finish_reason": None}]
        writer.write_chunk(_chunk(plan, choices, plan.usage(sent)))
    writer.write_chunk(DONE_EVENT)
    writer.finish()
    return sent


async def _fail_midstream(plan: ChatPlan, writer: ResponseWriter) -> None:
    if plan.midstream_shape == "cut":
        writer.flush()
        writer.abort()
        return
    error = {"error": {"message": "The server had an error while streaming the response", "type": "server_error"}}
    writer.write_chunk(b"data: " + orjson.dumps(error) + b"\n\n")
    if plan.midstream_shape == "event-then-done":
        writer.write_chunk(DONE_EVENT)
        writer.finish()
    else:
        writer.close()
