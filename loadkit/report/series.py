"""Time series for the report's and the LLM tab's charts: windows in, chart specs out.

One window table feeds every over-time chart::

    {"bin_s": 5.0, "windows": [{"start_s": 0.0, "length_s": 5.0, "partial": False,
      "models": {"gpt-4o-mini": {"requests": 31, "successes": 31, "errors": 0, "responses_429": 2,
                                 "output_tokens": 2900, "e2e_ms": {"p50": …, "p95": …, "p99": …},
                                 "ttft_ms": {…}, "itl_ms": {…}}}}]}

``start_s`` counts from the run's first send. The last window of a run is
usually cut short: its ``length_s`` is what it really covered and rates are
per that length, so a half-filled last window does not look like a drop to
0 tokens/s; a sliver shorter than ``MIN_WINDOW_S`` (a run stopped just after a
window edge) is drawn joined to its neighbour, so a handful of requests in
0.2 s is not a spike either, and every request is still in the plotted counts.

:func:`windows_from_records` builds the table from a run folder's records
(via the one set of metric functions) for runs that carry no windows of
their own; :func:`chart_specs` turns any window table into what
``assets/charts.js`` draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loadkit.core import metrics
from loadkit.core.records import record_from_dict
from loadkit.core.windows import WindowStats, done_wall_s

__all__ = ["BIN_S", "MIN_WINDOW_S", "windows_from_records", "chart_specs", "percentile_curve", "distribution_curve",
           "STAT_DASH"]

BIN_S = 5.0
MIN_WINDOW_S = 1.0
LATENCIES = (("e2e_ms", "e2e latency", "ms"), ("ttft_ms", "Time to first token", "ms"),
             ("itl_ms", "Inter-token latency", "ms"))
STAT_DASH = {"p50": None, "p95": [6, 4], "p99": [2, 3]}


def windows_from_records(records: list[dict[str, Any]], duration_s: float | None = None,
                         bin_s: float = BIN_S) -> dict[str, Any]:
    """The window table of a run's attempt records (record dicts, records.jsonl.gz lines), for a run folder
    that carries no windows of its own: the same :class:`loadkit.core.windows.WindowStats` a running
    process fills, so both tables are cut the same way. The run starts at its first send and ends at
    ``duration_s`` after it when given (else at the last done time)."""
    if not records:
        return {"bin_s": bin_s, "windows": []}
    parsed = [record_from_dict(r) for r in records]
    windows = WindowStats(bin_s)
    windows.add_many(parsed)
    start = min(r.started_wall_ns for r in parsed) / 1e9
    end = max(max(done_wall_s(r) for r in parsed), start + (duration_s or 0.0))
    return windows.table(start, end)


_COUNTS = ("requests", "successes", "errors", "responses_429", "output_tokens")


def _join(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two adjacent windows as one: counts add; each model keeps the latency stats of the part with more of its
    requests (a sliver's few requests barely move a percentile, and summaries cannot be merged exactly)."""
    models: dict[str, Any] = {}
    for model in sorted(set(a["models"]) | set(b["models"])):
        x, y = a["models"].get(model, {}), b["models"].get(model, {})
        big = x if x.get("requests", 0) >= y.get("requests", 0) else y
        models[model] = {**big, **{k: x.get(k, 0) + y.get(k, 0) for k in _COUNTS}}
    return {"start_s": min(a["start_s"], b["start_s"]), "length_s": round(a["length_s"] + b["length_s"], 3),
            "partial": True, "models": models}


