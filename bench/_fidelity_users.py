"""loadkit's ChatUser for bench/fidelity.py: the clock that stamps chunks, and a CPU burner in the generator.

- ``BENCH_CLOCK=loop``: each user's ChatClient gets its own clock function (not ``time.perf_counter``
  itself), so chunks are stamped when the greenlet reads them: the loop clock, the baseline. Default
  ``kernel``: the gevent transport's kernel receive times.
- ``BENCH_BURN_DUTY`` (0..1) and ``BENCH_BURN_SLICE_MS``: one greenlet that holds the event loop for
  a slice, then sleeps so that it burns that share of one core: the generator's own work on the loop
  (sink formatting, snapshots, ...) arriving in medium stalls, which is what bends a loop clock.
"""

from __future__ import annotations

import os
import time

import gevent
from locust import events

from loadkit.client.chat import ChatClient
from loadkit.locust import get_runtime
from loadkit.transport import TransportOptions, make_transport

import _overhead_loadkit  # a module import: its BenchChatUser is not a second user class here

CLOCK = os.environ.get("BENCH_CLOCK", "kernel")
BURN_DUTY = float(os.environ.get("BENCH_BURN_DUTY", "0"))
BURN_SLICE_S = float(os.environ.get("BENCH_BURN_SLICE_MS", "2")) / 1000.0


def _loop_clock() -> float:
    return time.perf_counter()


def _burn() -> None:
    rest_s = BURN_SLICE_S * (1.0 - BURN_DUTY) / BURN_DUTY
    clock = time.perf_counter
    while True:
        start = clock()
        while clock() - start < BURN_SLICE_S:
            pass
        gevent.sleep(rest_s)


@events.init.add_listener
def _start_burner(environment, **_kw) -> None:
    if BURN_DUTY > 0:
        gevent.spawn(_burn)


class FidelityUser(_overhead_loadkit.BenchChatUser):
    def on_start(self) -> None:
        super().on_start()
        if CLOCK == "loop":
            rt = get_runtime()
            s = rt.settings
            self.chat_client.close()
            options = TransportOptions(s.host or self.environment.host, timeout_s=s.timeout_s,
                                       connect_timeout_s=s.connect_timeout_s)
            self.chat_client = ChatClient(make_transport(s.transport, options), api_key=s.api_key, worker=rt.worker,
                                          secrets=tuple(rt.secrets), clock=_loop_clock)
