"""Large SSE events: decode time and loop-block time of one 1/2/4/8 MiB event (issue #14).

Two parts, in one run:

1. Decoder only (no I/O): one event of N MiB fed in 64 KiB reads (what a transport hands over) to
   loadkit's ``SSEDecoder``, to ``ChatStream`` (decoder + JSON + token accounting), and to a naive
   baseline kept here: the old approach, which re-joined the buffered reads and re-scanned them for a
   blank line on every read (quadratic in the event's size). Per size: total decode ms, the longest
   single ``feed`` (the time the event loop is blocked at once), the baseline's ratio to loadkit, and
   the redaction of the event's content when the answer is kept (task checks).
2. Real client: ``ChatClient`` on the fasthttp transport under gevent reads the same event from the
   hostile gateway process (tests/support/hostile.py, ``hostile-event-<N>mib``), while a 1 ms ticker
   greenlet measures the longest loop block; a healthy 5-token stream is the baseline of the same run.
   (``e2e`` ends at the last byte; the loop block also covers the parse of the event after it.)

    python bench/sse_large.py [--repeats 3] [--sizes 1,2,4,8]

Prints a table and writes bench/results/sse_large.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

READ_BYTES = 64 * 1024


def event_of(mib: int) -> bytes:
    # the same shape as tests/support/hostile_behaviours.big_event: N MiB on the wire, under the bound at 8
    content = "x" * (mib * 1024 * 1024 - 1024)
    obj = {"id": "h", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content},
                                                                       "finish_reason": None}]}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class NaiveDecoder:
    """The old approach: keep the reads, re-join and re-scan all of them on every read."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._pieces.append(chunk)
        data = b"".join(self._pieces)  # copies everything buffered so far, on every read
        if b"\n\n" not in data:
            return []
        *events, rest = data.split(b"\n\n")
        self._pieces = [rest] if rest else []
        return [e[6:].decode("utf-8") for e in events if e.startswith(b"data: ")]


def _time_feeds(feed, data: bytes) -> tuple[float, float, int]:
    """(total ms, longest single feed ms, events) of feeding ``data`` in READ_BYTES reads."""
    longest = total = 0.0
    events = 0
    for i in range(0, len(data), READ_BYTES):
        t0 = time.perf_counter()
        out = feed(data[i:i + READ_BYTES])
        dt = time.perf_counter() - t0
        total += dt
        longest = max(longest, dt)
        events += len(out) if isinstance(out, list) else 0
    return total * 1e3, longest * 1e3, events


def decoder_only(sizes: list[int], repeats: int) -> dict:
    from loadkit.core.redact import redact
    from loadkit.protocol.chat_stream import ChatStream
    from loadkit.protocol.sse import SSEDecoder

    rows = {}
    for mib in sizes:
        data = event_of(mib)
        row = {"event_bytes": len(data)}
        for name, make in (("loadkit_sse", lambda: SSEDecoder().feed),
                           ("loadkit_chat_stream", lambda: _chat_feed(ChatStream())),
                           ("naive_baseline", lambda: NaiveDecoder().feed)):
            best_total, best_block = float("inf"), float("inf")
            for _ in range(repeats):
                total_ms, block_ms, events = _time_feeds(make(), data)
                if name != "loadkit_chat_stream":
                    assert events == 1, (name, mib, events)
                best_total, best_block = min(best_total, total_ms), min(best_block, block_ms)
            row[f"{name}_ms"] = round(best_total, 2)
            row[f"{name}_block_ms"] = round(best_block, 2)
        row["baseline_ratio"] = round(row["naive_baseline_ms"] / row["loadkit_sse_ms"], 1)
        # a kept answer (task checks) is redacted once more, in the same loop turn
        content = "x" * (mib * 1024 * 1024 - 1024)
        row["redact_content_ms"] = round(min(_timed_ms(lambda: redact(content, ("sk-bench-0123456789",)))
                                             for _ in range(repeats)), 2)
        rows[f"{mib}MiB"] = row
    return rows


def _timed_ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def _chat_feed(stream):
    def feed(chunk: bytes) -> None:
        stream.feed(chunk, 0.0)
        assert not stream.failed
    return feed


def real_client(sizes: list[int], repeats: int) -> dict:
    import gevent

    from loadkit.client.chat import ChatClient, ChatRequest
    from loadkit.transport import TransportOptions, make_transport
    from tests.support.hostile import HostileProcess

    rows = {}
    with HostileProcess() as gw:
        client = ChatClient(make_transport("fasthttp", TransportOptions(gw.base_url, timeout_s=30)))
        for label, model in [("healthy", "hostile-healthy")] + [(f"{m}MiB", f"hostile-event-{m}mib") for m in sizes]:
            best_block, best_e2e = float("inf"), float("inf")
            for _ in range(repeats):
                gaps = [0.0]
                running = [True]

                def ticker() -> None:
                    last = time.perf_counter()
                    while running[0]:
                        gevent.sleep(0.001)
                        now = time.perf_counter()
                        gaps[0] = max(gaps[0], now - last - 0.001)
                        last = now

                tick = gevent.spawn(ticker)
                gevent.sleep(0.01)
                rec = client.chat(ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}]))
                running[0] = False
                tick.join()
                assert rec.outcome == "ok", (model, rec.outcome, rec.error_key)
                best_block = min(best_block, gaps[0] * 1e3)
                best_e2e = min(best_e2e, (rec.done_at - rec.sent_at) * 1e3)
            rows[label] = {"e2e_ms": round(best_e2e, 2), "loop_block_ms": round(best_block, 2)}
        client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="1,2,4,8")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "sse_large.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    decode = decoder_only(sizes, args.repeats)
    client = real_client(sizes, args.repeats)
    print(f"one SSE event fed in {READ_BYTES // 1024} KiB reads; best of {args.repeats}; ms")
    print(f"{'size':>6} | {'loadkit sse':>11} {'block':>7} | {'chat_stream':>11} {'block':>7} | "
          f"{'naive':>9} {'block':>7} | {'naive/lk':>8} | {'redact':>7} || {'client e2e':>10} {'loop block':>10}")
    for label, row in decode.items():
        c = client[label]
        print(f"{label:>6} | {row['loadkit_sse_ms']:>11.2f} {row['loadkit_sse_block_ms']:>7.2f} | "
              f"{row['loadkit_chat_stream_ms']:>11.2f} {row['loadkit_chat_stream_block_ms']:>7.2f} | "
              f"{row['naive_baseline_ms']:>9.2f} {row['naive_baseline_block_ms']:>7.2f} | "
              f"{row['baseline_ratio']:>7.1f}x | {row['redact_content_ms']:>7.2f} || {c['e2e_ms']:>10.2f} "
              f"{c['loop_block_ms']:>10.2f}")
    h = client["healthy"]
    print(f"healthy 5-token stream (same run): client e2e {h['e2e_ms']:.2f} ms, loop block {h['loop_block_ms']:.2f} ms")
    out = {"read_bytes": READ_BYTES, "repeats": args.repeats, "decoder": decode, "client_fasthttp_gevent": client}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