def _join_slivers(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for w in windows:
        if out and (w.get("length_s", 0) < MIN_WINDOW_S or out[-1]["length_s"] < MIN_WINDOW_S):
            out[-1] = _join(out[-1], w)
        else:
            out.append(w)
    return out


def _models(table: dict[str, Any]) -> list[str]:
    return sorted({m for w in table.get("windows", []) for m in w.get("models", {})})


def chart_specs(table: dict[str, Any]) -> list[dict[str, Any]]:
    """Chart specs (``{"id","title","unit","x","window_s","series":[{"model","label","stat","values"}],"empty"}``;
    ``x`` is each window's middle and ``window_s`` its length, in seconds since the run's start)
    for the latency percentiles, throughput, 429s and errors over time, one line per model (and stat)."""
    windows = _join_slivers(table.get("windows", []))
    models = _models({"windows": windows})
    x = [round(w["start_s"] + w["length_s"] / 2, 3) for w in windows]
    lengths = [w["length_s"] for w in windows]

    def value(w: dict, model: str, key: str, stat: str | None = None, per_s: bool = False):
        block = w.get("models", {}).get(model)
        if block is None:
            return None
        v = block.get(key)
        if stat is not None:
            v = (v or {}).get(stat)
        if v is None:
            return None
        return round(v / w["length_s"], 3) if per_s else v

    specs = []
    for key, title, unit in LATENCIES:
        series = [{"model": m, "stat": s, "label": f"{m} {s}", "values": [value(w, m, key, s) for w in windows]}
                  for m in models for s in STAT_DASH]
        specs.append({"id": key, "title": f"{title} p50 / p95 / p99 (warm successes)", "unit": unit, "x": x,
                      "window_s": lengths, "series": series, "empty": None if windows else "no data yet"})
    for key, title, unit, empty in (
            ("output_tokens", "Output tokens/s", "tokens/s", None),
            ("requests", "Requests/s (finished)", "req/s", None),
            ("responses_429", "429 responses/s", "429/s", "no 429s"),
            ("errors", "Errors/s (final outcome not ok, 429s apart)", "errors/s", "no errors")):
        series = [{"model": m, "stat": None, "label": m, "values": [value(w, m, key, per_s=True) for w in windows]}
                  for m in models]
        # A count that never left 0 is said in words: an empty plot would only draw an axis around nothing.
        none = all(not v for s in series for v in s["values"])
        specs.append({"id": key, "title": title, "unit": unit, "x": x, "window_s": lengths, "series": series,
                      "empty": empty if (none and empty) else (None if windows else "no data yet")})
    return specs


def distribution_curve(distributions: dict[str, Any], field: str = "e2e_ms") -> dict[str, Any] | None:
    """The by-percentile plot from summary.json's ``distributions`` (the run's own histograms, merged across
    workers); None when the summary has none (an older run: :func:`percentile_curve` from its records)."""
    models = (distributions or {}).get("models") or {}
    grid = (distributions or {}).get("grid")
    if not grid:
        return None
    series = [{"model": m, "stat": None, "label": m, "values": curves[field]}
              for m, curves in sorted(models.items()) if field in curves]
    return {"id": f"{field}_by_percentile", "title": f"{'e2e latency' if field == 'e2e_ms' else 'TTFT'} by percentile",
            "unit": "ms", "x": list(grid), "x_label": "percentile", "series": series,
            "empty": None if series else "no successful requests"}


def percentile_curve(records: list[dict[str, Any]], field: str = "e2e_ms") -> dict[str, Any]:
    """Latency by percentile (x = percentile 0–100, one line per model) of warm successes: the CDF turned
    on its side, so every model shares one x axis. ``field`` is ``e2e_ms`` or ``ttft_ms``."""
    grid = [float(q) for q in range(0, 100)] + [99.5, 99.9, 100.0]
    by_model: dict[str, list[float]] = {}
    fn = metrics.e2e_ms if field == "e2e_ms" else metrics.ttft_ms
    for d in records:
        r = record_from_dict(d)
        if r.final and r.outcome == "ok" and not r.cold:
            v = fn(r)
            if v is not None:
                by_model.setdefault(r.model, []).append(v)
    series = [{"model": m, "stat": None, "label": m,
               "values": [round(float(v), 3) for v in np.percentile(vals, grid)]}
              for m, vals in sorted(by_model.items())]
    return {"id": f"{field}_by_percentile", "title": f"{'e2e latency' if field == 'e2e_ms' else 'TTFT'} by percentile",
            "unit": "ms", "x": grid, "x_label": "percentile", "series": series,
            "empty": None if series else ("no successful requests" if records else
                                          "needs the run's records.jsonl.gz (not in this run folder)")}
