"""The settings flags every command shares, built from :data:`loadkit.settings.FIELDS`.

One flag per setting, named like the setting (``--influx-url`` = ``LOADKIT_INFLUX_URL``
= ``influx_url``). On/off settings are real flags (``--insecure``, ``--no-stream``)
that still take a value (``--insecure true``) so older command lines keep working.
``--slo-check`` repeats and accumulates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from loadkit.settings import FIELDS, Settings, env_name, flag_name, is_bool, load_settings

__all__ = ["add_settings", "cli_values", "settings_from_args", "die", "key_from_env_var", "write_json", "LOAD_RUN_ONLY",
           "EXIT_OK", "EXIT_FAILED", "EXIT_CANNOT_RUN"]

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_RUN = 0, 1, 2

def add_settings(
    parser: argparse.ArgumentParser,
    skip: Sequence[str] = (),
    groups: Sequence[str] = (),
    aliases: Mapping[str, Sequence[str]] | None = None,
    defaults_help: Mapping[str, str] | None = None,
) -> None:
    """Add one flag per setting (those of every command, plus the ``groups`` given) and ``--config``.

    ``aliases`` adds older spellings of a flag (``{"host": ["--gateway"]}``)."""
    aliases = aliases or {}
    group = parser.add_argument_group("settings (also LOADKIT_<NAME> environment variables or a TOML --config file)")
    for f in FIELDS:
        if not f.cli or f.name in skip or (f.group and f.group not in groups):
            continue
        names = [flag_name(f.name), *aliases.get(f.name, ())]
        hint = f" [{env_name(f.name)}]"
        extra = (defaults_help or {}).get(f.name, "")
        if is_bool(f):
            group.add_argument(*names, dest=f.name, default=None, nargs="?", const="true", metavar="true|false",
                               help=f"{f.help}{extra}{hint}")
            group.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_const", const="false",
                               help=argparse.SUPPRESS)
        elif f.name == "slo_check":
            group.add_argument(*names, dest=f.name, default=None, action="append", metavar="CHECK",
                               help=f"{f.help}{extra}{hint}")
        else:
            group.add_argument(*names, dest=f.name, default=None, metavar=f.name.upper(), help=f"{f.help}{extra}{hint}")
    parser.add_argument("--config", default=None, help="TOML config file [LOADKIT_CONFIG]")

def cli_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (None: not given); repeated --slo-check joined."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        value = getattr(args, f.name, None)
        if isinstance(value, list):
            value = [part for text in value for part in str(text).split(";") if part.strip()]
        out[f.name] = value
    return out

def settings_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults < --config file < LOADKIT_* < flags; raises ConfigError (one line)."""
    return load_settings(cli_values(args), env=env, config_file=getattr(args, "config", None))

def die(message: str, code: int = EXIT_CANNOT_RUN, command: str = "") -> int:
    """Print one ``loadkit[ command]: message`` line on stderr; returns ``code``."""
    print(f"loadkit{' ' + command if command else ''}: {message}", file=sys.stderr, flush=True)
    return code


# Settings of a Locust load run that the studies (coldstart, overhead, capacity) do not use: not offered there.
LOAD_RUN_ONLY = ("users", "spawn_rate", "run_time", "think_time_s", "arrival", "rate_per_s", "require_workers",
                 "influx_url", "influx_org", "influx_bucket", "influx_db", "influx_optional", "sink_buffer",
                 "max_error_rate", "sim_hints", "stop_timeout", "run_id", "rate_limit_policy", "max_retries",
                 "max_backoff_s", "model_weights", "slo", "slo_check", "workload", "sim_args", "sim_profile",
                 "results_dir", "idle_s", "calls_per_day", "max_requests")


def key_from_env_var(settings: Settings, env_var: str | None) -> Settings:
    """``--api-key-env NAME`` (the older spelling of LOADKIT_API_KEY): the key from that variable instead."""
    import os

    from loadkit.errors import ConfigError

    if not env_var or env_var == "LOADKIT_API_KEY":
        return settings
    if env_var not in os.environ:
        raise ConfigError(f"environment variable {env_var} is not set: export it with the API key first")
    return settings.with_(api_key=os.environ[env_var])


def write_json(path: str, data: dict) -> None:
    """Write a study's JSON report; ConfigError (one line) when the path cannot be written."""
    import json
    from pathlib import Path

    from loadkit.errors import ConfigError

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2, default=str))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; choose another --json path") from None
