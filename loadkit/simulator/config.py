"""Command-line flags of the simulator and the validated `SimulatorConfig`.

Flags are validated here, at the edge; a bad flag raises `SimulatorConfigError`
whose one-line message names the flag, the value and the fix.  The rest of
the simulator trusts the config.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, field

from loadkit.simulator.profiles import CATEGORIES, DEFAULT_MODELS, FixedTiming, default_cold_start_ms

# smoke: the reference latencies without injected errors, so a short smoke run can pass.
PROFILES = ("reference", "zero", "fixed", "smoke")
MIDSTREAM_SHAPES = ("event-then-done", "event-only", "cut")
RETRY_AFTER_FORMATS = ("seconds", "http-date", "ms-header", "none")
USAGE_SHAPES = ("empty-choices", "empty-delta")
REFERENCE_ERROR_RATE = 0.003


class SimulatorConfigError(ValueError):
    """A flag had an invalid value; the message is one line for stderr."""


@dataclass
class SimulatorConfig:
    """Effective settings of one simulator process (never holds the key in repr)."""

    host: str = "127.0.0.1"
    port: int = 8000
    port_file: str | None = None
    api_key: str | None = field(default=None, repr=False)
    auth_error_status: int = 401
    unknown_model_status: int = 404
    models: tuple[str, ...] = DEFAULT_MODELS
    profile: str = "reference"
    fixed_all: FixedTiming = FixedTiming()
    fixed_by_model: dict[str, FixedTiming] = field(default_factory=dict)
    seed: int | None = None
    error_rate: float = 0.0
    midstream_error_rate: float = 0.0
    midstream_error_shape: str = "event-then-done"
    error_every: int = 0
    midstream_error_every: int = 0
    rpm_all: float | None = None
    rpm_by_model: dict[str, float] = field(default_factory=dict)
    tpm_all: float | None = None
    tpm_by_model: dict[str, float] = field(default_factory=dict)
    rate_limit_every: int = 0
    retry_after_format: str = "seconds"
    retry_after_s: float | None = None
    idle_s: float = 300.0
    cold_start_all_ms: float | None = None
    cold_start_by_model: dict[str, float] = field(default_factory=dict)
    max_concurrency_all: int | None = None
    max_concurrency_by_model: dict[str, int] = field(default_factory=dict)
    queue_timeout_s: float | None = None
    upstream: str | None = None
    overhead_ms: float = 0.0
    overhead_jitter_ms: float = 0.0
    upstream_api_key_env: str | None = None
    model_map: dict[str, str] = field(default_factory=dict)
    task_success: dict[str, float] = field(default_factory=dict)
    usage_shape: str = "empty-choices"
    send_log: str | None = None

    def fixed_for(self, model: str) -> FixedTiming:
        """Return the fixed timing of a model (per-model entry, else the global one)."""
        return self.fixed_by_model.get(model, self.fixed_all)

    def cold_start_ms_for(self, model: str) -> float:
        """Return the cold-start penalty in ms of a model; 0 means disabled."""
        if model in self.cold_start_by_model:
            return self.cold_start_by_model[model]
        if self.cold_start_all_ms is not None:
            return self.cold_start_all_ms
        if self.profile == "zero":
            return 0.0
        return default_cold_start_ms(model)

    def rpm_for(self, model: str) -> float | None:
        """Return the requests-per-minute limit of a model, None when unlimited."""
        return self.rpm_by_model.get(model, self.rpm_all)

    def tpm_for(self, model: str) -> float | None:
        """Return the tokens-per-minute limit of a model, None when unlimited."""
        return self.tpm_by_model.get(model, self.tpm_all)

    def max_concurrency_for(self, model: str) -> int | None:
        """Return how many requests of a model may be in service at once."""
        return self.max_concurrency_by_model.get(model, self.max_concurrency_all)

    def public_dict(self) -> dict:
        """Return the effective config as JSON-able data, without the API key."""
        data = asdict(self)
        data.pop("api_key", None)
        data["api_key_required"] = self.api_key is not None
        data["models"] = list(self.models)
        return data


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's contract)
        raise SimulatorConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m loadkit.simulator``."""
    p = _Parser(prog="loadkit-simulator", description="OpenAI-compatible gateway simulator")
    a = p.add_argument
    a("--host", default="127.0.0.1")
    a("--port", type=int, default=8000, help="0 picks a free port")
    a("--port-file", help="write the bound port number to this file")
    a("--api-key", help="required bearer key (or env LOADKIT_SIM_API_KEY)")
    a("--auth-error-status", type=int, choices=(401, 403, 400), default=401)
    a("--unknown-model-status", type=int, choices=(404, 400), default=404)
    a("--models", help="comma-separated model ids offered")
    a("--profile", choices=PROFILES, default="reference")
    a("--fixed", action="append", default=[], help="[model:]ttft_ms=100,itl_ms=20,tokens=10")
    a("--seed", type=int)
    a("--error-rate", type=float, help="share of chat requests answered 500/502/503")
    a("--midstream-error-rate", type=float, default=0.0)
    a("--midstream-error-shape", choices=MIDSTREAM_SHAPES, default="event-then-done")
    a("--error-every", type=int, default=0, help="every Nth chat request gets a 500")
    a("--midstream-error-every", type=int, default=0)
    a("--rpm", action="append", default=[], help="N or model=N requests per minute")
    a("--tpm", action="append", default=[], help="N or model=N tokens per minute")
    a("--rate-limit-every", type=int, default=0, help="every Nth request per model gets a 429")
    a("--retry-after-format", choices=RETRY_AFTER_FORMATS, default="seconds")
    a("--retry-after-s", type=float, help="force this Retry-After value")
    a("--idle-s", type=float, default=300.0)
    a("--cold-start-ms", action="append", default=[], help="ms or model=ms (0 disables)")
    a("--max-concurrency", action="append", default=[], help="N or model=N")
    a("--queue-timeout-s", type=float)
    a("--upstream", help="forward chat requests to this base URL (gateway mode)")
    a("--overhead-ms", type=float, default=0.0)
    a("--overhead-jitter-ms", type=float, default=0.0)
    a("--upstream-api-key-env", help="env var holding the upstream key")
    a("--model-map", action="append", default=[], help="gateway-name=upstream-name")
    a("--task-success", action="append", default=[], help="[model:]category=p")
    a("--usage-shape", choices=USAGE_SHAPES, default="empty-choices")
    a("--send-log", help="append one line per stream: when the request was read and its first token written "
                         "(monotonic s; bench/fidelity.py measures a generator's own error against it)")
    return p


