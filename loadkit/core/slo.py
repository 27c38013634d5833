"""Service-level objectives: declared in ``slo.toml`` or flags, checked against summary.json.

File syntax (TOML; one ``[[slo]]`` table per objective)::

    [[slo]]                      # overall: checked against summary["totals"]
    metric = "ttft_ms.p95"       # dotted path into a model's summary block
    op = "<"                     # one of <  <=  >  >=  ==  !=
    value = 1000

    [[slo]]
    model = "gpt-4o-mini"        # one model; "*" = every model, one check each
    metric = "success_rate"
    op = ">="
    value = 0.997

    [[slo]]
    metric = "rate_limit.responses_429 / requests"   # ratio of two paths
    op = "<"
    value = 0.01

    [[slo]]
    metric = "sink.dropped"      # top-level paths: sink.*, trusted, duration_s, users, workers
    op = "=="
    value = 0
    name = "no points dropped"   # optional: the check's name in JUnit/report

Flag syntax (``--slo-check``, repeatable): ``[model:]metric op value``, for
example ``"gpt-4o-mini:ttft_ms.p95<1000"`` or ``"e2e_ms.p99 < 3000"`` or
``"trusted == true"``. The model is everything before the last ``:`` of the
left-hand side (model names may contain ``:``; metric paths never do).

Metric paths are checked against the summary.json contract (DESIGN.md) when
the SLOs are loaded, so a typo fails before any load is sent. Model-block
paths: ``requests attempts successes success_rate error_rate rps
output_tokens_per_s cost_usd cost_per_success_usd cost_per_1k_requests_usd``,
``outcomes.<outcome>``, ``<latency>.<stat>`` with latency in ``e2e_ms ttft_ms
itl_ms tpot_ms e2e_from_intended_ms schedule_lag_ms`` and stat in ``p50 p90
p95 p99 max mean count``, ``tokens.{input,output,usage_missing}``,
``rate_limit.{responses_429,retried_ok,gave_up,retries}``,
``rate_limit.{throttled_ms,retry_after_s}.<stat>``, ``cold_start.count``,
``cold_start.{ttft_ms,warm_ttft_ms}.<stat>``, ``task_success.<category>``.
``error_rate`` is derived: ``1 - success_rate``.

Evaluation: a metric that is missing or null in the summary (no data: say no
successful request, so no TTFT) fails its check with ``value: null`` — an
objective that cannot be shown met is not met. A ratio with a zero
denominator is null too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadkit.errors import ExitCode, SLOError
from loadkit.core.summary import metric_paths
from loadkit.core.values import closest, read_toml_file

__all__ = [
    "SLO",
    "OPERATORS",
    "load_slos",
    "parse_slo_flag",
    "validate_metric",
    "evaluate",
    "exit_code",
    "EXIT_OK",
    "EXIT_SLO_FAILED",
    "EXIT_COULD_NOT_RUN",
    "EXIT_UNTRUSTED",
]

# Kept for importers of the older names; the codes are defined once, in loadkit.errors.ExitCode.
EXIT_OK = ExitCode.OK
EXIT_SLO_FAILED = ExitCode.FAILED
EXIT_COULD_NOT_RUN = ExitCode.CANNOT_RUN
EXIT_UNTRUSTED = ExitCode.UNTRUSTED

OPERATORS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}

_STATS = ("p50", "p90", "p95", "p99", "max", "mean", "count")
# The paths come from RunSummary's fields (core/summary.py), so a field added there is checkable here.
_MODEL_PATHS, _TOP_LEVEL_PATHS = metric_paths()
_TOP_LEVEL_ROOTS = frozenset(p.split(".")[0] for p in _TOP_LEVEL_PATHS)
_FLAG_RE = re.compile(r"^(?P<left>.+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>[^<>=!]+)$")
_ENTRY_KEYS = {"model", "metric", "op", "value", "name"}


@dataclass(frozen=True, slots=True)
class SLO:
    """One objective: ``metric op value`` for one model, every model (``"*"``) or overall (None)."""

    metric: str
    op: str
    value: float | bool
    model: str | None = None
    name: str | None = None
    source: str = ""  # "slo.toml:12" or "--slo-check"; for messages

    @property
    def is_top_level(self) -> bool:
        return _path_is_top_level(self.metric.split("/")[0].strip())

    def check_name(self, model: str | None = None) -> str:
        """Display name of the check (JUnit testcase name): ``"gpt-4o-mini: ttft_ms.p95 < 1000"``."""
        if self.name:
            return self.name if model is None or self.model != "*" else f"{model}: {self.name}"
        scope = model or self.model
        text = f"{self.metric} {self.op} {_format_value(self.value)}"
        if self.is_top_level:
            return text
        return f"{scope or 'overall'}: {text}"


def _format_value(value: float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}"


def _path_is_top_level(path: str) -> bool:
    return path.split(".")[0] in _TOP_LEVEL_ROOTS


def _metric_parts(metric: str) -> list[str]:
    parts = [p.strip() for p in metric.split("/")]
    if len(parts) > 2:
        raise ValueError(f"metric {metric!r} has more than one '/': only 'a / b' ratios are supported")
    return parts


def validate_metric(metric: str, model: str | None = None) -> None:
    """Raise ValueError (with the reason) unless ``metric`` names a field of the summary contract."""
    parts = _metric_parts(metric)
    scopes = {_path_is_top_level(p) for p in parts}
    if len(scopes) > 1:
        raise ValueError(f"metric {metric!r} mixes a top-level path with a model path")
    for path in parts:
        if not path:
            raise ValueError(f"metric {metric!r} has an empty path")
        if _path_is_top_level(path):
            if path not in _TOP_LEVEL_PATHS:
                raise ValueError(f"unknown metric {path!r}; top-level metrics: {', '.join(sorted(_TOP_LEVEL_PATHS))}")
            if model is not None:
                raise ValueError(f"metric {path!r} is run-wide: it cannot have model = {model!r}")
        elif path.startswith("task_success."):
            if len(path.split(".")) != 2 or not path.split(".")[1]:
                raise ValueError(f"unknown metric {path!r}: use task_success.<category>")
        elif path not in _MODEL_PATHS:
            hint = _closest(path)
            raise ValueError(f"unknown metric {path!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                             + f"; valid metrics: {describe_paths()}")


def describe_paths() -> str:
    """The valid metric paths, compactly: latency blocks as ``{a,b}.{p50,...}`` instead of every pair."""
    latencies = sorted({p.rsplit(".", 1)[0] for p in _MODEL_PATHS if p.endswith(".p95")})
    stats = "{" + ",".join(_STATS) + "}"
    rest = sorted(p for p in _MODEL_PATHS if not any(p == f"{lat}.{s}" for lat in latencies for s in _STATS))
    return (f"per model: {', '.join(rest)}, task_success.<category>, and {{{','.join(latencies)}}}.{stats}; "
            f"run-wide: {', '.join(sorted(_TOP_LEVEL_PATHS))}")


def _closest(path: str) -> str | None:
    return closest(path, _MODEL_PATHS | _TOP_LEVEL_PATHS)


def _parse_value(text: str) -> float | bool:
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    number = float(text)  # ValueError on garbage
    if math.isnan(number):
        raise ValueError("nan is not a limit")
    return number


def parse_slo_flag(text: str) -> SLO:
    """Parse ``"[model:]metric op value"`` (the ``--slo-check`` form) into an SLO.

    Raises SLOError naming the flag text and what is wrong with it."""
    match = _FLAG_RE.match(text.strip())
    if not match:
        raise SLOError(f"--slo-check {text!r}: expected '[model:]metric op value' with op one of "
                       f"{' '.join(OPERATORS)}, e.g. 'gpt-4o-mini:ttft_ms.p95<1000'")
    left, op, raw_value = match["left"].strip(), match["op"], match["value"]
    model: str | None = None
    if ":" in left:
        model, left = (s.strip() for s in left.rsplit(":", 1))
        if not model:
            raise SLOError(f"--slo-check {text!r}: empty model name before ':'")
    try:
        value = _parse_value(raw_value)
    except ValueError:
        raise SLOError(f"--slo-check {text!r}: limit {raw_value.strip()!r} is not a number or true/false") from None
    try:
        validate_metric(left, model)
    except ValueError as exc:
        raise SLOError(f"--slo-check {text!r}: {exc}") from None
    return SLO(metric=left, op=op, value=value, model=model, source="--slo-check")


def _entry_lines(text: str) -> list[int]:
    """1-based line number of each ``[[slo]]`` header, in order."""
    return [i for i, line in enumerate(text.splitlines(), 1) if re.match(r"^\s*\[\[\s*slo\s*\]\]", line)]


def _top_level_line(text: str, key: str) -> int:
    """Line where top-level ``key`` is defined (``key = …`` or a ``[key]`` header); 1 if not found."""
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*(\[+\s*)?{re.escape(key)}\s*(=|\])", line):
            return i
    return 1


def _key_line(text: str, start: int, key: str) -> int:
    """Line of ``key =`` inside the entry that starts at ``start`` (the header line if absent)."""
    lines = text.splitlines()
    for i in range(start, len(lines)):
        line = lines[i]
        if re.match(r"^\s*\[", line):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return i + 1
    return start


def load_slos(path: str | Path) -> list[SLO]:
    """Read and validate an SLO file (syntax in the module docstring).

    Every problem raises SLOError as ``"<file>:<line>: <reason>"`` so it is
    rejected before load starts."""
    path = Path(path)
    text, data = read_toml_file(path, "SLO file", SLOError)
    for key in data:
        if key != "slo":
            raise SLOError(f"{path}:{_top_level_line(text, key)}: unknown top-level key {key!r}; "
                           "declare each objective as an [[slo]] table")
    entries = data.get("slo", [])
    if not isinstance(entries, list):
        raise SLOError(f"{path}:{_top_level_line(text, 'slo')}: 'slo' must be an array of tables: write [[slo]]")
    headers = _entry_lines(text)
    slos: list[SLO] = []
    for index, entry in enumerate(entries):
        header = headers[index] if index < len(headers) else 1

        def fail(key: str | None, reason: str) -> SLOError:
            line = _key_line(text, header, key) if key else header
            return SLOError(f"{path}:{line}: {reason}")

        if not isinstance(entry, dict):
            raise fail(None, f"each objective must be a table: write [[slo]] with metric/op/value, not {entry!r}")
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise fail(key, f"unknown key {key!r} in [[slo]]; allowed: {', '.join(sorted(_ENTRY_KEYS))}")
        for key in ("metric", "op", "value"):
            if key not in entry:
                raise fail(None, f"[[slo]] has no {key!r}")
        metric, op, value, model = entry["metric"], entry["op"], entry["value"], entry.get("model")
        if not isinstance(metric, str):
            raise fail("metric", f"metric must be a string, got {metric!r}")
        if not isinstance(op, str) or op not in OPERATORS:
            raise fail("op", f"unknown op {op!r}; use one of {' '.join(OPERATORS)}")
        if not isinstance(value, (int, float, bool)) or (isinstance(value, float) and math.isnan(value)):
            raise fail("value", f"value must be a number or true/false, got {value!r}")
        if model is not None and (not isinstance(model, str) or not model):
            raise fail("model", f"model must be a model name or '*', got {model!r}")
        try:
            validate_metric(metric, model)
        except ValueError as exc:
            raise fail("metric", str(exc)) from None
        name = entry.get("name")
        slos.append(SLO(metric=metric.strip(), op=op, value=value if isinstance(value, bool) else float(value),
                        model=model, name=str(name) if name else None, source=f"{path}:{header}"))
    return slos


def _lookup(block: Any, path: str) -> Any:
    node = block
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            node = None
            break
        node = node[part]
    if node is None and path == "error_rate":
        rate = _lookup(block, "success_rate")
        return None if rate is None else 1.0 - rate
    return node


def _metric_value(slo: SLO, summary: dict, model: str | None) -> Any:
    if slo.is_top_level:
        block = summary
    elif model is None:
        block = summary.get("totals")
    else:
        block = (summary.get("models") or {}).get(model)
    parts = _metric_parts(slo.metric)
    values = [_lookup(block, p) for p in parts]
    if any(v is None or isinstance(v, (dict, list)) for v in values):
        return None
    if len(values) == 1:
        return values[0]
    numerator, denominator = values
    if isinstance(numerator, bool) or isinstance(denominator, bool) or not denominator:
        return None
    return numerator / denominator


def _check(slo: SLO, summary: dict, model: str | None) -> dict[str, Any]:
    value = _metric_value(slo, summary, model)
    try:
        passed = value is not None and bool(OPERATORS[slo.op](value, slo.value))
    except TypeError:  # e.g. a string where a number was promised
        passed = False
    if isinstance(value, float):
        value = round(value, 6)
    return {"name": slo.check_name(model if slo.model == "*" else None), "limit": slo.value, "value": value,
            "passed": passed}


def evaluate(slos: list[SLO], summary: dict) -> dict[str, Any]:
    """Check every SLO against a summary dict (the summary.json contract).

    Returns ``{"passed": bool, "checks": [{"name", "limit", "value", "passed"}]}``;
    ``"*"`` SLOs give one check per model in ``summary["models"]`` (and one
    failing check when there are none). ``passed`` is True when there are no SLOs."""
    checks: list[dict[str, Any]] = []
    models = sorted((summary.get("models") or {}).keys())
    for slo in slos:
        if slo.model == "*" and not slo.is_top_level:
            if not models:
                checks.append({"name": slo.check_name("*"), "limit": slo.value, "value": None, "passed": False})
            for model in models:
                checks.append(_check(slo, summary, model))
        else:
            checks.append(_check(slo, summary, slo.model))
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def exit_code(summary: dict | None, slo_result: dict | None, could_not_run: bool = False,
              max_error_rate: float | None = None, untrusted_exit_code: int = ExitCode.UNTRUSTED) -> int:
    """The process exit code of a headless run (documented in the README).

    - ``2`` the run could not be done (``could_not_run``: bad config, preflight
      failed, no summary at all);
    - ``3`` the run is not trustworthy: ``summary["trusted"]`` is false
      (generator schedule lag, CPU saturation, fewer workers finished than
      ``--require-workers``). An untrusted run's SLO verdict means nothing,
      so 3 wins over 1. ``untrusted_exit_code`` (``--untrusted-exit-code``)
      replaces the 3 of a generator that fell behind; with 0, "untrusted" is informational and the checks
      below decide. Fewer workers than ``--require-workers`` is always 3;
    - ``1`` an SLO check failed, or the overall error rate
      (``1 - totals.success_rate``) is above ``max_error_rate``;
    - ``0`` everything met.
    """
    if could_not_run or summary is None:
        return EXIT_COULD_NOT_RUN
    # Lost workers make a run untrusted through ``trusted`` (finish applies --require-workers);
    # a lost worker that the run was allowed to lose is "degraded", not untrusted.
    workers = summary.get("workers") or {}
    if "nodes" in workers and (workers.get("finished") or 0) < (workers.get("required") or 0):
        return ExitCode.UNTRUSTED  # --require-workers is the user's own gate: --untrusted-exit-code does not lift it
    if summary.get("trusted") is False and untrusted_exit_code:
        return untrusted_exit_code if untrusted_exit_code != ExitCode.UNTRUSTED else ExitCode.UNTRUSTED
    if slo_result is not None and not slo_result.get("passed", True):
        return EXIT_SLO_FAILED
    if max_error_rate is not None:
        rate = (summary.get("totals") or {}).get("success_rate")
        if rate is None or 1.0 - rate > max_error_rate:
            return EXIT_SLO_FAILED
    return EXIT_OK
