"""Run ``loadkit run`` as a real process (``python -m loadkit.cli``), for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["run_loadkit"]


def run_loadkit(args: list[str], results_dir: Path, env_extra: dict[str, str] | None = None,
                timeout_s: float = 120) -> subprocess.CompletedProcess:
    """``loadkit run --results-dir results_dir *args``, output captured as text.

    The caller's LOADKIT_API_KEY is dropped (a test never sends a developer's key); ``env_extra`` sets it if needed.
    """
    env = dict(os.environ)
    env.pop("LOADKIT_API_KEY", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "loadkit.cli", "run", "--results-dir", str(results_dir), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
