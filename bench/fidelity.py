"""Timing fidelity of loadkit (issue 17): TTFT/ITL error against a fixed-timing simulator, by generator CPU.

Generator pinned to CPU 0, simulator (``--profile fixed``, TTFT 20 ms, ITL 2 ms, 16 tokens) to CPU 1.
One calibration run gives the generator's CPU per user; each level (10/25/50/70/90 % of a core) is
reached by users (up to ``--max-users``) and, past that, a CPU burner in the generator (a greenlet
holding the loop ``--burn-slice-ms`` at a time: the generator's own work, in medium stalls). At each
level, two runs with the same users and burner: chunks stamped by the kernel's receive time (the
gevent transport's default) and by the loop clock (the baseline, ``BENCH_CLOCK=loop``). True error
from records.jsonl.gz (TTFT - 20 ms, |ITL - 2 ms|, warm window only) beside the run's self-measured
``generator.timing_error_ms``, the simulator's own raw-socket error, and coalescing: how many token
gaps came inside one read (stamped 0 ms apart) and what that does to the ITL error. Ratio: kernel
error / loop error at the same level, same run of this script.

    python bench/fidelity.py [--levels 10,25,50,70,90] [--seconds 5] [--out bench/results/fidelity.json]
    python bench/fidelity.py --users 4,16,32 --bare   # by users only, with the bare FastHttpUser streams ratio
    python bench/fidelity.py --users 4,16,32 --bare --before fc941fb   # and the same runs on an older loadkit

``--before REF``: each user count also runs loadkit as it was at git REF (a detached worktree on
PYTHONPATH, its own bench/_overhead_loadkit.py), interleaved with the current code's run, so the
before/after table comes from one machine in one sitting. fc941fb is the last commit before issue 17.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead as ov  # noqa: E402

from loadkit.studies.calibrate import own_ttft_errors, read_send_log  # noqa: E402

TTFT_MS, ITL_MS, TOKENS = 20.0, 2.0, 16
SPEC = f"ttft_ms={TTFT_MS:g},itl_ms={ITL_MS:g},tokens={TOKENS}"
RESULTS = ov.BENCH / "results" / "fidelity.json"
USERS_FILE = ov.BENCH / "_fidelity_users.py"
MAX_BURN_DUTY = 0.85
RAW_START_DELAY_S = 3.0


def _pct(values: list[float], q: float) -> float | None:
    return round(ov._pct(values, q), 3) if values else None


def own_errors(records: list[dict], sends: list[tuple[float, float]]) -> dict:
    """The generator's own first-token error (loadkit.studies.calibrate.own_ttft_errors), flat for the table."""
    out = own_ttft_errors([(r["sent_at"], r["first_token_at"]) for r in records], sends)
    own, sim = out["own_ms"], out["simulator_ttft_ms"]
    late = lambda v: None if v is None else round(v - TTFT_MS, 3)  # noqa: E731
    return {"own_matched": out["matched"], "own_ttft_error_p50_ms": own["p50"], "own_ttft_error_p99_ms": own["p99"],
            "own_ttft_error_p99_9_ms": own["p99.9"], "own_ttft_error_max_ms": own["max"],
            "send_to_read_p99_ms": out["send_to_read_ms"]["p99"],
            "simulator_late_p50_ms": late(sim["p50"]), "simulator_late_p99_ms": late(sim["p99"])}


