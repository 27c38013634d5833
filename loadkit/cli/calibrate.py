"""`loadkit calibrate`: this machine's generator error at the planned concurrency; register(subparsers) adds it.

Runs the embedded simulator with fixed timings and ``loadkit run`` against it
at doubling concurrencies up to ``--users``, prints the generator's TTFT/ITL/
e2e error per percentile beside the simulator's own (raw-socket) TTFT error,
and the highest concurrency per process that keeps the generator's own TTFT
error p99 under 1 ms (``own``: its first-token stamp minus the simulator's
logged write of that token; ``net p99``, the error minus the simulator's
median lateness, where the log has no match). It writes ``calibration.json``; ``loadkit capacity --calibration`` (by
default ``<results-dir>/calibration.json`` when it exists) uses the figure
for "workers needed".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loadkit.errors import ConfigError, LoadkitError

__all__ = ["register", "main", "cmd_calibrate", "levels_up_to", "format_row"]

EXIT_OK, EXIT_CANNOT_RUN = 0, 2


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``calibrate`` to the ``loadkit`` sub-commands; returns its parser."""
    p = subparsers.add_parser(
        "calibrate", help="measure this machine's generator timing error against a fixed-timing simulator",
        description="Fixed-timing simulator + `loadkit run` at doubling concurrency up to --users: the generator's "
                    "own TTFT/ITL/e2e error per percentile, the simulator's raw-socket error beside it, and the "
                    "highest concurrency per process with TTFT error p99 < 1 ms. Writes calibration.json.")
    a = p.add_argument
    a("--users", type=int, default=16, help="planned concurrency per process (levels double up to it)")
    a("--levels", default=None, help="comma-separated concurrencies instead of doubling, e.g. 1,4,16 "
                                     "(all are run; doubling stops at the first level over 1 ms)")
    a("--run-time-s", type=float, default=6.0, help="seconds per level (the first and last second are left out)")
    a("--fixed", default="ttft_ms=20,itl_ms=2,tokens=16", help="the simulator's fixed timings")
    a("--out", default="results/calibration.json", help="where to write calibration.json")
    p.set_defaults(func=cmd_calibrate)
    return p


def levels_up_to(users: int) -> list[int]:
    """1, 2, 4, ... below ``users``, then ``users``."""
    if users < 1:
        raise ConfigError(f"--users must be >= 1 (got {users})")
    out, level = [], 1
    while level < users:
        out.append(level)
        level *= 2
    return out + [users]


def _fixed(text: str):
    from loadkit.studies.calibrate import FixedTimings

    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or name.strip() not in ("ttft_ms", "itl_ms", "tokens"):
            raise ConfigError(f"invalid --fixed entry {part!r}: expected ttft_ms=20,itl_ms=2,tokens=16")
    return FixedTimings(values.get("ttft_ms", 20.0), values.get("itl_ms", 2.0), int(values.get("tokens", 16)))


def _p(block: dict, name: str) -> str:
    value = block.get(name)
    return "-" if value is None else f"{value:.2f}"


def format_row(row: dict) -> str:
    """One level: generator error p50/p99/p99.9 per metric, the simulator's own TTFT error, the verdict."""
    g, s = row["generator_error_ms"], row["simulator_ttft_error_ms"]
    cells = [f"{row['users']:>5}", f"{row['requests']:>8}", f"{row['requests_per_s'] or 0:>8.1f}"]
    for metric in ("ttft", "itl", "e2e"):
        cells.append(f"{_p(g[metric], 'p50'):>6} {_p(g[metric], 'p99'):>6} {_p(g[metric], 'p99.9'):>6}")
    cells.append(f"{_p(s, 'p50'):>6} {_p(s, 'p99'):>6}")
    cells.append(f"{_p(row, 'ttft_net_p99_ms'):>7}")
    own = row.get("generator_own_ttft_error_ms") or {}
    cells.append(f"{_p(own, 'p50'):>6} {_p(own, 'p99'):>6} {_p(own, 'p99.9'):>6}")
    cells.append("ok" if row["passed"] else "over 1 ms")
    return " | ".join(cells)


HEADER = ("users | requests |    req/s | TTFT err p50    p99  p99.9 | ITL err p50    p99  p99.9 | "
          "e2e err p50    p99  p99.9 | sim TTFT p50    p99 | net p99 | own p50    p99  p99.9 | verdict")


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run the calibration; returns the exit code."""
    from loadkit.studies.calibrate import calibrate

    try:
        timings = _fixed(args.fixed)
        if args.levels:
            levels = [int(v) for v in args.levels.split(",") if v.strip()]
        else:
            levels = levels_up_to(args.users)
        if args.run_time_s < 3:
            raise ConfigError(f"--run-time-s must be >= 3 (got {args.run_time_s:g}): the first and last second "
                              "of each level are left out")
    except (LoadkitError, ValueError) as exc:
        print(f"loadkit calibrate: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print(f"loadkit calibrate: fixed-timing simulator ({timings.sim_arg()}), levels {levels}, "
          f"{args.run_time_s:g} s each; errors in ms (measured - configured)", flush=True)
    print(HEADER, flush=True)
    try:
        doc = calibrate(levels, timings=timings, run_time_s=args.run_time_s,
                        progress=lambda row: print(format_row(row), flush=True), stop_early=not args.levels)
    except LoadkitError as exc:
        print(f"loadkit calibrate: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    best = doc["max_users_per_process"]
    print("own: the first-token stamp minus the simulator's own write of it (its send log): the generator's error "
          "alone, which the verdict judges; net: TTFT error p99 minus the simulator's median lateness (the "
          "verdict where the log has no match)")
    if best is None:
        print("no level kept the generator's own TTFT error p99 under 1 ms: this machine's generator adds more than "
              f"1 ms even at {levels[0]} user(s); measure on a quieter machine, or plan more processes")
    else:
        print(f"highest concurrency per process with TTFT error p99 < 1 ms: {best} users "
              f"({doc['requests_per_s_at_max']} req/s against this simulator)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadkit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["calibrate", *(argv or [])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