def _fail(flag: str, value: str, fix: str) -> SimulatorConfigError:
    return SimulatorConfigError(f"{flag}: invalid value {value!r}: {fix}")


def _number(flag: str, text: str, *, integer: bool = False, minimum: float = 0.0) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise _fail(flag, text, f"expected {kind} >= {minimum:g}") from None
    if value < minimum or value != value:
        raise _fail(flag, text, f"expected a value >= {minimum:g}")
    return value


def _per_model(flag: str, items: list[str], *, integer: bool = False, minimum: float = 0.0):
    """Parse repeatable ``N`` / ``model=N`` flags into (global, per-model dict)."""
    everything = None
    by_model: dict[str, float] = {}
    for item in items:
        for part in filter(None, (s.strip() for s in item.split(","))):
            if "=" in part:
                model, _, text = part.partition("=")
                if not model.strip():
                    raise _fail(flag, part, "expected N or model=N")
                by_model[model.strip()] = _number(flag, text.strip(), integer=integer, minimum=minimum)
            else:
                everything = _number(flag, part, integer=integer, minimum=minimum)
    return everything, by_model


def _parse_fixed(items: list[str]) -> tuple[FixedTiming, dict[str, FixedTiming]]:
    fix = "expected '[model:]ttft_ms=100,itl_ms=20,tokens=10'"
    everything = FixedTiming()
    by_model: dict[str, FixedTiming] = {}
    for item in items:
        model, spec = None, item
        head = item.split("=", 1)[0]
        if ":" in head:
            model, spec = item.split(":", 1)
        values: dict[str, float] = {}
        for part in filter(None, (s.strip() for s in spec.split(","))):
            key, sep, text = part.partition("=")
            if not sep or key not in ("ttft_ms", "itl_ms", "tokens"):
                raise _fail("--fixed", item, fix)
            values[key] = _number("--fixed", text, integer=key == "tokens", minimum=1 if key == "tokens" else 0)
        base = everything if model is None else by_model.get(model, everything)
        timing = FixedTiming(
            ttft_ms=values.get("ttft_ms", base.ttft_ms),
            itl_ms=values.get("itl_ms", base.itl_ms),
            tokens=int(values["tokens"]) if "tokens" in values else base.tokens,
        )
        if model is None:
            everything = timing
        else:
            by_model[model] = timing
    return everything, by_model


def _parse_task_success(items: list[str]) -> dict[str, float]:
    """Return {"model:category" or "*:category": p}."""
    out: dict[str, float] = {}
    fix = f"expected '[model:]category=p' with category in {','.join(CATEGORIES)} and 0<=p<=1"
    for item in items:
        key, sep, text = item.partition("=")
        model, _, category = key.rpartition(":")
        if not sep or category not in CATEGORIES:
            raise _fail("--task-success", item, fix)
        p = _number("--task-success", text)
        if p > 1.0:
            p = p / 100.0 if p <= 100.0 else 2.0
        if p > 1.0:
            raise _fail("--task-success", item, fix)
        out[f"{model or '*'}:{category}"] = p
    return out