def true_errors(records_path: Path, window_ns: list[int], sends: list[tuple[float, float]] | None = None) -> dict:
    """Measured minus configured over the window's successful streams, and how often reads coalesced.

    ``sends`` (the simulator's --send-log): also the generator's own error, net of the simulator's lateness."""
    ttft, itl, itl_single, paired_loop = [], [], [], []
    kept: list[dict] = []
    gaps = coalesced_gaps = first_coalesced = 0
    clocks: dict[str, int] = {}
    with gzip.open(records_path, "rt") as lines:
        for line in lines:
            r = json.loads(line)
            if r["outcome"] != "ok" or r.get("first_token_at") is None:
                continue
            if not window_ns[0] <= r["started_wall_ns"] <= window_ns[1]:
                continue
            clocks[r.get("timing_clock") or "none"] = clocks.get(r.get("timing_clock") or "none", 0) + 1
            kept.append({"sent_at": r["sent_at"], "first_token_at": r["first_token_at"]})
            ttft.append((r["first_token_at"] - r["sent_at"]) * 1000 - TTFT_MS)
            if r.get("timing_clock") == "kernel" and r.get("first_token_read_lag_ms") is not None:
                # the same request as the loop clock would have stamped it: read time = arrival + read lag
                paired_loop.append(ttft[-1] + r["first_token_read_lag_ms"])
            t = r["token_times"]
            same = [b == a for a, b in zip(t, t[1:])]
            first_coalesced += bool(same and same[0])
            for i, (a, b) in enumerate(zip(t, t[1:])):
                err = abs((b - a) * 1000 - ITL_MS)
                itl.append(err)
                # a gap with neither end in a coalesced read: what kernel stamps give without coalescing
                if not same[i] and not (i > 0 and same[i - 1]) and not (i + 1 < len(same) and same[i + 1]):
                    itl_single.append(err)
            gaps += len(same)
            coalesced_gaps += sum(same)
    for values in (ttft, itl, itl_single, paired_loop):
        values.sort()
    return {"streams": len(ttft), "clocks": clocks,
            "ttft_error_p50_ms": _pct(ttft, 0.5), "ttft_error_p99_ms": _pct(ttft, 0.99),
            "ttft_error_p99_9_ms": _pct(ttft, 0.999), "itl_error_p99_ms": _pct(itl, 0.99),
            "itl_error_p99_outside_coalesced_ms": _pct(itl_single, 0.99),
            "coalesced_gap_share": round(coalesced_gaps / gaps, 4) if gaps else None,
            "first_token_coalesced_share": round(first_coalesced / len(ttft), 4) if ttft else None,
            "paired_loop_ttft_error_p99_ms": _pct(paired_loop, 0.99),
            **(own_errors(kept, sends) if sends else {})}


def _sim_error_during(url: str, seconds: float) -> tuple[threading.Thread, dict]:
    """The simulator's own TTFT error, by one raw-socket connection, while a generator run loads it.

    It starts RAW_START_DELAY_S in, once Locust's users are sending: run_locust starts its warm-up
    at the simulator's first request, which must be the generator's."""
    out: dict = {}

    def measure() -> None:
        time.sleep(RAW_START_DELAY_S)
        try:
            out.update(ov.simulator_error(url, seconds, connections=1))
        except (OSError, IndexError) as exc:  # no sample (a refused connection, an empty window)
            out["error"] = type(exc).__name__

    thread = threading.Thread(target=measure, daemon=True)
    thread.start()
    return thread, out


