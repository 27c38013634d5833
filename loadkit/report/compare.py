"""``loadkit compare A B``: did this change make things slower? Side by side, with significance.

For every model in both runs: e2e and TTFT p50/p95 (warm successes), success
rate, and output tokens/s. Each latency and the success rate get a bootstrap
confidence interval on the difference B − A from the raw records (seeded, so
the same two runs always give the same verdict): resample each run with
replacement ``resamples`` times, take the statistic of each resample, and read
the 2.5/97.5 percentiles of the differences. A difference is *significant*
when that interval excludes zero.

A *regression* is a significant change in the bad direction (latency up,
success rate or tokens/s down) larger than ``threshold_pct`` percent of A's
value. Output tokens/s is a whole-run rate with no per-request sample, so it
is compared but never called significant (``significant: None``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from loadkit.core import metrics
from loadkit.core.records import record_from_dict
from loadkit.report.recompute import iter_record_dicts
from loadkit.core.bootstrap import resample_statistic

__all__ = ["compare", "render_compare_table", "METRICS"]

# (name, better: "lower"|"higher")
METRICS = (
    ("e2e_ms.p50", "lower"),
    ("e2e_ms.p95", "lower"),
    ("ttft_ms.p50", "lower"),
    ("ttft_ms.p95", "lower"),
    ("success_rate", "higher"),
    ("output_tokens_per_s", "higher"),
)


class _RunSample:
    """Per-model raw samples of one run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        self.e2e: dict[str, list[float]] = {}
        self.ttft: dict[str, list[float]] = {}
        self.ok: dict[str, list[float]] = {}
        for r in iter_record_dicts(run_dir):
            if not r.get("final", True):
                continue
            model = r["model"]
            succeeded = r.get("outcome") == "ok"
            self.ok.setdefault(model, []).append(1.0 if succeeded else 0.0)
            if not succeeded or r.get("cold"):
                continue  # same population as the summary's percentiles
            record = record_from_dict(r)
            self.e2e.setdefault(model, []).append(metrics.e2e_ms(record))
            ttft = metrics.ttft_ms(record)
            if ttft is not None:
                self.ttft.setdefault(model, []).append(ttft)

    @property
    def models(self) -> set[str]:
        return set(self.ok)

    def reported(self, model: str, metric: str) -> float | None:
        """The value this run's summary.json shows for a metric (what a person read), or None."""
        value: Any = (self.summary.get("models") or {}).get(model) or {}
        for part in metric.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return None if value is None else float(value)

    def sample(self, model: str, metric: str) -> tuple[np.ndarray, float]:
        """(raw values, q) for a metric: q is the percentile, or -1 for a mean."""
        if metric == "success_rate":
            return np.asarray(self.ok.get(model, []), dtype=float), -1.0
        field, stat = metric.split(".")
        values = (self.e2e if field == "e2e_ms" else self.ttft).get(model, [])
        return np.asarray(values, dtype=float), float(stat[1:])


def _statistic(values: np.ndarray, q: float, axis: int | None = None) -> np.ndarray | float:
    return values.mean(axis=axis) if q < 0 else np.percentile(values, q, axis=axis)


def _row(a_value, b_value, better: str, threshold_pct: float, ci: tuple[float, float] | None) -> dict[str, Any]:
    diff = None if a_value is None or b_value is None else b_value - a_value
    diff_pct = None if diff is None or not a_value else 100.0 * diff / a_value
    significant = None if ci is None else bool(ci[0] > 0 or ci[1] < 0)
    worse = diff is not None and (diff > 0 if better == "lower" else diff < 0)
    regression = bool(significant and worse and diff_pct is not None and abs(diff_pct) > threshold_pct)
    return {"a": a_value, "b": b_value, "diff": diff, "diff_pct": diff_pct,
            "ci_low": None if ci is None else ci[0], "ci_high": None if ci is None else ci[1],
            "significant": significant, "better": better, "regression": regression}


