"""`loadkit <command>`: the command line; one module per command in loadkit/cli/.

Every setting has one name across flag, environment variable and config file
(``--influx-url`` / ``LOADKIT_INFLUX_URL`` / ``influx_url``); see
:mod:`loadkit.settings`. Exit codes: 0 SLOs met, 1 an SLO failed (or the error
rate passed --max-error-rate, or every probe failed), 2 the command could not
run (bad input, preflight failed), 3 the run was not trustworthy, 130/143 the
run was stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from loadkit.cli.options import die
from loadkit.errors import LoadkitError

__all__ = ["main", "build_parser", "version_text"]

# Modules that add subcommands with register(subparsers), in --help order.
COMMAND_MODULES = (
    "loadkit.cli.run",
    "loadkit.cli.simulate",
    "loadkit.cli.check",
    "loadkit.cli.report",
    "loadkit.cli.coldstart",
    "loadkit.cli.overhead",
    "loadkit.cli.capacity",
    "loadkit.cli.calibrate",
)


def version_text() -> str:
    """``loadkit X (Python Y, Locust Z)`` without importing Locust (it monkey-patches on import)."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    python = ".".join(str(p) for p in sys.version_info[:3])
    return f"loadkit {of('loadkit')} (Python {python}, Locust {of('locust')}, gevent {of('gevent')})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadkit", description="Load testing for OpenAI-compatible LLM gateways.")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        # argparse's REMAINDER drops a leading --flag of a subcommand ("unrecognized arguments: --port"),
        # so the simulator's arguments bypass the parser.
        from loadkit.cli.simulate import run_simulator

        return run_simulator(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "locust_args", None) and args.locust_args[:1] == ["--"]:
        args.locust_args = args.locust_args[1:]
    try:
        return int(args.func(args) or 0)
    except LoadkitError as exc:
        return die(str(exc), exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
