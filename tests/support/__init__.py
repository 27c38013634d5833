"""Helpers shared by loadkit's tests (real processes, real sockets). Add to them; do not copy them into a test.

- ``waits``: ``wait_until`` / ``wait_stable`` (poll with a deadline) and ``hold_for`` (a sleep that IS the behaviour).
- ``simproc``: ``start_simulator`` (the simulator as a process on port 0), ``timed_sse_events``.
- ``servers``: ``free_port``, ``wait_http``, ``http_handler_server``, real ``InfluxServer`` / ``VictoriaMetricsServer``
  (and their ``influx`` / ``victoria`` fixtures), ``env_without_proxy``, ``synthetic_records``.
- ``cli``: ``run_loadkit`` (``loadkit run`` as a real process, output captured).
- ``locustui``: ``start_locust_ui`` (a Locust web UI process), ``start_run`` / ``stop_run``.
- ``browser``: ``chromium`` (headless Chromium via Playwright), ``start_from_form``, ``poll``.
- ``faultproxy``: ``FaultProxy`` (outages, latency, bandwidth between a client and a server).
- ``hostile``: ``HostileProcess`` / ``start_hostile`` (a misbehaving gateway process, 76 behaviours picked by
  model name ``hostile-<behaviour>``, counting what it did on ``/_hostile/stats``); ``hostile_behaviours``
  (the misbehaviours) and ``hostile_wire`` (its reply socket and OpenAI chunks).
"""

import os as _os

# The variables a test's own clean environment keeps (tests/conftest.py sets them for every test).
TEST_WIDE_ENV = ("LOADKIT_UNTRUSTED_EXIT_CODE",)


def loadkit_free_env(**extra: str) -> dict[str, str]:
    """os.environ without the caller's LOADKIT_* / LOCUST_* settings (the test-wide ones kept), plus ``extra``."""
    env = {k: v for k, v in _os.environ.items()
           if not (k.startswith("LOADKIT_") or k.startswith("LOCUST_")) or k in TEST_WIDE_ENV}
    env.update(extra)
    return env
