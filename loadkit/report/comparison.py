"""report.html's "Model comparison" and "Run settings" sections.

The comparison is laid out the way gateway reviews are read: one column per
model, one row per question (latency, cold start, overhead, success, task
success per category, price, cost, monthly budget), the better value of each
row marked. Every value is read from the summary (or the attached
``overhead.json``); prices come from the summary's price table when it has
one, else loadkit's reference table.
"""

from __future__ import annotations

from html import escape
from typing import Any

from loadkit.core.pricing import PriceTable, monthly_projection
from loadkit.report.htmlkit import num, pct, table, usd

__all__ = ["comparison_html", "run_settings_html", "SECRET_WORDS"]

SECRET_WORDS = ("key", "token", "secret", "password", "authorization")


def _get(block: dict, *path: str) -> Any:
    for p in path:
        if not isinstance(block, dict):
            return None
        block = block.get(p)
    return block


def _row(label: str, values: list[Any], fmt, better: str | None) -> list:
    """One comparison row; ``better`` is "low" or "high" (or None: nothing to mark)."""
    cells: list = [escape(label)]
    present = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    best = None
    if better and len(present) >= 2 and min(present) != max(present):
        best = min(present) if better == "low" else max(present)
    for v in values:
        text = fmt(v)
        cells.append((text, "best") if best is not None and v == best else text)
    return cells


def _price(summary: dict, model: str) -> tuple[float | None, float | None]:
    given = (summary.get("prices") or {}).get(model)
    if isinstance(given, (list, tuple)) and len(given) == 2:
        return float(given[0]), float(given[1])
    price = PriceTable().get(model)
    return (None, None) if price is None else (price.input_usd_per_mtok, price.output_usd_per_mtok)


def _overhead_rows(models: list[str], overhead: dict | None) -> list[list]:
    if not overhead:
        return []
    per_model = overhead.get("models") or {}

    def diff(model: str, metric: str) -> float | None:
        return _get(per_model.get(model) or {}, metric, "median_diff", "value_ms")

    def ci(model: str, metric: str) -> str:
        est = _get(per_model.get(model) or {}, metric, "median_diff")
        if not est:
            return "–"
        return f"{est['value_ms']:+.1f} ms [{est['ci_low_ms']:+.1f}, {est['ci_high_ms']:+.1f}]"

    rows = []
    for metric, label in (("ttft", "gateway overhead, TTFT (median, CI)"), ("e2e", "gateway overhead, e2e (median, CI)")):
        values = [diff(m, metric) for m in models]
        row = _row(label, values, lambda v: "–", "low")
        # keep the marking of _row, show the estimate with its interval
        for i, m in enumerate(models):
            cell = row[i + 1]
            row[i + 1] = (ci(m, metric), cell[1]) if isinstance(cell, tuple) else ci(m, metric)
        rows.append(row)
    return rows


