"""Capacity planning: the highest load each model sustains under the SLO, and what it means.

Core (no Locust, no gevent): a thread-pool step driver over httpx
ChatClients, a step search (linear or bisection), the knee of the latency
curve, and a projection to peak load, concurrency, cost and load workers.

    driver = StepDriver(make_client, make_request)
    doc = run_capacity(driver, load_slos("slo.toml"), CapacitySettings(models=("gpt-4o-mini",)))
    write_capacity(doc, "results/run1")
"""

from loadkit.studies.driver import StepDriver, StepMeasure
from loadkit.studies.capacity.projection import Projection, project
from loadkit.studies.capacity.report import render_capacity_html, write_capacity
from loadkit.studies.capacity.runner import CapacitySettings, classify_metric, judge_step, run_capacity
from loadkit.studies.capacity.search import SEARCH_MODES, SearchResult, SearchStep, kneedle, search_capacity

__all__ = [
    "CapacitySettings",
    "Projection",
    "SEARCH_MODES",
    "SearchResult",
    "SearchStep",
    "StepDriver",
    "StepMeasure",
    "classify_metric",
    "judge_step",
    "kneedle",
    "project",
    "render_capacity_html",
    "run_capacity",
    "search_capacity",
    "write_capacity",
]
