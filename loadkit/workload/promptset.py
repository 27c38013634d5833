"""User prompt sets: JSONL files of chat requests to send instead of the built-ins.

One JSON object a line, either ``{"messages": [{"role": ..., "content": ...}, ...]}``
or ``{"prompt": "..."}`` (one user message), optionally with ``"category"``
(``code``, ``summarization``, ``factual``, ``creative``, ``math`` get task
checks; any other name is just a label), ``"expected"`` (the answer a math or
factual check looks for) and ``"max_tokens"``. Blank lines are skipped. A bad
line stops loading with a ConfigError naming the file, the line and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from loadkit.errors import ConfigError

__all__ = ["PromptItem", "load_prompt_set"]

_ROLES = ("system", "user", "assistant", "tool", "developer")


@dataclass(frozen=True)
class PromptItem:
    messages: tuple[dict[str, Any], ...]
    category: str = "generic"
    expected: str | None = None
    max_tokens: int | None = None


def _item(data: Any, where: str) -> PromptItem:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object with \"messages\" or \"prompt\", got {type(data).__name__}")
    if "messages" in data:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise ConfigError(f"{where}: \"messages\" must be a non-empty list of {{\"role\", \"content\"}} objects")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in _ROLES or "content" not in msg:
                raise ConfigError(
                    f"{where}: message {i} must be an object with \"role\" (one of {', '.join(_ROLES)}) and \"content\""
                )
            if not isinstance(msg["content"], (str, list)):
                raise ConfigError(f"{where}: message {i} content must be a string or a list of content parts")
    elif "prompt" in data:
        prompt = data["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"{where}: \"prompt\" must be a non-empty string")
        messages = [{"role": "user", "content": prompt}]
    else:
        raise ConfigError(f"{where}: needs \"messages\" (a list of chat messages) or \"prompt\" (a string)")
    category = data.get("category", "generic")
    if not isinstance(category, str) or not category.strip():
        raise ConfigError(f"{where}: \"category\" must be a non-empty string (e.g. \"math\")")
    expected = data.get("expected")
    if expected is not None and not isinstance(expected, (str, int, float)):
        raise ConfigError(f"{where}: \"expected\" must be a string or a number")
    max_tokens = data.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise ConfigError(f"{where}: \"max_tokens\" must be a positive whole number (got {max_tokens!r})")
    return PromptItem(
        tuple(messages), category.strip(), None if expected is None else str(expected), max_tokens
    )


def load_prompt_set(path: str | os.PathLike) -> list[PromptItem]:
    """Every prompt of a JSONL file, in file order; ConfigError (file, line, reason) if it is unusable."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"prompt file {p}: cannot be read ({exc.strerror}); check the path") from None
    items: list[PromptItem] = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"prompt file {p} line {n}"
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc}); each line must be one JSON object") from None
        items.append(_item(data, where))
    if not items:
        raise ConfigError(f"prompt file {p}: holds no prompts; write one JSON object per line")
    return items
