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

:class:`ColdTracker` is the rule the load path uses to mark records cold
(first request to a model, or first after ``idle_s`` without activity).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from loadkit.core import metrics
from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.errors import ConfigError
from loadkit.core.records import RequestRecord
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

DEFAULT_GAPS_S: tuple[float, ...] = (0.0, 30.0, 120.0, 300.0, 900.0)
_MAD_TO_SD = 1.4826


class ColdTracker:
    """Marks a request cold: the model's first, or first after ``idle_s`` without activity.

    Activity is a send (:meth:`mark_send`) and, when the caller reports it, a
    finished request (:meth:`mark_done`). Without :meth:`mark_done` this is
    exactly ``Runtime.mark_cold`` (idle measured from the last send); with it,
    idle is measured from the end of the last request, as the simulator does.
    """

    def __init__(self, idle_s: float) -> None:
        if idle_s < 0:
            raise ConfigError(f"idle_s must be >= 0, got {idle_s!r}")
        self.idle_s = idle_s
        self._last_activity: dict[str, float] = {}

    def mark_send(self, model: str, now: float) -> bool:
        """Record a send to ``model`` at ``now`` (seconds); True when that send is cold."""
        last = self._last_activity.get(model)
        self._last_activity[model] = now
        return last is None or now - last >= self.idle_s

    def mark_done(self, model: str, now: float) -> None:
        """Record that a request to ``model`` finished at ``now`` (seconds)."""
        last = self._last_activity.get(model)
        if last is None or now > last:
            self._last_activity[model] = now


def parse_duration_s(text: str) -> float:
    """Seconds in ``"0"``, ``"0.3"``, ``"300ms"``, ``"30s"``, ``"2m"``, ``"1h"``; raises ConfigError."""
    raw = text.strip().lower()
    units = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    scale = 1.0
    for suffix, factor in units:
        if raw.endswith(suffix):
            raw, scale = raw[: -len(suffix)], factor
            break
    try:
        value = float(raw) * scale
    except ValueError:
        raise ConfigError(f"invalid duration {text!r}: use seconds or a unit, like 0.3, 30s, 2m, 500ms") from None
    if value < 0 or math.isnan(value) or math.isinf(value):
        raise ConfigError(f"invalid duration {text!r}: must be a finite number >= 0")
    return value


def parse_gaps(text: str) -> tuple[float, ...]:
    """Idle gaps from a comma-separated list (``"0,30s,2m,5m,15m"``), sorted, in seconds."""
    gaps = tuple(sorted({parse_duration_s(part) for part in text.split(",") if part.strip()}))
    if not gaps:
        raise ConfigError(f"invalid --gaps {text!r}: give a comma-separated list like 0,30s,2m,5m,15m")
    return gaps


@dataclass(frozen=True)
class ColdStartSettings:
    """What the probe does and how it judges; validated on creation."""

    gaps_s: tuple[float, ...] = DEFAULT_GAPS_S
    repeats: int = 3
    followups: int = 2  # warm requests sent right after each probe (the warm baseline)
    mad_factor: float = 3.0
    min_penalty_ms: float = 20.0
    touch_connection: bool = True
    connection_pairs: int = 5
    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.gaps_s or any(g < 0 for g in self.gaps_s):
            raise ConfigError(f"gaps_s must be a non-empty list of seconds >= 0, got {self.gaps_s!r}")
        object.__setattr__(self, "gaps_s", tuple(sorted(set(self.gaps_s))))
        if self.repeats < 1:
            raise ConfigError(f"repeats must be >= 1, got {self.repeats!r}")
        if self.followups < 0 or self.connection_pairs < 0:
            raise ConfigError("followups and connection_pairs must be >= 0")
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"confidence must be in [0.5, 1), got {self.confidence!r}")
        if self.resamples < 100:
            raise ConfigError(f"resamples must be >= 100, got {self.resamples!r}")


@dataclass
class Estimate:
    """A point estimate in ms with its bootstrap confidence interval."""

    value_ms: float
    ci_low_ms: float
    ci_high_ms: float
    confidence: float
    n: int

    def contains(self, value_ms: float) -> bool:
        return self.ci_low_ms <= value_ms <= self.ci_high_ms


