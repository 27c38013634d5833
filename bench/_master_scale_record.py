"""Locustfile for bench/master_scale.py: a normal local chat run that, when it ends, writes the
stats message a Locust worker would send its master (Locust's own stats plus loadkit's snapshot),
built by the same report_to_master listeners a worker has. The replayers send it to a real master."""

from __future__ import annotations

import os

from locust import events
from locust.rpc import Message
from locust.stats import setup_distributed_stats_event_listeners

from loadkit.locustfiles.chat import *  # noqa: F401,F403  (the packaged users)

_OUT = os.environ["MASTER_SCALE_RECORD"]


@events.init.add_listener
def _listen_like_a_worker(environment, **_kw):
    setup_distributed_stats_event_listeners(environment.events, environment.stats)


@events.test_stop.add_listener
def _record(environment, **_kw):
    data: dict = {"user_count": environment.runner.user_count,
                  "user_classes_count": dict(environment.runner.user_classes_count)}
    environment.events.report_to_master.fire(client_id="recorder", data=data)
    with open(_OUT, "wb") as fh:
        fh.write(Message("stats", data, "recorder").serialize())
