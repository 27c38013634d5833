"""The known-limit capacity run of tests/capacity/test_capacity_live.py, as its own process.

Run as ``python -m tests.support.capacity_known_limit OUT.json``: a fresh process, so the
run's timings carry none of the pytest process's state (its heap after hundreds of tests, its
garbage collections, the threads earlier tests left), only the generator's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.slo import parse_slo_flag
from loadkit.studies.capacity import CapacitySettings, StepDriver, run_capacity
from loadkit.transport import TransportOptions, make_transport
from tests.support.simproc import start_simulator

SLOTS, SERVICE_S, SLO_MS = 4, 0.100, 300.0
STEP_S, WARMUP_S = 2.0, 0.5


def main(out: Path) -> None:
    sim_args = ("--models", "gpt-4o-mini", "--profile", "fixed", "--fixed", "ttft_ms=100,itl_ms=0,tokens=1",
                "--max-concurrency", str(SLOTS), "--cold-start-ms", "0", "--error-rate", "0")
    with start_simulator(*sim_args) as sim:
        def make_client() -> ChatClient:
            return ChatClient(make_transport("httpx", TransportOptions(sim.base_url, timeout_s=30)))

        def make_request(model: str) -> ChatRequest:
            return ChatRequest(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=False)

        settings = CapacitySettings(models=("gpt-4o-mini",), start=10, stop=80, step=10, step_s=STEP_S,
                                    warmup_s=WARMUP_S, search="bisect")
        with StepDriver(make_client, make_request, max_in_flight=64) as driver:
            doc = run_capacity(driver, [parse_slo_flag(f"e2e_ms.p95 < {SLO_MS:g}")], settings)
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
