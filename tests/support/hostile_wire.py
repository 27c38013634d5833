"""The wire pieces of the hostile gateway: a reply's raw socket with its counters, and OpenAI chunks/answers.

Used by tests/support/hostile_behaviours.py (the misbehaviours) and tests/support/hostile.py (the server).
"""

from __future__ import annotations

import json
import socket

__all__ = [
    "PROMPT_TOKENS",
    "SSE_HEADERS",
    "TOKENS",
    "Reply",
    "answer",
    "chunk",
    "error_body",
    "event",
    "stream",
    "whole_answer",
]

TOKENS = ("Hello", " hostile", " world", " of", " proxies")  # a healthy answer: 5 token events
PROMPT_TOKENS = 7


class Reply:
    """One request's socket, its echoed API key and the counters of what was written."""

    def __init__(self, sock: socket.socket, key: str, stream: bool) -> None:
        self.sock = sock
        self.key = key
        self.stream = stream
        self.bytes_sent = 0
        self.token_events = 0
        self.usage_tokens = 0  # completion_tokens of the usage a correct client counts
        self.status = 0
        self._chunked = False

    def write(self, data: bytes, tokens: int = 0) -> None:
        self.sock.sendall(data)
        self.bytes_sent += len(data)
        self.token_events += tokens

    def usage(self, completion_tokens: int) -> None:
        self.usage_tokens = completion_tokens

    def head(self, status: int, headers: dict[str, str] | None = None, *, framing: str = "chunked",
             length: int = 0, version: str = "HTTP/1.1", reason: str = "") -> None:
        """Status line and headers; framing: chunked, length (Content-Length = ``length``), close (none)."""
        self.status = status
        lines = [f"{version} {status} {reason or _REASONS.get(status, 'Status')}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        self._chunked = framing == "chunked"
        if self._chunked:
            lines.append("Transfer-Encoding: chunked")
        elif framing == "length":
            lines.append(f"Content-Length: {length}")
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def part(self, data: bytes, tokens: int = 0, ext: str = "") -> None:
        """One piece of body (one chunk when chunked)."""
        if self._chunked:
            data = f"{len(data):x}{ext}\r\n".encode() + data + b"\r\n"
        self.write(data, tokens)

    def end(self, trailer: str = "") -> None:
        if self._chunked:
            self.write(b"0\r\n" + trailer.encode() + b"\r\n")

    def whole(self, status: int, body: bytes, headers: dict[str, str] | None = None, **kw) -> bool:
        self.head(status, {"Content-Type": "application/json", **(headers or {})}, framing="length",
                  length=len(body), **kw)
        self.write(body)
        return True


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def event(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(content: str | None = None, finish: str | None = None, usage: int | None = None,
          field: str = "content", choices: bool = True) -> dict:
    delta = {field: content} if content is not None else {}
    obj: dict = {"id": "h", "object": "chat.completion.chunk", "model": "hostile",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
    if usage is not None:
        obj["usage"] = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": usage,
                        "total_tokens": PROMPT_TOKENS + usage}
    return obj


def answer(r: Reply, tokens=TOKENS, finish: str = "stop", usage: bool = True, done: bool = True,
           field: str = "content") -> list[tuple[bytes, int]]:
    """The events of a healthy streamed answer as (bytes, token events in them); declares its usage."""
    parts = [(event(chunk("", field=field) | {"choices": [{"index": 0, "delta": {"role": "assistant"},
                                                          "finish_reason": None}]}), 0)]
    parts += [(event(chunk(t, field=field)), 1) for t in tokens]
    parts.append((event(chunk(finish=finish)), 0))
    if usage:
        parts.append((event(chunk(usage=len(tokens), choices=False)), 0))
        r.usage(len(tokens))
    if done:
        parts.append((b"data: [DONE]\n\n", 0))
    return parts


def stream(r: Reply, parts: list[tuple[bytes, int]], headers: dict[str, str] | None = None, *,
           framing: str = "chunked", status: int = 200, ext: str = "", **kw) -> bool:
    r.head(status, {**SSE_HEADERS, **(headers or {})}, framing=framing,
           length=sum(len(p) for p, _ in parts), **kw)
    for data, tokens in parts:
        r.part(data, tokens, ext)
    r.end()
    return framing != "close"


def whole_answer(r: Reply, text: str = "".join(TOKENS)) -> bytes:
    r.usage(len(TOKENS))
    return json.dumps({"id": "h", "object": "chat.completion", "model": "hostile",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(TOKENS),
                                 "total_tokens": PROMPT_TOKENS + len(TOKENS)}}).encode()


def error_body(message: str, type_: str, code: str | None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "code": code}}).encode()