def parse_args(argv: list[str] | None, environ: dict[str, str] | None = None) -> SimulatorConfig:
    """Parse and validate flags; raise `SimulatorConfigError` with a one-line message."""
    environ = os.environ if environ is None else environ
    ns = build_parser().parse_args(argv)
    if not 0 <= ns.port <= 65535:
        raise _fail("--port", str(ns.port), "expected 0..65535 (0 picks a free port)")
    for flag, path in (("--port-file", ns.port_file), ("--send-log", ns.send_log)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise _fail(flag, path, "its directory does not exist; create it first")
    models = DEFAULT_MODELS
    if ns.models is not None:
        models = tuple(m.strip() for m in ns.models.split(",") if m.strip())
        if not models:
            raise _fail("--models", ns.models, "expected a comma-separated list of model ids")
    for flag, value in (("--error-rate", ns.error_rate), ("--midstream-error-rate", ns.midstream_error_rate)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise _fail(flag, str(value), "expected a probability between 0 and 1")
    for flag, value in (
        ("--error-every", ns.error_every),
        ("--midstream-error-every", ns.midstream_error_every),
        ("--rate-limit-every", ns.rate_limit_every),
    ):
        if value < 0:
            raise _fail(flag, str(value), "expected 0 (off) or a positive integer N")
    for flag, value in (
        ("--idle-s", ns.idle_s),
        ("--overhead-ms", ns.overhead_ms),
        ("--overhead-jitter-ms", ns.overhead_jitter_ms),
        ("--retry-after-s", ns.retry_after_s),
        ("--queue-timeout-s", ns.queue_timeout_s),
    ):
        if value is not None and (value < 0 or value != value):
            raise _fail(flag, str(value), "expected a number >= 0")
    if ns.upstream is not None and not ns.upstream.startswith(("http://", "https://")):
        raise _fail("--upstream", ns.upstream, "expected a base URL like http://127.0.0.1:8001")
    if ns.upstream_api_key_env and ns.upstream_api_key_env not in environ:
        raise _fail("--upstream-api-key-env", ns.upstream_api_key_env, "set that environment variable first")
    model_map: dict[str, str] = {}
    for item in ns.model_map:
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise _fail("--model-map", item, "expected gateway-name=upstream-name")
        model_map[name.strip()] = target.strip()
    fixed_all, fixed_by_model = _parse_fixed(ns.fixed)
    rpm_all, rpm_by_model = _per_model("--rpm", ns.rpm, minimum=1e-9)
    tpm_all, tpm_by_model = _per_model("--tpm", ns.tpm, minimum=1e-9)
    cold_all, cold_by_model = _per_model("--cold-start-ms", ns.cold_start_ms)
    conc_all, conc_by_model = _per_model("--max-concurrency", ns.max_concurrency, integer=True, minimum=1)
    error_rate = ns.error_rate
    if error_rate is None:
        error_rate = REFERENCE_ERROR_RATE if ns.profile == "reference" and not ns.upstream else 0.0
    profile = "reference" if ns.profile == "smoke" else ns.profile
    api_key = ns.api_key if ns.api_key is not None else environ.get("LOADKIT_SIM_API_KEY") or None
    return SimulatorConfig(
        host=ns.host,
        port=ns.port,
        port_file=ns.port_file,
        api_key=api_key,
        auth_error_status=ns.auth_error_status,
        unknown_model_status=ns.unknown_model_status,
        models=models,
        profile=profile,
        fixed_all=fixed_all,
        fixed_by_model=fixed_by_model,
        seed=ns.seed,
        error_rate=error_rate,
        midstream_error_rate=ns.midstream_error_rate,
        midstream_error_shape=ns.midstream_error_shape,
        error_every=ns.error_every,
        midstream_error_every=ns.midstream_error_every,
        rpm_all=rpm_all,
        rpm_by_model=rpm_by_model,
        tpm_all=tpm_all,
        tpm_by_model=tpm_by_model,
        rate_limit_every=ns.rate_limit_every,
        retry_after_format=ns.retry_after_format,
        retry_after_s=ns.retry_after_s,
        idle_s=ns.idle_s,
        cold_start_all_ms=cold_all,
        cold_start_by_model=cold_by_model,
        max_concurrency_all=int(conc_all) if conc_all is not None else None,
        max_concurrency_by_model={k: int(v) for k, v in conc_by_model.items()},
        queue_timeout_s=ns.queue_timeout_s,
        upstream=ns.upstream.rstrip("/") if ns.upstream else None,
        overhead_ms=ns.overhead_ms,
        overhead_jitter_ms=ns.overhead_jitter_ms,
        upstream_api_key_env=ns.upstream_api_key_env,
        model_map=model_map,
        task_success=_parse_task_success(ns.task_success),
        usage_shape=ns.usage_shape,
        send_log=ns.send_log,
    )
