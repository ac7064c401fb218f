"""The report's data without a run: the minute grid, the results.json round trip and
its schema check, the verdict message parser, the console's line and area table."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from interopgate.plugin import console
from interopgate.report import CheckResult, RunReport, area_of, minute_grid
from interopgate.report import html as report_html
from interopgate.report.model import parse_failure
from interopgate.verdict import format_failure
from tests.conftest import ROOT
from tests.junit import read_cases
from tests.test_report_html import read_page


def test_minute_grid() -> None:
    grid = minute_grid({0: "A", 8 * 60: "R", 1439: "L"})
    assert len(grid) == 1440 and grid[0] == "A" and grid[480] == "R" and grid[-1] == "L"
    assert grid.count(".") == 1437
    with pytest.raises(ValueError, match="minute codes"):
        minute_grid({5: "x"})


def test_areas_come_from_the_ids() -> None:
    assert area_of("dicom.worklist.x") == "worklist"
    assert area_of("hl7.ack.negative") == "hl7"
    assert area_of("robustness.fuzz.pdu") == "robustness"  # a new family: its own area
    assert area_of("dicom.x") == "dicom"


def test_results_json_round_trip(tmp_path: Path) -> None:
    checks = [
        CheckResult("dicom.association.echo", "a::t", "pass", duration=0.1),
        CheckResult("hl7.timestamp.sweep", "b::t", "fail", minutes=minute_grid({480: "R"})),
        CheckResult("device.new.thing", "c::t", "known_deviation", timeline=[(0.0, "sent")]),
    ]
    report = RunReport("t", {"header": {"date": "now"}}, checks)
    path = report.write_json(tmp_path / "results.json")
    back = RunReport.read_json(path)
    assert back.checks == checks and back.run == report.run
    assert back.to_dict()["summary"]["device"] == {
        "pass": 0,
        "fail": 0,
        "known_deviation": 1,
        "not_applicable": 0,
        "skipped": 0,
    }
    data = json.loads(path.read_text())
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="version 1 or older"):
        RunReport.read_json(path)
    with pytest.raises(ValueError, match="verdict 'maybe'"):
        CheckResult("x.y", "n", "maybe")


def test_html_escapes_everything_from_the_run(tmp_path: Path) -> None:
    nasty = '<script>alert("x")</script>'
    report = RunReport(
        nasty, {"header": {"target": nasty}}, [CheckResult("a.b", nasty, "fail", observed=nasty)]
    )
    text = report_html.render(report)
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_parse_failure() -> None:
    text = format_failure(
        "PS3.4 C.4.1", "the subject", "one item", "\n    line 1\n    line 2", Path("e.txt")
    )
    parts = parse_failure(text + ", e.pcapng\n  target: died")
    assert parts["head"] == "PS3.4 C.4.1: the subject"
    assert parts["expected"] == "one item"
    assert parts["observed"] == "    line 1\n    line 2"
    assert parts["evidence"] == "e.txt, e.pcapng"
    assert parts["target"] == "died"


def test_parse_failure_of_a_plain_message() -> None:
    """A failure that is no verdict message (e.g. a run-level assertion) is all head."""
    assert parse_failure("the deviation no longer applies") == {
        "head": "the deviation no longer applies"
    }
    assert parse_failure("") == {"head": ""}


def test_console_line_and_table() -> None:
    line = console.line("hl7.x", "s/t.py::test_a[b]", "fail", "why\n  and   more " + "x" * 200)
    assert line.startswith("FAIL  hl7.x [test_a[b]]  why and more x")
    assert line.endswith("…") and len(line) < 150
    report = RunReport(
        "t", {}, [CheckResult("hl7.a", "n1", "pass"), CheckResult("hl7.b", "n2", "skipped")]
    )
    table = console.area_table(report)
    assert table[0].split() == ["area", "pass", "fail", "known", "dev.", "n/a", "skipped"]
    assert table[1].split() == ["hl7", "1", "0", "0", "0", "1"]
    assert table[-1].split() == ["all", "1", "0", "0", "0", "1"]


def test_analyze_writes_the_same_report(tmp_path: Path) -> None:
    """``interopgate analyze`` on the seed demo's tcpdump capture: report.html and
    results.json next to its JUnit, one failed check per finding, and the captured
    appointments' grid with 08:00-09:59 refused."""
    junit = tmp_path / "analysis-junit.xml"
    capture = ROOT / "tests" / "captures" / "seed-demo.pcap"
    result = subprocess.run(
        [sys.executable, "-m", "interopgate.cli", "analyze", str(capture), f"--junit={junit}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    cases = read_cases(junit)
    report = RunReport.read_json(tmp_path / "results.json")
    assert report.totals() == Counter(fail=len(cases))
    page = read_page(tmp_path / "report.html")
    assert page.summary[("*", "fail")] == len(cases)
    assert page.bad_hours == {"08", "09"}
    assert page.cells["08:00"] == "R" and page.cells["10:00"] == "A"
    assert all((tmp_path / e).is_file() for c in report.checks for e in c.evidence)
