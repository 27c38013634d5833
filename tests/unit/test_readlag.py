"""The read-lag bound from late probe wakes (loadkit.core.readlag): which reads a stall delays and by how much."""

import pytest

from loadkit.core.readlag import READ_SLACK_S, gap_errors_ms, read_lags_ms


def test_read_inside_a_stall_is_late_by_the_time_since_the_wake_was_due():
    # the loop was not free from 10.000 to 10.004 (a 2 ms probe due at 10.000 woke at 10.004)
    lags = read_lags_ms([9.990, 10.004, 10.006], [(10.000, 10.004)])
    assert lags[0] == 0.0
    assert abs(lags[1] - 4.0) < 1e-9
    assert lags[2] == 0.0  # 2 ms after the wake: the loop was free again


def test_read_just_before_the_probe_in_the_same_iteration_counts_up_to_its_own_time():
    lags = read_lags_ms([10.003], [(10.000, 10.004)])
    assert abs(lags[0] - 3.0) < 1e-9


def test_read_within_slack_after_the_wake_is_bounded_by_the_wake():
    lags = read_lags_ms([10.004 + READ_SLACK_S / 2], [(10.000, 10.004)])
    assert abs(lags[0] - 4.0) < 1e-9


def test_overlapping_stalls_take_the_larger_bound():
    lags = read_lags_ms([10.005], [(10.004, 10.005), (10.001, 10.005)])
    assert abs(lags[0] - 4.0) < 1e-9


def test_no_late_wakes_means_zero_lag_for_every_read():
    assert read_lags_ms([1.0, 1.1, 1.2], []) == [0.0, 0.0, 0.0]


def test_gap_error_is_the_difference_of_the_two_reads_lags():
    assert gap_errors_ms([0.0, 4.0, 4.0, 1.0]) == [4.0, 0.0, 3.0]


def test_tokens_coalesced_in_one_read_may_be_early_by_the_time_since_the_previous_stamp():
    from loadkit.core.readlag import coalesced_errors_ms, gap_bounds_ms

    # reads stamped at 1.000 (two tokens), 1.015, 1.045 (three tokens); the headers came at 0.940
    stamps = [1.000, 1.000, 1.015, 1.045, 1.045, 1.045]
    errors = coalesced_errors_ms(stamps, None, 0.940, 0.930)
    assert [round(e, 6) for e in errors] == [60.0, 0.0, 0.0, 30.0, 30.0, 0.0]
    assert [round(g, 6) for g in gap_bounds_ms(errors)] == [60.0, 0.0, 30.0, 30.0, 30.0]
    # an earlier time equal to the first stamp (the role event in the same read) is not "before" it
    assert coalesced_errors_ms([2.0, 2.0], 2.0, 1.9)[0] == pytest.approx(100.0)
    assert coalesced_errors_ms([1.0, 1.1, 1.2], 0.5) == [0.0, 0.0, 0.0]  # one token a read: exact
    assert coalesced_errors_ms([], 0.5) == []
