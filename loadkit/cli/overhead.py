"""`loadkit overhead`: the gateway's added TTFT/e2e over direct calls, paired, with a confidence interval.

Settings are the `run` ones: ``--host`` (older spelling ``--gateway``),
``--models``, ``--timeout-s``, ``--transport``, LOADKIT_API_KEY or
``--api-key-file`` (older spelling ``--api-key-env NAME``). The direct
endpoint's key comes from ``--direct-api-key-env`` (default: the gateway key).
The same preflight as `run` checks the gateway and each direct endpoint first:
exit 2 when one fails; exit 1 when every pair failed.
"""

from __future__ import annotations

import argparse

from loadkit.cli.options import (EXIT_FAILED, LOAD_RUN_ONLY, add_settings, die, key_from_env_var, settings_from_args,
                                 write_json)
from loadkit.errors import LoadkitError
from loadkit.report.study_tables import print_overhead
from loadkit.settings import redact, secrets_of

__all__ = ["register", "cmd_overhead"]


def register(subparsers) -> None:
    ov = subparsers.add_parser("overhead", help="gateway overhead over direct calls, paired, with a CI",
                               description="Send the same requests alternately to the gateway and the direct "
                                           "endpoint(s); report the added TTFT/e2e per model.")
    ov.add_argument("--direct", required=True, help="direct base URL, or one per model (comma-separated, "
                                                    "in --models order)")
    ov.add_argument("--pairs", type=int, default=50, help="measured pairs per model [50]")
    ov.add_argument("--api-key-env", default=None, help="older spelling: env var holding the gateway key [LOADKIT_API_KEY]")
    ov.add_argument("--direct-api-key-env", help="env var with the direct endpoint's key (default: the gateway key)")
    ov.add_argument("--model-map", help="gateway-name=direct-name,... for the direct endpoint")
    ov.add_argument("--claim-ms", type=float, default=50.0, help="the overhead claim to check [50]")
    ov.add_argument("--seed", type=int, default=0)
    ov.add_argument("--json", default="overhead.json", help="write the report here [overhead.json]")
    add_settings(ov, skip=LOAD_RUN_ONLY + ("stream", "max_tokens"), aliases={"host": ["--gateway"]})
    ov.set_defaults(func=cmd_overhead)


def cmd_overhead(args: argparse.Namespace) -> int:
    from loadkit.client.preflight import run_preflight
    from loadkit.studies.overhead import OverheadSettings, measure_overhead, parse_model_map, resolve_direct_urls

    try:
        settings = key_from_env_var(settings_from_args(args), args.api_key_env)
        direct_key = key_from_env_var(settings, args.direct_api_key_env).api_key
    except LoadkitError as exc:
        return die(str(exc), command="overhead")
    if not settings.host:
        return die("needs --host (the gateway base URL, e.g. https://gw.example/v1)", command="overhead")
    secrets = secrets_of(settings) + ([direct_key] if direct_key else [])
    try:
        model_map = parse_model_map(args.model_map)
        urls = resolve_direct_urls(args.direct, settings.models)
        if settings.preflight:
            run_preflight(settings)
            for model, url in urls.items():
                run_preflight(settings.with_(api_key=direct_key, models=[model_map.get(model, model)],
                                             model_fallback={}), url)
        study = OverheadSettings(n_pairs=args.pairs, claim_ms=args.claim_ms, seed=args.seed,
                                 transport=settings.transport, timeout_s=settings.timeout_s)
        report = measure_overhead(settings.host, urls, settings.models, study, gateway_api_key=settings.api_key,
                                  direct_api_key=direct_key, model_map=model_map)
        print_overhead(report)
        write_json(args.json, report.to_dict())
    except LoadkitError as exc:
        return die(redact(str(exc), secrets), command="overhead")
    if report.models and all(m.ttft is None for m in report.models.values()):
        return die("every pair failed: no overhead measurement (see the JSON report)", EXIT_FAILED, command="overhead")
    return 0
