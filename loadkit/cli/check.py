"""`loadkit check`: validate settings and SLOs without load; ``--gateway`` also runs the preflight."""

from __future__ import annotations

import argparse

from loadkit.cli.options import add_settings, die, settings_from_args
from loadkit.errors import LoadkitError
from loadkit.settings import redact, secrets_of

__all__ = ["register", "cmd_check"]


def register(sub) -> None:
    check = sub.add_parser("check", help="validate settings and SLO file; --gateway also runs the preflight")
    check.add_argument("--gateway", action="store_true", help="also check the gateway (key, host, models)")
    add_settings(check)
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from loadkit.core.slo_inputs import collect_slos

    try:
        settings = settings_from_args(args)
        if settings.slo or settings.slo_check:
            print(f"{len(collect_slos(settings))} SLO check(s) OK")
    except LoadkitError as exc:
        return die(str(exc))
    if args.gateway:
        from loadkit.client.preflight import run_preflight

        if not settings.host:
            return die("check --gateway needs --host")
        try:
            result = run_preflight(settings)
        except LoadkitError as exc:
            return die(redact(str(exc), secrets_of(settings)))
        print(f"gateway OK: offers {len(result.models_offered)} models; {', '.join(settings.models)} answer")
    print("settings OK")
    return 0
