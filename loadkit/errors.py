"""One exception tree for everything loadkit refuses or cannot do.

Messages say what was wrong, with the value, and what to do. They never
contain the API key or the InfluxDB token: callers pass values through
:func:`loadkit.settings.redact` when in doubt.
"""

from __future__ import annotations

__all__ = ["LoadkitError", "ConfigError", "GatewayError", "SinkError", "SLOError"]


class LoadkitError(Exception):
    """Base of every error loadkit raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code = 2


class ConfigError(LoadkitError):
    """A setting, flag, environment variable or file is malformed or inconsistent."""


class GatewayError(LoadkitError):
    """The gateway refused or could not be reached during preflight."""


class SinkError(LoadkitError):
    """A results sink (InfluxDB, file) cannot be written."""


class SLOError(ConfigError):
    """An SLO declaration cannot be parsed or names an unknown metric."""