def one_run(url: str, sim: psutil.Process, users: int, clock: str, burn_duty: float, args, tmp: str,
            tree: Path | None = None) -> dict:
    """One loadkit run; ``tree``: an older checkout's loadkit instead of this one (``--before``)."""
    env = {"BENCH_CLOCK": clock, "BENCH_BURN_DUTY": f"{burn_duty:.4f}", "BENCH_BURN_SLICE_MS": f"{args.burn_slice_ms:g}"}
    locustfile = USERS_FILE
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
        locustfile = tree / "bench" / "_overhead_loadkit.py"
    raw, sim_error = _sim_error_during(url, args.seconds)
    lk = ov.run_locust("loadkit-fasthttp-stream", url, sim, users, args.seconds, args.warmup, env_extra=env,
                       results_dir=tmp, locustfile=locustfile)
    raw.join()
    summary = lk.get("summary", {})
    records = Path(tmp) / summary.get("run_id", "-") / "records.jsonl.gz"
    generator = summary.get("generator") or {}
    errors = true_errors(records, lk["window_wall_ns"], read_send_log(args.send_log)) if records.exists() else {}
    window_s = (lk["window_wall_ns"][1] - lk["window_wall_ns"][0]) / 1e9
    return {"clock": clock, "users": users, "burn_duty": round(burn_duty, 3),
            "generator_cpu_percent": round(lk["generator_cpu_percent"], 1),
            "generator_core_busy_percent": round(lk["generator_core_busy_percent"], 1),
            # from the run's own records: the simulator's count also holds the raw-socket probe's requests
            "streams_per_s": round(errors.get("streams", 0) / window_s, 1),
            **errors,
            "self_measured": generator.get("timing_error_ms"), "loop_lag_ms": generator.get("loop_lag_ms"),
            # the run's own estimate of its (kernel-clock) TTFT error p99, and how the true one compares to it
            "estimated_ttft_error_p99_ms": (generator.get("timing_error_ms") or {}).get("estimated_ttft_p99_ms"),
            "own_to_estimate": _ratio(errors.get("own_ttft_error_p99_ms"),
                                      (generator.get("timing_error_ms") or {}).get("estimated_ttft_p99_ms")),
            "trusted": summary.get("trusted"),
            "simulator_ttft_error_p50_ms": _round(sim_error.get("ttft_error_p50_ms")),
            "simulator_ttft_error_p99_ms": _round(sim_error.get("ttft_error_p99_ms"))}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else round(a / b, 3)


def by_cpu_level(url: str, sim: psutil.Process, args, tmp: str) -> tuple[dict, list[dict]]:
    # CPU = base + per_user * users (the process's own floor: probe, stats, sink), from two runs
    lo_users, hi_users = 2, args.calib_users
    lo = one_run(url, sim, lo_users, "kernel", 0.0, args, tmp)["generator_cpu_percent"]
    hi = one_run(url, sim, hi_users, "kernel", 0.0, args, tmp)["generator_cpu_percent"]
    per_user = max((hi - lo) / (hi_users - lo_users), 0.2)
    base = max(lo - per_user * lo_users, 0.0)
    print(f"calibration: {lo_users} users {lo}%, {hi_users} users {hi}% CPU: {base:.1f}% + {per_user:.2f}%/user",
          flush=True)
    levels = []
    for target in [int(x) for x in args.levels.split(",")]:
        users = max(2, min(args.max_users, round((target - base) / per_user)))
        burn = min(MAX_BURN_DUTY, max(0.0, (target - base - users * per_user) / 100.0))
        kernel = one_run(url, sim, users, "kernel", burn, args, tmp)
        loop = one_run(url, sim, users, "loop", burn, args, tmp)
        level = {"target_cpu_percent": target, "users": users, "burn_duty": round(burn, 3), "kernel": kernel,
                 "loop": loop,
                 "ttft_p99_ratio_kernel_to_loop": _ratio(kernel.get("ttft_error_p99_ms"), loop.get("ttft_error_p99_ms")),
                 "itl_p99_ratio_kernel_to_loop": _ratio(kernel.get("itl_error_p99_ms"), loop.get("itl_error_p99_ms")),
                 "streams_ratio_kernel_to_loop": _ratio(kernel["streams_per_s"], loop["streams_per_s"])}
        levels.append(level)
        print(f"target {target}%: users {users} burn {burn:.2f}: cpu {kernel['generator_cpu_percent']}/"
              f"{loop['generator_cpu_percent']}% ttft err p99 kernel {kernel.get('ttft_error_p99_ms')} loop "
              f"{loop.get('ttft_error_p99_ms')} ms", flush=True)
    return {"users": [lo_users, hi_users], "generator_cpu_percent": [lo, hi], "base_cpu_percent": round(base, 2),
            "cpu_percent_per_user": round(per_user, 3)}, levels


