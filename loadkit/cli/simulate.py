"""`loadkit simulate [simulator flags]`: the gateway simulator; every argument goes to it unchanged."""

from __future__ import annotations

import argparse

__all__ = ["register", "run_simulator"]


def register(sub) -> None:
    sim = sub.add_parser("simulate", help="run the OpenAI-compatible gateway simulator (flags: loadkit simulate --help)",
                         add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)
    sim.set_defaults(func=lambda args: run_simulator(args.sim_args))


def run_simulator(argv: list[str]) -> int:
    """Run ``python -m loadkit.simulator`` with ``argv`` in this process; returns its exit code."""
    from loadkit.simulator import main as sim_main

    return sim_main(list(argv))
