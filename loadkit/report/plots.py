"""The report's plots: matplotlib (Agg, no pyplot state) rendered to inline PNG data URIs.

Time series are built from the raw records on the wall clock: each record's
send time is its ``started_wall_ns``, its done time that plus ``done_at -
sent_at`` — perf_counter values are only comparable within one process, and
a distributed run's records come from many.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["Point", "points_from_records", "time_bins", "figure_uri", "latency_over_time", "latency_cdf",
           "throughput_over_time", "rate_limits_over_time", "cold_vs_warm", "outcome_breakdown"]

_COLOURS = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777")


@dataclass(frozen=True, slots=True)
class Point:
    """What the plots need of one attempt; times in seconds since the run's first send."""

    model: str
    final: bool
    outcome: str
    status: int | None
    cold: bool
    done_s: float
    e2e_ms: float
    ttft_ms: float | None
    output_tokens: int
    throttled_s: float


def points_from_records(records: list[dict[str, Any]]) -> list[Point]:
    """Plot points from record dicts (records.jsonl.gz lines), time 0 at the first send."""
    if not records:
        return []
    wall0 = min(r.get("started_wall_ns", 0) for r in records)
    points = []
    for r in records:
        sent, done = r.get("sent_at", 0.0), r.get("done_at", 0.0)
        first_token = r.get("first_token_at")
        points.append(Point(
            model=r.get("model", "?"), final=bool(r.get("final", True)), outcome=r.get("outcome", "ok"),
            status=r.get("status"), cold=bool(r.get("cold", False)),
            done_s=(r.get("started_wall_ns", 0) - wall0) / 1e9 + (done - sent),
            e2e_ms=(done - sent) * 1000.0,
            ttft_ms=None if first_token is None else (first_token - sent) * 1000.0,
            output_tokens=int(r.get("output_tokens") or 0), throttled_s=float(r.get("throttled_s") or 0.0),
        ))
    return points


def time_bins(points: list[Point], bin_s: float) -> np.ndarray:
    """Left edges of the ``bin_s`` bins covering every point's done time."""
    end = max((p.done_s for p in points), default=0.0)
    return np.arange(0.0, max(end, bin_s) + 1e-9, bin_s)


def figure_uri(fig: Figure) -> str:
    """``data:image/png;base64,…`` of a figure (self-contained: no file, no URL)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(rows: int = 1, height: float = 3.2) -> tuple[Figure, list]:
    fig = Figure(figsize=(9.5, height * rows), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, list(axes)


def _legend(ax, **kwargs) -> None:
    """A legend only when something is labelled (an empty run plots nothing)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", **kwargs)


def _models(points: list[Point]) -> list[str]:
    return sorted({p.model for p in points})


def _group_by_bin(points: list[Point], field: str, edges: np.ndarray):
    """``(bin left edge, values)`` for each non-empty bin; one sort, not a scan per bin."""
    pairs = [(p.done_s, getattr(p, field)) for p in points if getattr(p, field) is not None]
    if not pairs:
        return []
    done, values = np.array(pairs).T
    idx = np.digitize(done, edges) - 1
    order = np.argsort(idx, kind="stable")
    idx, values = idx[order], values[order]
    splits = np.flatnonzero(np.diff(idx)) + 1
    return [(edges[group_idx[0]], group) for group_idx, group in zip(np.split(idx, splits), np.split(values, splits))]


def latency_over_time(points: list[Point], bin_s: float = 5.0) -> str:
    """p50 (solid) and p95 (dashed) e2e and TTFT of warm successes per ``bin_s`` bin, per model."""
    fig, (ax_e2e, ax_ttft) = _figure(2)
    edges = time_bins(points, bin_s)
    for colour, model in zip(_COLOURS * 4, _models(points)):
        ok = [p for p in points if p.model == model and p.final and p.outcome == "ok" and not p.cold]
        for ax, field in ((ax_e2e, "e2e_ms"), (ax_ttft, "ttft_ms")):
            xs, p50, p95 = [], [], []
            for left, values in _group_by_bin(ok, field, edges):
                xs.append(left + bin_s / 2)
                p50.append(float(np.percentile(values, 50)))
                p95.append(float(np.percentile(values, 95)))
            ax.plot(xs, p50, color=colour, marker=".", label=f"{model} p50")
            ax.plot(xs, p95, color=colour, linestyle="--", label=f"{model} p95")
    ax_e2e.set_ylabel("e2e latency (ms)")
    ax_ttft.set_ylabel("TTFT (ms)")
    ax_ttft.set_xlabel(f"time since start (s), {bin_s:g} s bins")
    _legend(ax_e2e, loc="upper left", ncols=2)
    return figure_uri(fig)


