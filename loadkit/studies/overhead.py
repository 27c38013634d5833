"""Gateway overhead: the same requests sent to the gateway and directly, paired.

For each model, :func:`measure_overhead` sends ``n_pairs`` pairs of identical
requests: one through the gateway, one to the direct (provider) endpoint. The
two halves of a pair go back to back, in a random order drawn per pair from a
seeded generator, so slow drift of either side (load, model warmth, the
machine) falls on both halves alike and cancels in the difference. Each side
keeps one warm connection (a warm-up pair is sent first and not counted), so
neither side pays connection setup inside the measurement.

Per model it reports the median of the per-pair differences (gateway minus
direct) of TTFT and e2e with a paired bootstrap CI, the difference of the
p95s, and whether the "< 50 ms" claim holds: ``holds`` when the CI's upper
bound is below the limit, ``fails`` when its lower bound is above, else
``inconclusive`` (more pairs would decide).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from loadkit.core import metrics
from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.bootstrap import Estimate, bootstrap_median_difference
from loadkit.studies.coldanalysis import default_probe_request
from loadkit.studies.driver import send_at
from loadkit.errors import ConfigError
from loadkit.core.records import RequestRecord
from loadkit.transport import Transport, TransportOptions, make_transport

__all__ = ["OverheadSettings", "MetricOverhead", "ModelOverhead", "OverheadReport", "measure_overhead",
           "resolve_direct_urls", "parse_model_map", "DEFAULT_CLAIM_MS"]

DEFAULT_CLAIM_MS = 50.0


@dataclass(frozen=True)
class OverheadSettings:
    n_pairs: int = 50
    warmup_pairs: int = 1
    claim_ms: float = DEFAULT_CLAIM_MS
    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0
    transport: str = "httpx"
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.n_pairs < 2:
            raise ConfigError(f"n_pairs must be >= 2, got {self.n_pairs!r}")
        if self.warmup_pairs < 0:
            raise ConfigError(f"warmup_pairs must be >= 0, got {self.warmup_pairs!r}")
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"confidence must be in [0.5, 1), got {self.confidence!r}")


@dataclass
class MetricOverhead:
    """Gateway minus direct for one metric, ms."""

    median_diff: Estimate
    p95_diff_ms: float
    gateway_median_ms: float
    direct_median_ms: float
    verdict: str  # holds | fails | inconclusive (against the claim)


@dataclass
class ModelOverhead:
    model: str
    direct_model: str
    direct_url: str
    pairs: int
    failed_pairs: int
    ttft: MetricOverhead | None
    e2e: MetricOverhead | None
    claim_ms: float
    claim_holds: bool  # CI upper bound of the TTFT and e2e median differences < claim_ms
    gateway_first: int  # pairs whose gateway half went first (randomised order)
    records: list[tuple[RequestRecord, RequestRecord]] = field(repr=False, default_factory=list)


@dataclass
class OverheadReport:
    gateway_url: str
    settings: OverheadSettings
    models: dict[str, ModelOverhead]

    @property
    def claim_holds(self) -> bool:
        return all(m.claim_holds for m in self.models.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report (no records, no keys)."""
        models = {}
        for name, result in self.models.items():
            data = asdict(result)
            data.pop("records")
            data["ttft_ms_pairs"] = [[metrics.ttft_ms(g), metrics.ttft_ms(d)] for g, d in result.records]
            data["e2e_ms_pairs"] = [[metrics.e2e_ms(g), metrics.e2e_ms(d)] for g, d in result.records]
            models[name] = data
        return {"gateway_url": self.gateway_url, "settings": asdict(self.settings), "models": models,
                "claim_holds": self.claim_holds}


