"""`loadkit coldstart`: idle each model for growing gaps and find when it goes cold.

Settings are the `run` ones (``--host``, ``--models``, ``--timeout-s``,
``--transport``, LOADKIT_API_KEY or ``--api-key-file``, TOML ``--config``) plus
``--coldstart-gaps`` / ``--coldstart-repeats`` / ``--coldstart-followups``
(= LOADKIT_COLDSTART_GAPS/REPEATS/FOLLOWUPS, which locustfiles/coldstart.py
reads too). ``--gaps``, ``--repeats``, ``--followups`` and ``--api-key-env``
are the older spellings, kept so existing scripts keep working. The same
preflight as `run` goes first: exit 2 when it fails; exit 1 when every probe
failed (no measurement is not a "warm" verdict).
"""

from __future__ import annotations

import argparse
import sys

from loadkit.cli.options import (EXIT_FAILED, LOAD_RUN_ONLY, add_settings, die, key_from_env_var,
                                 settings_from_args, write_json)
from loadkit.errors import LoadkitError
from loadkit.report.study_tables import new_console, print_coldstart, print_overhead
from loadkit.settings import redact, secrets_of

__all__ = ["register", "main", "cmd_coldstart", "print_coldstart", "print_overhead"]


def register(subparsers) -> None:
    cs = subparsers.add_parser("coldstart", help="probe cold starts after growing idle gaps",
                               description="Idle each model for growing gaps, send one request after each, and "
                                           "report the idle time after which it goes cold and the penalty.")
    cs.add_argument("--connection-pairs", type=int, default=5, help="new-vs-reused connection pairs [5]")
    cs.add_argument("--api-key-env", default=None, help="older spelling: env var holding the key [LOADKIT_API_KEY]")
    cs.add_argument("--seed", type=int, default=0)
    cs.add_argument("--json", default="coldstart.json", help="write the report here [coldstart.json]")
    add_settings(cs, skip=LOAD_RUN_ONLY + ("stream", "max_tokens"), groups=("coldstart",),
                 aliases={"coldstart_gaps": ["--gaps"], "coldstart_repeats": ["--repeats"],
                          "coldstart_followups": ["--followups"]})
    cs.set_defaults(func=cmd_coldstart)


def cmd_coldstart(args: argparse.Namespace) -> int:
    from loadkit.client.preflight import run_preflight
    from loadkit.studies.coldstart import ColdStartSettings, probe_cold_start
    from loadkit.transport import TransportOptions, make_transport

    try:
        settings = key_from_env_var(settings_from_args(args), args.api_key_env)
    except LoadkitError as exc:
        return die(str(exc), command="coldstart")
    if not settings.host:
        return die("needs --host (the gateway base URL, e.g. https://gw.example/v1)", command="coldstart")
    secrets = secrets_of(settings)
    try:
        study = ColdStartSettings(gaps_s=settings.coldstart_gaps, repeats=settings.coldstart_repeats,
                                  followups=settings.coldstart_followups, connection_pairs=args.connection_pairs,
                                  seed=args.seed)
        preflight = run_preflight(settings) if settings.preflight else None
        models = [preflight.model_map.get(m, m) for m in settings.models] if preflight else list(settings.models)
        options = TransportOptions(settings.host, timeout_s=settings.timeout_s,
                                   connect_timeout_s=settings.connect_timeout_s, ca_bundle=settings.ca_bundle,
                                   insecure=settings.insecure)
        out = new_console()
        total = len(models) * (1 + study.repeats * len(study.gaps_s) * (1 + study.followups))
        out.print(f"probing {', '.join(models)}: {total} requests, at least {study.repeats * sum(study.gaps_s):g} s "
                  "of idle per model (models are probed interleaved)")
        report = probe_cold_start(models, lambda: make_transport(settings.transport, options), study,
                                  api_key=settings.api_key)
        print_coldstart(report, out)
        write_json(args.json, report.to_dict())
    except LoadkitError as exc:
        return die(redact(str(exc), secrets), command="coldstart")
    gaps = [g for m in report.models.values() for g in m.gaps]
    if gaps and all(g.failures == g.n for g in gaps):
        return die("every probe failed: no cold-start measurement (see the failures above and the JSON report)",
                   EXIT_FAILED, command="coldstart")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry, kept for ``python -m loadkit.cli.coldstart overhead|coldstart ...``."""
    from loadkit.cli import overhead

    parser = argparse.ArgumentParser(prog="loadkit")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    overhead.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)

if __name__ == "__main__":
    sys.exit(main())