def comparison_html(summary: dict, calls_per_day: float, overhead: dict | None = None) -> str:
    """The comparison table (HTML) for the summary's models, side by side; "" for fewer than one model."""
    models = sorted(summary.get("models", {}))
    if not models:
        return '<p class="note">No requests: nothing to compare.</p>'
    blocks = [summary["models"][m] for m in models]
    ms = lambda v: num(v) + " ms" if v is not None else "–"  # noqa: E731
    group = lambda title: [(escape(title), "group")] + [("", "group")] * len(models)  # noqa: E731
    rows: list[list] = [group("Latency (warm, successful requests)")]
    for label, key, stat in (("median latency (e2e p50)", "e2e_ms", "p50"), ("p95 latency (e2e)", "e2e_ms", "p95"),
                             ("median TTFT", "ttft_ms", "p50"), ("p95 TTFT", "ttft_ms", "p95"),
                             ("median inter-token latency", "itl_ms", "p50")):
        rows.append(_row(label, [_get(b, key, stat) for b in blocks], ms, "low"))
    rows.append(group("Cold start"))
    rows.append(_row("cold requests", [_get(b, "cold_start", "count") for b in blocks], num, None))
    rows.append(_row("cold TTFT (median)", [_get(b, "cold_start", "ttft_ms", "p50") for b in blocks], ms, "low"))
    overhead_rows = _overhead_rows(models, overhead)
    if overhead_rows:
        rows.append(group("Gateway overhead (gateway − direct, paired run)"))
        rows.extend(overhead_rows)
    rows.append(group("Reliability"))
    rows.append(_row("success rate", [b.get("success_rate") for b in blocks], pct, "high"))
    rows.append(_row("429 responses", [_get(b, "rate_limit", "responses_429") for b in blocks], num, "low"))
    categories = sorted({c for b in blocks for c in (b.get("task_success") or {})})
    if categories:
        rows.append(group("Task success by category"))
        for category in categories:
            values = [(b.get("task_success") or {}).get(category) for b in blocks]
            checked = [(b.get("task_checked") or {}).get(category) for b in blocks]
            row = _row(category, values, pct, "high")
            for i, n in enumerate(checked):
                if n:
                    cell = row[i + 1]
                    text = (cell[0] if isinstance(cell, tuple) else cell) + f' <span class="note">n={n:,}</span>'
                    row[i + 1] = (text, cell[1]) if isinstance(cell, tuple) else text
            rows.append(row)
    rows.append(group("Price and cost"))
    prices = [_price(summary, m) for m in models]
    per_mtok = lambda v: usd(v, 2) + " / 1M" if v is not None else "–"  # noqa: E731
    rows.append(_row("input price", [p[0] for p in prices], per_mtok, "low"))
    rows.append(_row("output price", [p[1] for p in prices], per_mtok, "low"))
    per_call = [None if b.get("cost_per_1k_requests_usd") is None else b["cost_per_1k_requests_usd"] / 1000.0
                for b in blocks]
    rows.append(_row("cost per call", per_call, lambda v: usd(v, 6), "low"))
    rows.append(_row("cost per successful call", [b.get("cost_per_success_usd") for b in blocks],
                     lambda v: usd(v, 6), "low"))
    monthly = [None if v is None else monthly_projection(v, calls_per_day) for v in per_call]
    rows.append(_row(f"monthly budget at {calls_per_day:,.0f} calls/day", monthly, lambda v: usd(v, 2), "low"))
    note = ('<p class="note">★ marks the better value of each row. Latency rows exclude cold starts (cold TTFT '
            "is the first request to an idle model; when the preflight met the cold start its answer was one "
            "token, so only its TTFT is compared); cost per call "
            f"is this run's mean (its prompts and answers); the monthly budget sends all {calls_per_day:,.0f} "
            "calls/day × 30 days to that one model."
            + ("" if overhead else " Gateway overhead: attach a paired run (<code>loadkit overhead --json "
               "overhead.json</code>, saved in the run folder) to compare it here.") + "</p>")
    return table(["", *models], rows) + note


def _redacted(name: str, value: Any) -> str:
    if any(word in name.lower() for word in SECRET_WORDS) and value not in (None, "", False):
        return "<i>redacted</i>"
    if isinstance(value, (list, tuple)):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, dict):
        return escape(", ".join(f"{k}={v}" for k, v in value.items()))
    return escape(str(value))


def run_settings_html(summary: dict) -> str:
    """Command line, settings (secrets redacted), versions, host and workers, as far as the summary has them."""
    parts = []
    argv = summary.get("command_line") or summary.get("argv")
    if argv:
        text = argv if isinstance(argv, str) else " ".join(str(a) for a in argv)
        parts.append(f'<h3>Command line</h3><code class="cmd">{escape(text)}</code>')
    workers = summary.get("workers") or {}
    facts = [["run id", escape(str(summary.get("run_id", "")))], ["host", escape(str(summary.get("host", "")))],
             ["started", escape(str(summary.get("started_at", "")))], ["duration", f"{num(summary.get('duration_s'))} s"],
             ["users", num(summary.get("users"))], ["load shape", escape(str(summary.get("shape", "")))],
             ["workers", num(workers.get("count")) if isinstance(workers, dict) else num(workers)]]
    if isinstance(workers, dict) and workers.get("lost"):
        facts.append(["workers lost", num(len(workers["lost"]))])
    parts.append("<h3>Run</h3>" + table(["", "value"], [[k, (v, "wrap")] for k, v in facts]))
    versions = summary.get("versions") or {}
    if versions:
        parts.append("<h3>Versions</h3>" + table(["", "version"], [[escape(k), escape(str(v))]
                                                                   for k, v in sorted(versions.items())]))
    settings = summary.get("settings") or {}
    if settings:
        parts.append("<h3>Settings</h3>" + table(["setting", "value"], [[escape(k), (_redacted(k, v), "wrap")]
                                                                         for k, v in sorted(settings.items())]))
    missing = [n for n, v in (("command line", argv), ("settings", settings), ("versions", versions)) if not v]
    if missing:
        parts.append(f'<p class="note">Not recorded in this summary.json: {", ".join(missing)}.</p>')
    return "".join(parts)
