"""The public surface is what the README says, and the core stays free of Locust and gevent."""

import re
import subprocess
import sys
from pathlib import Path

import loadkit

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_exactly_what_the_readme_lists():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("The public names (`loadkit.__all__`):", 1)[1].split("The core", 1)[0]
    documented = set(re.findall(r"`([A-Za-z_]+)`", block))
    assert documented == set(loadkit.__all__)
    for name in loadkit.__all__:
        assert hasattr(loadkit, name), name


def test_core_modules_import_neither_locust_nor_gevent():
    core = ["loadkit", "loadkit.client.chat", "loadkit.protocol.sse", "loadkit.core.metrics", "loadkit.core.stats", "loadkit.settings",
            "loadkit.client.retry", "loadkit.core.pricing", "loadkit.client.preflight", "loadkit.workload", "loadkit.workload.arrivals",
            "loadkit.workload.tasks", "loadkit.studies.coldstart", "loadkit.studies.overhead", "loadkit.studies.capacity", "loadkit.sinks",
            "loadkit.core.summary", "loadkit.core.slo", "loadkit.report.html", "loadkit.transport.httpx_http",
            "loadkit.cli.main", "loadkit.locust.commands"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in core) +
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent'))\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_simulator_imports_nothing_from_the_client_side():
    code = ("import sys\nimport loadkit.simulator\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith('loadkit.') and not m.startswith(('loadkit.simulator', 'loadkit._aliases')))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    # the package __init__ is lazy: nothing of the client, metrics or sinks comes along
    assert out.strip() == ""
