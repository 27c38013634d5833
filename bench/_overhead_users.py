"""Plain Locust users for bench/overhead.py (no loadkit import: no loadkit hooks).

One class per configuration; overhead.py picks one by name on the locust
command line. Every user sends the same body: gpt-4o-mini, max_tokens 60,
streams with ``stream_options.include_usage`` (what loadkit sends), and reads
every body to its end so the keep-alive connection is reused.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import httpx
from locust import FastHttpUser, HttpUser, User, constant, events, task

PATH = "/v1/chat/completions"
_MESSAGES = [{"role": "user", "content": "Say something short about load testing."}]
NON_STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES, "max_tokens": 60}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES, "max_tokens": 60, "stream": True,
                          "stream_options": {"include_usage": True}}).encode()
HEADERS = {"content-type": "application/json"}


def sse_lines(chunks):
    """The lines of an SSE body given as byte chunks (a simple line split), the unterminated tail last."""
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def count_sse_data_lines(chunks) -> int:
    """Number of ``data:`` lines in an SSE body given as byte chunks."""
    return sum(1 for line in sse_lines(chunks) if line.startswith(b"data:"))


def count_tokens_json(chunks) -> int:
    """Token events in an SSE body: each ``data:`` line parsed with orjson, non-empty delta content counted.

    The least any LLM load test must do per event to find the first token; the
    fair baseline for loadkit's stream path, which also times every event."""
    import orjson

    tokens = 0
    for line in sse_lines(chunks):
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            choices = orjson.loads(line[6:]).get("choices")
            if choices and (choices[0].get("delta") or {}).get("content"):
                tokens += 1
    return tokens


class FastNonStream(FastHttpUser):
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        self.client.post(PATH, data=NON_STREAM_BODY, headers=HEADERS, name="chat")


class _FastStreamUser(FastHttpUser):
    """Streams and reads every body to its end; ``count`` finds the events, none is a failure."""

    abstract = True
    wait_time = constant(0)
    count = staticmethod(count_sse_data_lines)
    nothing = "no SSE events"

    @task
    def chat(self) -> None:
        started_ns, start = time.time_ns(), time.perf_counter()
        with self.client.post(PATH, data=STREAM_BODY, headers=HEADERS, name="chat", stream=True,
                              catch_response=True) as resp:
            head, first = _read_to_first_token(resp) if TTFT_FILE else (b"", None)
            chunks = resp.iter_content(chunk_size=64 * 1024, decode_content=False)
            if self.count(itertools.chain((head,), chunks)) == 0:
                resp.failure(self.nothing)
            elif first is not None:
                _TTFTS.append((started_ns, start, first))


def _read_to_first_token(resp) -> tuple[bytes, float | None]:
    """The body up to the first token's line, as it arrives, and when that line was read (bench/fidelity.py).

    geventhttpclient's ``read(n)`` returns once it holds n bytes or the body ended: with iter_content's 64 KiB
    the first token would be "read" at the end of the stream. So this takes what the parser holds, else one
    ``recv`` of whatever arrived (what ``read`` does inside), until a line with content is in."""
    raw = resp._response
    head = bytearray()
    while True:
        if not raw._body_buffer:
            if raw.message_complete or raw._sock is None:
                return bytes(head), None
            raw.feed(raw._sock.recv(raw.block_size))
        head += raw._body_buffer
        del raw._body_buffer[:]
        if b'"content":"' in head.replace(b'"content":""', b"") and head.endswith(b"\n"):
            return bytes(head), time.perf_counter()


class FastStream(_FastStreamUser):
    pass


class FastStreamJson(_FastStreamUser):
    count = staticmethod(count_tokens_json)
    nothing = "no tokens"


# BENCH_TTFT_FILE: the streaming users keep (started wall ns, sent and first-token perf_counter s) per stream
# and write them there at the end
TTFT_FILE = os.environ.get("BENCH_TTFT_FILE", "")
_TTFTS: list[tuple[int, float, float]] = []


@events.quitting.add_listener
def _write_ttfts(**_kw) -> None:
    if TTFT_FILE:
        with open(TTFT_FILE, "w") as out:
            json.dump(_TTFTS, out)


class RequestsNonStream(HttpUser):
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        self.client.post(PATH, data=NON_STREAM_BODY, headers=HEADERS, name="chat")


class _HttpxUser(User):
    """One httpx.Client per user (never shared across gevent users), Locust request events fired by hand."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        self.http = httpx.Client(base_url=self.host, timeout=60.0)

    def on_stop(self) -> None:
        self.http.close()

    def _fire(self, start: float, length: int, exc: BaseException | None) -> None:
        self.environment.events.request.fire(request_type="POST", name="chat", response_time=(time.perf_counter() - start) * 1000,
                                             response_length=length, exception=exc, context={})

    def _timed(self, send) -> None:
        """Call ``send()`` (returns the response length) and report it to Locust, failed if it raised."""
        start, exc, length = time.perf_counter(), None, 0
        try:
            length = send()
        except Exception as error:  # noqa: BLE001 - reported to Locust
            exc = error
        self._fire(start, length, exc)


class HttpxNonStream(_HttpxUser):
    @task
    def chat(self) -> None:
        def send() -> int:
            resp = self.http.post(PATH, content=NON_STREAM_BODY, headers=HEADERS)
            resp.raise_for_status()
            return len(resp.content)

        self._timed(send)


class HttpxStream(_HttpxUser):
    @task
    def chat(self) -> None:
        def send() -> int:
            with self.http.stream("POST", PATH, content=STREAM_BODY, headers=HEADERS) as resp:
                resp.raise_for_status()
                return count_sse_data_lines(resp.iter_raw())

        self._timed(send)
