"""Request shaping: task categories, prompt sizes, user prompt sets, model mix.

``Workload(settings, config).next_request(rng)`` gives the next
:class:`~loadkit.client.chat.ChatRequest`. Arrival times live in
:mod:`loadkit.workload.arrivals`, task checks in :mod:`loadkit.workload.tasks`.
"""

from loadkit.workload.distributions import Distribution, parse_distribution
from loadkit.workload.prompts import FACTS, build_prompt
from loadkit.workload.promptset import PromptItem, load_prompt_set
from loadkit.workload.workload import DEFAULT_INPUT_TOKENS, CategorySpec, Workload, load_workload_table

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
