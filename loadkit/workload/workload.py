"""Workload: what the next request is — model, task category, prompt, lengths.

Built from :class:`~loadkit.settings.Settings` (models, model weights,
max_tokens, stream) and an optional ``[workload]`` table::

    [workload]
    model_mix = "weights"        # or "paired": every prompt to every model in turn
    task_checks = true           # keep answers so tasks.check can judge them
    sim_hints = false            # send x-loadkit-expect (only the simulator needs it)
    prompts_file = "prompts.jsonl"   # optional: user prompts instead of the built-ins
    [workload.categories.code]
    weight = 2
    input_tokens = "lognormal:300,150"
    max_tokens = {dist = "uniform", low = 128, high = 512}

A category left out keeps its defaults; ``weight = 0`` turns it off.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadkit.client.chat import ChatRequest
from loadkit.core.values import read_toml_file
from loadkit.settings import Settings
from loadkit.errors import ConfigError
from loadkit.workload.tasks import CATEGORIES
from loadkit.workload.distributions import Distribution, parse_distribution
from loadkit.workload.prompts import build_prompt
from loadkit.workload.promptset import PromptItem, load_prompt_set

__all__ = ["Workload", "CategorySpec", "DEFAULT_INPUT_TOKENS", "load_workload_table"]

# Typical prompt sizes per category (input tokens), for when none are configured.
DEFAULT_INPUT_TOKENS: dict[str, str] = {
    "code": "lognormal:300,150",
    "summarization": "lognormal:1200,500",
    "factual": "normal:80,20",
    "creative": "normal:120,40",
    "math": "normal:60,15",
}
_KEYS = {"model_mix", "task_checks", "sim_hints", "prompts_file", "categories", "seed"}
_CATEGORY_KEYS = {"weight", "input_tokens", "max_tokens"}


class CategorySpec:
    __slots__ = ("name", "weight", "input_tokens", "max_tokens")

    def __init__(self, name: str, weight: float, input_tokens: Distribution, max_tokens: Distribution):
        self.name, self.weight, self.input_tokens, self.max_tokens = name, weight, input_tokens, max_tokens


def load_workload_table(path: str | Path) -> dict[str, Any]:
    """The ``[workload]`` table of a TOML file (``{}`` when it has none)."""
    p = Path(path)
    _, data = read_toml_file(p, "workload file", ConfigError)
    table = data.get("workload", data.get("loadkit", {}).get("workload", {}))
    if not isinstance(table, dict):
        raise ConfigError(f"workload file {p}: workload must be a table ([workload])")
    return table


def _bool(where: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    s = str(raw).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{where} = {raw!r} is not true or false")


class Workload:
    """Makes requests. ``next_request(rng)`` is cheap and never does I/O; one per user or shared (not thread-safe)."""

    def __init__(self, settings: Settings, config: Mapping[str, Any] | None = None, *, base_dir: str | Path | None = None):
        config = dict(config or {})
        unknown = set(config) - _KEYS
        if unknown:
            raise ConfigError(f"workload: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}")
        base = Path(base_dir) if base_dir is not None else None
        self.settings = settings
        self.models = list(settings.models)
        weights = settings.weights()
        self.model_weights = [weights[m] for m in self.models]
        self.model_mix = str(config.get("model_mix", "weights")).strip().lower()
        if self.model_mix not in ("weights", "paired"):
            raise ConfigError(f"workload: model_mix = {self.model_mix!r} is not weights or paired")
        self.task_checks = _bool("workload: task_checks", config.get("task_checks", True))
        self.sim_hints = _bool("workload: sim_hints", config.get("sim_hints", False))
        self.categories = self._categories(config.get("categories", {}), base)
        active = [c for c in self.categories if c.weight > 0]
        self._active = active
        self._active_weights = [c.weight for c in active]
        self.prompt_set: list[PromptItem] | None = None
        if config.get("prompts_file"):
            path = Path(str(config["prompts_file"]))
            if base is not None and not path.is_absolute():
                path = base / path
            self.prompt_set = load_prompt_set(path)
        elif not active:
            raise ConfigError("workload: every category has weight 0; give at least one a positive weight")
        self._by_name = {c.name: c for c in self.categories}
        self._pending: list[ChatRequest] = []  # paired mode: the same prompt for the models still to go

    def _categories(self, table: Any, base: Path | None) -> list[CategorySpec]:
        if not isinstance(table, Mapping):
            raise ConfigError("workload: categories must be a table of category name -> {weight, input_tokens, max_tokens}")
        unknown = set(table) - set(CATEGORIES)
        if unknown:
            raise ConfigError(f"workload: unknown categor(y/ies) {', '.join(sorted(unknown))}; known: {', '.join(CATEGORIES)}")
        out = []
        for name in CATEGORIES:
            spec = table.get(name, {})
            where = f"workload.categories.{name}"
            if not isinstance(spec, Mapping):
                raise ConfigError(f"{where} must be a table (weight, input_tokens, max_tokens)")
            bad = set(spec) - _CATEGORY_KEYS
            if bad:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(_CATEGORY_KEYS))}")
            try:
                weight = float(spec.get("weight", 1.0))
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: weight = {spec.get('weight')!r} is not a number") from None
            if not weight >= 0:
                raise ConfigError(f"{where}: weight = {weight:g} is negative")
            inp = parse_distribution(spec.get("input_tokens", DEFAULT_INPUT_TOKENS[name]), f"{where}.input_tokens", base)
            mx = parse_distribution(spec.get("max_tokens", self.settings.max_tokens), f"{where}.max_tokens", base)
            out.append(CategorySpec(name, weight, inp, mx))
        return out

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> "Workload":
        """The run's Workload: the ``[workload]`` table of ``LOADKIT_WORKLOAD`` (a TOML file) or else of
        ``LOADKIT_CONFIG``, defaults without either. ``sim_hints`` defaults to on when ``settings.host`` is
        empty (the embedded simulator is the target, and it needs the expected answers)."""
        env = os.environ if env is None else env
        path = settings.workload or env.get("LOADKIT_WORKLOAD") or env.get("LOADKIT_CONFIG") or ""
        table = load_workload_table(path) if path else {}
        table.setdefault("sim_hints", settings.sim_hints or not settings.host)
        return cls(settings, table, base_dir=Path(path).parent if path else None)

    @classmethod
    def from_toml(cls, settings: Settings, path: str | Path) -> "Workload":
        """A Workload from the ``[workload]`` table of a TOML file (relative paths from the file's folder)."""
        return cls(settings, load_workload_table(path), base_dir=Path(path).parent)

    def _new_prompt(self, rng: random.Random) -> tuple[list[dict[str, Any]], str, str | None, int]:
        if self.prompt_set is not None:
            item = self.prompt_set[rng.randrange(len(self.prompt_set))]
            spec = self._by_name.get(item.category)
            max_tokens = item.max_tokens or (spec.max_tokens.sample(rng) if spec else self.settings.max_tokens)
            return [dict(m) for m in item.messages], item.category, item.expected, max_tokens
        spec = rng.choices(self._active, self._active_weights)[0]
        messages, expected = build_prompt(spec.name, spec.input_tokens.sample(rng), rng)
        return messages, spec.name, expected, spec.max_tokens.sample(rng)

    def _request(self, model: str, messages: list, category: str, expected: str | None, max_tokens: int) -> ChatRequest:
        headers = {}
        if category != "generic":
            headers["x-loadkit-task"] = category
        if self.sim_hints and expected is not None:
            headers["x-loadkit-expect"] = expected
        return ChatRequest(
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            stream=self.settings.stream,
            category=category,
            expected=expected,
            keep_content=self.task_checks and category in CATEGORIES,
            extra_headers=headers,
        )

    def next_request(self, rng: random.Random) -> ChatRequest:
        """The next request: model by weight (or the next model of the current pair), a fresh prompt otherwise."""
        if self.model_mix == "paired":
            if not self._pending:
                messages, category, expected, max_tokens = self._new_prompt(rng)
                self._pending = [
                    self._request(m, [dict(x) for x in messages], category, expected, max_tokens)
                    for m in reversed(self.models)
                ]
            return self._pending.pop()
        model = self.models[0] if len(self.models) == 1 else rng.choices(self.models, self.model_weights)[0]
        messages, category, expected, max_tokens = self._new_prompt(rng)
        return self._request(model, messages, category, expected, max_tokens)
