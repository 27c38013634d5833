"""tests/support/waits.py: polling returns the first truthy value, and a timeout names what was awaited."""

import time

import pytest

from tests.support.waits import wait_stable, wait_until


def test_wait_until_returns_the_first_truthy_value():
    values = iter([0, None, "", 7, 9])
    assert wait_until(lambda: next(values), 5, "a number", interval_s=0) == 7


def test_wait_until_fails_after_the_deadline_naming_what_and_the_last_value():
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0.2 s waiting for the answer \(last: 0\)"):
        wait_until(lambda: 0, 0.2, "the answer", interval_s=0.01)
    assert 0.2 <= time.monotonic() - started < 2.0


def test_wait_until_retries_ignored_exceptions_and_raises_others():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return "up"

    assert wait_until(flaky, 5, "a server", interval_s=0, ignoring=(ConnectionError,)) == "up"
    assert len(calls) == 3
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], 5, "a key", interval_s=0, ignoring=(ConnectionError,))


def test_wait_stable_returns_once_two_reads_agree():
    reads = iter([1, 2, 3, 3, 4])
    assert wait_stable(lambda: next(reads), 5, "a counter", interval_s=0) == 3


def test_wait_stable_fails_while_the_value_keeps_changing():
    counter = iter(range(10**6))
    with pytest.raises(AssertionError, match="a counter to stop changing"):
        wait_stable(lambda: next(counter), 0.2, "a counter", interval_s=0.01)
