"""Property tests (hypothesis) on everything that parses outside input.

SSE decoder, Retry-After / x-ratelimit parsers, settings (environment and
config file), SLO flag and file, and the chat client's handling of whatever
JSON (or not) a gateway streams. Each either returns a well-formed value or
raises a LoadkitError with a message; nothing else escapes, nothing hangs,
memory stays bounded. `LOADKIT_FUZZ_EXAMPLES` raises the example counts for a
longer local run.
"""

from __future__ import annotations

import json
import math
import os
from http.server import BaseHTTPRequestHandler

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.hardening.fuzz_targets import FakeTransport
from tests.support.servers import http_handler_server
from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.settings import FIELDS, Settings, env_name, load_settings
from loadkit.errors import ConfigError, LoadkitError, SLOError
from loadkit.client.retry import parse_go_duration_s, remaining, retry_after_s
from loadkit.core.records import OUTCOMES
from loadkit.core.slo import SLO, load_slos, parse_slo_flag
from loadkit.protocol.sse import SSEDecoder, SSEError
from loadkit.transport import TransportOptions, make_transport

N = int(os.environ.get("LOADKIT_FUZZ_EXAMPLES", "300"))
FAST = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# SSE-ish bytes: mostly the pieces streams are made of, some of anything
SSE_PIECES = st.sampled_from([b"data:", b"data: ", b"event:", b"id:", b"retry:", b":", b"\n", b"\r", b"\r\n", b" ",
                              b"[DONE]", b'{"choices":[{"delta":{"content":"x"}}]}', b"\x00", b"\xff", b"12"])
SSE_BYTES = st.lists(st.one_of(SSE_PIECES, st.binary(max_size=20)), max_size=40).map(b"".join)


def decode(data: bytes, cuts: list[int], max_event_bytes: int = 8 * 1024 * 1024):
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    events = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        events += decoder.feed(data[start:cut])
        start = cut
        assert len(decoder._tail) <= max_event_bytes  # bounded: never holds more than one line
    events += decoder.close()
    return [(e.event, e.data, e.id, e.retry) for e in events]


@FAST
@given(SSE_BYTES, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_sse_split_anywhere_gives_the_same_events_as_whole(data, cuts):
    cuts = [c for c in cuts if c <= len(data)]
    whole = decode(data, [])
    assert decode(data, cuts) == whole
    assert decode(data, list(range(len(data)))) == whole  # byte by byte


@FAST
@given(SSE_BYTES, st.lists(st.integers(min_value=0, max_value=400), max_size=12), st.integers(min_value=1, max_value=64))
def test_sse_over_the_bound_raises_sse_error_only(data, cuts, bound):
    cuts = [c for c in cuts if c <= len(data)]
    try:
        events = decode(data, cuts, bound)
    except SSEError as exc:
        assert isinstance(exc, LoadkitError) and str(bound) in str(exc)
        return
    for _, payload, _, _ in events:
        # every data line was within the bound; joined lines add one "\n" each
        assert len(payload.encode("utf-8", "replace")) <= 4 * (bound + payload.count("\n"))


def test_sse_a_giant_line_without_newline_is_refused_with_bounded_memory():
    decoder = SSEDecoder(max_event_bytes=1024)
    with pytest.raises(SSEError):
        for _ in range(100):
            decoder.feed(b"x" * 100)
    assert len(decoder._tail) <= 1024 + 100


# --- Retry-After / x-ratelimit ---------------------------------------------

TEXT = st.one_of(st.text(max_size=40), st.from_regex(r"[0-9.]{0,400}(h|m|s|ms|us|ns)?", fullmatch=True),
                 st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "1e309", "-1", "nan",
                                  "inf", "6m0s", "1h2m3.5s", "0.5", "Mon, 01 Jan 0001 00:00:00 GMT", "Sun, 06 Nov 1994"]))


def _valid_seconds(v) -> bool:
    return v is None or (isinstance(v, float | int) and math.isfinite(v) and v >= 0)


@FAST
@given(TEXT)
def test_parse_go_duration_never_raises_and_is_none_or_finite(text):
    assert _valid_seconds(parse_go_duration_s(text))


@FAST
@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "x-ratelimit-reset-requests",
                                        "x-ratelimit-reset-tokens", "x-ratelimit-reset",
                                        "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"]), TEXT))
def test_retry_after_never_raises_and_is_none_or_finite(headers):
    assert _valid_seconds(retry_after_s(headers, now_epoch_s=1.7e9))
    for kind in ("requests", "tokens"):
        value = remaining(headers, kind)
        assert value is None or isinstance(value, int)


@pytest.mark.parametrize("headers", [
    {"retry-after": "1 Oct 5 " + "9" * 40 + "7:2"},  # found by atheris: OverflowError inside email.utils
    {"x-ratelimit-remaining-requests": "1e309"},  # found by hypothesis: int(inf)
    {"x-ratelimit-reset": "9" * 400 + "h"},
])
def test_retry_hints_that_once_crashed_are_ignored(headers):
    assert retry_after_s(headers, now_epoch_s=1.7e9) is None
    assert remaining(headers, "requests") is None


