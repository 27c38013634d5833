"""Request shaping: task categories, prompt sizes, user prompt sets, model mix.

``Workload(settings, config).next_request(rng)`` gives the next
:class:`~loadkit.client.ChatRequest`. Arrival times live in
:mod:`loadkit.arrivals`, task checks in :mod:`loadkit.tasks`.
"""

from .distributions import Distribution, parse_distribution
from .prompts import FACTS, build_prompt
from .promptset import PromptItem, load_prompt_set
from .workload import DEFAULT_INPUT_TOKENS, CategorySpec, Workload, load_workload_table

__all__ = [
    "CategorySpec",
    "DEFAULT_INPUT_TOKENS",
    "Distribution",
    "FACTS",
    "PromptItem",
    "Workload",
    "build_prompt",
    "load_prompt_set",
    "load_workload_table",
    "parse_distribution",
]
