"""JUnit XML of the SLO checks: one ``<testcase>`` per check, so CI systems list them.

The shape is the common Jenkins/xunit JUnit schema (``testsuites`` >
``testsuite`` > ``testcase`` with ``failure`` children); GitHub, GitLab,
Jenkins and Azure all read it. A failed check carries its measured value and
limit in the failure message; a check whose metric was missing says so.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["write_junit", "junit_xml"]


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def junit_xml(slo_result: dict, suite_name: str = "loadkit.slo", timestamp: datetime | None = None) -> str:
    """The JUnit XML document (a string) for an ``evaluate()`` result."""
    checks = slo_result.get("checks", [])
    failures = sum(1 for c in checks if not c.get("passed"))
    stamp = (timestamp or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name=suite_name, tests=str(len(checks)), failures=str(failures),
                      errors="0", time="0")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(checks)), failures=str(failures),
                          errors="0", skipped="0", time="0", timestamp=stamp, hostname=socket.gethostname())
    for check in checks:
        case = ET.SubElement(suite, "testcase", name=str(check.get("name", "")), classname=suite_name, time="0")
        if check.get("passed"):
            continue
        value = check.get("value")
        if value is None:
            message = f"{check.get('name')}: no value in the summary (metric missing or no data)"
        else:
            message = f"{check.get('name')}: measured {_text(value)}, limit {_text(check.get('limit'))}"
        failure = ET.SubElement(case, "failure", message=message, type="SLOFailure")
        failure.text = message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(slo_result: dict, path: str | Path, suite_name: str = "loadkit.slo") -> Path:
    """Write the JUnit XML for ``slo_result`` to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(slo_result, suite_name), encoding="utf-8")
    return path
