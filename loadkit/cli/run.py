"""`loadkit run`: a headless Locust run (the embedded simulator when no --host).

Everything that can be refused is refused before the load (settings, SLOs,
workload, preflight, sink): exit 2 with one line. Ctrl-C and SIGTERM (what
``timeout``, CI cancellation and Kubernetes send) stop the run the way the end
of --run-time does: loadkit asks Locust to stop (the LOADKIT_STOP_FILE marker),
in-flight requests get --stop-timeout to finish, summary/JUnit/report are
written marked ``interrupted: true``, the embedded simulator is stopped, and
the exit code is 130 (SIGINT) or 143 (SIGTERM). A second signal, or Locust
still running after the grace period, forwards SIGTERM then SIGKILL to
Locust's process group.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadkit.cli.options import add_settings, die, settings_from_args
from loadkit.errors import LoadkitError
from loadkit.settings import FIELDS, env_name, redact, secrets_of

__all__ = ["register", "cmd_run", "EXIT_BY_SIGNAL"]

# Shell convention: 128 + signal number.
EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
# After the stop request, Locust gets --stop-timeout plus this to write its results before it is killed.
STOP_GRACE_S = 30.0


def register(sub) -> None:
    run = sub.add_parser("run", help="headless load run (embedded simulator when no --host)",
                         description="Run a headless Locust load and write results/<run_id>/summary.json. "
                                     "The API key comes from LOADKIT_API_KEY or --api-key-file.")
    run.add_argument("-f", "--locustfile", default=None, help="locustfile (default: loadkit's mixed chat workload)")
    run.add_argument("--processes", type=int, default=None, help="Locust --processes (one worker per core)")
    run.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: extra arguments for Locust")
    add_settings(run)
    run.set_defaults(func=cmd_run)


def _fetch_json(url: str) -> Any:
    import httpx

    return httpx.get(url, timeout=5).json()


class _StopRequest:
    """SIGINT/SIGTERM while Locust runs: first one asks Locust to stop gracefully, a second one forwards it."""

    def __init__(self, stop_file: Path) -> None:
        self.stop_file = stop_file
        self.signum: int | None = None
        self.proc: subprocess.Popen | None = None
        self.forwarded = False

    def __call__(self, signum: int, _frame) -> None:
        if self.signum is None:
            self.signum = signum
            # Locust's own SIGTERM/SIGINT handling quits before its users stop (no drain, no summary of
            # them); this file makes it stop like the end of --run-time (loadkit.locust.stopfile).
            self.stop_file.write_text(json.dumps({"signal": signal.Signals(signum).name}))
            print(f"loadkit: {signal.Signals(signum).name}: stopping the run (in-flight requests may finish; "
                  "signal again to stop at once)", file=sys.stderr, flush=True)
        else:
            self.forward(signal.SIGTERM)

    def forward(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.forwarded = True
            try:
                os.killpg(self.proc.pid, signum)
            except ProcessLookupError:
                pass


def _wait_locust(proc: subprocess.Popen, stop: _StopRequest, stop_timeout_s: float) -> int:
    while True:
        try:
            return proc.wait(0.2)
        except subprocess.TimeoutExpired:
            pass
        if stop.signum is not None:
            break
    deadline = time.monotonic() + stop_timeout_s + STOP_GRACE_S
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.poll() is None:
        stop.forward(signal.SIGTERM)
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            stop.forward(signal.SIGKILL)
    return proc.wait()


def cmd_run(args: argparse.Namespace) -> int:
    from loadkit.client.preflight import run_preflight
    from loadkit.core.slo_inputs import collect_slos
    from loadkit.locust.runtime import new_run_id
    from loadkit.simulator.embedded import EmbeddedSimulatorError, start_embedded_simulator
    from loadkit.workload import Workload

    try:
        settings = settings_from_args(args)
        collect_slos(settings)
        Workload.from_settings(settings)  # a missing prompts file or a bad [workload] table: refuse before load
    except LoadkitError as exc:
        return die(str(exc))
    secrets = secrets_of(settings)
    run_id = settings.run_id or new_run_id()
    settings = settings.with_(run_id=run_id)
    out_dir = Path(settings.results_dir) / run_id
    if out_dir.exists() and any(out_dir.iterdir()):
        return die(f"results folder {out_dir} already exists; choose another --run-id")
    locustfile = args.locustfile or str(Path(__file__).parent.parent / "locustfiles" / "chat.py")
    if not Path(locustfile).is_file():
        return die(f"locustfile {locustfile} not found; give -f path/to/locustfile.py")
    tmp = Path(tempfile.mkdtemp(prefix="loadkit-"))
    sim = None
    stop = _StopRequest(tmp / "stop.json")
    old_handlers = {s: signal.signal(s, stop) for s in EXIT_BY_SIGNAL}
    try:
        host = settings.host
        if not host:
            try:
                sim = start_embedded_simulator(settings.sim_args, tmp, settings.sim_profile)
            except EmbeddedSimulatorError as exc:
                return die(str(exc))
            host = sim.base_url
            print(f"loadkit: no --host given: using the embedded gateway simulator at {host}", flush=True)
            settings = settings.with_(host=host, sim_hints=True)
        preflight: dict[str, Any] = {"requests_by_model": {}, "models_offered": [], "model_map": {}}
        if settings.preflight:
            try:
                preflight = run_preflight(settings).to_dict()
            except LoadkitError as exc:
                return die(redact(str(exc), secrets))
        if settings.influx_url:
            try:
                from loadkit.sinks import check_influx

                check_influx(settings)
            except LoadkitError as exc:
                if not settings.influx_optional:
                    return die(redact(str(exc), secrets))
                print(f"loadkit: WARNING: InfluxDB unusable ({redact(str(exc), secrets)}); "
                      "--influx-optional: points go to the results folder instead", file=sys.stderr, flush=True)
                settings = settings.with_(influx_url="")
        if stop.signum is not None:  # stopped before any load: nothing to report
            return EXIT_BY_SIGNAL[stop.signum]
        preflight_file = tmp / "preflight.json"
        preflight_file.write_text(json.dumps(preflight))
        env = dict(os.environ)
        # a LOADKIT_* variable of this environment that a flag set back to its default must not win in Locust
        env.update(settings.to_env(also=[f.name for f in FIELDS if env_name(f.name) in env]))
        env["LOADKIT_RUN_ID"] = run_id
        env["LOADKIT_PREFLIGHT_FILE"] = str(preflight_file)
        env["LOADKIT_STOP_FILE"] = str(stop.stop_file)
        stop_timeout_s = settings.stop_timeout_s()
        cmd = [sys.executable, "-m", "locust", "-f", locustfile, "--headless", "--only-summary",
               "-u", str(settings.users), "-r", str(settings.spawn_rate), "-t", f"{max(1, round(settings.run_time))}s",
               "--host", host, "--stop-timeout", str(math.ceil(stop_timeout_s))]  # Locust takes whole seconds
        if args.processes:
            cmd += ["--processes", str(args.processes)]
        cmd += args.locust_args
        # Its own process group: a terminal's Ctrl-C reaches loadkit only, which then stops Locust gracefully.
        stop.proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        code = _wait_locust(stop.proc, stop, stop_timeout_s)
        if sim is not None:
            try:
                stats = _fetch_json(sim.root_url + "/_sim/stats")
                if out_dir.is_dir():  # only a run that started has a results folder
                    (out_dir / "simulator_stats.json").write_text(json.dumps(stats, indent=2))
            except Exception:  # the run's result does not depend on this file
                pass
        if stop.signum is not None:
            return EXIT_BY_SIGNAL[stop.signum]
        return code
    finally:
        if sim is not None:
            sim.stop()
        for s, handler in old_handlers.items():
            signal.signal(s, handler)