def _worktree(ref: str, tmp: str) -> Path:
    tree = Path(tmp) / f"before-{ref}"
    subprocess.run(["git", "worktree", "add", "--detach", "--force", str(tree), ref], cwd=ov.ROOT, check=True,
                   capture_output=True)
    return tree


def by_users(url: str, sim: psutil.Process, args, tmp: str) -> list[dict]:
    rows = []
    tree = _worktree(args.before, tmp) if args.before else None
    try:
        for repeat in range(args.repeats):  # interleaved: a noisy minute hits every user count alike
            for users in [int(u) for u in args.users.split(",")]:
                rows.append({"repeat": repeat, **_users_row(url, sim, users, args, tmp, tree)})
    finally:
        if tree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ov.ROOT, check=False,
                           capture_output=True)
    return rows


def median_rows(rows: list[dict]) -> list[dict]:
    """Per user count, the median of each number over the repeats (nested dicts too): the table's rows."""
    out = []
    for users in sorted({r["users"] for r in rows}):
        group = [r for r in rows if r["users"] == users]
        out.append(_median_of(group))
    return out


def _median_of(dicts: list[dict]) -> dict:
    merged: dict = {}
    for key in dicts[0]:
        values = [d.get(key) for d in dicts]
        if all(isinstance(v, dict) for v in values):
            merged[key] = _median_of(values)
        elif all(isinstance(v, bool) for v in values):
            merged[key] = f"{sum(values)}/{len(values)}"  # e.g. trusted in 2 of 3 repeats
        elif any(_number(v) for v in values) and all(_number(v) or v is None for v in values):
            merged[key] = round(statistics.median([v for v in values if v is not None]), 3)
        else:
            merged[key] = values[0]
    return merged


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _users_row(url: str, sim: psutil.Process, users: int, args, tmp: str, tree: Path | None) -> dict:
    row = one_run(url, sim, users, "kernel", 0.0, args, tmp)
    if tree is not None:
        before = one_run(url, sim, users, "kernel", 0.0, args, tmp, tree=tree)
        row["before"] = {k: before.get(k) for k in (
            "generator_cpu_percent", "streams_per_s", "streams", "ttft_error_p50_ms", "ttft_error_p99_ms",
            "ttft_error_p99_9_ms", "itl_error_p99_ms", "trusted", "simulator_ttft_error_p99_ms",
            "own_matched", "own_ttft_error_p50_ms", "own_ttft_error_p99_ms", "own_ttft_error_p99_9_ms")}
        row["before"]["ref"] = args.before
        row["before"]["loop_lag_p99_ms"] = (before.get("loop_lag_ms") or {}).get("p99")
        row["ttft_p99_ratio_after_to_before"] = _ratio(row.get("ttft_error_p99_ms"), before.get("ttft_error_p99_ms"))
        row["own_p99_ratio_after_to_before"] = _ratio(row.get("own_ttft_error_p99_ms"),
                                                      before.get("own_ttft_error_p99_ms"))
    if args.bare:
        # throughput: the bare user as it is; timing: the same user reading up to its first token a byte at a time
        bare = ov.run_locust("fasthttp-stream-json", url, sim, users, args.seconds, args.warmup)
        row["bare_streams_per_s"] = round(bare["requests_per_s"], 1)
        row["bare_cpu_percent"] = round(bare["generator_cpu_percent"], 1)
        row["streams_ratio"] = _ratio(row["streams_per_s"], row["bare_streams_per_s"])
        ttft_file = Path(tmp) / f"bare-{users}.json"
        timed = ov.run_locust("fasthttp-stream-json", url, sim, users, args.seconds, args.warmup,
                              env_extra={"BENCH_TTFT_FILE": str(ttft_file)})
        row["bare_timed_cpu_percent"] = round(timed["generator_cpu_percent"], 1)
        row.update(_bare_ttft_errors(ttft_file, timed["window_wall_ns"], read_send_log(args.send_log)))
    return row