def bootstrap_median_difference(
    a_ms: Sequence[float],
    b_ms: Sequence[float] | None = None,
    *,
    paired: bool = False,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Median difference ``a - b`` in ms with a percentile bootstrap CI (seeded numpy).

    ``paired``: ``a`` and ``b`` are pairs; the statistic is the median of the
    per-pair differences and pairs are resampled together. Unpaired: the
    statistic is ``median(a) - median(b)``, each sample resampled on its own.
    ``b`` omitted: the median of ``a`` itself.
    """
    a = np.asarray(a_ms, dtype=float)
    if b_ms is None:
        b = np.zeros_like(a)
        paired = True
    else:
        b = np.asarray(b_ms, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap needs at least one value on each side")
    rng = np.random.default_rng(seed)
    tail = (1.0 - confidence) / 2.0 * 100.0
    if paired:
        if a.size != b.size:
            raise ValueError(f"paired samples differ in length: {a.size} != {b.size}")
        diff = a - b
        value = float(np.median(diff))
        idx = rng.integers(0, diff.size, size=(resamples, diff.size))
        stats = np.median(diff[idx], axis=1)
        n = int(diff.size)
    else:
        value = float(np.median(a) - np.median(b))
        ia = rng.integers(0, a.size, size=(resamples, a.size))
        ib = rng.integers(0, b.size, size=(resamples, b.size))
        stats = np.median(a[ia], axis=1) - np.median(b[ib], axis=1)
        n = int(min(a.size, b.size))
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return Estimate(value, float(low), float(high), confidence, n)


@dataclass
class ProbeSample:
    """One request of the probe. ``kind``: first | probe | followup."""

    model: str
    kind: str
    gap_s: float
    idle_s: float | None  # measured idle of the model before the send (None: first request)
    ttft_ms: float | None
    e2e_ms: float
    outcome: str
    repeat: int
    record: RequestRecord = field(repr=False)


@dataclass
class GapResult:
    gap_s: float
    n: int
    failures: int
    idle_s_min: float | None
    ttft_median_ms: float | None
    e2e_median_ms: float | None
    ttft_ms: list[float]
    e2e_ms: list[float]
    cold: bool
    cold_share: float  # share of this gap's probes with TTFT above the cold cut


@dataclass
class ModelColdStart:
    model: str
    first_ttft_ms: float | None
    warm_ttft_median_ms: float | None
    warm_e2e_median_ms: float | None
    warm_ttft_spread_ms: float  # 1.4826 * MAD
    cold_cut_ms: float | None
    cold_after_s: float | None  # first cold gap; None when no gap was cold
    warm_up_to_s: float | None  # largest gap below it that stayed warm
    penalty_basis: str
    ttft_penalty: Estimate | None
    e2e_penalty: Estimate | None
    gaps: list[GapResult]
    warnings: list[str]
    samples: list[ProbeSample] = field(repr=False, default_factory=list)


@dataclass
class ConnectionCost:
    """TTFB on a new connection minus TTFB on the reused one, paired, ms."""

    model: str
    new_ttfb_ms: list[float]
    reused_ttfb_ms: list[float]
    ttfb_cost: Estimate | None
    failures: int


@dataclass
class ColdStartReport:
    settings: ColdStartSettings
    models: dict[str, ModelColdStart]
    connection: ConnectionCost | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report (records left out; samples kept as numbers)."""
        models = {}
        for name, result in self.models.items():
            data = asdict(result)
            data["samples"] = [
                {k: v for k, v in asdict(s).items() if k != "record"} | {"cold_marked": s.record.cold}
                for s in result.samples
            ]
            models[name] = data
        settings = asdict(self.settings)
        settings["gaps_s"] = list(self.settings.gaps_s)
        return {"settings": settings, "models": models,
                "connection": asdict(self.connection) if self.connection else None}


def default_probe_request(model: str) -> ChatRequest:
    """A short streaming request: the probe wants TTFT, not long answers."""
    return ChatRequest(model, [{"role": "user", "content": "Reply with one short sentence."}], max_tokens=16)


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def analyse_model(model: str, samples: Sequence[ProbeSample], settings: ColdStartSettings) -> ModelColdStart:
    """Judge warm baseline, cold threshold and penalty from a model's probe samples."""
    ok = [s for s in samples if s.outcome == "ok" and s.ttft_ms is not None]
    first = next((s.ttft_ms for s in samples if s.kind == "first"), None)
    warm = [s for s in ok if s.kind == "followup" or (s.kind == "probe" and s.gap_s == 0.0)]
    warnings: list[str] = []
    warm_ttft = [s.ttft_ms for s in warm]
    warm_median = _median(warm_ttft)
    spread = float(_MAD_TO_SD * np.median(np.abs(np.asarray(warm_ttft) - warm_median))) if warm_ttft else 0.0
    cut = None if warm_median is None else warm_median + max(settings.mad_factor * spread, settings.min_penalty_ms)
    gaps: list[GapResult] = []
    for gap in settings.gaps_s:
        probes = [s for s in samples if s.kind == "probe" and s.gap_s == gap]
        good = [s for s in probes if s.outcome == "ok" and s.ttft_ms is not None]
        ttft = [s.ttft_ms for s in good]
        e2e = [s.e2e_ms for s in good]
        median = _median(ttft)
        cold = cut is not None and median is not None and median > cut
        share = sum(t > cut for t in ttft) / len(ttft) if ttft and cut is not None else 0.0
        idles = [s.idle_s for s in probes if s.idle_s is not None]
        gaps.append(GapResult(gap, len(probes), len(probes) - len(good), min(idles) if idles else None,
                              median, _median(e2e), ttft, e2e, cold, share))
    if warm_median is None:
        warnings.append("no successful warm request: cannot judge cold starts")
    cold_gaps = [g for g in gaps if g.cold]
    threshold = cold_gaps[0].gap_s if cold_gaps else None
    warm_up_to = None
    if threshold is not None:
        below = [g.gap_s for g in gaps if g.gap_s < threshold]
        warm_up_to = below[-1] if below else None
        later_warm = [g.gap_s for g in gaps if g.gap_s > threshold and not g.cold]
        if later_warm:
            warnings.append(f"gaps {later_warm} were warm although {threshold:g} s was cold: "
                            "the threshold is not monotone (noise, or a keep-warm policy); add repeats")
    if threshold is not None:
        cold_set = [s for s in ok if s.kind == "probe" and s.gap_s >= threshold]
        basis = f"probes after idle >= {threshold:g} s vs warm requests"
    else:
        largest = settings.gaps_s[-1]
        cold_set = [s for s in ok if s.kind == "probe" and s.gap_s == largest]
        basis = f"no gap was cold: largest gap {largest:g} s vs warm requests"
    ttft_penalty = e2e_penalty = None
    if cold_set and warm:
        kw = dict(resamples=settings.resamples, confidence=settings.confidence, seed=settings.seed)
        ttft_penalty = bootstrap_median_difference([s.ttft_ms for s in cold_set], warm_ttft, **kw)
        e2e_penalty = bootstrap_median_difference([s.e2e_ms for s in cold_set], [s.e2e_ms for s in warm], **kw)
    return ModelColdStart(
        model=model,
        first_ttft_ms=first,
        warm_ttft_median_ms=warm_median,
        warm_e2e_median_ms=_median([s.e2e_ms for s in warm]),
        warm_ttft_spread_ms=spread,
        cold_cut_ms=cut,
        cold_after_s=threshold,
        warm_up_to_s=warm_up_to,
        penalty_basis=basis,
        ttft_penalty=ttft_penalty,
        e2e_penalty=e2e_penalty,
        gaps=gaps,
        warnings=warnings,
        samples=list(samples),
    )


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
            req = request_factory(probe.model)
            rec = probe.client.chat(req)
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
            first = client.chat(request_factory(model))
            second = client.chat(request_factory(model))
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
