"""`loadkit capacity`: find each model's highest sustainable load under the SLO; register(subparsers) adds it.

    loadkit capacity --host https://gw/v1 --models claude-4-haiku,gpt-4o-mini --slo slo.toml \\
        --start 1 --max 200 --step 10 [--step-s 10 --warmup-s 2 --search bisect|linear \\
        --calls-per-day 10000 --peak-ratio 3 --out results/<run_id>/]

Without ``--host`` the embedded gateway simulator serves the load (``--sim-args``
shapes it, e.g. ``"--max-concurrency 40 --profile fixed --fixed ttft_ms=100"``).
The API key comes from ``LOADKIT_API_KEY`` (or ``--api-key-file``), never a flag;
every setting has its `run` name (flag = LOADKIT_* = TOML key, ``--config``), and
the same preflight as `run` goes first (exit 2 when it fails).
Writes ``capacity.json`` and ``capacity.html`` in ``--out``. Exit codes: 0 the
search ran (whatever it found: capacity is a measurement, not a gate), 2 it
could not run (bad input, unreachable gateway).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from loadkit.cli.options import LOAD_RUN_ONLY, add_settings, settings_from_args
from loadkit.errors import ConfigError, LoadkitError

__all__ = ["register", "main", "cmd_capacity", "verdict_line"]

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_RUN, EXIT_UNTRUSTED = 0, 1, 2, 3
# What capacity uses of the load-run settings (the others are not offered).
_USED = ("slo", "slo_check", "workload", "sim_args", "sim_profile", "calls_per_day", "results_dir", "run_id")


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``capacity`` to the ``loadkit`` sub-commands; returns its parser."""
    p = subparsers.add_parser(
        "capacity", help="stepped load: max sustainable rate per model under the SLO, and a plan",
        description="Open-loop rate steps (or concurrency steps) per model; writes capacity.json and capacity.html. "
                    "The API key comes from LOADKIT_API_KEY or --api-key-file.")
    a = p.add_argument
    a("--mode", choices=("rate", "concurrency"), default="rate", help="rate steps (req/s) or concurrency steps (users)")
    a("--start", type=float, default=1.0, help="first step's level")
    a("--max", dest="stop", type=float, default=200.0, help="highest level tried")
    a("--step", type=float, default=10.0, help="sweep increment")
    a("--step-s", type=float, default=10.0, help="measured length of a step, seconds")
    a("--warmup-s", type=float, default=2.0, help="start of each step excluded from the measure, seconds")
    a("--search", choices=("bisect", "linear"), default="bisect")
    a("--resolution", type=float, default=None, help="bisection stops when the bracket is this narrow (default step/8)")
    a("--max-429-share", type=float, default=0.01, help="a step with more 429s than this fraction fails")
    a("--max-error-share", type=float, default=0.01, help="a step with more errors than this fraction fails")
    a("--calibration", default=None,
      help="calibration.json from `loadkit calibrate` for workers needed (default: <results-dir>/calibration.json)")
    a("--untrusted-steps", choices=("fail", "mark"), default="fail",
      help="a step whose schedule lag p99 passes run's trust limit fails (default), or is only marked untrusted")
    a("--max-in-flight", type=int, default=256, help="generator threads; a step reaching this many in flight stops")
    a("--peak-ratio", type=float, default=3.0, help="projection: peak-to-average ratio")
    a("--worker-margin", type=float, default=0.5, help="projection: spare capacity per load worker (0.5 = 50 %%)")
    a("--out", default=None, help="output folder (default results/<run_id>/)")
    a("--seed", type=int, default=0)
    # transport: the step driver runs OS threads, so always httpx (geventhttpclient needs one gevent hub).
    add_settings(p, skip=tuple(n for n in LOAD_RUN_ONLY if n not in _USED) + ("transport",))
    p.set_defaults(func=cmd_capacity)
    return p


def _check_numbers(args: argparse.Namespace) -> None:
    if not 0 < args.start <= args.stop or args.step <= 0:
        raise ConfigError(f"need 0 < --start <= --max and --step > 0 (got {args.start:g}, {args.stop:g}, {args.step:g})")
    if args.step_s <= 0 or args.warmup_s < 0:
        raise ConfigError(f"need --step-s > 0 and --warmup-s >= 0 (got {args.step_s:g}, {args.warmup_s:g})")
    if args.peak_ratio < 1:
        raise ConfigError(f"need --peak-ratio >= 1 (got {args.peak_ratio:g})")
    if args.mode == "concurrency" and args.stop > args.max_in_flight:
        raise ConfigError(f"--max {args.stop:g} users is above --max-in-flight {args.max_in_flight}; raise it")


