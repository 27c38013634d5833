"""One exception tree for everything loadkit refuses or cannot do.

Messages say what was wrong, with the value, and what to do. They never
contain the API key or the InfluxDB token: callers pass values through
:func:`loadkit.settings.redact` when in doubt.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode", "LoadkitError", "ConfigError", "GatewayError", "SinkError", "SLOError"]


class ExitCode(IntEnum):
    """Every process exit code loadkit documents (README "Exit codes"); the one place they are defined."""

    OK = 0
    FAILED = 1  # an SLO check failed, or the error rate is above --max-error-rate
    CANNOT_RUN = 2  # bad input, preflight failed, no summary: nothing was measured
    UNTRUSTED = 3  # the generator's own numbers are not trusted (default of --untrusted-exit-code)
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2
    TERMINATED = 143  # SIGTERM: 128 + 15


class LoadkitError(Exception):
    """Base of every error loadkit raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code = ExitCode.CANNOT_RUN


class ConfigError(LoadkitError):
    """A setting, flag, environment variable or file is malformed or inconsistent."""


class GatewayError(LoadkitError):
    """The gateway refused or could not be reached during preflight."""


class SinkError(LoadkitError):
    """A results sink (InfluxDB, file) cannot be written."""


class SLOError(ConfigError):
    """An SLO declaration cannot be parsed or names an unknown metric."""
