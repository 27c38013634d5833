"""Coverage-guided fuzzing (atheris) of loadkit's parsers, N seconds per target.

    python bench/fuzz_atheris.py --seconds 60            # every target, one after the other
    python bench/fuzz_atheris.py --seconds 30 --target sse

Each target runs in its own process (atheris.Fuzz never returns). Prints a
table (target, seconds, executions, crashes) and writes
bench/results/fuzz_atheris.json; a crash input is saved as
bench/results/crash-<target>-* for replay with tests/hardening/fuzz_targets.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _child(target: str, seconds: int, corpus: str) -> None:
    import atheris

    with atheris.instrument_imports(include=["loadkit"]):
        sys.path.insert(0, str(ROOT))
        from tests.hardening import fuzz_targets
    fn = fuzz_targets.TARGETS[target]
    for i, seed in enumerate(fuzz_targets.SEEDS.get(target, [])):
        Path(corpus, f"seed{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-max_len=4096", "-rss_limit_mb=1024", "-timeout=5",
                   f"-artifact_prefix={RESULTS}/crash-{target}-", corpus], fn)
    atheris.Fuzz()


def run(target: str, seconds: int) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as corpus:
        proc = subprocess.run([sys.executable, __file__, "--child", target, "--seconds", str(seconds), "--corpus", corpus],
                              capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    runs = re.findall(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)", proc.stderr)
    coverage = re.findall(r"cov: (\d+)", proc.stderr)
    crashed = proc.returncode != 0
    return {"target": target, "seconds": seconds, "executions": int(runs[-1]) if runs else 0,
            "coverage_edges": int(coverage[-1]) if coverage else 0, "crashed": crashed,
            "crash_tail": proc.stderr[-1500:] if crashed else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--target", action="append", help="one target (repeatable); default: all")
    parser.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once (each is its own process)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--json", default=str(RESULTS / "fuzz_atheris.json"))
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.seconds, args.corpus)
        return 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (pip install atheris); tests/hardening/test_fuzz.py covers the same targets "
              "with hypothesis", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from tests.hardening.fuzz_targets import TARGETS

    targets = args.target or list(TARGETS)
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda t: run(t, args.seconds), targets))
    print(f"{'target':<14} {'seconds':>7} {'executions':>11} {'cov edges':>9}  result")
    for r in rows:
        print(f"{r['target']:<14} {r['seconds']:>7} {r['executions']:>11} {r['coverage_edges']:>9}  "
              f"{'CRASH' if r['crashed'] else 'ok'}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2))
    return 1 if any(r["crashed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
