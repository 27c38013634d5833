"""Comparing two summary.json dicts: every key present, counts equal, other numbers within a tolerance."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Percentiles come from the same HdrHistogram buckets either way; 0.5 % is the bar (#13).
PERCENTILE_REL = 0.005


def differences(live: Any, other: Any, path: str = "", rel: float = PERCENTILE_REL) -> list[str]:
    """Where ``other`` differs from ``live``: missing or extra keys, unequal ints/strings/bools, floats off by
    more than ``rel``. An empty list means equal."""
    out: list[str] = []
    if isinstance(live, dict) and isinstance(other, dict):
        for key in sorted(set(live) | set(other), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in other:
                out.append(f"{where}: missing")
            elif key not in live:
                out.append(f"{where}: extra")
            else:
                out += differences(live[key], other[key], where, rel)
    elif isinstance(live, list) and isinstance(other, list):
        if len(live) != len(other):
            out.append(f"{path}: {len(live)} items vs {len(other)}")
        else:
            for i, (a, b) in enumerate(zip(live, other)):
                out += differences(a, b, f"{path}[{i}]", rel)
    elif isinstance(live, bool) or isinstance(other, bool) or isinstance(live, str) or live is None:
        if live != other:
            out.append(f"{path}: {live!r} vs {other!r}")
    elif isinstance(live, int) and isinstance(other, int):
        if live != other:
            out.append(f"{path}: count {live} vs {other}")
    elif isinstance(live, (int, float)) and isinstance(other, (int, float)):
        if abs(live - other) > rel * max(abs(live), abs(other)) + 1e-9:
            out.append(f"{path}: {live} vs {other}")
    elif live != other:
        out.append(f"{path}: {live!r} vs {other!r}")
    return out


def read(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def chart_specs_of(report_html: str) -> list[dict[str, Any]]:
    """The chart specs a report.html embeds (its loadkit-chart-data script)."""
    found = re.search(r'<script id="loadkit-chart-data" type="application/json">(.*?)</script>', report_html, re.S)
    assert found, "report.html has no chart data"
    return json.loads(found.group(1).replace("<\\/", "</"))
