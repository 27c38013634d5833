"""Length distributions for input tokens and max_tokens.

A distribution is written as a table (``{dist = "lognormal", mean = 300,
sd = 150}``) or a short string (``"lognormal:300,150"``). Kinds:

- ``fixed:V`` — always V.
- ``uniform:LOW,HIGH`` — whole numbers LOW..HIGH, both included.
- ``normal:MEAN,SD``
- ``lognormal:MEAN,SD`` — mean and standard deviation of the values
  themselves (not of their logarithm); long right tail, like real prompts.
- ``empirical:FILE`` — draw from the numbers in FILE (one per line, ``#``
  comments allowed, or a JSON list).

Every sample is rounded to a whole number and clipped to ``[min, max]``
(``min`` defaults to 1).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loadkit.errors import ConfigError

__all__ = ["Distribution", "parse_distribution"]

_PARAMS = {"fixed": ("value",), "uniform": ("low", "high"), "normal": ("mean", "sd"), "lognormal": ("mean", "sd"),
           "empirical": ("file",)}


@dataclass(frozen=True)
class Distribution:
    kind: str
    params: dict[str, float] = field(default_factory=dict)
    values: tuple[int, ...] = ()
    minimum: int = 1
    maximum: int | None = None

    def _raw(self, rng: random.Random) -> float:
        p = self.params
        if self.kind == "fixed":
            return p["value"]
        if self.kind == "uniform":
            return rng.randint(int(p["low"]), int(p["high"]))
        if self.kind == "normal":
            return rng.gauss(p["mean"], p["sd"])
        if self.kind == "lognormal":
            mu, sigma = _lognormal_mu_sigma(p["mean"], p["sd"])
            return rng.lognormvariate(mu, sigma)
        return self.values[rng.randrange(len(self.values))]

    def sample(self, rng: random.Random) -> int:
        """One draw, a whole number within ``[minimum, maximum]``."""
        v = int(round(self._raw(rng)))
        if v < self.minimum:
            v = self.minimum
        if self.maximum is not None and v > self.maximum:
            v = self.maximum
        return v

    @property
    def mean(self) -> float:
        """Mean of the unclipped distribution."""
        p = self.params
        if self.kind == "fixed":
            return p["value"]
        if self.kind == "uniform":
            return (p["low"] + p["high"]) / 2
        if self.kind in ("normal", "lognormal"):
            return p["mean"]
        return sum(self.values) / len(self.values)


def _lognormal_mu_sigma(mean: float, sd: float) -> tuple[float, float]:
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def _number(where: str, name: str, raw: Any) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {name} = {raw!r} is not a number") from None
    if not math.isfinite(v):
        raise ConfigError(f"{where}: {name} = {raw!r} is not a finite number")
    return v


def _read_empirical(where: str, path: Path) -> tuple[int, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: empirical file {path}: cannot be read ({exc.strerror}); check the path") from None
    values: list[int] = []
    if text.lstrip().startswith("["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{where}: empirical file {path}: not a valid JSON list ({exc})") from None
        lines = [(i + 1, item) for i, item in enumerate(items)]
        unit = "item"
    else:
        lines = [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(text.splitlines(), 1)]
        unit = "line"
    for n, item in lines:
        if item == "":
            continue
        v = _number(f"{where}: empirical file {path} {unit} {n}", "value", item)
        if v < 0:
            raise ConfigError(f"{where}: empirical file {path} {unit} {n}: {item!r} is negative; token counts are >= 0")
        values.append(int(round(v)))
    if not values:
        raise ConfigError(f"{where}: empirical file {path} holds no numbers; put one token count per line")
    return tuple(values)


def parse_distribution(spec: Any, where: str, base_dir: Path | None = None) -> Distribution:
    """A Distribution from a table or ``"kind:a,b"`` string; ConfigError naming ``where`` if invalid."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = {"dist": "fixed", "value": spec}
    if isinstance(spec, str):
        kind, _, rest = spec.partition(":")
        kind = kind.strip().lower()
        if kind not in _PARAMS:
            raise ConfigError(f"{where}: {spec!r} is not a distribution; use one of {', '.join(_PARAMS)} (e.g. normal:200,50)")
        names = _PARAMS[kind]
        args = [rest.strip()] if kind == "empirical" else [a.strip() for a in rest.split(",") if a.strip()]
        if len(args) != len(names):
            raise ConfigError(f"{where}: {spec!r} needs {kind}:{','.join(n.upper() for n in names)}")
        spec = {"dist": kind, **dict(zip(names, args))}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: {spec!r} is not a distribution (a table like {{dist='normal', mean=200, sd=50}})")
    kind = str(spec.get("dist", spec.get("kind", ""))).strip().lower()
    if kind not in _PARAMS:
        raise ConfigError(f"{where}: dist = {kind!r} is not one of {', '.join(_PARAMS)}")
    unknown = set(spec) - set(_PARAMS[kind]) - {"dist", "kind", "min", "max"}
    if unknown:
        raise ConfigError(f"{where}: {kind} takes {', '.join(_PARAMS[kind])}, min, max; not {', '.join(sorted(unknown))}")
    missing = [n for n in _PARAMS[kind] if n not in spec]
    if missing:
        raise ConfigError(f"{where}: {kind} needs {', '.join(missing)}")
    minimum = int(_number(where, "min", spec.get("min", 1)))
    maximum = int(_number(where, "max", spec["max"])) if "max" in spec else None
    if minimum < 0 or (maximum is not None and maximum < minimum):
        raise ConfigError(f"{where}: min = {minimum}, max = {maximum} is not a valid range (0 <= min <= max)")
    if kind == "empirical":
        path = Path(str(spec["file"]))
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return Distribution(kind, {}, _read_empirical(where, path), minimum, maximum)
    params = {n: _number(where, n, spec[n]) for n in _PARAMS[kind]}
    if kind == "fixed" and params["value"] < 0:
        raise ConfigError(f"{where}: value = {params['value']:g} is negative")
    if kind == "uniform" and not 0 <= params["low"] <= params["high"]:
        raise ConfigError(f"{where}: uniform low = {params['low']:g}, high = {params['high']:g} needs 0 <= low <= high")
    if kind in ("normal", "lognormal"):
        if params["sd"] < 0:
            raise ConfigError(f"{where}: sd = {params['sd']:g} is negative")
        if kind == "lognormal" and params["mean"] <= 0:
            raise ConfigError(f"{where}: lognormal mean = {params['mean']:g} must be > 0")
    return Distribution(kind, params, (), minimum, maximum)