def parse_model_map(text: str | None) -> dict[str, str]:
    """``"gw=direct,gw2=direct2"`` -> dict; raises ConfigError."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, sep, target = part.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ConfigError(f"invalid --model-map entry {part!r}: expected gateway-name=direct-name")
        out[name.strip()] = target.strip()
    return out


def resolve_direct_urls(direct: Mapping[str, str] | Sequence[str] | str, models: Sequence[str]) -> dict[str, str]:
    """Direct base URL per model: a mapping as given; one URL for all models; or one URL per model, in order."""
    if isinstance(direct, str):
        direct = [u for u in (p.strip() for p in direct.split(",")) if u]
    if isinstance(direct, Mapping):
        missing = [m for m in models if m not in direct]
        if missing:
            raise ConfigError(f"no direct URL for model(s) {', '.join(missing)}: add them to the direct URL map")
        urls = {m: direct[m] for m in models}
    else:
        direct = list(direct)
        if len(direct) == 1:
            urls = {m: direct[0] for m in models}
        elif len(direct) == len(models):
            urls = dict(zip(models, direct))
        else:
            raise ConfigError(f"{len(direct)} direct URLs for {len(models)} models: give one URL, "
                              "or one per model in the order of --models")
    for model, url in urls.items():
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"direct URL for {model} is {url!r}: expected a base URL like https://api.example/v1")
    return urls


def _verdict(estimate: Estimate, claim_ms: float) -> str:
    if estimate.ci_high_ms < claim_ms:
        return "holds"
    if estimate.ci_low_ms > claim_ms:
        return "fails"
    return "inconclusive"


def _metric_overhead(gateway_ms: list[float], direct_ms: list[float], settings: OverheadSettings) -> MetricOverhead:
    est = bootstrap_median_difference(gateway_ms, direct_ms, paired=True, resamples=settings.resamples,
                                      confidence=settings.confidence, seed=settings.seed)
    p95 = float(np.percentile(gateway_ms, 95) - np.percentile(direct_ms, 95))
    return MetricOverhead(est, p95, float(np.median(gateway_ms)), float(np.median(direct_ms)),
                          _verdict(est, settings.claim_ms))


def measure_overhead(
    gateway_url: str,
    direct_urls: Mapping[str, str] | Sequence[str] | str,
    models: Sequence[str],
    settings: OverheadSettings | None = None,
    *,
    gateway_api_key: str = "",
    direct_api_key: str | None = None,
    model_map: Mapping[str, str] | None = None,
    request_factory: Callable[[str], ChatRequest] = default_probe_request,
    transport_factory: Callable[[str], Transport] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str, int], None] | None = None,
) -> OverheadReport:
    """Paired, interleaved gateway-vs-direct measurement per model; returns the report (ms).

    ``direct_api_key`` None: the gateway key is sent to the direct endpoint
    too. ``model_map`` renames a gateway model for the direct endpoint.
    ``transport_factory(base_url)`` overrides how connections are made.
    """
    settings = settings or OverheadSettings()
    if not models:
        raise ConfigError("no models to measure: pass at least one model name")
    urls = resolve_direct_urls(direct_urls, models)
    model_map = dict(model_map or {})
    direct_key = gateway_api_key if direct_api_key is None else direct_api_key
    if transport_factory is None:
        def transport_factory(base_url: str) -> Transport:
            return make_transport(settings.transport, TransportOptions(base_url, timeout_s=settings.timeout_s))
    rng = random.Random(settings.seed)
    gateway = ChatClient(transport_factory(gateway_url), api_key=gateway_api_key, target="gateway", clock=clock)
    directs: dict[str, ChatClient] = {}
    results: dict[str, ModelOverhead] = {}
    try:
        for url in dict.fromkeys(urls.values()):
            directs[url] = ChatClient(transport_factory(url), api_key=direct_key, target="direct", clock=clock)
        for model in models:
            direct_model = model_map.get(model, model)
            direct = directs[urls[model]]
            pairs: list[tuple[RequestRecord, RequestRecord]] = []
            failed = 0
            gateway_first = 0
            for index in range(settings.warmup_pairs + settings.n_pairs):
                order_gateway_first = rng.random() < 0.5
                if order_gateway_first:
                    g = send_at(gateway, request_factory(model), clock=clock)
                    d = send_at(direct, request_factory(direct_model), clock=clock)
                else:
                    d = send_at(direct, request_factory(direct_model), clock=clock)
                    g = send_at(gateway, request_factory(model), clock=clock)
                if index < settings.warmup_pairs:
                    continue
                if g.outcome != "ok" or d.outcome != "ok" or g.first_token_at is None or d.first_token_at is None:
                    failed += 1
                    continue
                gateway_first += order_gateway_first
                pairs.append((g, d))
                if progress is not None:
                    progress(model, len(pairs))
            results[model] = _model_result(model, direct_model, urls[model], pairs, failed, gateway_first, settings)
    finally:
        gateway.close()
        for client in directs.values():
            client.close()
    return OverheadReport(gateway_url, settings, results)


def _model_result(model, direct_model, url, pairs, failed, gateway_first, settings) -> ModelOverhead:
    ttft = e2e = None
    if len(pairs) >= 2:
        ttft = _metric_overhead([metrics.ttft_ms(g) for g, _ in pairs], [metrics.ttft_ms(d) for _, d in pairs], settings)
        e2e = _metric_overhead([metrics.e2e_ms(g) for g, _ in pairs], [metrics.e2e_ms(d) for _, d in pairs], settings)
    holds = ttft is not None and e2e is not None and ttft.verdict == "holds" and e2e.verdict == "holds"
    return ModelOverhead(model, direct_model, url, len(pairs), failed, ttft, e2e, settings.claim_ms, holds,
                         gateway_first, pairs)
