"""Windowed, mergeable statistics: per 5 s window and model, histograms and counters.

Every process keeps a :class:`WindowStats` fed with each attempt (the same
record that feeds RunStats). Windows are keyed by wall-clock time
(``floor(done_wall_s / window_s)``), so windows of different workers line up
and merge exactly (histogram buckets and counters add). A worker sends the
windows it touched since its last report with each snapshot (all of them in
its final one); the master keeps the newest copy of each worker's window and
merges across workers. The merged table is the one source of the report's
over-time plots, the web UI's live charts (``/loadkit/windows``) and
capacity steps; the raw records stay the truth for recompute and InfluxDB.

:meth:`WindowStats.table` renders the window table of report/series.py:
``start_s`` from the run's start, ``length_s`` what the window really
covered (the first and last windows of a run are usually partial and carry
``partial: true``), so a rate is per real length and a half-filled last
window never looks like a drop to 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from loadkit.core import metrics
from loadkit.core.metrics import LatencyHistogram
from loadkit.core.records import RequestRecord

__all__ = ["WINDOW_S", "WindowCell", "WindowStats", "done_wall_s"]

WINDOW_S = 5.0
LATENCIES = ("e2e_ms", "ttft_ms", "itl_ms")
COUNTERS = ("requests", "successes", "errors", "responses_429", "output_tokens")


def done_wall_s(r: RequestRecord) -> float:
    """When the attempt ended, wall clock: its send time plus its own duration (perf_counter values differ
    per process, so they are never compared across records of different workers)."""
    return r.started_wall_ns / 1e9 + (r.done_at - r.sent_at)


class WindowCell:
    """One model in one window: counters and warm-success latency histograms."""

    __slots__ = ("counts", "h")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.h = {name: LatencyHistogram() for name in LATENCIES}

    def add(self, r: RequestRecord) -> None:
        c = self.counts
        if r.status == 429:
            c["responses_429"] += 1
        c["output_tokens"] += r.output_tokens  # every attempt's, as the summary counts them
        if not r.final:
            return
        c["requests"] += 1
        if r.outcome == "ok":
            c["successes"] += 1
            if not r.cold:  # cold starts are reported apart, never mixed into a percentile
                self.h["e2e_ms"].record(metrics.e2e_ms(r))
                ttft = metrics.ttft_ms(r)
                if ttft is not None:
                    self.h["ttft_ms"].record(ttft)
                self.h["itl_ms"].record_many(metrics.itl_ms(r))
        elif r.outcome not in ("rate_limited", "interrupted"):  # a 429 is charted apart; a cut-off is loadkit's
            c["errors"] += 1

    def merge(self, other: "WindowCell") -> None:
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        for name, h in other.h.items():
            self.h[name].merge(h)

    def to_dict(self) -> dict[str, Any]:
        return {**self.counts, **{name: h.to_dict() for name, h in self.h.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WindowCell":
        cell = cls()
        for k in COUNTERS:
            cell.counts[k] = int(d.get(k, 0))
        for name in LATENCIES:
            if d.get(name):
                cell.h[name] = LatencyHistogram.from_dict(d[name])
        return cell

    def row(self) -> dict[str, Any]:
        """The table form: counters plus each latency's p50..p99/max/mean/count."""
        return {**self.counts, **{name: h.summary() for name, h in self.h.items()}}


class WindowStats:
    """Windows of one process (or the merge of many): ``{window index: {model: WindowCell}}``."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self.cells: dict[int, dict[str, WindowCell]] = {}
        self._dirty: set[int] = set()

    def add(self, r: RequestRecord) -> None:
        key = int(math.floor(done_wall_s(r) / self.window_s))
        models = self.cells.get(key)
        if models is None:
            models = self.cells[key] = {}
        cell = models.get(r.model)
        if cell is None:  # not setdefault(model, WindowCell()): that builds three histograms per attempt
            cell = models[r.model] = WindowCell()
        cell.add(r)
        self._dirty.add(key)

    def add_many(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            self.add(r)

    def merge(self, other: "WindowStats") -> None:
        if other.window_s != self.window_s:
            raise ValueError(f"cannot merge {other.window_s:g} s windows into {self.window_s:g} s windows")
        for key, models in other.cells.items():
            mine = self.cells.setdefault(key, {})
            for model, cell in models.items():
                if model not in mine:
                    mine[model] = WindowCell()
                mine[model].merge(cell)

    def replace(self, other: "WindowStats") -> None:
        """Take ``other``'s windows as the newest copy of those windows (one worker's cumulative cells)."""
        self.cells.update(other.cells)

    def to_dict(self, only_dirty: bool = False) -> dict[str, Any]:
        """Serialisable form; ``only_dirty``: just the windows touched since the last such call."""
        keys = sorted(self._dirty) if only_dirty else sorted(self.cells)
        if only_dirty:
            self._dirty = set()
        return {"window_s": self.window_s,
                "cells": {str(k): {m: c.to_dict() for m, c in self.cells[k].items()} for k in keys}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WindowStats":
        w = cls(float(d.get("window_s", WINDOW_S)))
        for key, models in (d.get("cells") or {}).items():
            w.cells[int(key)] = {m: WindowCell.from_dict(c) for m, c in models.items()}
        return w

    @classmethod
    def merged(cls, parts: Iterable["WindowStats"], window_s: float = WINDOW_S) -> "WindowStats":
        out = cls(window_s)
        for part in parts:
            out.merge(part)
        return out

    def table(self, start_wall_s: float | None = None, end_wall_s: float | None = None) -> dict[str, Any]:
        """The window table (report/series.py format), ``start_s`` counted from ``start_wall_s`` (default:
        the first window's start). Windows are clipped to [start, end]; ``partial`` marks clipped ones."""
        if not self.cells:
            return {"bin_s": self.window_s, "windows": []}
        first, last = min(self.cells), max(self.cells)
        start = start_wall_s if start_wall_s is not None else first * self.window_s
        start = min(start, first * self.window_s + self.window_s)  # never after the first window's end
        end = end_wall_s if end_wall_s is not None else (last + 1) * self.window_s
        end = max(end, last * self.window_s)  # a window whose requests ended after the run's end still shows
        out = []
        for key in range(first, last + 1):
            lo = max(key * self.window_s, start)
            hi = min((key + 1) * self.window_s, end)
            length = max(hi - lo, 0.0)
            models = {m: c.row() for m, c in sorted(self.cells.get(key, {}).items())}
            out.append({"start_s": round(lo - start, 3), "length_s": round(length, 3),
                        "partial": length < self.window_s - 1e-6, "models": models})
        return {"bin_s": self.window_s, "windows": out}