def latency_cdf(points: list[Point]) -> str:
    """Empirical CDF of e2e and TTFT of warm successes, per model, with p50/p95 marked."""
    fig = Figure(figsize=(9.5, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for colour, model in zip(_COLOURS * 4, _models(points)):
        ok = [p for p in points if p.model == model and p.final and p.outcome == "ok" and not p.cold]
        for ax, field in zip(axes, ("e2e_ms", "ttft_ms")):
            values = np.sort([getattr(p, field) for p in ok if getattr(p, field) is not None])
            if not len(values):
                continue
            ax.plot(values, np.arange(1, len(values) + 1) / len(values), color=colour, label=model)
    for ax, label in zip(axes, ("e2e latency (ms)", "TTFT (ms)")):
        ax.set_xlabel(label)
        ax.set_ylabel("fraction of requests ≤ x")
        for q in (0.5, 0.95):
            ax.axhline(q, color="#888", linewidth=0.8, linestyle=":")
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    _legend(axes[0], loc="lower right")
    return figure_uri(fig)


def throughput_over_time(points: list[Point], bin_s: float = 5.0) -> str:
    """Finished requests/s and output tokens/s per ``bin_s`` bin, per model."""
    fig, (ax_rps, ax_tok) = _figure(2, height=2.8)
    edges = time_bins(points, bin_s)
    for colour, model in zip(_COLOURS * 4, _models(points)):
        final = [p for p in points if p.model == model and p.final]
        idx = np.digitize([p.done_s for p in final], edges) - 1
        rps = np.bincount(idx, minlength=len(edges))[: len(edges)] / bin_s
        tokens = np.bincount(idx, weights=[p.output_tokens for p in final], minlength=len(edges))[: len(edges)]
        centres = edges + bin_s / 2
        ax_rps.plot(centres, rps, color=colour, marker=".", label=model)
        ax_tok.plot(centres, tokens / bin_s, color=colour, marker=".", label=model)
    ax_rps.set_ylabel("requests/s")
    ax_tok.set_ylabel("output tokens/s")
    ax_tok.set_xlabel(f"time since start (s), {bin_s:g} s bins")
    _legend(ax_rps, loc="upper left")
    return figure_uri(fig)


def rate_limits_over_time(points: list[Point], bin_s: float = 5.0) -> str:
    """429 responses per bin (bars) and seconds spent throttled per bin, per model."""
    fig, (ax_429, ax_thr) = _figure(2, height=2.6)
    edges = time_bins(points, bin_s)
    models = _models(points)
    width = bin_s / max(len(models), 1) * 0.8
    for i, (colour, model) in enumerate(zip(_COLOURS * 4, models)):
        mine = [p for p in points if p.model == model]
        idx_429 = np.digitize([p.done_s for p in mine if p.status == 429], edges) - 1
        counts = np.bincount(idx_429, minlength=len(edges))[: len(edges)]
        ax_429.bar(edges + i * width + width / 2, counts, width=width, color=colour, label=model)
        final = [p for p in mine if p.final]
        idx = np.digitize([p.done_s for p in final], edges) - 1
        throttled = np.bincount(idx, weights=[p.throttled_s for p in final], minlength=len(edges))[: len(edges)]
        ax_thr.plot(edges + bin_s / 2, throttled, color=colour, marker=".", label=model)
    ax_429.set_ylabel("429 responses")
    ax_thr.set_ylabel("throttled time (s)")
    ax_thr.set_xlabel(f"time since start (s), {bin_s:g} s bins")
    _legend(ax_429, loc="upper left")
    return figure_uri(fig)


def cold_vs_warm(summary: dict[str, Any]) -> str:
    """TTFT p50/p95 of cold vs warm requests per model, from the summary's cold_start blocks."""
    fig, (ax,) = _figure(1, height=3.0)
    models = sorted(summary.get("models", {}))
    x = np.arange(len(models))
    bars = (("warm p50", "warm_ttft_ms", "p50", "#93c5fd"), ("warm p95", "warm_ttft_ms", "p95", "#2563eb"),
            ("cold p50", "ttft_ms", "p50", "#fdba74"), ("cold p95", "ttft_ms", "p95", "#ea580c"))
    for i, (label, block, stat, colour) in enumerate(bars):
        values = [((summary["models"][m].get("cold_start") or {}).get(block) or {}).get(stat) or 0.0
                  for m in models]
        ax.bar(x + (i - 1.5) * 0.2, values, width=0.2, color=colour, label=label)
    ax.set_xticks(x, models)
    ax.set_ylabel("TTFT (ms)")
    _legend(ax, ncols=4, loc="upper left")
    return figure_uri(fig)


def outcome_breakdown(summary: dict[str, Any]) -> str:
    """Stacked horizontal bars: each model's requests by outcome (log-free counts)."""
    fig, (ax,) = _figure(1, height=0.6 + 0.5 * max(len(summary.get("models", {})), 1))
    models = sorted(summary.get("models", {}))
    outcome_names = sorted({o for m in models for o, n in summary["models"][m].get("outcomes", {}).items() if n},
                           key=lambda o: (o != "ok", o))
    left = np.zeros(len(models))
    palette = {"ok": "#16a34a"}
    others = iter(_COLOURS[1:] * 4)
    for outcome in outcome_names:
        counts = np.array([summary["models"][m].get("outcomes", {}).get(outcome, 0) for m in models], dtype=float)
        ax.barh(models, counts, left=left, color=palette.get(outcome) or next(others), label=outcome)
        left += counts
    ax.set_xlabel("requests")
    _legend(ax, ncols=max(1, min(len(outcome_names), 4)), loc="lower right")
    return figure_uri(fig)
