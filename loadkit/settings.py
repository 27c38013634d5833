"""Validated settings: one name across CLI flag, environment variable and file.

``influx_url`` is ``--influx-url`` on the command line, ``LOADKIT_INFLUX_URL``
in the environment and ``influx_url`` in the TOML config file. Precedence:
defaults < config file < environment < command line. Settings are checked
here, at the edge; the rest of the code trusts them.

The API key is special: it is read from ``LOADKIT_API_KEY`` or from a file
(``--api-key-file`` / ``LOADKIT_API_KEY_FILE``), never from a command-line
value (it would show in ``ps``), and never printed: :func:`redact` removes it
from any text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadkit.core.values import (
    closest, read_toml_file,
    choice, fraction, non_negative_duration, non_negative_float, non_negative_int, parse_bool, parse_duration_s, parse_host, parse_list,
    parse_list_sep, parse_str_map, parse_weights, positive_duration, positive_float, positive_int,
)
from loadkit.core.redact import redact as core_redact
from loadkit.errors import ConfigError

__all__ = ["Settings", "FIELDS", "Field", "load_settings", "parse_duration_s", "redact", "env_name", "flag_name", "secrets_of",
           "check_environment", "NON_SETTING_ENV", "is_bool"]

ENV_PREFIX = "LOADKIT_"


@dataclass(frozen=True)
class Field:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    secret: bool = False
    cli: bool = True
    # "" = every command's setting; otherwise only that command's parser shows the flag
    # (the environment variable and TOML key work everywhere, so locustfiles read them too).
    group: str = ""


def is_bool(f: Field) -> bool:
    """True for on/off settings: ``--insecure`` / ``--no-insecure`` flags (``--insecure true`` still works)."""
    return f.parse is parse_bool


def _gaps_s(text: Any) -> tuple[float, ...]:
    parts = text if isinstance(text, (list, tuple)) else str(text).split(",")
    gaps = tuple(sorted({parse_duration_s(str(p).strip()) for p in parts if str(p).strip()}))
    if not gaps:
        raise ValueError(f"{text!r} has no gap; give a comma-separated list like 0,30s,2m,5m,15m")
    return gaps


FIELDS: tuple[Field, ...] = (
    Field("host", parse_host, "", "gateway base URL, e.g. https://gateway.example/v1 (empty: the embedded simulator)"),
    Field("api_key", str, "", "API key (environment LOADKIT_API_KEY only; never a flag)", secret=True, cli=False),
    Field("api_key_file", str, "", "file holding the API key (e.g. a Kubernetes Secret mount)"),
    Field("models", parse_list, ["claude-4-haiku", "gpt-4o-mini"], "comma-separated models to load"),
    Field("model_weights", parse_weights, {}, "model=weight,... traffic share per model (default: equal)"),
    Field("model_fallback", parse_str_map, {}, "model=fallback,... use fallback when a model is not offered"),
    Field("stream", parse_bool, True, "stream responses (SSE) to measure TTFT and ITL"),
    Field("max_tokens", positive_int, 256, "max_tokens of each request"),
    Field("users", positive_int, 10, "concurrent users (closed loop)"),
    Field("spawn_rate", positive_float, 10.0, "users started per second"),
    Field("run_time", positive_duration, 60.0, "how long to run, e.g. 45s, 5m"),
    Field("max_requests", non_negative_int, 0,
          "stop the run once this many requests have been started (all workers) and have ended; "
          "--run-time stays the upper bound (0: no limit)"),
    Field("think_time_s", non_negative_duration, 0.0, "pause between a user's requests, seconds"),
    Field("timeout_s", positive_duration, 60.0,
          "deadline of one whole attempt (connect, headers and body), seconds; past it: outcome timeout"),
    Field("connect_timeout_s", positive_duration, 10.0, "TCP/TLS connect timeout, seconds"),
    Field("transport", choice("fasthttp", "httpx"), "fasthttp", "HTTP client: fasthttp (geventhttpclient) or httpx"),
    Field("max_error_rate", fraction, 0.01, "fail the run (exit 1) when more requests than this fraction fail"),
    Field("results_dir", str, "results", "where results/<run_id>/ folders are written"),
    Field("run_id", str, "", "name of this run (default: time + random suffix)"),
    Field("preflight", parse_bool, True, "check key, host and models before load"),
    Field("influx_url", str, "", "InfluxDB URL (v2 with token/org/bucket, 1.x with db)"),
    Field("influx_token", str, "", "InfluxDB token (environment only)", secret=True, cli=False),
    Field("influx_org", str, "", "InfluxDB 2 organisation"),
    Field("influx_bucket", str, "", "InfluxDB 2 bucket"),
    Field("influx_db", str, "", "InfluxDB 1.x database"),
    Field("influx_optional", parse_bool, False, "continue with the file sink when InfluxDB is unreachable"),
    Field("sink_buffer", positive_int, 100_000, "points held in memory when the sink is slow or down"),
    Field("rate_limit_policy", choice("none", "backoff", "respect"), "none", "what to do on 429"),
    Field("max_retries", non_negative_int, 3, "429 retries per request"),
    Field("max_backoff_s", positive_duration, 30.0, "cap of one 429 wait, seconds"),
    Field("idle_s", positive_duration, 300.0, "a model idle this long is cold again, seconds"),
    Field("calls_per_day", non_negative_float, 10_000.0, "traffic for the monthly cost projection"),
    Field("slo", str, "", "SLO file (TOML), or an inline check when no such file exists: 'ttft_ms.p95 < 1000'"),
    Field("slo_check", lambda v: parse_list_sep(v, ";"), [],
          "an SLO check, repeatable (env: ';'-separated): 'ttft_ms.p95<1000', 'gpt-4o-mini:success_rate>=0.997'"),
    Field("ca_bundle", str, "", "CA bundle file to verify the gateway's TLS certificate"),
    Field("insecure", parse_bool, False, "do not verify TLS certificates (testing only)"),
    Field("sim_args", str, "", "extra arguments for the embedded simulator"),
    Field("sim_profile", choice("", "reference", "smoke", "zero", "fixed"), "",
          "embedded simulator profile; smoke: reference latencies without injected errors (short smoke runs)"),
    Field("sim_hints", parse_bool, False, "send expected answers in x-loadkit-expect (only for a simulator target)"),
    Field("arrival", choice("closed", "constant", "poisson"), "closed",
          "closed: users wait for replies; constant/poisson: open-loop arrivals at --rate-per-s"),
    Field("rate_per_s", non_negative_float, 0.0, "open-loop target requests/s for the whole run (all workers)"),
    Field("workload", str, "", "TOML file with a [workload] table (categories, lengths, prompts, model mix)"),
    Field("require_workers", non_negative_int, 0,
          "distributed: exit 3 unless this many workers finish with a final report (0: every worker that joined)"),
    Field("stop_timeout", non_negative_duration, 0.0,
          "on stop (end of run, Ctrl-C, SIGTERM) wait this long for in-flight requests (0: --timeout-s, at most 120 s)"),
    Field("coldstart_gaps", _gaps_s, (0.0, 30.0, 120.0, 300.0, 900.0), "coldstart: idle gaps, e.g. 0,30s,2m,5m,15m",
          group="coldstart"),
    Field("coldstart_repeats", positive_int, 3, "coldstart: probes per gap", group="coldstart"),
    Field("coldstart_followups", non_negative_int, 2, "coldstart: warm requests after each probe", group="coldstart"),
    Field("untrusted_exit_code", non_negative_int, 3,
          "exit code of a run whose generator fell behind, 0-255 (0: 'untrusted' is informational, when CI "
          "checks something else); fewer workers than --require-workers stays 3"),
)

_BY_NAME = {f.name: f for f in FIELDS}

# LOADKIT_* variables that are not settings but that loadkit itself reads (or the
# tests and scripts of this repository do); everything else is a typo and refused.
NON_SETTING_ENV: dict[str, str] = {
    "LOADKIT_CONFIG": "the TOML config file (--config)",
    "LOADKIT_PREFLIGHT_FILE": "`loadkit run` hands its preflight result to Locust",
    "LOADKIT_STOP_FILE": "`loadkit run` tells Locust that a stop came from a signal",
    "LOADKIT_SIM_API_KEY": "the simulator's required key",
    "LOADKIT_SIM_LOG_LEVEL": "the simulator's log level",
    **{f"LOADKIT_CAPACITY_{n}": "locustfiles/capacity.py"
       for n in ("MODE", "START", "MAX", "STEP", "STEP_S", "WARMUP_S", "USERS")},
    **{f"LOADKIT_RAMP_{n}": "locustfiles/ratelimit.py" for n in ("START_RPS", "MAX_RPS", "STEP", "FACTOR", "IN_FLIGHT")},
    **{f"LOADKIT_BASE_{n}": "docker/build-base.sh" for n in ("SUITE", "REBUILD", "MIRROR")},
    "LOADKIT_FUZZ_EXAMPLES": "tests/hardening/test_fuzz.py",
    "LOADKIT_TEST_SURELY_UNSET": "tests/coldstart/test_overhead.py (a variable that must not exist)",
}


def check_environment(env: Mapping[str, str]) -> None:
    """Refuse an unknown ``LOADKIT_*`` variable (a typo would silently be ignored), naming the closest real one."""
    known = {env_name(f.name) for f in FIELDS} | set(NON_SETTING_ENV)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        close = closest(name, known)
        hint = f"did you mean {close}?" if close else "see `loadkit run --help` for the settings"
        raise ConfigError(f"unknown environment variable {name}: {hint} (unset it or fix its name)")


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Settings:
    host: str = ""
    api_key: str = field(default="", repr=False)
    api_key_file: str = ""
    models: list[str] = field(default_factory=lambda: ["claude-4-haiku", "gpt-4o-mini"])
    model_weights: dict[str, float] = field(default_factory=dict)
    model_fallback: dict[str, str] = field(default_factory=dict)
    stream: bool = True
    max_tokens: int = 256
    users: int = 10
    spawn_rate: float = 10.0
    run_time: float = 60.0
    think_time_s: float = 0.0
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    transport: str = "fasthttp"
    max_error_rate: float = 0.01
    results_dir: str = "results"
    run_id: str = ""
    preflight: bool = True
    influx_url: str = ""
    influx_token: str = field(default="", repr=False)
    influx_org: str = ""
    influx_bucket: str = ""
    influx_db: str = ""
    influx_optional: bool = False
    sink_buffer: int = 100_000
    rate_limit_policy: str = "none"
    max_retries: int = 3
    max_backoff_s: float = 30.0
    idle_s: float = 300.0
    calls_per_day: float = 10_000.0
    slo: str = ""
    slo_check: list[str] = field(default_factory=list)
    ca_bundle: str = ""
    insecure: bool = False
    sim_args: str = ""
    sim_hints: bool = False
    arrival: str = "closed"
    rate_per_s: float = 0.0
    workload: str = ""
    require_workers: int = 0
    sim_profile: str = ""
    stop_timeout: float = 0.0
    coldstart_gaps: tuple[float, ...] = (0.0, 30.0, 120.0, 300.0, 900.0)
    coldstart_repeats: int = 3
    coldstart_followups: int = 2
    untrusted_exit_code: int = 3
    max_requests: int = 0

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    def weights(self) -> dict[str, float]:
        """Traffic share per model (equal when not given)."""
        if not self.model_weights:
            return {m: 1.0 for m in self.models}
        return {m: self.model_weights.get(m, 0.0) for m in self.models}

    def stop_timeout_s(self) -> float:
        """Seconds to let in-flight requests finish on stop: --stop-timeout, else the request timeout (at most 120 s)."""
        return self.stop_timeout if self.stop_timeout > 0 else min(self.timeout_s, 120.0)

    def to_env(self, also: Iterable[str] = ()) -> dict[str, str]:
        """Environment variables that reproduce these settings in another process (secrets included: pass only to children).

        Only values that differ from the defaults are exported, so a locustfile's own
        defaults (``os.environ.setdefault("LOADKIT_ARRIVAL", "poisson")``) still apply;
        the settings named in ``also`` are exported whatever their value (a child that
        inherits ``LOADKIT_X`` from this environment must see the flag that overrode it)."""
        out = {}
        also = set(also)
        for f in FIELDS:
            value = getattr(self, f.name)
            if value == f.default and f.name not in also:
                continue
            if isinstance(value, (list, tuple)):
                value = (";" if f.name == "slo_check" else ",").join(f"{v:g}" if isinstance(v, float) else v
                                                                      for v in value)
            elif isinstance(value, dict):
                value = ",".join(f"{k}={v}" for k, v in value.items())
            elif isinstance(value, bool):
                value = "true" if value else "false"
            out[env_name(f.name)] = str(value)
        return out


assert {f.name for f in fields(Settings)} == set(_BY_NAME), "Settings and FIELDS must name the same settings"


def _parse(f: Field, raw: Any, source: str) -> Any:
    try:
        return f.parse(raw)
    except (ValueError, TypeError) as exc:
        shown = "<hidden>" if f.secret else repr(raw)
        raise ConfigError(f"{source}: {f.name} = {shown} is invalid: {exc}") from None


def load_settings(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike | None = None,
) -> Settings:
    """Settings from defaults < config file < environment < CLI values (None = not given)."""
    env = os.environ if env is None else env
    check_environment(env)
    values: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG") or ""
    if path:
        values.update(_read_file(Path(path)))
    for f in FIELDS:
        raw = env.get(env_name(f.name))
        if raw is not None and raw != "":
            values[f.name] = _parse(f, raw, f"environment {env_name(f.name)}")
    for name, raw in (cli or {}).items():
        if raw is None or name not in _BY_NAME:
            continue
        f = _BY_NAME[name]
        values[name] = _parse(f, raw, f"flag {flag_name(name)}")
    settings = Settings(**values)
    return _finish(settings)


def _read_file(path: Path) -> dict[str, Any]:
    _, data = read_toml_file(path, "config file", ConfigError)
    section = data.get("loadkit", data)
    values = {}
    for name, raw in section.items():
        if isinstance(raw, dict) and name not in ("model_weights", "model_fallback"):
            continue  # other tables ([slo], [prices], ...) belong to other readers
        f = _BY_NAME.get(name)
        if f is None:
            close = closest(name, _BY_NAME)
            hint = f"did you mean {close!r}? " if close else ""
            known = ", ".join(sorted(_BY_NAME))
            raise ConfigError(f"config file {path}: unknown setting {name!r}; {hint}known settings: {known}")
        if f.secret:
            raise ConfigError(
                f"config file {path}: {name} must not be in a config file; set {env_name(name)} or use a key file"
            )
        values[name] = _parse(f, raw, f"config file {path}")
    return values


def _finish(s: Settings) -> Settings:
    if s.api_key_file and not s.api_key:
        try:
            key = Path(s.api_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"api_key_file {s.api_key_file}: cannot be read ({exc.strerror}); check the path and permissions"
            ) from None
        s = s.with_(api_key=key)
    key = s.api_key
    if key and (key != key.strip() or any(c.isspace() for c in key)):
        raise ConfigError("the API key contains whitespace or a newline; check LOADKIT_API_KEY (or the key file)")
    if not s.models:
        raise ConfigError("models is empty; name at least one model, e.g. --models gpt-4o-mini")
    unknown = set(s.model_weights) - set(s.models)
    if unknown:
        raise ConfigError(f"model_weights names {sorted(unknown)} which are not in models {s.models}; add them to --models")
    if s.model_weights and sum(s.weights().values()) <= 0:
        raise ConfigError("model_weights are all zero; give at least one model a positive weight")
    if s.influx_url:
        try:
            parts = urlsplit(s.influx_url)
            parts.port  # noqa: B018  (ValueError for a bad port)
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"influx_url {s.influx_url!r} is not an http(s) URL (e.g. http://localhost:8086)")
        if not s.influx_db and not s.influx_bucket:
            raise ConfigError(
                "influx_url is set but neither influx_bucket (InfluxDB 2/3) nor influx_db (1.x) is; set one of "
                "LOADKIT_INFLUX_BUCKET or LOADKIT_INFLUX_DB"
            )
    if s.arrival != "closed" and s.rate_per_s <= 0:
        raise ConfigError(f"arrival {s.arrival} needs a rate: set --rate-per-s (requests/s for the whole run)")
    if s.workload and not Path(s.workload).is_file():
        raise ConfigError(f"workload {s.workload}: no such file; give a TOML file with a [workload] table")
    if s.ca_bundle and not Path(s.ca_bundle).is_file():
        raise ConfigError(f"ca_bundle {s.ca_bundle}: no such file; give the path of a PEM CA bundle")
    return s


def secrets_of(s: Settings) -> list[str]:
    """The secret values in these settings (to scrub from any text)."""
    return [v for v in (s.api_key, s.influx_token) if v]


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret, and anything shaped like a credential, replaced by ``<redacted>``:
    :func:`loadkit.core.redact.redact`, the one redaction every output goes through."""
    return core_redact(text, secrets)
