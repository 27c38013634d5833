"""JUnit XML of SLO checks validates against the common schema, one testcase per check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from loadkit.report.junit import write_junit
from loadkit.core.slo import evaluate, load_slos

XSD = Path(__file__).with_name("junit.xsd")
EXAMPLE_SLOS = Path(__file__).resolve().parents[2] / "examples" / "slo.toml"


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(XSD))


def test_junit_has_one_testcase_per_check_and_validates(tmp_path, schema, sample_summary):
    result = evaluate(load_slos(EXAMPLE_SLOS), sample_summary)
    path = write_junit(result, tmp_path / "junit.xml", "loadkit.slo")
    schema.validate(str(path))  # raises with the reason when invalid
    root = ET.parse(path).getroot()
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [c["name"] for c in result["checks"]]
    failed = [c for c in result["checks"] if not c["passed"]]
    assert len(failed) >= 1  # the sample run misses the 0.3 % error-rate objective
    suite = root.find("testsuite")
    assert suite.get("tests") == str(len(result["checks"]))
    assert suite.get("failures") == str(len(failed))
    failures = {c.get("name"): c.find("failure") for c in cases}
    for check in result["checks"]:
        assert (failures[check["name"]] is None) is check["passed"]


def test_failure_message_carries_value_and_limit(tmp_path, schema):
    result = {"passed": False, "checks": [
        {"name": "gpt-4o-mini: ttft_ms.p95 < 1000", "limit": 1000.0, "value": 1234.5, "passed": False},
        {"name": "overall: itl_ms.p99 < 80", "limit": 80.0, "value": None, "passed": False},
        {"name": "sink.dropped == 0", "limit": 0.0, "value": 0, "passed": True},
        {"name": "names with <xml> & \"quotes\"", "limit": True, "value": False, "passed": False},
    ]}
    path = write_junit(result, tmp_path / "out" / "junit.xml", "my-suite")
    schema.validate(str(path))
    cases = ET.parse(path).getroot().findall("./testsuite/testcase")
    assert len(cases) == 4
    assert cases[0].find("failure").get("message") == "gpt-4o-mini: ttft_ms.p95 < 1000: measured 1234.5, limit 1000"
    assert "no value in the summary" in cases[1].find("failure").get("message")
    assert cases[2].find("failure") is None
    assert cases[3].get("name") == 'names with <xml> & "quotes"'
    assert cases[3].find("failure").get("message").endswith("measured false, limit true")


def test_no_checks_is_an_empty_valid_suite(tmp_path, schema):
    path = write_junit({"passed": True, "checks": []}, tmp_path / "junit.xml", "loadkit.slo")
    schema.validate(str(path))
    assert ET.parse(path).getroot().find("testsuite").get("tests") == "0"


def test_schema_rejects_a_testcase_without_name(tmp_path, schema):
    # The XSD must be able to say no, or validating against it proves nothing.
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="s" tests="1"><testcase classname="x"/></testsuite></testsuites>')
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(str(bad))
