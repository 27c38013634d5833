"""A hostile OpenAI-compatible gateway, as a real process on 127.0.0.1 port 0 (issue #14).

It speaks HTTP/1.1 over raw sockets (one thread per connection, keep-alive), so it can misbehave at
the byte level. The model name picks the misbehaviour: ``hostile-<behaviour>`` (the list is
:data:`tests.support.hostile_behaviours.BEHAVIOURS`; ``GET /v1/models`` lists every such model). It
echoes the API key it is sent (the bearer token) wherever a behaviour puts it, and COUNTS exactly what it
did per model, on ``GET /_hostile/stats``:

- ``requests``: chat requests received whole (each 429 retry is one);
- ``completed``: responses it wrote to their end (a trickle the client gave up on is not completed);
- ``bytes_sent``, ``token_events_sent``: what went on the wire, headers included;
- ``usage_tokens``: the completion tokens a correct client counts (the last usage before ``[DONE]``),
  summed over completed responses;
- ``statuses``: status code -> responses started with it.

    with start_hostile() as gw:
        ChatClient(make_transport("httpx", TransportOptions(gw.base_url)), api_key="sk-...")
        gw.stats()["hostile-trickle"]["requests"]

Run it by hand: ``python -m tests.support.hostile [--port 8000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from tests.support.hostile_behaviours import BEHAVIOURS
from tests.support.hostile_wire import Reply
from tests.support.waits import wait_until

__all__ = ["MODELS", "HostileGateway", "HostileProcess", "model_of", "start_hostile"]

MODELS = tuple(f"hostile-{name}" for name in BEHAVIOURS)
REPO_ROOT = Path(__file__).resolve().parents[2]
_MAX_HEAD = 64 * 1024
_LISTENING = "hostile-gateway listening on "


def model_of(behaviour: str) -> str:
    assert behaviour in BEHAVIOURS, f"no behaviour {behaviour!r}"
    return f"hostile-{behaviour}"


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[str, dict] = {}

    def _of(self, model: str) -> dict:
        return self._by_model.setdefault(model, {"requests": 0, "completed": 0, "bytes_sent": 0,
                                                 "token_events_sent": 0, "usage_tokens": 0, "statuses": Counter()})

    def received(self, model: str) -> None:
        with self._lock:
            self._of(model)["requests"] += 1

    def ended(self, model: str, reply: Reply, completed: bool) -> None:
        with self._lock:
            s = self._of(model)
            s["bytes_sent"] += reply.bytes_sent
            s["token_events_sent"] += reply.token_events
            if reply.status:
                s["statuses"][str(reply.status)] += 1
            if completed:
                s["completed"] += 1
                s["usage_tokens"] += reply.usage_tokens

    def snapshot(self) -> dict:
        with self._lock:
            return {m: {**s, "statuses": dict(s["statuses"])} for m, s in self._by_model.items()}


def _read_request(sock: socket.socket, buf: bytearray) -> tuple[str, str, dict[str, str], bytes] | None:
    """(method, path, lower-case headers, body) of the next request on ``sock``; None at EOF."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
        if len(buf) > _MAX_HEAD:
            return None
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            return None
        body += data
    buf[:] = body[length:]
    return method, path, headers, bytes(body[:length])


class HostileGateway:
    """The server itself (threads in this process); :class:`HostileProcess` runs it as its own process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.stats = _Stats()

    def serve_forever(self) -> None:
        while True:
            sock, _addr = self._listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as real gateways do: no Nagle delays
            threading.Thread(target=self._connection, args=(sock,), daemon=True).start()

    def _connection(self, sock: socket.socket) -> None:
        buf = bytearray()
        try:
            while True:
                try:
                    request = _read_request(sock, buf)
                except (TimeoutError, OSError):
                    return  # hostile-idle-close's idle timeout, or the client went away
                if request is None or not self._answer(sock, *request):
                    return
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _answer(self, sock: socket.socket, method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        sock.settimeout(None)
        if method == "GET" and path.endswith("/models"):
            return self._json(sock, 200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by":
                                                                     "hostile"} for m in MODELS]})
        if method == "GET" and path == "/_hostile/stats":
            return self._json(sock, 200, self.stats.snapshot())
        if method != "POST" or not path.endswith("/chat/completions"):
            return self._json(sock, 404, {"error": {"message": f"no route {path}", "code": "not_found"}})
        try:
            payload = json.loads(body)
            model = str(payload["model"])
        except (ValueError, KeyError, TypeError):
            return self._json(sock, 400, {"error": {"message": "body is not a chat request", "code": "bad_body"}})
        behaviour = BEHAVIOURS.get(model.removeprefix("hostile-"))
        if behaviour is None:
            return self._json(sock, 404, {"error": {"message": f"no model {model}", "code": "model_not_found"}})
        self.stats.received(model)
        key = headers.get("authorization", "").removeprefix("Bearer ").strip()
        reply = Reply(sock, key, bool(payload.get("stream")))
        try:
            keep = behaviour(reply)
        except OSError:  # the client gave up (its timeout) or the behaviour closed the socket itself
            self.stats.ended(model, reply, completed=False)
            return False
        self.stats.ended(model, reply, completed=True)
        return bool(keep)

    @staticmethod
    def _json(sock: socket.socket, status: int, obj: object) -> bool:
        body = json.dumps(obj).encode()
        sock.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                     .encode() + body)
        return True


class HostileProcess:
    """``python -m tests.support.hostile`` on a free port; a context manager."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.url = ""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self, timeout_s: float = 15.0) -> HostileProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.hostile", "--port", "0"], cwd=REPO_ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # the process prints its URL first thing, or exits
        if not line.startswith(_LISTENING):
            self.stop()
            raise RuntimeError(f"hostile gateway did not start (exit {self.proc.returncode}): {line!r}")
        self.url = line[len(_LISTENING):].strip()
        wait_until(lambda: self.stats() is not None, timeout_s, "the hostile gateway to answer",
                   ignoring=(OSError,))
        return self

    def stats(self) -> dict[str, dict]:
        """What the gateway did, per model (see the module docstring)."""
        with urllib.request.urlopen(self.url + "/_hostile/stats", timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> HostileProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def start_hostile() -> Iterator[HostileProcess]:
    """A running hostile gateway process, killed on exit."""
    with HostileProcess() as gw:
        yield gw


def main() -> None:
    parser = argparse.ArgumentParser(description="a hostile OpenAI-compatible gateway (loadkit tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    gateway = HostileGateway(args.host, args.port)
    print(_LISTENING + gateway.url, flush=True)
    gateway.serve_forever()


if __name__ == "__main__":
    main()
