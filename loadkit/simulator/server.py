"""Process entry point: parse flags, bind, announce the port, serve until a signal."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import tempfile

from loadkit.simulator.app import Simulator
from loadkit.simulator.config import SimulatorConfig, SimulatorConfigError, parse_args
from loadkit.simulator.httpserver import HttpProtocol

log = logging.getLogger(__name__)
LISTENING_PREFIX = "loadkit-simulator listening on http://"


def write_port_file(path: str, port: int) -> None:
    """Write the port number to path atomically (temp file + rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp_path = tempfile.mkstemp(prefix=".port-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{port}\n")
    os.replace(temp_path, path)


async def serve(config: SimulatorConfig, ready=None) -> None:
    """Serve until SIGTERM/SIGINT (or cancellation); ``ready(port)`` after bind."""
    loop = asyncio.get_running_loop()
    simulator = Simulator(config)
    server = await loop.create_server(lambda: HttpProtocol(simulator.handle), config.host, config.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    # Startup objects never die: keep them out of the collector's scans, so a
    # collection pause stays short next to the 1 ms timing target.
    gc.freeze()
    if config.port_file:
        write_port_file(config.port_file, port)
    if ready is not None:
        ready(port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        await stop.wait()
    finally:
        server.close()
        await simulator.close()


def _announce(host: str):
    def ready(port: int) -> None:
        shown = host if ":" not in host else f"[{host}]"
        sys.stdout.write(f"{LISTENING_PREFIX}{shown}:{port}\n")
        sys.stdout.flush()

    return ready


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; return the process exit code (0 ok, 2 bad flags)."""
    try:
        config = parse_args(argv)
    except SimulatorConfigError as exc:
        sys.stderr.write(f"loadkit-simulator: error: {exc}\n")
        return 2
    logging.basicConfig(level=os.environ.get("LOADKIT_SIM_LOG_LEVEL", "WARNING"))
    try:
        import uvloop
    except ImportError:
        uvloop = None
    try:
        if uvloop is not None:
            uvloop.run(serve(config, _announce(config.host)))
        else:
            asyncio.run(serve(config, _announce(config.host)))
    except OSError as exc:
        sys.stderr.write(f"loadkit-simulator: error: cannot listen on {config.host}:{config.port}: {exc.strerror}\n")
        return 1
    except KeyboardInterrupt:
        pass
    return 0
