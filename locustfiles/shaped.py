"""Shaped traffic: task categories, prompt/answer lengths, model mix and an open-loop arrival rate.

    loadkit run -f locustfiles/shaped.py --users 40 --run-time 2m
    LOADKIT_API_KEY=sk-... locust -f locustfiles/shaped.py --host https://gateway.example/v1

Every setting below can also come from the command line or the environment
(`--rate-per-s 20` = LOADKIT_RATE_PER_S=20); these lines only set defaults.
"""

import os

from loadkit.locust import ChatUser, get_runtime
from loadkit.workload import Workload

# Open loop: 12 requests/s for the whole run (split over all workers), Poisson arrivals.
# Latency is then also reported from each request's intended send time (no coordinated omission).
os.environ.setdefault("LOADKIT_ARRIVAL", "poisson")
os.environ.setdefault("LOADKIT_RATE_PER_S", "12")
# Model mix: 3 of 4 requests to gpt-4o-mini.
os.environ.setdefault("LOADKIT_MODELS", "claude-4-haiku,gpt-4o-mini")
os.environ.setdefault("LOADKIT_MODEL_WEIGHTS", "claude-4-haiku=1,gpt-4o-mini=3")

WORKLOAD = {
    "model_mix": "weights",  # or "paired": every prompt to every model in turn
    "task_checks": True,  # judge answers per category (task_success in summary.json)
    "categories": {
        # weight, prompt length (input tokens) and answer budget (max_tokens) per category
        "code": {"weight": 3, "input_tokens": "lognormal:400,150", "max_tokens": "uniform:256,512"},
        "summarization": {"weight": 2, "input_tokens": "normal:1200,300", "max_tokens": "fixed:200"},
        "factual": {"weight": 3, "input_tokens": "fixed:60", "max_tokens": "fixed:64"},
        "creative": {"weight": 1},  # defaults
        "math": {"weight": 0},  # off
    },
    # "prompts_file": "my_prompts.jsonl",  # your own prompts instead of the built-ins
}


class ShapedChatUser(ChatUser):
    def on_start(self):
        super().on_start()
        settings = get_runtime().settings
        # Expected answers go to the simulator only (it needs them to answer "correctly").
        self.workload = Workload(settings, {**WORKLOAD, "sim_hints": settings.sim_hints})

    def next_request(self):
        return self.workload.next_request(self.rng)
