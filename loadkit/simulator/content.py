"""Answer text for task requests: what a passing and a failing answer contain.

A request may carry ``x-loadkit-task: <category>`` (code, summarization,
factual, creative, math) and ``x-loadkit-expect: <expected answer>``.  With
probability p[model][category] the answer passes, else it fails.  An answer is
a list of words; each word is sent as one token (``"<word> "``), so the
content is the words joined by single spaces plus a trailing space.  The
answer's key words come first, then neutral filler words pad it to the token
count; a token count too small for the key words truncates them (the answer
then fails naturally).  Filler words contain no digits, no "def" and no
refusal.

Rules, as the client-side checks should implement them:

- code: passing content contains ``def solution(``; failing content contains
  no ``def`` at all.
- math: the expected number is ``x-loadkit-expect``; without it, the first
  ``a op b`` (op one of + - * / x) in the last user message is evaluated
  (integral results printed as integers, others with up to 6 decimals).
  Passing content contains that number as a word (``The answer is 42``);
  failing content contains a different number and not the expected one.
  Without any expected number the pass/fail numbers are 42/43.
- summarization: passing content has fewer words than the last user
  message; failing content has at least as many.  The token count is adjusted
  to keep this rule (a pass is cut to source words − 1, a fail padded to the
  source word count, both within ``max_tokens``).
- factual: passing content contains the expected text (case-insensitive);
  failing content does not. The expected text is ``x-loadkit-expect``;
  without it, the answer of the question the last user message asks, when
  the simulated model knows it (``knowledge.py``), as math evaluates its
  expression: a Locust run against a simulator it does not
  know is one (no hints sent) is then judged as with hints.
- creative: passing content is a non-refusal of at least 20 words; failing
  content starts with ``I can't help with that``.
- no or unknown category: neutral filler text, no pass/fail draw.
"""

from __future__ import annotations

import math
import random
import re

from loadkit.simulator.knowledge import known_answer

FILLER_WORDS: tuple[str, ...] = (
    "the", "result", "follows", "from", "a", "careful", "reading", "of", "this",
    "request", "and", "it", "is", "shown", "here", "with", "some", "more", "words",
    "to", "make", "answer", "complete", "as", "usual", "for", "such", "cases",
)
CREATIVE_WORDS: tuple[str, ...] = tuple(
    (
        "Beneath a silver moon the quiet river carried old songs past sleeping "
        "villages while lanterns swayed in the warm wind and a small boat drifted "
        "toward the morning light"
    ).split()
)
_EXPRESSION = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)")


def format_number(value: float) -> str:
    """Return a number as an integer string when integral, else with <= 6 decimals."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def evaluate_expression(text: str) -> str | None:
    """Return the value of the first ``a op b`` in text, formatted, or None."""
    match = _EXPRESSION.search(text)
    if match is None:
        return None
    a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
    if op == "+":
        value = a + b
    elif op == "-":
        value = a - b
    elif op in ("*", "x", "×"):
        value = a * b
    elif b == 0:
        return None
    else:
        value = a / b
    return format_number(value)


def _wrong_number(expected: str) -> str:
    try:
        candidate = float(expected) + 1
    except ValueError:
        candidate = 0.0
    text = format_number(candidate)
    while expected in text:
        candidate += 1
        text = format_number(candidate)
    return text


def _pad(key_words: list[str], tokens: int, filler: tuple[str, ...]) -> list[str]:
    if tokens <= len(key_words):
        return key_words[:tokens]
    words = list(key_words)
    i = 0
    while len(words) < tokens:
        words.append(filler[i % len(filler)])
        i += 1
    return words


def last_user_text(messages: list) -> str:
    """Return the text content of the last user message ('' when none)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def content_text(content) -> str:
    """Return the text of a message content (string or OpenAI content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def adjust_length(category: str, passes: bool, tokens: int, max_tokens: int | None, source: str) -> int:
    """Return the token count after the summarization length rule (others unchanged)."""
    if category != "summarization":
        return tokens
    source_words = len(source.split())
    tokens = min(tokens, max(1, source_words - 1)) if passes else max(tokens, source_words)
    return min(tokens, max_tokens) if max_tokens is not None else tokens


def answer_words(category: str, passes: bool, tokens: int, expect: str | None, source: str) -> list[str]:
    """Return exactly ``tokens`` words of an answer following the module rules."""
    filler = FILLER_WORDS
    if category == "code":
        key = ["def", "solution(x):", "return", "x"] if passes else ["Use", "a", "loop", "over", "the", "input."]
        if passes:
            key = ["Here", "is", "the", "code:"] + key
    elif category == "math":
        number = expect.strip() if expect and expect.strip() else evaluate_expression(source)
        if number is None:
            number = "42" if passes else "43"
        elif not passes:
            number = _wrong_number(number)
        key = ["The", "answer", "is", number]
    elif category == "summarization":
        key = ["In", "short,"]
    elif category == "factual":
        expected = (expect or "").strip() or (known_answer(source) or "")
        if passes:
            key = ["The", "answer", "is"] + (expected.split() or ["known."])
        else:
            key = ["I", "am", "not", "sure", "about", "that."]
            if expected:
                low = expected.lower()
                filler = tuple(w for w in FILLER_WORDS if low not in w.lower()) or ("so",)
                key = [w for w in key if low not in w.lower()]
    elif category == "creative":
        key = list(CREATIVE_WORDS) if passes else ["I", "can't", "help", "with", "that."]
    else:
        key = []
    return _pad(key, tokens, filler)


def draw_passes(rng: random.Random, probability: float) -> bool:
    """Return True with the given probability (exactly True at 1.0, False at 0.0)."""
    return rng.random() < probability