# --- settings ---------------------------------------------------------------

VALUE_TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["", "0", "-1", "1e999", "nan", "inf", "9" * 400 + "h", "5m",
                                                              "true", "a=1", "gpt-4o-mini=nan", "x=-1,y=2", " , ", "1h30m"]))
ENV_NAMES = [env_name(f.name) for f in FIELDS if not f.name.endswith("_file") and f.name not in ("workload", "ca_bundle", "slo")]


@FAST
@given(st.dictionaries(st.sampled_from(ENV_NAMES), VALUE_TEXT.filter(lambda s: "\x00" not in s), max_size=6))
def test_settings_from_any_environment_are_settings_or_a_config_error(env):
    try:
        s = load_settings(env=env)
    except ConfigError as exc:
        assert str(exc)
        return
    assert isinstance(s, Settings)
    for name in ("run_time", "timeout_s", "connect_timeout_s", "max_backoff_s", "idle_s"):
        assert math.isfinite(getattr(s, name)) and getattr(s, name) > 0, name
    assert all(math.isfinite(w) and w >= 0 for w in s.model_weights.values())


TOML_SCALAR = st.one_of(st.text(max_size=20), st.integers(-(2**63), 2**63 - 1), st.booleans(),
                        st.floats(allow_nan=False, allow_infinity=False))
TOML_VALUE = st.one_of(TOML_SCALAR, st.lists(TOML_SCALAR, max_size=3), st.dictionaries(st.sampled_from(["a", "gpt-4o-mini"]),
                                                                                       TOML_SCALAR, max_size=2))


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


@settings(max_examples=max(50, N // 3), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.dictionaries(st.sampled_from([f.name for f in FIELDS] + ["bogus"]), TOML_VALUE, max_size=5).map(
        lambda d: "".join(f"{k} = {toml_value(v)}\n" for k, v in d.items())),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
))
def test_settings_from_any_config_file_are_settings_or_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "loadkit.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        s = load_settings(env={}, config_file=path)
    except ConfigError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    assert isinstance(s, Settings)


@pytest.mark.parametrize("env", [
    {"LOADKIT_INFLUX_URL": "http://[", "LOADKIT_INFLUX_DB": "x"},  # found by atheris: urlsplit's ValueError
    {"LOADKIT_INFLUX_URL": "http://localhost:99999", "LOADKIT_INFLUX_DB": "x"},
    {"LOADKIT_HOST": "http://127.0.0.1:99999/v1"},  # the preflight's urlsplit().port raised later
    {"LOADKIT_HOST": "http://[::1/v1"},
    {"LOADKIT_MODEL_WEIGHTS": "gpt-4o-mini=NAN"},  # found by hypothesis: nan passed "w < 0"
    {"LOADKIT_MODEL_WEIGHTS": "gpt-4o-mini=inf"},
])
def test_values_that_once_crashed_or_slipped_through_are_a_config_error(env):
    with pytest.raises(ConfigError):
        load_settings(env=env)


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "loadkit.toml"
    path.write_bytes(b"users = 3\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(env={}, config_file=path)


def test_a_run_time_too_large_for_a_float_is_refused():
    with pytest.raises(ConfigError, match="run_time"):
        load_settings(env={"LOADKIT_RUN_TIME": "9" * 400 + "h"})


# --- SLOs ---------------------------------------------------------------------

SLO_TEXT = st.one_of(st.text(max_size=60),
                     st.tuples(st.sampled_from(["", "gpt-4o-mini:", "*:", ":", "a:b:"]),
                               st.sampled_from(["ttft_ms.p95", "success_rate", "outcomes.ok", "ttft", "tokens.output", "x.y.z",
                                                "rate_limit.throttled_ms.p99", "task_success.code", ""]),
                               st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "=<", "", "<<"]),
                               st.sampled_from(["1000", "0.99", "true", "nan", "inf", "-1", "1e999", "abc", ""]))
                     .map("".join))


@FAST
@given(SLO_TEXT)
def test_slo_flag_is_an_slo_or_an_slo_error(text):
    try:
        slo = parse_slo_flag(text)
    except SLOError as exc:
        assert str(exc).startswith("--slo-check")
        return
    assert isinstance(slo, SLO) and slo.op in ("<", "<=", ">", ">=", "==", "!=")


SLO_ENTRY = st.dictionaries(st.sampled_from(["metric", "op", "value", "model", "name", "bogus"]),
                            st.one_of(st.sampled_from(["ttft_ms.p95", "<", "success_rate", "*", "gpt-4o-mini"]), TOML_VALUE),
                            max_size=5)