def _bare_ttft_errors(path: Path, window_ns: list[int], sends: list[tuple[float, float]]) -> dict:
    """The bare FastHttpUser's TTFT error over the window, as it timed its own first tokens (the loop clock)."""
    if not path.exists():
        return {}
    kept = [{"sent_at": sent, "first_token_at": first} for started_ns, sent, first in json.loads(path.read_text())
            if window_ns[0] <= started_ns <= window_ns[1]]
    ttft = sorted((r["first_token_at"] - r["sent_at"]) * 1000 - TTFT_MS for r in kept)
    own = own_errors(kept, sends) if sends else {}
    return {"bare_ttft_error_p50_ms": _pct(ttft, 0.5), "bare_ttft_error_p99_ms": _pct(ttft, 0.99),
            "bare_ttft_error_p99_9_ms": _pct(ttft, 0.999),
            **{f"bare_{k}": v for k, v in own.items() if k.startswith("own_ttft")}}


def _print_levels(levels: list[dict]) -> None:
    print(f"{'target':>6} {'users':>5} {'burn':>5} {'cpu% k/l':>11} {'ttft p50 k/l':>13} {'ttft p99 k/l':>13} "
          f"{'p99.9 k/l':>13} {'itl p99 k/l':>13} {'ratio':>6} {'paired':>7} {'coal%':>6} {'self p99 k':>10} "
          f"{'lag p99':>8} {'sim p99 k/l':>11} {'own p99 k/l':>13}")
    for lv in levels:
        k, lo = lv["kernel"], lv["loop"]
        pair = lambda key: f"{k.get(key)!s}/{lo.get(key)!s}"  # noqa: E731
        s = k["self_measured"] or {}
        self_p99 = (s.get("ttft_ms") or {}).get("p99")
        lag_p99 = (s.get("read_lag_ms") or {}).get("p99")
        cpu = f"{k['generator_cpu_percent']}/{lo['generator_cpu_percent']}"
        coal = k.get("coalesced_gap_share")
        print(f"{lv['target_cpu_percent']:>6} {lv['users']:>5} {lv['burn_duty']:>5} "
              f"{cpu:>11} {pair('ttft_error_p50_ms'):>13} "
              f"{pair('ttft_error_p99_ms'):>13} {pair('ttft_error_p99_9_ms'):>13} {pair('itl_error_p99_ms'):>13} "
              f"{lv['ttft_p99_ratio_kernel_to_loop']!s:>6} "
              f"{k.get('paired_loop_ttft_error_p99_ms')!s:>7} "
              f"{'-' if coal is None else round(100 * coal, 1):>6} {self_p99!s:>10} {lag_p99!s:>8} "
              f"{pair('simulator_ttft_error_p99_ms'):>11} {pair('own_ttft_error_p99_ms'):>13}")


