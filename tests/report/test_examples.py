"""The CI examples: the workflow is valid YAML that gates on SLOs; its summary script runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _workflow() -> dict:
    return yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())


def _steps() -> list[dict]:
    return _workflow()["jobs"]["loadtest"]["steps"]


def test_workflow_runs_headless_with_slos_and_key_from_a_secret():
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    job = workflow["jobs"]["loadtest"]
    assert job["env"]["LOADKIT_API_KEY"] == "${{ secrets.LOADKIT_API_KEY }}"
    run = next(s for s in _steps() if s.get("id") == "run")["run"]
    assert "loadkit run" in run and "--slo examples/slo.toml" in run and "--users" in run and "--run-time" in run
    assert "LOADKIT_API_KEY" not in run.split("loadkit run", 1)[1]  # never passed as a flag


def test_workflow_uploads_results_and_fails_on_the_exit_code_even_after_failure():
    steps = _steps()
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "results/" and upload["if"] == "always()"
    gate = steps[-1]
    assert gate["if"] == "always()" and "steps.run.outputs.exit_code" in gate["run"]
    for code in ("1", "2", "3"):
        assert re.search(rf"^\s*{code}\) .*exit {code}", gate["run"], re.M)


def test_workflow_summary_script_renders_the_slo_table(sample_run):
    step = next(s for s in _steps() if s.get("name", "").startswith("Write the SLO verdict"))
    script = textwrap.dedent(step["run"].split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0])
    summary = json.loads((sample_run / "summary.json").read_text())
    summary["slo"] = {"passed": False, "checks": [
        {"name": "gpt-4o-mini: ttft_ms.p95 < 1000", "limit": 1000.0, "value": 341.9, "passed": True},
        {"name": "overall: success_rate >= 0.997", "limit": 0.997, "value": 0.9947, "passed": False}]}
    path = sample_run.parent / "gha-summary.json"
    path.write_text(json.dumps(summary))
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True).stdout
    assert out.startswith(f"## loadkit {summary['run_id']}: SLOs FAILED")
    assert "| overall: success_rate >= 0.997 | 0.9947 | 0.997 | ❌ |" in out
