"""Cold starts across workers: a mark stays cold only when no worker touched the model for idle_s."""

from loadkit.core.coldview import ActivityLog, cold_count_all_workers, merge_runs


def test_runs_merge_into_ranges():
    assert merge_runs([[5, 5], [1, 1], [2, 2], [3, 4], [9, 9]]) == [[1, 5], [9, 9]]


def test_two_workers_first_requests_are_one_cold_start_from_the_gateways_view():
    a, b = ActivityLog(), ActivityLog()
    a.note("m", 100.2, cold=True)   # worker a starts first
    b.note("m", 100.7, cold=True)   # worker b's first request: cold for b, warm for the gateway
    for t in range(101, 110):
        a.note("m", t + 0.5, cold=False)
        b.note("m", t + 0.1, cold=False)
    assert cold_count_all_workers([a.to_dict(), b.to_dict()], idle_s=30) == {"m": 1}


def test_idle_gap_seen_by_every_worker_is_cold_again():
    a, b = ActivityLog(), ActivityLog()
    a.note("m", 10.0, cold=True)
    b.note("m", 200.0, cold=True)   # 190 s after a's last request, idle_s 60: cold for everyone
    assert cold_count_all_workers([a.to_dict(), b.to_dict()], idle_s=60) == {"m": 2}


def test_a_worker_idle_while_another_kept_the_model_warm_is_not_cold():
    a, b = ActivityLog(), ActivityLog()
    a.note("m", 0.0, cold=True)
    for t in range(1, 300):
        b.note("m", float(t), cold=(t == 1))
    a.note("m", 200.0, cold=True)  # a was idle 200 s, but b sent every second
    assert cold_count_all_workers([a.to_dict(), b.to_dict()], idle_s=60) == {"m": 1}
