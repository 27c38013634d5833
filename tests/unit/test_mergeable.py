"""Mergeable stats are exact: RunStats round trip, record vs record_many, WorkerSnapshot and window merges."""

import random

import pytest

from loadkit.core.metrics import LatencyHistogram
from loadkit.core.records import RequestRecord
from loadkit.core.snapshot import WorkerSnapshot, merge
from loadkit.core.stats import RunStats
from loadkit.core.summary import model_block
from loadkit.core.windows import WindowStats

WALL0_NS = 1_764_633_600 * 10**9  # a 5 s window boundary


def _records(seed: int, n: int = 200) -> list[RequestRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sent = i * 0.05
        ttft = rng.uniform(0.02, 0.2)
        tokens = [sent + ttft + k * rng.uniform(0.003, 0.01) for k in range(rng.randint(1, 12))]
        status = 429 if i % 17 == 0 else 200
        out.append(RequestRecord(rng.choice(["gpt-4o-mini", "claude-4-haiku"]), sent_at=sent, intended_at=sent,
                                 first_token_at=tokens[0] if status == 200 else None,
                                 token_times=tokens if status == 200 else [], done_at=tokens[-1] + 0.001,
                                 status=status, outcome="ok" if status == 200 else "rate_limited",
                                 output_tokens=len(tokens) if status == 200 else 0, input_tokens=20,
                                 final=status == 200, cold=i == 0, started_wall_ns=WALL0_NS + int(sent * 1e9)))
    return out


def test_runstats_round_trip_and_merge_equal_one_process_seeing_everything():
    a, b = _records(1), _records(2)
    whole, left, right = RunStats(), RunStats(), RunStats()
    for r in a + b:
        whole.add(r)
    for r in a:
        left.add(r)
    for r in b:
        right.add(r)
    merged = RunStats.from_dict(left.to_dict())
    merged.merge(RunStats.from_dict(right.to_dict()))
    assert model_block(merged.totals(), 10.0) == model_block(whole.totals(), 10.0)
    assert merged.totals().requests == sum(r.final for r in a + b)


def test_record_and_record_many_give_the_same_histogram():
    values = [random.Random(3).uniform(0.001, 5000.0) for _ in range(5000)] + [0.0, -1.0, 3_600_001.0]
    one, many = LatencyHistogram(), LatencyHistogram()
    for v in values:
        one.record(v)
    many.record_many(values)
    assert one.summary() == many.summary()
    assert one.count == many.count == len(values)


def test_worker_snapshot_wire_round_trip_and_merge_is_exact():
    snaps = []
    for seed in (4, 5):
        stats, windows = RunStats(), WindowStats()
        for r in _records(seed):
            stats.add(r)
            windows.add(r)
        snap = WorkerSnapshot(f"w{seed}", stats, final=True, windows=windows, interrupted=seed, cpu_busy_share=seed / 10,
                              sink={"written": seed * 10, "dropped": 1, "buffered_peak": seed})
        snaps.append(WorkerSnapshot.from_wire(snap.to_wire()))
    view = merge(snaps)
    assert view.stats.totals().requests == sum(s.stats.totals().requests for s in snaps)
    assert view.interrupted == 9 and view.cpu_busy_share == pytest.approx(0.5)
    assert view.sink["written"] == 90 and view.sink["dropped"] == 2 and view.sink["buffered_peak"] == 5
    table = view.windows.table()
    assert sum(m["requests"] for w in table["windows"] for m in w["models"].values()) == view.stats.totals().requests


def test_a_periodic_snapshot_never_replaces_a_final_one_and_windows_accumulate():
    stats, windows = RunStats(), WindowStats()
    records = _records(6)
    for r in records[:100]:
        stats.add(r)
        windows.add(r)
    first = WorkerSnapshot.from_wire(WorkerSnapshot("w", stats, windows=windows).to_wire(windows.to_dict(only_dirty=True)))
    for r in records[100:]:
        stats.add(r)
        windows.add(r)
    second = WorkerSnapshot.from_wire(WorkerSnapshot("w", stats, windows=windows).to_wire(windows.to_dict(only_dirty=True)))
    kept = second.newer(first)
    requests = sum(m["requests"] for w in kept.windows.table()["windows"] for m in w["models"].values())
    assert requests == sum(r.final for r in records)  # only-dirty reports still add up to everything
    final = WorkerSnapshot("w", stats, final=True)
    assert WorkerSnapshot("w", RunStats()).newer(final) is final


def test_windows_merge_equals_one_window_set_and_the_last_window_is_marked_partial():
    a, b = _records(7), _records(8)
    whole, left, right = WindowStats(), WindowStats(), WindowStats()
    whole.add_many(a + b)
    left.add_many(a)
    right.add_many(b)
    merged = WindowStats.merged([WindowStats.from_dict(left.to_dict()), WindowStats.from_dict(right.to_dict())])
    start = WALL0_NS / 1e9
    assert merged.table(start, start + 10.3) == whole.table(start, start + 10.3)
    last = whole.table(start, start + 10.3)["windows"][-1]
    assert last["partial"] is True and last["length_s"] == pytest.approx(0.3)
