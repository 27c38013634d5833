"""Cold start, measured on purpose: idle-gap probes and the new-connection cost.

A model behind a gateway may be "cold" after it was idle for a while: the
first request pays extra time before its first token. :func:`probe_cold_start`
idles each model for growing gaps (no request to that model), sends one
request, and repeats; it then reports TTFT/e2e per gap, the idle time after
which the model goes cold, and the cold penalty with a bootstrap confidence
interval.

How a gap is judged cold: the warm baseline is every request sent right after
another one to the same model (the 0 s gap and the follow-ups after each
probe). A gap is cold when its median TTFT is above
``warm median + max(mad_factor * 1.4826 * MAD, min_penalty_ms)`` (1.4826 * MAD
is a robust standard deviation; the floor keeps loopback jitter of a few ms
from counting as a cold start). The threshold is the first cold gap in
ascending order; the model goes cold after an idle time in
``(previous gap, threshold gap]``.

Two things would be blamed on the model without care:

- A server closes idle keep-alive connections; the next request then pays a
  TCP (+TLS) handshake. Before each probe the probe sends ``GET /models`` on
  the model's connection ("touch the connection, not the model"), so the
  chat request rides a live connection. :func:`measure_connection_cost`
  reports the connection cost as its own number: TTFB of the first request
  on a brand-new transport minus TTFB of the next one on the same, reused
  connection.
- Clocks and sleeps are injected (``clock``, ``sleep``) so the probe runs
  under gevent (Locust) or in a plain script.

:class:`~loadkit.core.cold.ColdTracker` is the rule the load path uses to mark
records cold; the analysis (verdict per gap, penalty) is in
:mod:`loadkit.studies.coldanalysis`. Every request goes through the step
driver's :func:`~loadkit.studies.driver.send_at`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core import metrics
from loadkit.core.cold import ColdTracker
from loadkit.errors import ConfigError
from loadkit.core.bootstrap import Estimate, bootstrap_median_difference
from loadkit.studies.coldanalysis import (
    DEFAULT_GAPS_S,
    ColdStartReport,
    ColdStartSettings,
    ConnectionCost,
    GapResult,
    ModelColdStart,
    ProbeSample,
    analyse_model,
    default_probe_request,
    parse_duration_s,
    parse_gaps,
)
from loadkit.studies.driver import send_at
from loadkit.transport import Transport, TransportError

__all__ = [
    "DEFAULT_GAPS_S",
    "ColdTracker",
    "ColdStartSettings",
    "Estimate",
    "GapResult",
    "ProbeSample",
    "ModelColdStart",
    "ConnectionCost",
    "ColdStartReport",
    "bootstrap_median_difference",
    "parse_duration_s",
    "parse_gaps",
    "default_probe_request",
    "probe_cold_start",
    "measure_connection_cost",
    "analyse_model",
]

def _touch(transport: Transport, headers: dict[str, str]) -> None:
    """``GET /models`` read to its end: revives the connection without sending the model anything."""
    for _attempt in range(2):  # a pooled socket the server closed fails once, then reconnects
        try:
            resp = transport.send("GET", "/models", None, headers)
            for _chunk in resp.iter_chunks():
                pass
            resp.close()
            return
        except TransportError:
            continue


class _ModelProbe:
    """Per-model state of the probe: the planned steps and when the model was last active."""

    def __init__(self, model: str, transport: Transport, client: ChatClient, settings: ColdStartSettings) -> None:
        self.model = model
        self.transport = transport
        self.client = client
        self.steps: list[tuple[str, float, int]] = [("first", 0.0, 0)]
        for repeat in range(1, settings.repeats + 1):
            for gap in settings.gaps_s:
                self.steps.append(("probe", gap, repeat))
                self.steps.extend(("followup", 0.0, repeat) for _ in range(settings.followups))
        self.last_done_at: float | None = None
        self.samples: list[ProbeSample] = []

    def due_at(self) -> float:
        kind, gap, _ = self.steps[0]
        return -math.inf if self.last_done_at is None else self.last_done_at + gap


def probe_cold_start(
    models: Sequence[str],
    transport_factory: Callable[[], Transport],
    settings: ColdStartSettings | None = None,
    *,
    api_key: str = "",
    request_factory: Callable[[str], ChatRequest] = default_probe_request,
    idle_s_for_marking: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[ProbeSample], None] | None = None,
    measure_connection: bool = True,
) -> ColdStartReport:
    """Run the idle-gap probe on every model (interleaved: one model's idle is another's
    busy time) and, at the end, the connection cost on the first model.

    Each model gets its own transport (its own connection). ``idle_s_for_marking``:
    mark records cold with :class:`ColdTracker` at that idle time (None: with
    the probe's own verdict, TTFT above the cold cut). Returns the report;
    every time in it is ms unless named ``_s``.
    """
    settings = settings or ColdStartSettings()
    if not models:
        raise ConfigError("no models to probe: pass at least one model name")
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    probes: list[_ModelProbe] = []
    for model in dict.fromkeys(models):
        transport = transport_factory()
        probes.append(_ModelProbe(model, transport, ChatClient(transport, api_key=api_key, clock=clock), settings))
    tracker = ColdTracker(idle_s_for_marking) if idle_s_for_marking is not None else None
    try:
        while True:
            pending = [p for p in probes if p.steps]
            if not pending:
                break
            probe = min(pending, key=_ModelProbe.due_at)
            wait = probe.due_at() - clock()
            if wait > 0:
                sleep(wait)
            kind, gap, repeat = probe.steps.pop(0)
            if kind == "probe" and settings.touch_connection:
                _touch(probe.transport, headers)
            # sent now, not "due at": the probe's records keep no intended time (it is not open-loop load)
            rec = send_at(probe.client, request_factory(probe.model), clock=clock, sleep=sleep)
            idle = None if probe.last_done_at is None else rec.sent_at - probe.last_done_at
            probe.last_done_at = rec.done_at
            if tracker is not None:
                rec.cold = tracker.mark_send(probe.model, rec.sent_at)
                tracker.mark_done(probe.model, rec.done_at)
            sample = ProbeSample(probe.model, kind, gap, idle, metrics.ttft_ms(rec), metrics.e2e_ms(rec),
                                 rec.outcome, repeat, rec)
            probe.samples.append(sample)
            if progress is not None:
                progress(sample)
    finally:
        for probe in probes:
            probe.client.close()
    results = {p.model: analyse_model(p.model, p.samples, settings) for p in probes}
    if tracker is None:
        for result in results.values():
            for s in result.samples:
                s.record.cold = s.kind == "first" or (
                    result.cold_cut_ms is not None and s.ttft_ms is not None and s.ttft_ms > result.cold_cut_ms)
    connection = None
    if measure_connection and settings.connection_pairs:
        connection = measure_connection_cost(probes[0].model, transport_factory, settings, api_key=api_key,
                                             request_factory=request_factory, clock=clock)
    return ColdStartReport(settings, results, connection)


def measure_connection_cost(
    model: str,
    transport_factory: Callable[[], Transport],
    settings: ColdStartSettings | None = None,
    *,
    api_key: str = "",
    request_factory: Callable[[str], ChatRequest] = default_probe_request,
    clock: Callable[[], float] = time.perf_counter,
) -> ConnectionCost:
    """TTFB of a request on a brand-new transport vs the next one on the same connection.

    Both requests go to the same, warm model back to back, so the difference
    is the connection's cost (TCP connect, TLS handshake, whatever the path
    does for a new connection), not the model's. Returns paired ms values and
    the median difference with its bootstrap CI.
    """
    settings = settings or ColdStartSettings()
    new_ttfb: list[float] = []
    reused_ttfb: list[float] = []
    failures = 0
    for _ in range(settings.connection_pairs):
        client = ChatClient(transport_factory(), api_key=api_key, clock=clock)
        try:
            first = send_at(client, request_factory(model), clock=clock)
            second = send_at(client, request_factory(model), clock=clock)
        finally:
            client.close()
        a, b = metrics.ttfb_ms(first), metrics.ttfb_ms(second)
        if first.outcome != "ok" or second.outcome != "ok" or a is None or b is None:
            failures += 1
            continue
        new_ttfb.append(a)
        reused_ttfb.append(b)
    cost = None
    if new_ttfb:
        cost = bootstrap_median_difference(new_ttfb, reused_ttfb, paired=True, resamples=settings.resamples,
                                           confidence=settings.confidence, seed=settings.seed)
    return ConnectionCost(model, new_ttfb, reused_ttfb, cost, failures)
