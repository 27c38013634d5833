"""Content-Encoding a gateway applied although the client asked for ``identity``.

Some proxies compress anyway. The body is decoded where possible (gzip,
deflate, br when the ``brotli`` package is present), so a complete answer is
not miscounted as ``invalid_json``; an encoding that cannot be decoded gets
its own error key (``content_encoding:<name>``). Sans-IO: bytes in, bytes out.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from loadkit.core.redact import error_key
from loadkit.errors import LoadkitError

__all__ = ["BodyDecodeError", "body_decoder", "media_type"]


class BodyDecodeError(LoadkitError):
    """The body's Content-Encoding is unknown or its bytes do not decode. ``key`` is the error key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"response body cannot be decoded ({key})")
        self.key = key


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, lower case, parameters dropped (``Text/Event-Stream; x=1`` ->
    ``text/event-stream``)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


class _Deflate:
    # "deflate" is meant to be zlib-wrapped (RFC 9110), but servers send raw deflate too: decide on the first bytes.
    def __init__(self) -> None:
        self._obj: zlib._Decompress | None = None

    def __call__(self, data: bytes) -> bytes:
        if self._obj is None:
            wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return self._obj.decompress(data)


def _one(name: str) -> Callable[[bytes], bytes]:
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress
    if name == "deflate":
        return _Deflate()
    if name == "br":
        try:
            import brotli
        except ImportError:
            raise BodyDecodeError("content_encoding:br") from None
        return brotli.Decompressor().process
    raise BodyDecodeError(error_key("content_encoding", name))


def body_decoder(content_encoding: str | None) -> Callable[[bytes], bytes] | None:
    """A function that decodes successive body chunks, or None for identity. Raises :class:`BodyDecodeError`
    for an encoding it cannot decode; the returned function raises it for corrupt bytes."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    names = [n for n in names if n != "identity"]
    if not names:
        return None
    steps = [_one(n) for n in reversed(names)]  # applied in the order listed, so undone in reverse

    def decode(data: bytes) -> bytes:
        try:
            for step in steps:
                data = step(data)
        except BodyDecodeError:
            raise
        except Exception:  # zlib.error, brotli.error: the bytes are not what the header says
            raise BodyDecodeError("content_encoding_invalid") from None
        return data

    return decode
