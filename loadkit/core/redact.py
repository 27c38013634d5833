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

__all__ = ["REDACTED", "redact", "error_key", "safe_label", "looks_like_credential"]

REDACTED = "<redacted>"
MAX_KEY_PART_CHARS = 64

# sk-..., sk_live_..., Bearer tokens, JWTs and other long base64/hex-ish runs.
_CREDENTIAL = re.compile(
    r"(?:\b(?:sk|pk|rk|sess|key)[-_][A-Za-z0-9_\-]{6,})"
    r"|(?:Bearer\s+\S+)"
    r"|(?:[A-Za-z0-9+/_\-]{32,}={0,2})"
)
_SAFE = re.compile(r"[^A-Za-z0-9_.:\-]")


def _is_credential_run(run: str) -> bool:
    if run.startswith("Bearer") or re.match(r"(?:sk|pk|rk)[-_]", run):
        return True
    if re.match(r"(?:sess|key)[-_]", run):
        # English words too: "key-http-code", "session_expired" are labels; a token has digits in it
        return any(c.isdigit() for c in run)
    # A long run counts only when it mixes letters and digits: "context_length_exceeded_for_this_model" stays.
    return any(c.isdigit() for c in run) and any(c.isalpha() for c in run)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each configured secret and anything credential-shaped replaced by ``<redacted>``."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(lambda m: REDACTED if _is_credential_run(m.group(0)) else m.group(0), text)


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
