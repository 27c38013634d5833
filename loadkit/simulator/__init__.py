"""OpenAI-compatible gateway simulator (runs as its own process).

Run ``python -m loadkit.simulator --port 0 [flags]``; see `config` for the
flags, `app` for the request pipeline, `chat` for the stream format and
`content` for the task-answer rules.  This package imports nothing from the
rest of loadkit.

Throughput (bench/simulator_throughput.py; server pinned to one core,
uvloop, wrk with 64 keep-alive connections on the other core, quiet machine):

    GET /health                                ~72,000 req/s
    non-stream chat, profile zero              ~25,000 req/s
    stream, 60 token events, profile zero      ~11,000 streams/s (one write per stream)
    stream, 60 events, one write per event      ~2,200 streams/s (fixed profile, 0 ms)

Why a hand-written protocol rather than aiohttp.web: see `httpserver`.
"""

from loadkit.simulator.app import Simulator
from loadkit.simulator.config import SimulatorConfig, SimulatorConfigError, build_parser, parse_args
from loadkit.simulator.server import main, serve

__all__ = [
    "Simulator",
    "SimulatorConfig",
    "SimulatorConfigError",
    "build_parser",
    "main",
    "parse_args",
    "serve",
]
