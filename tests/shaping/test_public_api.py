"""Public surface of the shaping modules, and the core rule: no locust, no gevent."""

import subprocess
import sys

import loadkit.workload.arrivals
import loadkit.client.discovery
import loadkit.studies.ramp
import loadkit.workload
import loadkit.workload.tasks
from loadkit.studies.ramp import open_loop_step


def test_public_names():
    assert set(loadkit.workload.__all__) == {
        "CategorySpec", "DEFAULT_INPUT_TOKENS", "Distribution", "FACTS", "PromptItem", "Workload", "build_prompt",
        "load_prompt_set", "load_workload_table", "parse_distribution"}
    assert set(loadkit.workload.arrivals.__all__) >= {"ArrivalSchedule", "ThinkTime", "share", "assess_schedule"}
    assert set(loadkit.studies.ramp.__all__) == {"StepResult", "RampStep", "RampResult", "find_rate_limit", "open_loop_step",
                                         "ChatStepRunner"}
    assert set(loadkit.workload.tasks.__all__) == {"CATEGORIES", "check", "apply", "MIN_CREATIVE_WORDS"}
    assert set(loadkit.client.discovery.__all__) == {"resolve_models", "parse_models_response"}
    for mod in (loadkit.workload, loadkit.workload.arrivals, loadkit.studies.ramp, loadkit.workload.tasks, loadkit.client.discovery):
        for name in mod.__all__:
            assert hasattr(mod, name), (mod.__name__, name)


def test_shaping_modules_import_neither_locust_nor_gevent():
    code = ("import sys, loadkit.workload, loadkit.workload.arrivals, loadkit.studies.ramp, loadkit.workload.tasks, loadkit.client.discovery; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')]; print(bad); "
            "sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_open_loop_step_sends_exactly_rate_times_duration_and_counts_statuses():
    statuses = iter([200, 429, 200, 500] * 10)
    now = [0.0]
    result = open_loop_step(lambda: next(statuses), 8.0, 2.5, clock=lambda: now[0],
                            sleep=lambda s: now.__setitem__(0, now[0] + s), max_in_flight=1)
    assert (result.sent, result.ok, result.n429) == (20, 10, 5)


def test_open_loop_step_counts_a_crashing_send_as_sent_without_answer():
    def boom():
        raise RuntimeError("socket gone")

    now = [0.0]
    result = open_loop_step(boom, 4.0, 1.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert (result.sent, result.ok, result.n429) == (4, 0, 0)
