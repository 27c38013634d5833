"""Rate-limit ramp: per model, raise the open-loop rate step by step until 429s begin.

    LOADKIT_MODELS=claude-4-haiku,gpt-4o-mini LOADKIT_RAMP_MAX_RPS=50 \\
    locust -f locustfiles/ratelimit.py --host https://gateway.example/v1 --users 2 --spawn-rate 2 --headless

Start as many users as models (user i ramps model i). Each runs
:func:`loadkit.studies.ramp.find_rate_limit` (drain the burst, ramp up, confirm,
refine down — see that module) over plain loadkit chat clients, every request
accounted as usual (429s show in Locust's failures under the model's name),
then prints per model the rate at which 429s began and the sustained
throughput under the limit, writes results/<run_id>/ratelimit.json, and stops
(a local run quits once every model is done; give ``-t`` room for the ramp).

Settings (environment): LOADKIT_RAMP_START_RPS (1), LOADKIT_RAMP_MAX_RPS (50),
LOADKIT_RAMP_STEP (10s; give ~30 requests a step at the limit),
LOADKIT_RAMP_FACTOR (1.5), LOADKIT_RAMP_IN_FLIGHT (64), plus the usual
LOADKIT_HOST / LOADKIT_API_KEY / LOADKIT_MODELS / LOADKIT_TRANSPORT.
"""

import itertools
import json
import logging
import os
import random

import gevent
from locust import User, task
from locust.exception import StopUser
from locust.runners import LocalRunner
from rich.console import Console

from loadkit.client.chat import ChatClient
from loadkit.settings import parse_duration_s
from loadkit.locust import get_runtime
from loadkit.studies.ramp import ChatStepRunner, find_rate_limit
from loadkit.transport import TransportOptions, make_transport

log = logging.getLogger("loadkit")
_next_user = itertools.count()
_finished: dict[str, dict] = {}
_console = Console(stderr=True)


class RateLimitRampUser(User):
    """Ramps one model, reports, then stops."""

    host = ""

    def on_start(self) -> None:
        rt = get_runtime()
        s = rt.settings
        self.model = s.models[next(_next_user) % len(s.models)]
        options = TransportOptions(s.host or self.environment.host or self.host, timeout_s=s.timeout_s,
                                   connect_timeout_s=s.connect_timeout_s, ca_bundle=s.ca_bundle, insecure=s.insecure)
        worker = rt.worker
        self.make_client = lambda: ChatClient(make_transport(s.transport, options), api_key=s.api_key, worker=worker)
        self.rng = random.Random()

    def _request(self):
        req = get_runtime().workload.next_request(self.rng)
        req.model = get_runtime().model_map.get(self.model, self.model)
        return req

    @task
    def ramp(self) -> None:
        rt = get_runtime()
        env = os.environ
        with ChatStepRunner(self.make_client, self._request, on_record=rt.account,
                            max_in_flight=int(env.get("LOADKIT_RAMP_IN_FLIGHT", "64"))) as runner:
            result = find_rate_limit(
                runner.run_step,
                start_rate_per_s=float(env.get("LOADKIT_RAMP_START_RPS", "1")),
                max_rate_per_s=float(env.get("LOADKIT_RAMP_MAX_RPS", "50")),
                step_duration_s=parse_duration_s(env.get("LOADKIT_RAMP_STEP", "10s")),
                step_factor=float(env.get("LOADKIT_RAMP_FACTOR", "1.5")),
                sleep=gevent.sleep,
            )
        self._publish(rt, self.model, result.to_dict())
        runner = self.environment.runner
        if isinstance(runner, LocalRunner) and len(_finished) >= len(rt.settings.models):
            gevent.spawn(runner.quit)  # every model ramped: the run is over (not from inside this greenlet)
        raise StopUser()

    @staticmethod
    def _publish(rt, model: str, data: dict) -> None:
        if data["onset_per_min"] is None:
            _console.print(f"[bold]{model}[/]: no 429s up to LOADKIT_RAMP_MAX_RPS; raise it to find the limit")
        else:
            _console.print(f"[bold]{model}[/]: 429s begin at {data['onset_per_min']:.1f} requests/min; sustained "
                           f"{data['sustained_ok_per_min']:.1f} successful requests/min under the limit")
        _finished[model] = data
        path = rt.results_dir / "ratelimit.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"models": _finished}, indent=2))
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc.strerror)
