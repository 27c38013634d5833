"""The one step driver's schedule: due times from the index, an abort that stops sending."""

from loadkit.core import bootstrap
from loadkit.studies import driver, ramp
from loadkit.studies.capacity import StepDriver


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_open_loop_sends_at_due_times_without_drift():
    clock = FakeClock()
    sent: list[float] = []

    def submit(due: float) -> float:
        sent.append(clock())
        clock.now += 0.013  # a slow submit must not push later due times back
        return due

    dues, stopped = driver.run_open_loop(submit, 4.0, 100.0, 102.5, clock=clock, sleep=clock.sleep)
    assert not stopped
    assert dues == [100.0 + i * 0.25 for i in range(10)]
    assert sent == [100.0 + i * 0.25 for i in range(10)]


def test_open_loop_stops_when_admit_refuses():
    clock = FakeClock()
    allowed = iter([True, True, True, False, True])
    dues, stopped = driver.run_open_loop(lambda due: due, 10.0, 100.0, 101.0, clock=clock, sleep=clock.sleep,
                                         admit=lambda: next(allowed))
    assert stopped and len(dues) == 3


def test_every_study_shares_the_one_driver_and_bootstrap():
    assert StepDriver is driver.StepDriver
    assert issubclass(ramp.ChatStepRunner, driver.StepDriver)
    from loadkit.studies import coldstart, overhead
    assert coldstart.send_at is overhead.send_at is driver.send_at
    assert coldstart.bootstrap_median_difference is overhead.bootstrap_median_difference \
        is bootstrap.bootstrap_median_difference