def compare(run_a: str | Path, run_b: str | Path, threshold_pct: float = 10.0, *, resamples: int = 2000,
            confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Compare run folder B against baseline A (each with summary.json and records.jsonl.gz).

    Returns ``{"run_a", "run_b", "threshold_pct", "resamples", "confidence",
    "models": {model: {metric: {"a","b","diff","diff_pct","ci_low","ci_high",
    "significant","better","regression"}}}, "only_in_a", "only_in_b",
    "regressions": [{"model","metric","a","b","diff_pct","ci_low","ci_high"}]}``.
    Latencies in ms, rates as fractions, diff = B − A, diff_pct relative to A."""
    a, b = _RunSample(Path(run_a)), _RunSample(Path(run_b))
    rng = np.random.default_rng(seed)
    alpha = (1.0 - confidence) / 2.0
    models: dict[str, dict[str, Any]] = {}
    regressions: list[dict[str, Any]] = []
    for model in sorted(a.models & b.models):
        rows: dict[str, Any] = {}
        for metric, better in METRICS:
            if metric == "output_tokens_per_s":
                a_value = (a.summary.get("models", {}).get(model) or {}).get(metric)
                b_value = (b.summary.get("models", {}).get(model) or {}).get(metric)
                rows[metric] = _row(a_value, b_value, better, threshold_pct, None)
                continue
            a_values, q = a.sample(model, metric)
            b_values, _ = b.sample(model, metric)
            if not len(a_values) or not len(b_values):
                rows[metric] = _row(None, None, better, threshold_pct, None)
                continue
            diffs = resample_statistic(b_values, q, resamples, rng) - resample_statistic(a_values, q, resamples, rng)
            ci = (float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1.0 - alpha)))
            # The point values are the summaries' own (HdrHistogram) numbers, so compare's columns equal what
            # each run's summary.json and table show; the records give only the bootstrap interval.
            a_value, b_value = a.reported(model, metric), b.reported(model, metric)
            rows[metric] = _row(float(_statistic(a_values, q)) if a_value is None else a_value,
                                float(_statistic(b_values, q)) if b_value is None else b_value,
                                better, threshold_pct, ci)
        models[model] = rows
        for metric, row in rows.items():
            if row["regression"]:
                regressions.append({"model": model, "metric": metric, **{k: row[k] for k in (
                    "a", "b", "diff_pct", "ci_low", "ci_high")}})
    return {
        "run_a": str(run_a), "run_b": str(run_b), "threshold_pct": threshold_pct, "resamples": resamples,
        "confidence": confidence, "models": models,
        "only_in_a": sorted(a.models - b.models), "only_in_b": sorted(b.models - a.models),
        "regressions": regressions,
    }


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric == "success_rate":
        return f"{100 * value:.2f} %"
    return f"{value:,.1f}"


def render_compare_table(result: dict[str, Any], width: int = 140) -> str:
    """The comparison as a rich table rendered to plain text (for the terminal and CI logs)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['run_a']}  →  {result['run_b']}", title_justify="left", header_style="bold")
    for name, justify in (("model", "left"), ("metric", "left"), ("A", "right"), ("B", "right"),
                          ("Δ", "right"), ("Δ %", "right"), (f"{100 * result['confidence']:.0f} % CI of Δ", "right"),
                          ("verdict", "left")):
        table.add_column(name, justify=justify, no_wrap=name in ("metric", "verdict"))
    for model, rows in result["models"].items():
        for metric, row in rows.items():
            scale = 100.0 if metric == "success_rate" else 1.0
            unit = " pp" if metric == "success_rate" else ""
            delta = "-" if row["diff"] is None else f"{scale * row['diff']:+,.2f}{unit}"
            pct = "-" if row["diff_pct"] is None else f"{row['diff_pct']:+.1f} %"
            ci = "n/a" if row["ci_low"] is None else f"[{scale * row['ci_low']:+,.2f}, {scale * row['ci_high']:+,.2f}]"
            if row["regression"]:
                verdict = "[bold red]REGRESSION[/]"
            elif row["significant"] is None:
                verdict = "not tested"
            elif row["significant"]:
                worse = row["diff"] > 0 if row["better"] == "lower" else row["diff"] < 0
                verdict = "worse (within threshold)" if worse else "[green]better[/]"
            else:
                verdict = "no significant change"
            table.add_row(model, metric, _fmt(metric, row["a"]), _fmt(metric, row["b"]), delta, pct, ci, verdict)
        table.add_section()
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(table)
    for side in ("only_in_a", "only_in_b"):
        if result.get(side):
            console.print(f"models only in run {side[-1].upper()}: {', '.join(result[side])}")
    n = len(result["regressions"])
    console.print(f"{n} significant regression{'s' if n != 1 else ''} beyond {result['threshold_pct']:g} %"
                  if n else f"no significant regression beyond {result['threshold_pct']:g} %")
    return console.export_text()
