"""`loadkit run|simulate|report|compare|check` — the command line.

Every setting has one name across flag, environment variable and config file
(``--influx-url`` / ``LOADKIT_INFLUX_URL`` / ``influx_url``); see
:mod:`loadkit.settings`. Exit codes: 0 SLOs met, 1 an SLO failed (or the error
rate passed --max-error-rate), 2 the run could not be done (bad input,
preflight failed), 3 the run was not trustworthy.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadkit.settings import FIELDS, env_name, flag_name, load_settings, redact, secrets_of
from loadkit.errors import LoadkitError

__all__ = ["main"]

EXIT_CANNOT_RUN = 2

# Modules that add subcommands with register(subparsers).
_COMMAND_MODULES = (
    "loadkit.cli.report",
    "loadkit.cli.coldstart",
    "loadkit.cli.capacity",
    "loadkit.cli.calibrate",
)


def _add_settings(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    group = parser.add_argument_group("settings (also LOADKIT_<NAME> environment variables or a TOML --config file)")
    for f in FIELDS:
        if not f.cli or f.name in skip:
            continue
        default_text = "" if f.secret else f" [{env_name(f.name)}]"
        group.add_argument(flag_name(f.name), dest=f.name, default=None, metavar=f.name.upper(),
                           help=f"{f.help}{default_text}")
    parser.add_argument("--config", default=None, help="TOML config file [LOADKIT_CONFIG]")


def _cli_values(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name, None) for f in FIELDS if f.cli}


def _die(message: str, code: int = EXIT_CANNOT_RUN) -> int:
    print(f"loadkit: {message}", file=sys.stderr, flush=True)
    return code


def _start_embedded_simulator(sim_args: str, results_tmp: Path) -> tuple[subprocess.Popen, str]:
    port_file = results_tmp / "sim.port"
    cmd = [sys.executable, "-m", "loadkit.simulator", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
    cmd += sim_args.split() if sim_args else []
    log = open(results_tmp / "simulator.log", "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    log.close()
    raise LoadkitError(f"the embedded simulator did not start: {(results_tmp / 'simulator.log').read_text()[-500:]}")


def _fetch_json(url: str) -> Any:
    import httpx

    return httpx.get(url, timeout=5).json()


def cmd_run(args: argparse.Namespace) -> int:
    from loadkit.locust.runtime import new_run_id
    from loadkit.client.preflight import run_preflight

    try:
        settings = load_settings(_cli_values(args), config_file=args.config)
    except LoadkitError as exc:
        return _die(str(exc))
    secrets = secrets_of(settings)
    run_id = settings.run_id or new_run_id()
    settings = settings.with_(run_id=run_id)
    out_dir = Path(settings.results_dir) / run_id
    if out_dir.exists() and any(out_dir.iterdir()):
        return _die(f"results folder {out_dir} already exists; choose another --run-id")
    try:
        from loadkit.locust.finish import collect_slos

        collect_slos(settings)
    except LoadkitError as exc:
        return _die(str(exc))
    try:
        from loadkit.workload import Workload

        Workload.from_settings(settings)  # a missing prompts file or a bad [workload] table: refuse before load
    except LoadkitError as exc:
        return _die(str(exc))
    locustfile = args.locustfile or str(Path(__file__).parent.parent / "locustfiles" / "chat.py")
    if not Path(locustfile).is_file():
        return _die(f"locustfile {locustfile} not found; give -f path/to/locustfile.py")
    tmp = Path(tempfile.mkdtemp(prefix="loadkit-"))
    sim = None
    try:
        host = settings.host
        if not host:
            try:
                sim, host = _start_embedded_simulator(settings.sim_args, tmp)
            except LoadkitError as exc:
                return _die(str(exc))
            print(f"loadkit: no --host given: using the embedded gateway simulator at {host}", flush=True)
            settings = settings.with_(host=host, sim_hints=True)
        preflight: dict[str, Any] = {"requests_by_model": {}, "models_offered": [], "model_map": {}}
        if settings.preflight:
            try:
                result = run_preflight(host, settings.api_key, settings.models, fallback=settings.model_fallback,
                                       timeout_s=min(settings.timeout_s, 30.0), connect_timeout_s=settings.connect_timeout_s,
                                       ca_bundle=settings.ca_bundle, insecure=settings.insecure)
            except LoadkitError as exc:
                return _die(redact(str(exc), secrets))
            preflight = result.to_dict()
        if settings.influx_url:
            try:
                from loadkit.sinks import check_influx

                check_influx(settings)
            except ImportError:
                pass
            except LoadkitError as exc:
                if not settings.influx_optional:
                    return _die(redact(str(exc), secrets))
                print(f"loadkit: WARNING: InfluxDB unusable ({redact(str(exc), secrets)}); "
                      "--influx-optional: points go to the results folder instead", file=sys.stderr, flush=True)
                settings = settings.with_(influx_url="")
        preflight_file = tmp / "preflight.json"
        preflight_file.write_text(json.dumps(preflight))
        env = dict(os.environ)
        env.update(settings.to_env())
        env["LOADKIT_RUN_ID"] = run_id
        env["LOADKIT_PREFLIGHT_FILE"] = str(preflight_file)
        stop_timeout = max(1, int(min(settings.timeout_s, 120)))
        cmd = [sys.executable, "-m", "locust", "-f", locustfile, "--headless", "--only-summary",
               "-u", str(settings.users), "-r", str(settings.spawn_rate), "-t", f"{max(1, round(settings.run_time))}s",
               "--host", host, "--stop-timeout", str(stop_timeout)]
        if args.processes:
            cmd += ["--processes", str(args.processes)]
        cmd += args.locust_args
        proc = subprocess.Popen(cmd, env=env)
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            code = proc.wait()
        if sim is not None:
            try:
                stats = _fetch_json(host.rsplit("/v1", 1)[0] + "/_sim/stats")
                (out_dir).mkdir(parents=True, exist_ok=True)
                (out_dir / "simulator_stats.json").write_text(json.dumps(stats, indent=2))
            except Exception:  # the run's result does not depend on this file
                pass
        return code
    finally:
        _stop_process(sim)


def _stop_process(proc: subprocess.Popen | None, timeout_s: float = 5.0) -> None:
    """Terminate a child (the embedded simulator) and reap it; kill it if it does not stop."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def cmd_simulate(args: argparse.Namespace) -> int:
    from loadkit.simulator import main as sim_main

    return sim_main(args.sim_args)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate settings (and an SLO file) without sending load."""
    try:
        settings = load_settings(_cli_values(args), config_file=args.config)
        if settings.slo or settings.slo_check:
            from loadkit.core.slo import load_slos, parse_slo_flag

            slos = (list(load_slos(Path(settings.slo))) if settings.slo else []) + [parse_slo_flag(t) for t in settings.slo_check]
            print(f"{len(slos)} SLO check(s) OK")
    except LoadkitError as exc:
        return _die(str(exc))
    if args.gateway:
        from loadkit.client.preflight import run_preflight

        if not settings.host:
            return _die("check --gateway needs --host")
        try:
            result = run_preflight(settings.host, settings.api_key, settings.models, fallback=settings.model_fallback,
                                   ca_bundle=settings.ca_bundle, insecure=settings.insecure)
        except LoadkitError as exc:
            return _die(redact(str(exc), secrets_of(settings)))
        print(f"gateway OK: offers {len(result.models_offered)} models; {', '.join(settings.models)} answer")
    print("settings OK")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadkit", description="Load testing for OpenAI-compatible LLM gateways.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="headless load run (embedded simulator when no --host)",
                         description="Run a headless Locust load and write results/<run_id>/summary.json. "
                                     "The API key comes from LOADKIT_API_KEY or --api-key-file.")
    run.add_argument("-f", "--locustfile", default=None, help="locustfile (default: loadkit's mixed chat workload)")
    run.add_argument("--processes", type=int, default=None, help="Locust --processes (one worker per core)")
    run.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: extra arguments for Locust")
    _add_settings(run)
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("simulate", help="run the OpenAI-compatible gateway simulator", add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)
    sim.set_defaults(func=cmd_simulate)

    check = sub.add_parser("check", help="validate settings and SLO file; --gateway also runs the preflight")
    check.add_argument("--gateway", action="store_true")
    _add_settings(check)
    check.set_defaults(func=cmd_check)

    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "locust_args", None) and args.locust_args[:1] == ["--"]:
        args.locust_args = args.locust_args[1:]
    try:
        return int(args.func(args) or 0)
    except LoadkitError as exc:
        return _die(str(exc), exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
