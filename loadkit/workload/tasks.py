"""Task success checks: does an answer do what its task category asked?

A check is separate from HTTP success: a 200 with a wrong answer is an HTTP
success and a task failure. :func:`check` returns True (passed), False
(failed) or None (not checkable: unknown category, no content, or a category
that needs an expected answer and has none).

Rules, one per category (the reference review's categories):

- ``code``: the answer defines the function the prompt asked for:
  ``def <expected>(`` when ``expected`` names it, else any ``def name(``.
- ``math``: one of the numbers in the answer equals ``expected`` (compared as
  numbers, so ``42``, ``42.0`` and ``1,000``/``1000`` match; ``423`` does not
  match ``42``).
- ``summarization``: the answer has fewer words than the last user message
  (the text it summarises) and is not empty; :func:`apply` also fails one
  that ended by hitting max_tokens (``finish_reason == "length"``): it is
  short because it was cut, not because it is a summary.
- ``factual``: the answer contains ``expected`` (case and spacing ignored).
- ``creative``: the answer is not a refusal and has at least 20 words.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: tasks stays importable on its own
    from loadkit.client.chat import ChatRequest
    from loadkit.core.records import RequestRecord

__all__ = ["CATEGORIES", "check", "apply", "MIN_CREATIVE_WORDS"]

CATEGORIES: tuple[str, ...] = ("code", "summarization", "factual", "creative", "math")
MIN_CREATIVE_WORDS = 20

_ANY_DEF = re.compile(r"\bdef\s+[A-Za-z_]\w*\s*\(")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?")
_REFUSALS = (
    "i can't help with that",
    "i cannot help with that",
    "i can't help with this",
    "i can't assist",
    "i cannot assist",
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i won't",
)


def _last_user_text(messages: list) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # OpenAI content parts
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _as_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _check_code(expected: str | None, content: str) -> bool:
    if expected:
        return re.search(r"\bdef\s+" + re.escape(expected.strip()) + r"\s*\(", content) is not None
    return _ANY_DEF.search(content) is not None


def _check_math(expected: str | None, content: str) -> bool | None:
    want = _as_number(expected.strip()) if expected else None
    if want is None:
        return None
    for mt in _NUMBER.finditer(content):
        got = _as_number(mt.group(0))
        if got is not None and abs(got - want) <= 1e-6 * max(1.0, abs(want)):
            return True
    return False


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _check_creative(content: str) -> bool:
    start = _normalise(content.replace("\u2019", "'"))
    if any(start.startswith(r) for r in _REFUSALS):
        return False
    return len(content.split()) >= MIN_CREATIVE_WORDS


def check(category: str, request: "ChatRequest", content: str | None) -> bool | None:
    """True if ``content`` passes ``category``'s task check, False if not, None if not checkable."""
    if content is None:
        return None
    expected = request.expected
    if category == "code":
        return _check_code(expected, content)
    if category == "math":
        return _check_math(expected, content)
    if category == "summarization":
        source_words = len(_last_user_text(request.messages).split())
        words = len(content.split())
        return 0 < words < source_words
    if category == "factual":
        if not expected or not expected.strip():
            return None
        return _normalise(expected) in _normalise(content)
    if category == "creative":
        return _check_creative(content)
    return None


def apply(record: "RequestRecord", request: "ChatRequest", *, drop_content: bool = True) -> bool | None:
    """Set ``record.task_ok`` from its content (only for an ``ok`` outcome); returns it.

    ``drop_content`` frees the answer text afterwards: records are kept and
    shipped, answers need not be.
    """
    if record.outcome == "ok" and record.final:
        record.task_ok = check(request.category, request, record.content)
        if record.task_ok and request.category == "summarization" and record.finish_reason == "length":
            record.task_ok = False  # cut off by max_tokens: short because it was stopped, not concise
    else:
        record.task_ok = None
    if drop_content:
        record.content = None
    return record.task_ok
