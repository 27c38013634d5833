"""Lines longer than one read (kept as views, not copies) decode exactly like short ones."""

import pytest

from loadkit.protocol.sse import ServerSentEvent as E
from loadkit.protocol.sse import SSEDecoder, SSEEventTooLarge

LONG = "\u00e9" * 100_000 + "x"  # 200,001 bytes of UTF-8: longer than a read, a 2-byte character at each cut


def decode(data: bytes, read: int, **kw) -> list[E]:
    d = SSEDecoder(**kw)
    out = []
    for i in range(0, len(data), read):
        out.extend(d.feed(data[i:i + read]))
    return out + d.close()


@pytest.mark.parametrize("read", [1000, 4096, 65536, 65537, 10**6])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_a_long_line_in_any_read_size_and_line_end(read, eol):
    body = (b"\xef\xbb\xbfdata: " + LONG.encode() + b"\n\nevent: x\ndata: a\ndata:" + LONG.encode()
            + b"\ndata: z\n\ndata: [DONE]\n\n").replace(b"\n", eol)
    assert decode(body, read) == [E(LONG), E(f"a\n{LONG}\nz", event="x"), E("[DONE]")]


def test_a_long_line_over_the_bound_is_too_large_even_in_pieces():
    with pytest.raises(SSEEventTooLarge):
        decode(b"data: " + b"y" * 300_000 + b"\n\n", 65536, max_event_bytes=200_000)
