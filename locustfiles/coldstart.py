"""Cold-start probe for the Locust web UI: one user per model, each running the idle-gap probe.

    LOADKIT_MODELS=claude-4-haiku,gpt-4o-mini LOADKIT_COLDSTART_GAPS=0,30s,2m,5m,15m \\
    locust -f locustfiles/coldstart.py --host https://gateway.example/v1 --users 2 --spawn-rate 2

Start as many users as models (user i probes model i). When a model's probe
ends, its requests go through loadkit's normal accounting (Locust stats,
summary, sink) marked cold by the probe's verdict (TTFT above the cold cut),
not by the run's ``idle_s`` rule — finding that idle time is the probe's job,
and until it ends the verdict is unknown, so the UI fills in per model at the
end. Then the report is printed and results/<run_id>/coldstart.json is
rewritten with every model finished so far. The same probe without Locust: ``loadkit coldstart``.

Settings: LOADKIT_COLDSTART_GAPS (default 0,30s,2m,5m,15m),
LOADKIT_COLDSTART_REPEATS (3), LOADKIT_COLDSTART_FOLLOWUPS (2), plus the
usual LOADKIT_HOST / LOADKIT_API_KEY / LOADKIT_MODELS / LOADKIT_TRANSPORT.
"""

import itertools
import json
import logging
import os

import gevent
from locust import User, task
from locust.exception import StopUser

from loadkit.studies.coldstart import ColdStartReport, ColdStartSettings, parse_gaps, probe_cold_start
from loadkit.cli.coldstart import print_coldstart
from loadkit.locust import get_runtime
from loadkit.transport import TransportOptions, make_transport

log = logging.getLogger("loadkit")
_next_user = itertools.count()
_finished: dict[str, dict] = {}


def _settings() -> ColdStartSettings:
    return ColdStartSettings(
        gaps_s=parse_gaps(os.environ.get("LOADKIT_COLDSTART_GAPS", "0,30s,2m,5m,15m")),
        repeats=int(os.environ.get("LOADKIT_COLDSTART_REPEATS", "3")),
        followups=int(os.environ.get("LOADKIT_COLDSTART_FOLLOWUPS", "2")),
    )


class ColdStartProbeUser(User):
    """Runs the whole probe for one model, then stops."""

    host = ""

    def on_start(self) -> None:
        rt = get_runtime()
        models = rt.settings.models
        self.model = models[next(_next_user) % len(models)]
        s = rt.settings
        options = TransportOptions(s.host or self.environment.host or self.host, timeout_s=s.timeout_s,
                                   connect_timeout_s=s.connect_timeout_s, ca_bundle=s.ca_bundle, insecure=s.insecure)
        self.transport_factory = lambda: make_transport(s.transport, options)

    @task
    def probe(self) -> None:
        rt = get_runtime()
        report = probe_cold_start([self.model], self.transport_factory, _settings(), api_key=rt.settings.api_key,
                                  sleep=gevent.sleep)
        for sample in report.models[self.model].samples:
            rt.account(sample.record)  # record.cold is the probe's verdict
        self._publish(rt, report)
        raise StopUser()

    @staticmethod
    def _publish(rt, report: ColdStartReport) -> None:
        print_coldstart(report)
        data = report.to_dict()
        _finished.update(data["models"])
        data["models"] = dict(_finished)
        path = rt.results_dir / "coldstart.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=2, default=str))
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc.strerror)
