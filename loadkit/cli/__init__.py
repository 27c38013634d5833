"""`loadkit` commands: one module per command, argument parsing only."""

from loadkit.cli.main import main

__all__ = ["main"]