def cmd_capacity(args: argparse.Namespace) -> int:
    """Run the capacity search; returns the exit code."""
    from loadkit.studies.capacity import CapacitySettings, StepDriver, run_capacity, write_capacity
    from loadkit.client.chat import ChatClient
    from loadkit.core.slo_inputs import collect_slos
    from loadkit.settings import redact, secrets_of
    from loadkit.simulator.embedded import EmbeddedSimulatorError, start_embedded_simulator
    from loadkit.client.preflight import run_preflight
    from loadkit.workload import Workload
    from loadkit.transport import TransportOptions, make_transport
    # the trust rule of `loadkit run`; moves to loadkit.core.trust when NAME=summary lands it (#13)
    from loadkit.core.trust import MAX_SCHEDULE_LAG_P99_MS

    try:
        _check_numbers(args)
        settings = settings_from_args(args)
        slos = collect_slos(settings)
        workload = Workload.from_toml(settings, settings.workload) if settings.workload else Workload(settings)
    except LoadkitError as exc:
        print(f"loadkit capacity: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    # not loadkit.locust's new_run_id: importing loadkit.locust monkey-patches with gevent
    run_id = settings.run_id or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-capacity")
    out_dir = Path(args.out) if args.out else Path(settings.results_dir) / run_id
    secrets = secrets_of(settings)
    sim = None
    try:
        host = settings.host
        if not host:
            tmp = Path(tempfile.mkdtemp(prefix="loadkit-capacity-"))
            try:
                sim = start_embedded_simulator(settings.sim_args, tmp, settings.sim_profile)
            except EmbeddedSimulatorError as exc:
                raise LoadkitError(str(exc)) from None
            host = sim.base_url
            print(f"loadkit capacity: no --host: using the embedded gateway simulator at {host}", flush=True)
        preflight = run_preflight(settings, host)
        options = TransportOptions(host, timeout_s=settings.timeout_s, connect_timeout_s=settings.connect_timeout_s,
                                   ca_bundle=settings.ca_bundle, insecure=settings.insecure)
        rng = random.Random(args.seed)

        def make_request(model: str):
            req = workload.next_request(rng)
            req.model = preflight.model_map.get(model, model)
            return req

        capacity = CapacitySettings(
            models=tuple(settings.models), kind=args.mode, start=args.start, stop=args.stop, step=args.step,
            step_s=args.step_s, warmup_s=args.warmup_s, search=args.search, resolution=args.resolution,
            max_429_share=args.max_429_share, max_error_share=args.max_error_share,
            calls_per_day=settings.calls_per_day, peak_ratio=args.peak_ratio, worker_margin=args.worker_margin,
            max_schedule_lag_p99_ms=MAX_SCHEDULE_LAG_P99_MS, untrusted_steps=args.untrusted_steps,
            calibrated_users_per_process=calibrated_users(args.calibration, Path(settings.results_dir)))
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

        def progress(model: str, row: dict) -> None:
            p95 = row["e2e_ms"]["p95"]
            print(f"  {model} step {row['index']}: {row['level']:g} -> {row['achieved_rps']:.2f} req/s, "
                  f"e2e p95 {'-' if p95 is None else f'{p95:.0f}'} ms, 429 {100 * (row['share_429'] or 0):.1f} %, "
                  f"{'pass' if row['passed'] else 'FAIL ' + ', '.join(f['metric'] for f in row['failed'])}",
                  flush=True)

        with StepDriver(lambda: ChatClient(make_transport("httpx", options), api_key=settings.api_key),
                        make_request, max_in_flight=args.max_in_flight) as driver:
            doc = run_capacity(driver, slos, capacity, on_step=progress)
        doc = {"run_id": run_id, "started_at": started_at, "host": host if sim is None else "embedded simulator",
               **doc, "gateway_preflight": preflight.to_dict()}
        json_path, html_path = write_capacity(doc, out_dir)
    except LoadkitError as exc:
        print(f"loadkit capacity: {redact(str(exc), secrets)}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        if sim is not None:
            sim.stop()
    code = EXIT_OK
    for model, out in doc["models"].items():
        print(f"{model}: {verdict_line(out, doc['settings']['kind'])}, {out['search']['steps_taken']} steps "
              f"(linear at the same resolution: {out['search']['linear_equivalent_steps']})")
        if out["verdict"] == "no_passing_step":
            code = max(code, EXIT_FAILED)
        elif out["verdict"] == "generator_limited":
            code = max(code, EXIT_UNTRUSTED)
    print(f"wrote {json_path} and {html_path}")
    return code


def calibrated_users(path: str | None, results_dir: Path) -> int | None:
    """``max_users_per_process`` of a calibration.json (given, or in the results folder); None without one."""
    file = Path(path) if path else results_dir / "calibration.json"
    if not file.is_file():
        if path:
            raise ConfigError(f"--calibration {path}: no such file; run `loadkit calibrate --out {path}` first")
        return None
    try:
        value = json.loads(file.read_text())["max_users_per_process"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{file} is not a calibration.json from `loadkit calibrate`; run it again") from None
    return int(value) if value else None


def verdict_line(out: dict, kind: str) -> str:
    """What a person reads for one model: the limit, or why there is none."""
    unit = "req/s" if kind == "rate" else "users"
    best, breaking = out["max_sustainable"], out["breaking_step"]
    why = "" if breaking is None else "; ".join(
        f"{f['metric']} = {'-' if f['value'] is None else format(f['value'], '.3g')}"
        + ("" if f["limit"] is None else f" (limit {f['limit']:g})") for f in breaking["failed"])
    if out["verdict"] == "limit_not_reached":
        return (f"limit not reached (>= {best['level']:g} {unit}, {best['rps']:.2f} req/s): no step up to "
                f"{out['highest_level_tried']:g} {unit} failed; raise --max to find the limit")
    if out["verdict"] == "no_passing_step":
        hint = {"rate_limit": "the gateway's rate limit is below it: lower --start (or raise --max-429-share)",
                "errors": "lower --start, or check the gateway's errors (or raise --max-error-share)",
                "generator": "this generator fell behind its schedule: add workers (see loadkit calibrate)",
                }.get(out["binding_constraint"], "lower --start, or relax the SLO")
        return f"no step passed: the first, at {breaking['level']:g} {unit}, failed on {why}; {hint}"
    if out["verdict"] == "generator_limited":
        floor = "no passing step" if best is None else f">= {best['level']:g} {unit}"
        return (f"generator-limited ({floor}): at {breaking['level']:g} {unit} this generator fell behind its "
                f"schedule ({why}); the step is not trusted; add workers (see loadkit calibrate)")
    return (f"max sustainable {best['level']:g} {unit} ({best['rps']:.2f} req/s), binding constraint "
            f"{out['binding_constraint']} at {breaking['level']:g} {unit}: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadkit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["capacity", *(argv or [])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
