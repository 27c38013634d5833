"""Fuzz targets shared by atheris (bench/fuzz_atheris.py) and the CI smoke test.

Each target takes raw bytes and either returns or raises a LoadkitError;
any other exception is a crash. Targets are plain functions (no atheris
import) so they can be replayed from a saved crash file with Python alone.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.settings import load_settings
from loadkit.errors import LoadkitError
from loadkit.client.retry import parse_go_duration_s, remaining, retry_after_s
from loadkit.core.records import OUTCOMES
from loadkit.core.slo import load_slos, parse_slo_flag
from loadkit.protocol.sse import SSEDecoder

_TMP = Path(tempfile.mkdtemp(prefix="loadkit-fuzz-"))
_ENV_NAMES = ("LOADKIT_RUN_TIME", "LOADKIT_USERS", "LOADKIT_MODEL_WEIGHTS", "LOADKIT_HOST", "LOADKIT_SLO_CHECK",
              "LOADKIT_MAX_ERROR_RATE", "LOADKIT_MODELS", "LOADKIT_ARRIVAL", "LOADKIT_TIMEOUT_S", "LOADKIT_INFLUX_URL")


def _split(data: bytes) -> tuple[bytes, list[int]]:
    """First byte: how many cut points follow (as single bytes); the rest is the payload."""
    if not data:
        return b"", []
    n = data[0] % 8
    cuts = list(data[1:1 + n])
    return data[1 + n:], cuts


def sse(data: bytes) -> None:
    payload, cuts = _split(data)
    whole_decoder, split_decoder = SSEDecoder(max_event_bytes=4096), SSEDecoder(max_event_bytes=4096)
    try:
        whole = whole_decoder.feed(payload) + whole_decoder.close()
    except LoadkitError:
        return
    parts, start = [], 0
    for cut in sorted(c for c in cuts if c <= len(payload)) + [len(payload)]:
        parts.append(payload[start:cut])
        start = cut
    try:
        split = [e for p in parts for e in split_decoder.feed(p)] + split_decoder.close()
    except LoadkitError:
        return
    if whole != split:
        raise AssertionError(f"split feed differs: {whole!r} != {split!r}")


def ratelimit(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    a, _, b = text.partition("\n")
    for v in (parse_go_duration_s(a), retry_after_s({"retry-after": a, "retry-after-ms": b, "x-ratelimit-reset": b},
                                                     now_epoch_s=1.7e9)):
        if v is not None and not (0 <= v < float("inf")):
            raise AssertionError(f"bad seconds {v!r} from {text!r}")
    remaining({"x-ratelimit-remaining-requests": a}, "requests")


def settings_env(data: bytes) -> None:
    text = data.decode("utf-8", "replace").replace("\x00", "")
    env = {}
    for i, part in enumerate(text.split("\n")[: len(_ENV_NAMES)]):
        env[_ENV_NAMES[(i * 7 + len(part)) % len(_ENV_NAMES)]] = part
    try:
        load_settings(env=env)
    except LoadkitError as exc:
        if not str(exc):
            raise AssertionError("an error without a message") from None


def config_file(data: bytes) -> None:
    path = _TMP / "loadkit.toml"
    path.write_bytes(data)
    try:
        load_settings(env={}, config_file=path)
    except LoadkitError as exc:
        if not str(exc):
            raise AssertionError("an error without a message") from None


def slo(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        parse_slo_flag(text)
    except LoadkitError:
        pass
    path = _TMP / "slo.toml"
    path.write_bytes(data)
    try:
        load_slos(path)
    except LoadkitError:
        pass


class FakeTransport:
    """An in-memory transport: the body, split in chunks at ``cuts``, behind 200 + a content type."""

    def __init__(self, body: bytes, content_type: str, cuts: list[int]):
        self.body, self.content_type, self.cuts = body, content_type, sorted(set(c for c in cuts if c <= len(body)))

    def send(self, method, path, body, headers):
        fake = self

        class R:
            status = 200
            headers = {"content-type": fake.content_type}

            def iter_chunks(self):
                start = 0
                for cut in fake.cuts + [len(fake.body)]:
                    if fake.body[start:cut]:
                        yield fake.body[start:cut]
                    start = cut

            def close(self):
                pass

        return R()

    def close(self):
        pass


def client_chunks(data: bytes) -> None:
    payload, cuts = _split(data)
    for ctype in ("text/event-stream", "application/json"):
        rec = ChatClient(FakeTransport(payload, ctype, cuts)).chat(ChatRequest("m", [{"role": "user", "content": "q"}],
                                                                       keep_content=True))
        if rec.outcome not in OUTCOMES or (rec.outcome == "ok") != (rec.error_key is None):
            raise AssertionError(f"bad record {rec.outcome!r} {rec.error_key!r}")


TARGETS = {"sse": sse, "ratelimit": ratelimit, "settings_env": settings_env, "config_file": config_file, "slo": slo,
           "client_chunks": client_chunks}

# A few seeds per target: the fuzzer mutates from real shapes, not from nothing.
SEEDS = {
    "sse": [b"\x02\x05\x09data: {\"a\":1}\r\n\r\nevent: error\ndata: x\n\n: c\ndata: [DONE]\n"],
    "ratelimit": [b"6m0s\n120", b"Wed, 21 Oct 2015 07:28:00 GMT\n1.5"],
    "settings_env": [b"5m\n3\ngpt-4o-mini=2\nhttp://h/v1"],
    "config_file": [b"users = 3\nmodels = [\"a\"]\n[model_weights]\na = 1\n"],
    "slo": [b"[[slo]]\nmetric = \"ttft_ms.p95\"\nop = \"<\"\nvalue = 1000\n", b"gpt-4o-mini:ttft_ms.p95<1000"],
    "client_chunks": [b"\x01\x10data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[],"
                      b"\"usage\":{\"completion_tokens\":1}}\n\ndata: [DONE]\n\n"],
}
