"""OpenAI-compatible gateway simulator (runs as its own process).

Run ``python -m loadkit.simulator --port 0 [flags]``; see `config` for the
flags, `app` for the request pipeline, `chat` for the stream format and
`content` for the task-answer rules.  This package imports nothing from the
rest of loadkit.
"""

from .app import Simulator
from .config import SimulatorConfig, SimulatorConfigError, build_parser, parse_args
from .server import main, serve

__all__ = [
    "Simulator",
    "SimulatorConfig",
    "SimulatorConfigError",
    "build_parser",
    "main",
    "parse_args",
    "serve",
]
