"""Secrets out of every string a gateway sends back, at the source.

A gateway can echo the API key anywhere: an SSE error ``code``, an HTTP
error body's ``code``/``type``/``message``, a header. Everything that comes
from the gateway and is kept (error keys, messages, content) passes through
:func:`redact` before it reaches a record, a log line, Locust's failure
table, summary.json, the report or InfluxDB. Error keys also keep a bounded,
safe alphabet (:func:`error_key`), so a key is a grouping label and never a
carrier of raw server text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "error_key", "looks_like_credential", "redact", "safe_label"]

REDACTED = "<redacted>"
MAX_KEY_PART_CHARS = 64

# sk-..., sk_live_..., Bearer tokens, JWTs and other long base64/hex-ish runs.
_CREDENTIAL = re.compile(
    r"(?:\b(?:sk|pk|rk|sess|key)[-_][A-Za-z0-9_\-]{6,})"
    r"|(?:Bearer\s+\S+)"
    r"|(?:[A-Za-z0-9+/_\-]{32,}={0,2})"
)
_SAFE = re.compile(r"[^A-Za-z0-9_.:\-]")
_BEARER = re.compile(r"Bearer\s+\S+")
_PREFIX = re.compile(r"(?:sk|pk|rk|sess|key)[-_]")
_STRICT_PREFIX = re.compile(r"(?:sk|pk|rk)[-_]")
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")

# Long text (a kept answer of megabytes) is not run through _CREDENTIAL position by position (~90 ns a
# character in Python's re: 0.7 s for 8 MiB, all of it blocking the event loop): its runs of credential
# characters are found in C (translate + split), and only runs long enough to be a credential are checked.
_LONG_TEXT_CHARS = 2048
_WHOLE_REGEX_RUN_CHARS = 4096  # a longer run is judged whole (a credential is never this long)
_RUN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_RUN_MASK = bytes(0x61 if b in _RUN_BYTES else 0x20 for b in range(256))  # run bytes: "a", any other: " "
_LONG_RUN = b"a" * 32
_PREFIXES = tuple(f"{p}{sep}".encode() for p in ("sk", "pk", "rk", "sess", "key") for sep in "-_")


def _is_credential_run(run: str) -> bool:
    if run.startswith("Bearer") or _STRICT_PREFIX.match(run):
        return True
    if _PREFIX.match(run):
        # English words too: "key-http-code", "session_expired" are labels; a token has digits in it
        return _DIGIT.search(run) is not None
    # A long run counts only when it mixes letters and digits: "context_length_exceeded_for_this_model" stays.
    return _DIGIT.search(run) is not None and _LETTER.search(run) is not None


def _sub(match: re.Match) -> str:
    return REDACTED if _is_credential_run(match.group(0)) else match.group(0)


def _redact_long(text: str) -> str:
    if "Bearer" in text:
        text = _BEARER.sub(REDACTED, text)
    data = text.encode("utf-8", "surrogatepass")
    mask = data.translate(_RUN_MASK)
    runs: set[bytes] = set()

    def run_at(i: int) -> int:  # adds the run that byte i is in; returns where it ends
        end = mask.find(b" ", i)
        end = len(mask) if end < 0 else end
        runs.add(data[mask.rfind(b" ", 0, i) + 1:end])
        return end

    # C's substring search, not a Python step per byte: runs of 32+ (the only ones a credential without a
    # prefix can be), and the runs a "sk-", "key_", ... starts in
    prefixed = b"-" in data or b"_" in data  # two scans can spare the ten prefix scans
    for needle, haystack in ((_LONG_RUN, mask), *((prefix, data) for prefix in _PREFIXES if prefixed)):
        pos = 0
        while (i := haystack.find(needle, pos)) >= 0:
            pos = run_at(i)
    # longest first: a run that holds a shorter one is judged before the shorter one's replacement cuts it
    for raw in sorted(runs, key=len, reverse=True):
        run = raw.decode("ascii")
        if len(run) <= _WHOLE_REGEX_RUN_CHARS:
            replacement = _CREDENTIAL.sub(_sub, run)
        else:  # letters and digits, counted in C (a regex search over megabytes is not free either)
            digits = len(raw) - len(raw.translate(None, b"0123456789"))
            replacement = REDACTED if _STRICT_PREFIX.match(run) or (digits and _LETTER.search(run)) else run
        if replacement != run:
            text = text.replace(run, replacement)
    return text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each configured secret and anything credential-shaped replaced by ``<redacted>``."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, REDACTED)
    if len(text) > _LONG_TEXT_CHARS:
        return _redact_long(text)
    return _CREDENTIAL.sub(_sub, text)


def looks_like_credential(text: str, secrets: Iterable[str] = ()) -> bool:
    """True when :func:`redact` would change ``text``."""
    return redact(text, secrets) != text


def error_key(prefix: str, code: object, secrets: Iterable[str] = ()) -> str:
    """``prefix:code`` with ``code`` redacted, reduced to ``[A-Za-z0-9_.:-]`` and at most 64 characters.

    Returns ``prefix`` alone when ``code`` is not a non-empty string.
    """
    part = safe_label(code, secrets)
    return prefix if part is None else f"{prefix}:{part}"


def safe_label(value: object, secrets: Iterable[str] = (), max_chars: int = MAX_KEY_PART_CHARS) -> str | None:
    """A gateway-sent label (``finish_reason``, an error code) fit to keep: redacted, safe alphabet, bounded.

    Returns None when ``value`` is not a non-empty string.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = redact(value.strip(), secrets)
    if REDACTED in text:
        return REDACTED
    return _SAFE.sub("_", text)[:max_chars]