def slo_file_text(entries, extra) -> str:
    out = "".join("[[slo]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in e.items()) for e in entries)
    return extra + out


@settings(max_examples=max(50, N // 3), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.tuples(st.lists(SLO_ENTRY, max_size=3), st.sampled_from(["", "slo = [1, 2]\n", "slo = 3\n", "slo = [\"a\"]\n",
                                                                "x = 1\n", "slo = [[1]]\n"])).map(lambda t: slo_file_text(*t)),
    st.text(max_size=80),
))
def test_slo_file_is_a_list_or_an_slo_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("slo") / "slo.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        slos = load_slos(path)
    except SLOError as exc:
        assert str(path) in str(exc)  # every SLO error names the file
        return
    assert isinstance(slos, list) and all(isinstance(s, SLO) for s in slos)


@pytest.mark.parametrize("text, match", [("slo = [1, 2]\n", "table"), ("slo = [[1]]\n", "table"),
                                         ("slo = [\"metric\"]\n", "table"),
                                         ('[[slo]]\nop = []\nmetric = "ttft_ms.p95"\nvalue = 1\n', "unknown op")])
def test_slo_entries_that_once_crashed_are_an_slo_error(tmp_path, text, match):
    path = tmp_path / "slo.toml"
    path.write_text(text)
    with pytest.raises(SLOError, match=match):
        load_slos(path)


def test_an_slo_file_that_is_not_utf8_is_an_slo_error(tmp_path):
    path = tmp_path / "slo.toml"
    path.write_bytes(b"# \xff\n")
    with pytest.raises(SLOError, match="UTF-8"):
        load_slos(path)


# --- the client's handling of streamed JSON -----------------------------------

JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
                       lambda kids: st.one_of(st.lists(kids, max_size=3),
                                              st.dictionaries(st.sampled_from(["choices", "delta", "content", "usage",
                                                                               "completion_tokens", "prompt_tokens", "error",
                                                                               "code", "finish_reason", "message", "x"]),
                                                              kids, max_size=4)),
                       max_leaves=12)
PAYLOAD = st.one_of(
    JSONISH.map(lambda v: json.dumps(v)),
    st.sampled_from(["[DONE]", "", "{", '{"choices": [{"delta": {"content": "hi"}}]}',
                     '{"choices": [], "usage": {"completion_tokens": 3, "prompt_tokens": 1}}',
                     '{"choices": [{"delta": {"content": 5}}]}', '{"choices": [null]}', '{"choices": "x"}',
                     '{"error": "boom"}', '{"error": {"code": 7}}', '{"usage": {"completion_tokens": -1}}']),
    st.text(max_size=20),
)
STREAM_BODY = st.tuples(st.lists(PAYLOAD, max_size=6), st.booleans()).map(
    lambda t: ("".join(f"data: {p}\n\n" for p in t[0]) + ("data: [DONE]\n\n" if t[1] else "")).encode("utf-8", "surrogatepass"))


_Fake = FakeTransport  # one in-memory transport, shared with the atheris targets


def _check(rec) -> None:
    assert rec.outcome in OUTCOMES
    assert (rec.outcome == "ok") == (rec.error_key is None)
    assert isinstance(rec.output_tokens, int) and len(rec.token_times) <= 10_000


@FAST
@given(STREAM_BODY, st.lists(st.integers(0, 500), max_size=6), st.booleans())
def test_client_turns_any_stream_into_a_record_with_a_valid_outcome(body, cuts, stream):
    for ctype in ("text/event-stream", "application/json"):
        rec = ChatClient(_Fake(body, ctype, cuts)).chat(ChatRequest("m", [{"role": "user", "content": "q"}], stream=stream))
        _check(rec)


class _Handler(BaseHTTPRequestHandler):
    body = b""
    content_type = "text/event-stream"

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", type(self).content_type)
        self.send_header("content-length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def payload_server():
    with http_handler_server(_Handler, protocol_version="HTTP/1.1") as url:
        yield url


@pytest.mark.parametrize("kind", ["fasthttp", "httpx"])
def test_client_over_real_sockets_turns_any_payload_into_a_record(payload_server, kind):
    client = ChatClient(make_transport(kind, TransportOptions(payload_server, timeout_s=5, connect_timeout_s=2)))

    @settings(max_examples=max(30, N // 6), deadline=None)
    @given(STREAM_BODY)
    def one(body):
        assume(body)
        _Handler.body = body
        rec = client.chat(ChatRequest("m", [{"role": "user", "content": "q"}]))
        _check(rec)
        assert rec.outcome not in ("connect_error", "timeout"), rec.error_key  # the pool survives every payload

    try:
        one()
    finally:
        client.close()


# --- coverage-guided smoke ------------------------------------------------------


def test_atheris_smoke_finds_no_crash_in_any_target(tmp_path):
    """A short atheris run (2 s per target, two targets at once, for the suite's time); bench/fuzz_atheris.py runs
    longer."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.fail("atheris not installed: pip install atheris (it is in loadkit's test extras)")
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, str(root / "bench" / "fuzz_atheris.py"), "--seconds", "2", "--jobs", "2",
                           "--json", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=120)
    rows = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stdout + "".join(r["crash_tail"] for r in rows)
    assert {r["target"] for r in rows} == {"sse", "ratelimit", "settings_env", "config_file", "slo", "client_chunks"}
    assert all(r["executions"] > 100 for r in rows), rows
