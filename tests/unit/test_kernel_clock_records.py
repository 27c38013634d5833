"""Which clock stamped a record (timing_clock) survives the record file, and the monitor's kernel branch."""

import orjson
import pytest

from loadkit.core.metrics import LatencyHistogram
from loadkit.core.records import RequestRecord, record_from_dict, record_to_dict
from loadkit.locust.monitor import TimingMonitor, timing_error_summary


def _kernel_record() -> RequestRecord:
    # headers at 10.002; reads stamped 10.060 (role + 2 tokens: coalesced), 10.075, 10.090
    return RequestRecord(model="m", sent_at=10.0, headers_at=10.002, first_event_at=10.060,
                         first_token_at=10.060, token_times=[10.060, 10.060, 10.075, 10.090], done_at=10.091,
                         timing_clock="kernel", first_token_read_lag_ms=17.5, read_lag_ms=17.5)


def test_timing_clock_and_read_lags_round_trip_through_the_record_file_and_old_lines_read_as_unmeasured():
    rec = _kernel_record()
    back = record_from_dict(orjson.loads(orjson.dumps(record_to_dict(rec))))
    assert back == rec
    old = record_to_dict(rec)
    for key in ("timing_clock", "first_token_read_lag_ms", "read_lag_ms"):
        old.pop(key)
    assert record_from_dict(old).timing_clock is None


def test_a_kernel_record_feeds_its_measured_read_lag_and_only_its_coalescing_error():
    monitor = TimingMonitor(LatencyHistogram())
    rec = _kernel_record()
    monitor.stamp(rec)
    assert rec.timing_clock == "kernel" and rec.first_token_read_lag_ms == 17.5  # kept, not re-bounded
    assert monitor.kernel_stamped == 1 and monitor.loop_stamped == 0
    # first token shares its read with the second: it may be early by up to 60 - 2 ms (since the headers)
    assert monitor.ttft_error.max() == pytest.approx(58.0)
    assert monitor.itl_error.count == 3 and monitor.read_lag.max() == pytest.approx(17.5)
    loop = RequestRecord(model="m", sent_at=20.0, first_token_at=20.05, token_times=[20.05, 20.06], done_at=20.07)
    monitor.stamp(loop)
    assert (loop.timing_clock, loop.first_token_read_lag_ms) == ("loop", 0.0)  # no late wakes: not late
    summary = timing_error_summary(monitor, [{"timing_error": {"ttft_ms": LatencyHistogram().to_dict(),
                                                               "itl_ms": LatencyHistogram().to_dict()}}])
    assert summary["clock"] == "mixed" and (summary["kernel_stamped"], summary["loop_stamped"]) == (1, 1)
    assert summary["ttft_ms"]["count"] == 2 and summary["read_lag_ms"]["count"] == 2
