"""The terminal table a person reads at the end of a run (rich)."""

from __future__ import annotations

import os

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["render_summary", "print_summary"]


def _ms(block: dict | None, key: str) -> str:
    if not block:
        return "-"
    v = block.get(key)
    return "-" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:,.4f}"


def summary_table(summary: dict[str, Any]) -> Table:
    t = Table(title=f"loadkit run {summary['run_id']} — {summary['duration_s']:.0f} s, {summary['users']} users, {summary['host']}",
              title_justify="left", header_style="bold")
    cols = ["model", "requests", "success", "e2e p50/p95/p99 ms", "TTFT p50/p95/p99 ms", "ITL p50/p95 ms",
            "out tok/s", "429s", "cold", "cost"]
    for c in cols:
        t.add_column(c, justify="left" if c == "model" else "right", no_wrap=True)
    rows = list(summary["models"].items()) + [("all models", summary["totals"])]
    for i, (name, m) in enumerate(rows):
        if i == len(rows) - 1:
            t.add_section()
        e2e, ttft, itl = m["e2e_ms"], m["ttft_ms"], m["itl_ms"]
        cold = m["cold_start"]
        t.add_row(
            name,
            f"{m['requests']:,}",
            _pct(m["success_rate"]),
            f"{_ms(e2e, 'p50')} / {_ms(e2e, 'p95')} / {_ms(e2e, 'p99')}",
            f"{_ms(ttft, 'p50')} / {_ms(ttft, 'p95')} / {_ms(ttft, 'p99')}",
            f"{_ms(itl, 'p50')} / {_ms(itl, 'p95')}",
            "-" if m["output_tokens_per_s"] is None else f"{m['output_tokens_per_s']:,.0f}",
            f"{m['rate_limit']['responses_429']:,}",
            f"{cold['count']} ({_ms(cold['ttft_ms'], 'p50')} ms)" if cold["count"] else "0",
            _usd(m["cost_usd"]),
        )
    return t


# Below this width the one wide table wraps every cell (and rich cuts model names): print two narrower ones.
WIDE_TABLE_MIN_COLUMNS = 150
_LATENCY_COLUMNS = ("model", "e2e p50/p95/p99 ms", "TTFT p50/p95/p99 ms", "ITL p50/p95 ms")
_VOLUME_COLUMNS = ("model", "requests", "success", "out tok/s", "429s", "cold", "cost")


def _narrow_tables(wide: Table) -> list[Table]:
    """The wide table as two tables of the same rows (latency, then volume and cost), each under 100 columns."""
    by_header = {str(c.header): c for c in wide.columns}
    out = []
    for i, names in enumerate((_LATENCY_COLUMNS, _VOLUME_COLUMNS)):
        t = Table(title=wide.title if i == 0 else None, title_justify="left", header_style="bold")
        for name in names:
            t.add_column(name, justify=by_header[name].justify, no_wrap=True)
        cells = [list(by_header[name].cells) for name in names]
        for r, row in enumerate(zip(*cells)):
            if r == len(cells[0]) - 1:
                t.add_section()
            t.add_row(*row)
        out.append(t)
    return out


def render_summary(summary: dict[str, Any], width: int = 160) -> str:
    """The summary as plain text (for logs and tests)."""
    console = Console(width=width, record=True, file=open("/dev/null", "w"), color_system=None)
    print_summary(summary, console)
    return console.export_text()


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
            console = Console(width=170)  # logs and CI: do not squeeze the table to 80 columns (COLUMNS=N: N)
    table = summary_table(summary)
    if console.width < WIDE_TABLE_MIN_COLUMNS:
        for part in _narrow_tables(table):
            console.print(part)
    else:
        console.print(table)
    sink = summary.get("sink", {})
    proj = summary.get("projection", {})
    console.print(
        f"sink: {sink.get('written', 0):,} points written, {sink.get('dropped', 0):,} dropped"
        f" ({sink.get('target', 'file')});  monthly cost at {proj.get('calls_per_day', 0):,.0f} calls/day:"
        f" ${proj.get('monthly_cost_usd') or 0:,.2f}"
    )
    error = (summary.get("generator") or {}).get("timing_error_ms") or {}
    if error.get("ttft_ms", {}).get("count"):
        t, i = error["ttft_ms"], error.get("itl_ms") or {}
        lag = error.get("read_lag_ms") or {}
        if error.get("clock") in ("kernel", "mixed"):
            # kernel stamps: the read lag is kept out of the timings; what is left is the error of coalesced reads
            # (tokens that came in one read share its stamp); its estimate is the loop lag p99 (core/trust.py)
            estimate = error.get("estimated_ttft_p99_ms")
            left = f"; error left p99 about {estimate} ms (event-loop lag p99)" if estimate is not None else ""
            console.print(f"timing: kernel receive times ({error.get('kernel_stamped', 0):,} attempts, "
                          f"{error.get('loop_stamped', 0):,} loop-stamped): read lag p99 {lag.get('p99')} ms kept out "
                          f"of the timings{left}")
        else:
            console.print(f"generator timing error (loop clock): TTFT p50 {t['p50']} p99 {t['p99']} max {t['max']} ms;"
                          f"  ITL p99 {i.get('p99')} ms")
    for check in summary.get("slo", {}).get("checks", []):
        mark = "PASS" if check["passed"] else "FAIL"
        console.print(f"SLO {mark}  {check['name']}  (value {check['value']}, limit {check['limit']})")
    if not summary.get("trusted", True):
        console.print("[bold red]NOT TRUSTED:[/] " + "; ".join(summary.get("warnings", [])))
    elif summary.get("warnings"):
        console.print("warnings: " + "; ".join(summary["warnings"]))
