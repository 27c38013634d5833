"""A stop asked by `loadkit run` after SIGINT/SIGTERM: stop like the end of --run-time.

Locust's own signal handling fires ``quitting`` before its users have stopped
(no drain, results of a half-stopped run). `loadkit run` therefore keeps the
signal to itself and writes ``{"signal": "SIGTERM"}`` to ``LOADKIT_STOP_FILE``;
this watcher (master or local runner) sees it, records the signal on the
runtime (the summary is then marked ``interrupted``) and quits the runner,
which lets in-flight requests finish within --stop-timeout.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import gevent

__all__ = ["watch_stop_file", "STOP_FILE_ENV", "POLL_S"]

STOP_FILE_ENV = "LOADKIT_STOP_FILE"
POLL_S = 0.2

log = logging.getLogger("loadkit")


def _read_signal(path: Path) -> str | None:
    try:
        return str(json.loads(path.read_text()).get("signal") or "signal")
    except (OSError, ValueError, AttributeError):
        return None


def _watch(path: Path, environment, rt) -> None:
    while True:
        name = _read_signal(path) if path.exists() else None
        if name:
            break
        gevent.sleep(POLL_S)
    rt.stop_signal = name
    log.info("loadkit: %s received: stopping users (in-flight requests get --stop-timeout)", name)
    runner = environment.runner
    headless = bool(getattr(environment.parsed_options, "headless", True))
    if runner is None:
        return
    if headless:
        runner.quit()  # as at the end of --run-time: stop (drain), then Locust shuts down and fires quitting
    else:
        runner.stop()


def watch_stop_file(environment, rt) -> None:
    """Start the watcher when `loadkit run` gave a stop file (no-op otherwise)."""
    path = os.environ.get(STOP_FILE_ENV)
    if path:
        gevent.spawn(_watch, Path(path), environment, rt)