def _print_rows(rows: list[dict]) -> None:
    print("own: first-token stamp minus the simulator's write of it (--send-log; the generator's error alone);"
          " vs cfg: TTFT minus the configured 20 ms (the simulator's lateness included); bare: a FastHttpUser"
          " timing its own first token; before: loadkit at --before; sim late: the simulator's own first-token"
          " lateness (its write minus its read minus 20 ms, from --send-log); est: the run's own estimate of its"
          " error p99 (generator.timing_error_ms.estimated_ttft_p99_ms, the loop lag p99), own/est: the true one over it")
    print(f"{'users':>5} {'cpu%':>5} {'own p50/p99/p99.9 ms':>21} {'vs cfg p99':>10} {'trusted':>7} {'streams/s':>9} "
          f"{'bare x':>6} {'bare own p99':>12} {'before cpu%':>11} {'before own p50/p99/p99.9':>24} "
          f"{'before vs cfg':>13} {'before trusted':>14} {'sim late p99':>12} {'est p99':>7} {'own/est':>7}")
    for r in rows:
        b = r.get("before") or {}
        own = lambda d: f"{d.get('own_ttft_error_p50_ms')}/{d.get('own_ttft_error_p99_ms')}/{d.get('own_ttft_error_p99_9_ms')}"  # noqa: E731
        print(f"{r['users']:>5} {r['generator_cpu_percent']:>5} {own(r):>21} {r.get('ttft_error_p99_ms')!s:>10} "
              f"{r.get('trusted')!s:>7} {r['streams_per_s']:>9} {r.get('streams_ratio')!s:>6} "
              f"{r.get('bare_own_ttft_error_p99_ms')!s:>12} {b.get('generator_cpu_percent')!s:>11} "
              f"{own(b) if b else '-':>24} {b.get('ttft_error_p99_ms')!s:>13} {b.get('trusted')!s:>14} "
              f"{r.get('simulator_late_p99_ms')!s:>12} {r.get('estimated_ttft_error_p99_ms')!s:>7} "
              f"{r.get('own_to_estimate')!s:>7}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="10,25,50,70,90", help="target generator CPU %% levels")
    ap.add_argument("--users", default="", help="by user counts instead of CPU levels (kernel clock only)")
    ap.add_argument("--bare", action="store_true", help="with --users: also the bare FastHttpUser streams ratio")
    ap.add_argument("--repeats", type=int, default=1, help="with --users: repeat each run, the table shows medians")
    ap.add_argument("--before", default="", help="with --users: also run loadkit as at this git ref (before/after)")
    ap.add_argument("--calib-users", type=int, default=16, help="the upper calibration point (the lower: 2)")
    ap.add_argument("--max-users", type=int, default=12,
                    help="past this the burner makes up the CPU level (more users overload the simulator here)")
    ap.add_argument("--burn-slice-ms", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    ov.FIXED_TTFT_MS = TTFT_MS  # the raw-socket client subtracts it
    load_before = os.getloadavg()
    args.send_log = Path(tempfile.mkdtemp(prefix="fidelity-")) / "sends.log"
    sim_proc, url = ov.start_simulator(["--profile", "fixed", "--fixed", SPEC, "--send-log", str(args.send_log)])
    sim = psutil.Process(sim_proc.pid)
    result: dict = {"simulator": f"--profile fixed --fixed {SPEC}"}
    try:
        result["simulator_own_error_raw_socket"] = sim_error = ov.simulator_error(url, min(args.seconds, 3.0))
        with tempfile.TemporaryDirectory() as tmp:
            if args.users:
                result["rows"] = by_users(url, sim, args, tmp)
            else:
                result["calibration"], result["levels"] = by_cpu_level(url, sim, args, tmp)
    finally:
        sim_proc.terminate()
        sim_proc.wait(timeout=10)
    result.update({"load_average_before": load_before, "load_average_after": os.getloadavg(),
                   "goals": {"ttft_error_p99_ms": 1.0, "ttft_error_p99_9_ms": 2.0, "itl_error_p99_ms": 0.5,
                             "up_to_cpu_percent": 70, "streams_ratio": 1.0}})
    print(f"\nsimulator own TTFT error (raw socket): p50 {sim_error['ttft_error_p50_ms']:.2f} p99 "
          f"{sim_error['ttft_error_p99_ms']:.2f} ms; load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    if "levels" in result:
        print("k/l: kernel clock / loop clock (same users and burner); ratio: kernel TTFT err p99 / loop's;"
              " paired: the kernel run's TTFT err p99 as the loop clock stamped the same requests;"
              " coal%: token gaps inside one read (kernel run); self p99 k: timing_error_ms.ttft_ms p99 (coalescing"
              " bound); lag p99: kernel-measured read lag p99; sim p99: raw-socket TTFT err p99 during each run")
        _print_levels(result["levels"])
    else:
        result["medians"] = median_rows(result["rows"])
        if args.repeats > 1:
            print(f"medians of {args.repeats} repeats")
        _print_rows(result["medians"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
