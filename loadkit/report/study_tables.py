"""Tables for people of the `overhead` and `coldstart` studies (rich); the JSON report is the record."""

from __future__ import annotations

__all__ = ["print_overhead", "print_coldstart", "new_console"]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(est) -> str:
    if est is None:
        return "-"
    return f"{est.value_ms:+.1f} [{est.ci_low_ms:+.1f}, {est.ci_high_ms:+.1f}]"


def new_console():
    from rich.console import Console

    return Console(highlight=False)


def print_overhead(report, console=None) -> None:
    """The overhead report as a table (ms; gateway minus direct)."""
    from rich.table import Table

    console = console or new_console()
    conf = int(report.settings.confidence * 100)
    table = Table(title=f"Gateway overhead (gateway - direct, ms; median [{conf}% CI])")
    for column in ("model", "pairs", "TTFT median diff", "TTFT p95 diff", "e2e median diff", "e2e p95 diff",
                   f"< {report.settings.claim_ms:g} ms?"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for m in report.models.values():
        verdict = "no data" if m.ttft is None else ("holds" if m.claim_holds else
                                                    "fails" if "fails" in (m.ttft.verdict, m.e2e.verdict)
                                                    else "inconclusive")
        table.add_row(m.model if m.direct_model == m.model else f"{m.model} -> {m.direct_model}",
                      f"{m.pairs}" + (f" ({m.failed_pairs} failed)" if m.failed_pairs else ""),
                      _ci(m.ttft.median_diff if m.ttft else None), _fmt(m.ttft.p95_diff_ms if m.ttft else None),
                      _ci(m.e2e.median_diff if m.e2e else None), _fmt(m.e2e.p95_diff_ms if m.e2e else None),
                      verdict)
    console.print(table)


def print_coldstart(report, console=None) -> None:
    """The cold-start report: one table per model, then the connection cost."""
    from rich.table import Table

    console = console or new_console()
    conf = int(report.settings.confidence * 100)
    for m in report.models.values():
        table = Table(title=f"{m.model}: TTFT/e2e after idle (ms)")
        for column in ("idle gap", "n", "TTFT median", "e2e median", "cold share", "verdict"):
            table.add_column(column, justify="right")
        for g in m.gaps:
            table.add_row(f"{g.gap_s:g} s", f"{g.n}" + (f" ({g.failures} failed)" if g.failures else ""),
                          _fmt(g.ttft_median_ms), _fmt(g.e2e_median_ms), f"{g.cold_share:.0%}",
                          "no data" if g.n and g.failures == g.n else "COLD" if g.cold else "warm")
        console.print(table)
        console.print(f"  first request ever: TTFT {_fmt(m.first_ttft_ms)} ms; warm TTFT median "
                      f"{_fmt(m.warm_ttft_median_ms)} ms (spread {_fmt(m.warm_ttft_spread_ms)}), "
                      f"cold cut {_fmt(m.cold_cut_ms)} ms")
        if m.cold_after_s is None:
            console.print(f"  no gap was cold; penalty at the largest gap: TTFT {_ci(m.ttft_penalty)} ms ({conf}% CI)")
        else:
            lower = "0" if m.warm_up_to_s is None else f"{m.warm_up_to_s:g}"
            console.print(f"  goes cold after an idle time in ({lower} s, {m.cold_after_s:g} s]; cold penalty "
                          f"TTFT {_ci(m.ttft_penalty)} ms, e2e {_ci(m.e2e_penalty)} ms ({conf}% CI)")
        for warning in m.warnings:
            console.print(f"  [yellow]warning:[/] {warning}")
    c = report.connection
    if c is not None:
        console.print(f"new connection vs reused ({c.model}, {len(c.new_ttfb_ms)} pairs): TTFB "
                      f"{_ci(c.ttfb_cost)} ms ({conf}% CI) - connection cost, not model cold start")
