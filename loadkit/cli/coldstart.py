"""`loadkit overhead` and `loadkit coldstart`: register(subparsers) adds both.

Both print a table for people (rich) and write the full report as JSON.
Keys come from the environment, never from a flag: the gateway key from
``LOADKIT_API_KEY`` (or ``--api-key-env``), the direct endpoint's from
``--direct-api-key-env``. Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from loadkit.errors import ConfigError, LoadkitError

__all__ = ["register", "main"]

EXIT_CANNOT_RUN = 2


def _models(text: str | None, default: tuple[str, ...]) -> list[str]:
    models = [m.strip() for m in (text or "").split(",") if m.strip()]
    return models or list(default)


def _key(env_var: str) -> str:
    if env_var != "LOADKIT_API_KEY" and env_var not in os.environ:
        raise ConfigError(f"environment variable {env_var} is not set: export it with the API key first")
    return os.environ.get(env_var, "")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(est) -> str:
    if est is None:
        return "-"
    return f"{est.value_ms:+.1f} [{est.ci_low_ms:+.1f}, {est.ci_high_ms:+.1f}]"


def _write_json(path: str, data: dict) -> None:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2, default=str))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; choose another --json path") from None


def _console():
    from rich.console import Console

    return Console(highlight=False)


def print_overhead(report, console=None) -> None:
    """The overhead report as a table (ms; gateway minus direct)."""
    from rich.table import Table

    console = console or _console()
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

    console = console or _console()
    conf = int(report.settings.confidence * 100)
    for m in report.models.values():
        table = Table(title=f"{m.model}: TTFT/e2e after idle (ms)")
        for column in ("idle gap", "n", "TTFT median", "e2e median", "cold share", "verdict"):
            table.add_column(column, justify="right")
        for g in m.gaps:
            table.add_row(f"{g.gap_s:g} s", f"{g.n}" + (f" ({g.failures} failed)" if g.failures else ""),
                          _fmt(g.ttft_median_ms), _fmt(g.e2e_median_ms), f"{g.cold_share:.0%}",
                          "COLD" if g.cold else "warm")
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


def cmd_overhead(args: argparse.Namespace) -> int:
    from loadkit.studies.overhead import OverheadSettings, measure_overhead, parse_model_map

    models = _models(args.models, ("claude-4-haiku", "gpt-4o-mini"))
    settings = OverheadSettings(n_pairs=args.pairs, claim_ms=args.claim_ms, seed=args.seed,
                                transport=args.transport, timeout_s=args.timeout_s)
    gateway_key = _key(args.api_key_env)
    direct_key = _key(args.direct_api_key_env) if args.direct_api_key_env else None
    report = measure_overhead(args.gateway, args.direct, models, settings, gateway_api_key=gateway_key,
                              direct_api_key=direct_key, model_map=parse_model_map(args.model_map))
    print_overhead(report)
    _write_json(args.json, report.to_dict())
    return 0


def cmd_coldstart(args: argparse.Namespace) -> int:
    from loadkit.studies.coldstart import ColdStartSettings, parse_gaps, probe_cold_start
    from loadkit.transport import TransportOptions, make_transport

    models = _models(args.models, ("claude-4-haiku", "gpt-4o-mini"))
    settings = ColdStartSettings(gaps_s=parse_gaps(args.gaps), repeats=args.repeats, followups=args.followups,
                                 connection_pairs=args.connection_pairs, seed=args.seed)
    key = _key(args.api_key_env)
    options = TransportOptions(args.host, timeout_s=args.timeout_s)
    console = _console()
    total = sum(1 for _ in models) * (1 + settings.repeats * len(settings.gaps_s) * (1 + settings.followups))
    longest = settings.repeats * sum(settings.gaps_s)
    console.print(f"probing {', '.join(models)}: {total} requests, at least {longest:g} s of idle per model "
                  "(models are probed interleaved)")
    report = probe_cold_start(models, lambda: make_transport(args.transport, options), settings, api_key=key)
    print_coldstart(report, console)
    _write_json(args.json, report.to_dict())
    return 0


def register(subparsers) -> None:
    """Add the `overhead` and `coldstart` subcommands to loadkit's parser."""
    ov = subparsers.add_parser("overhead", help="gateway overhead over direct calls, paired, with a CI",
                               description="Send the same requests alternately to the gateway and the direct "
                                           "endpoint(s); report the added TTFT/e2e per model.")
    ov.add_argument("--gateway", required=True, help="gateway base URL, e.g. https://gw.example/v1")
    ov.add_argument("--direct", required=True, help="direct base URL, or one per model (comma-separated, "
                                                    "in --models order)")
    ov.add_argument("--models", help="comma-separated gateway model names [claude-4-haiku,gpt-4o-mini]")
    ov.add_argument("--pairs", type=int, default=50, help="measured pairs per model [50]")
    ov.add_argument("--api-key-env", default="LOADKIT_API_KEY", help="env var with the gateway key [LOADKIT_API_KEY]")
    ov.add_argument("--direct-api-key-env", help="env var with the direct endpoint's key (default: the gateway key)")
    ov.add_argument("--model-map", help="gateway-name=direct-name,... for the direct endpoint")
    ov.add_argument("--claim-ms", type=float, default=50.0, help="the overhead claim to check [50]")
    ov.add_argument("--seed", type=int, default=0)
    ov.add_argument("--transport", choices=("httpx", "fasthttp"), default="httpx")
    ov.add_argument("--timeout-s", type=float, default=60.0)
    ov.add_argument("--json", default="overhead.json", help="write the report here [overhead.json]")
    ov.set_defaults(func=_guarded(cmd_overhead))

    cs = subparsers.add_parser("coldstart", help="probe cold starts after growing idle gaps",
                               description="Idle each model for growing gaps, send one request after each, and "
                                           "report the idle time after which it goes cold and the penalty.")
    cs.add_argument("--host", required=True, help="gateway base URL, e.g. https://gw.example/v1")
    cs.add_argument("--gaps", default="0,30s,2m,5m,15m", help="idle gaps [0,30s,2m,5m,15m]")
    cs.add_argument("--repeats", type=int, default=3, help="probes per gap [3]")
    cs.add_argument("--followups", type=int, default=2, help="warm requests after each probe [2]")
    cs.add_argument("--connection-pairs", type=int, default=5, help="new-vs-reused connection pairs [5]")
    cs.add_argument("--models", help="comma-separated model names [claude-4-haiku,gpt-4o-mini]")
    cs.add_argument("--api-key-env", default="LOADKIT_API_KEY", help="env var with the key [LOADKIT_API_KEY]")
    cs.add_argument("--seed", type=int, default=0)
    cs.add_argument("--transport", choices=("httpx", "fasthttp"), default="httpx")
    cs.add_argument("--timeout-s", type=float, default=60.0)
    cs.add_argument("--json", default="coldstart.json", help="write the report here [coldstart.json]")
    cs.set_defaults(func=_guarded(cmd_coldstart))


def _guarded(func):
    """One line on stderr and exit 2 for anything loadkit refuses (also when cli.main is bypassed)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except LoadkitError as exc:
            print(f"loadkit {args.command}: {exc}", file=sys.stderr, flush=True)
            return EXIT_CANNOT_RUN

    return run


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m loadkit.cli.coldstart overhead ...``) until cli.py registers it."""
    parser = argparse.ArgumentParser(prog="loadkit")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
