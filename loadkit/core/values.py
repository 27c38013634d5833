"""Pure value parsers for settings: durations, booleans, lists, maps, URLs.

One parser per kind of value, shared by every command (``run``, ``capacity``,
``coldstart``, ...) so ``1h30m`` means the same everywhere. Each raises
ValueError with the value and an example; :mod:`loadkit.settings` turns that
into a one-line ConfigError naming the setting.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "parse_duration_s", "parse_bool", "parse_list", "parse_list_sep", "parse_weights", "parse_str_map", "choice",
    "positive_int", "non_negative_int", "non_negative_float", "positive_float", "positive_duration",
    "non_negative_duration", "fraction", "parse_host", "closest", "read_toml_file", "BOOL_TRUE", "BOOL_FALSE",
]

BOOL_TRUE = ("1", "true", "yes", "on")
BOOL_FALSE = ("0", "false", "no", "off", "")


def parse_duration_s(text: str | float | int) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        if float(s) == float("inf"):
            raise ValueError(f"{text!r} is too long a duration")
        return float(s)
    total = 0.0
    pos = 0
    for mt in re.finditer(r"(\d+(?:\.\d+)?)(ms|h|m|s)", s):
        if mt.start() != pos:
            break
        value = float(mt.group(1))
        total += value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[mt.group(2)]
        pos = mt.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    if total == float("inf"):
        raise ValueError(f"{text!r} is too long a duration")
    return total


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    s = str(text).strip().lower()
    if s in BOOL_TRUE:
        return True
    if s in BOOL_FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


def parse_list(text: Any) -> list[str]:
    if isinstance(text, (list, tuple)):
        return [str(x).strip() for x in text if str(x).strip()]
    return [x.strip() for x in str(text).split(",") if x.strip()]


def parse_list_sep(text: Any, sep: str) -> list[str]:
    if isinstance(text, (list, tuple)):
        return [str(x).strip() for x in text if str(x).strip()]
    return [x.strip() for x in str(text).split(sep) if x.strip()]


def parse_weights(text: Any) -> dict[str, float]:
    if isinstance(text, Mapping):
        items = list(text.items())
    else:
        items = []
        for part in parse_list(text):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"weight {part!r} is not model=weight")
            items.append((name.strip(), value))
    out = {}
    for name, value in items:
        w = float(value)
        if not 0 <= w < float("inf"):  # also nan
            raise ValueError(f"weight of {name} must be a finite number >= 0, not {value!r}")
        out[str(name)] = w
    return out


def parse_str_map(text: Any) -> dict[str, str]:
    if isinstance(text, Mapping):
        return {str(k): str(v) for k, v in text.items()}
    out = {}
    for part in parse_list(text):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{part!r} is not name=value")
        out[name.strip()] = value.strip()
    return out


def read_toml_file(path: str | Path, what: str, error: Callable[[str], Exception]) -> tuple[str, dict[str, Any]]:
    """A UTF-8 TOML file's text and table. Whatever is wrong with it (missing, unreadable, not UTF-8, not TOML)
    raises ``error`` with one line that names the ``what`` file, the line where TOML knows it, and the fix; the
    one reader of the config, SLO and workload files."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{what} {p}: cannot be read ({exc.strerror or exc}); check the path") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {p}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f"{p}:{line.group(1)}" if line else str(p)
        raise error(f"{what} {where}: not valid TOML ({exc}); fix that line") from None


def closest(name: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name a typo most likely meant (None when nothing is close): for "did you mean ...?" hints
    on settings, environment variables and SLO paths alike."""
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=cutoff)
    return found[0] if found else None


def choice(*options: str) -> Callable[[Any], str]:
    def parse(text: Any) -> str:
        s = str(text).strip().lower()
        if s not in options:
            raise ValueError(f"{text!r} is not one of {', '.join(options)}")
        return s

    return parse


def positive_int(text: Any) -> int:
    v = int(str(text).strip())
    if v < 1:
        raise ValueError(f"{v} is not a positive whole number")
    return v


def non_negative_float(text: Any) -> float:
    v = float(str(text).strip())
    if v < 0 or v != v:
        raise ValueError(f"{v} is negative")
    return v


def positive_duration(text: Any) -> float:
    v = parse_duration_s(text)
    if v <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return v


def fraction(text: Any) -> float:
    v = float(str(text).strip())
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{v} is not between 0 and 1")
    return v


def parse_host(text: Any) -> str:
    s = str(text).strip()
    if not s:
        return ""
    parts = urlsplit(s)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{s!r} has no http:// or https:// scheme (use e.g. https://gateway.example/v1)")
    parts.port  # noqa: B018  (raises ValueError for a port that is not 0-65535)
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/models"):
        if path.endswith(suffix):
            raise ValueError(
                f"{s!r} already ends with {suffix}; give the base URL (e.g. {parts.scheme}://{parts.netloc}{path[: -len(suffix)]})"
            )
    return s.rstrip("/")


def non_negative_int(text: Any) -> int:
    v = int(str(text).strip())
    if v < 0:
        raise ValueError(f"{v} is negative")
    return v


def positive_float(text: Any) -> float:
    v = float(str(text).strip())
    if not 0 < v < float("inf"):  # also nan
        raise ValueError(f"{v} is not a number > 0")
    return v


def non_negative_duration(text: Any) -> float:
    return parse_duration_s(text)
