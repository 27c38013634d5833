"""An in-memory transport for ChatClient tests: a scripted answer per request, an injected clock.

Each :class:`Scripted` answer gives a status, headers and body chunks; a chunk may be an exception
instance (raised at that point, as a transport would) and every chunk advances the fake clock by
``step_s``, so timings in the records are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


class FakeClock:
    def __init__(self, start_s: float = 100.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class Scripted:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})
    chunks: list = field(default_factory=list)
    send_error: Exception | None = None  # raised by send() itself (before any header)
    headers_after_s: float = 0.01


class MemoryTransport:
    """Answers requests from ``script`` in order (the last one repeats); counts what it was asked."""

    def __init__(self, script: list[Scripted], clock: FakeClock, step_s: float = 0.005) -> None:
        self.script = script
        self.clock = clock
        self.step_s = step_s
        self.sent: list[tuple[str, str, bytes | None, dict]] = []
        self.closed_responses = 0

    def send(self, method, path, body, headers):
        answer = self.script[min(len(self.sent), len(self.script) - 1)]
        self.sent.append((method, path, body, dict(headers)))
        self.clock.advance(answer.headers_after_s)
        if answer.send_error is not None:
            raise answer.send_error
        return _Response(self, answer)

    def close(self) -> None:
        pass


class _Response:
    def __init__(self, transport: MemoryTransport, answer: Scripted) -> None:
        self._transport = transport
        self._answer = answer
        self.status = answer.status
        self.headers = {k.lower(): v for k, v in answer.headers.items()}

    def iter_chunks(self) -> Iterator[bytes]:
        for chunk in self._answer.chunks:
            self._transport.clock.advance(self._transport.step_s)
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk

    def close(self) -> None:
        self._transport.closed_responses += 1
