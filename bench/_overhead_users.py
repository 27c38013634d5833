"""Plain Locust users for bench/overhead.py (no loadkit import: no loadkit hooks).

One class per configuration; overhead.py picks one by name on the locust
command line. Every user sends the same body: gpt-4o-mini, max_tokens 60,
streams with ``stream_options.include_usage`` (what loadkit sends), and reads
every body to its end so the keep-alive connection is reused.
"""

from __future__ import annotations

import json
import time

import httpx
from locust import FastHttpUser, HttpUser, User, constant, task

PATH = "/v1/chat/completions"
_MESSAGES = [{"role": "user", "content": "Say something short about load testing."}]
NON_STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES, "max_tokens": 60}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": _MESSAGES, "max_tokens": 60, "stream": True,
                          "stream_options": {"include_usage": True}}).encode()
HEADERS = {"content-type": "application/json"}


def count_sse_data_lines(chunks) -> int:
    """Number of ``data:`` lines in an SSE body given as byte chunks (a simple line split)."""
    events = 0
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                events += 1
    if pending.startswith(b"data:"):
        events += 1
    return events


class FastNonStream(FastHttpUser):
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        self.client.post(PATH, data=NON_STREAM_BODY, headers=HEADERS, name="chat")


class FastStream(FastHttpUser):
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        with self.client.post(PATH, data=STREAM_BODY, headers=HEADERS, name="chat", stream=True,
                              catch_response=True) as resp:
            if count_sse_data_lines(resp.iter_content(chunk_size=64 * 1024, decode_content=False)) == 0:
                resp.failure("no SSE events")


def count_tokens_json(chunks) -> int:
    """Token events in an SSE body: each ``data:`` line parsed with orjson, non-empty delta content counted.

    The least any LLM load test must do per event to find the first token; the
    fair baseline for loadkit's stream path, which also times every event."""
    import orjson

    tokens = 0
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                choices = orjson.loads(line[6:]).get("choices")
                if choices and (choices[0].get("delta") or {}).get("content"):
                    tokens += 1
    return tokens


class FastStreamJson(FastHttpUser):
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        with self.client.post(PATH, data=STREAM_BODY, headers=HEADERS, name="chat", stream=True,
                              catch_response=True) as resp:
            if count_tokens_json(resp.iter_content(chunk_size=64 * 1024, decode_content=False)) == 0:
                resp.failure("no tokens")


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


class HttpxNonStream(_HttpxUser):
    @task
    def chat(self) -> None:
        start, exc, length = time.perf_counter(), None, 0
        try:
            resp = self.http.post(PATH, content=NON_STREAM_BODY, headers=HEADERS)
            length = len(resp.content)
            resp.raise_for_status()
        except Exception as error:  # noqa: BLE001 - reported to Locust
            exc = error
        self._fire(start, length, exc)


class HttpxStream(_HttpxUser):
    @task
    def chat(self) -> None:
        start, exc, events = time.perf_counter(), None, 0
        try:
            with self.http.stream("POST", PATH, content=STREAM_BODY, headers=HEADERS) as resp:
                resp.raise_for_status()
                events = count_sse_data_lines(resp.iter_raw())
        except Exception as error:  # noqa: BLE001 - reported to Locust
            exc = error
        self._fire(start, events, exc)
