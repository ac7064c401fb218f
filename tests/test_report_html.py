"""The conformance report (reports/report.html, results.json) of real runs: its summary
counts are JUnit's, a failed check shows its clause, expected vs observed and evidence
links that exist, the seed demo's sweep grid shows the refused 08:00-09:59 band, and
headless Chromium renders the page (Debian package ``chromium``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from interopgate.report import VERDICTS, RunReport, area_of
from tests.conftest import ROOT, SUITES
from tests.junit import read_cases

JUNIT_TO_VERDICT = {
    "passed": "pass",
    "failed": "fail",
    "error": "fail",
    "skipped": "skipped",
    "xfailed": "known_deviation",
}


class Page(HTMLParser):
    """What the tests read from the page: the summary cells, the sweep grid cells and
    hour labels, the links, and whether anything would be fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: dict[tuple[str, str], int] = {}
        self.cells: dict[str, str] = {}  # "08:00" -> code, first sweep only
        self.bad_hours: set[str] = set()
        self.links: list[str] = []
        self.fetches: list[str] = []
        self._area: str | None = None
        self._verdict: str | None = None
        self._sweeps = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "data-area" in a:
            self._area = a["data-area"]
        if tag == "td" and self._area and "data-verdict" in a:
            self._verdict = a["data-verdict"]
        if tag == "svg" and "sweep" in (a.get("class") or ""):
            self._sweeps += 1
        if self._sweeps == 1 and tag == "rect" and "data-minute" in a:
            self.cells[a["data-minute"] or ""] = a.get("data-code") or ""
        if self._sweeps == 1 and tag == "text" and a.get("data-bad") == "1":
            self.bad_hours.add(a.get("data-hour") or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag in ("script", "link", "img", "iframe") or (tag != "a" and a.get("src")):
            self.fetches.append(tag)

    def handle_data(self, data: str) -> None:
        if self._area and self._verdict and data.strip():
            self.summary[(self._area, self._verdict)] = int(data.strip())
            self._verdict = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._area = None


def read_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def run(report_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--rootdir={ROOT}",
            f"--report-dir={report_dir}",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def faulted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A short run with the seed's octal-hours fault: the sampled sweep fails, the
    association checks pass, the C-MOVE ones are not applicable."""
    report_dir = tmp_path_factory.mktemp("faulted")
    result = run(
        report_dir,
        str(SUITES / "dicom" / "test_association.py"),
        str(SUITES / "dicom" / "test_retrieve.py"),
        str(SUITES / "dicom" / "test_security.py"),
        str(SUITES / "hl7" / "test_timestamps.py"),
        str(SUITES / "workflow" / "test_workflow.py") + "::test_sweep_sampled",
        "--profile=agfa-cr",
        "--site-fault=hl7-octal-hours",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    return report_dir, result.stdout


def test_summary_counts_are_junit_counts(faulted) -> None:
    report_dir, _ = faulted
    cases = read_cases(report_dir / "junit.xml")
    junit = Counter(JUNIT_TO_VERDICT[c.outcome] for c in cases)
    page = read_page(report_dir / "report.html")
    for verdict in VERDICTS:
        if verdict != "not_applicable":  # deselected: not in JUnit
            assert page.summary[("*", verdict)] == junit.get(verdict, 0), verdict
    assert page.summary[("*", "fail")] >= 1 and page.summary[("*", "pass")] >= 10
    assert page.summary[("*", "not_applicable")] >= 1  # the TLS checks: no target.tls
    per_area = Counter()
    for case in cases:
        per_area[(area_of(case.properties["check"]), JUNIT_TO_VERDICT[case.outcome])] += 1
    for (area, verdict), count in per_area.items():
        assert page.summary[(area, verdict)] == count, (area, verdict)
    assert page.fetches == []  # self-contained: nothing to fetch


def test_results_json_is_the_page(faulted) -> None:
    report_dir, _ = faulted
    data = json.loads((report_dir / "results.json").read_text())
    assert data["schema"] == "interopgate-results" and data["version"] == 1
    report = RunReport.read_json(report_dir / "results.json")
    page = read_page(report_dir / "report.html")
    for verdict, count in report.totals().items():
        assert page.summary[("*", verdict)] == count
    header = data["run"]["header"]
    assert header["device profile"].startswith("agfa-cr")
    assert header["Implementation Class UID"].startswith("1.2.826.0.1.3680043.9.3811.")
    assert header["HL7 peer (its ACK's MSH-3/4)"].startswith("IG_PACS / IG_SITE")
    assert {"date", "data seed", "harness"} <= set(header)


def test_failed_check_has_clause_expected_observed_and_evidence(faulted) -> None:
    report_dir, stdout = faulted
    report = RunReport.read_json(report_dir / "results.json")
    failed = [c for c in report.checks if c.verdict == "fail"]
    assert [c.id for c in failed] == ["hl7.timestamp.sweep"]
    sweep = failed[0]
    assert sweep.clause.startswith("HL7 2.5")
    assert sweep.expected.startswith("MSA-1 AA at every minute")
    assert "08:00" in sweep.observed and "rejected with MSA-1 AE" in sweep.observed
    assert {Path(e).suffix for e in sweep.evidence} == {".txt", ".pcapng"}
    for link in sweep.evidence:
        assert (report_dir / link).is_file(), link
    page = read_page(report_dir / "report.html")
    assert set(sweep.evidence) <= set(page.links)
    text = (report_dir / "report.html").read_text()
    assert sweep.clause.replace("&", "&amp;") in text or sweep.clause in text
    # sampled sweep: 08:00 and 09:59 refused, their hours flagged, the rest accepted
    assert page.cells["08:00"] == "R" and page.cells["09:59"] == "R"
    assert page.cells["10:00"] == "A" and page.bad_hours == {"08", "09"}
    # the console: one line per check, a verdict table by area
    assert "FAIL  hl7.timestamp.sweep [test_time_sweep_sampled]" in stdout
    assert "PASS  dicom.association.echo [test_echo]" in stdout
    assert "interopgate: verdicts per area" in stdout


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium not installed (Debian package chromium)")
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_chromium_renders_the_report(faulted, tmp_path: Path) -> None:
    report_dir, _ = faulted
    url = (report_dir / "report.html").resolve().as_uri()
    dom = chromium("--dump-dom", url)
    assert "Summary by area" in dom.stdout and "hl7.timestamp.sweep" in dom.stdout
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1800", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_seed_demo_report_shows_the_refused_band(tmp_path: Path) -> None:
    """``interopgate demo seed-incident``: its counts match junit.xml, the sweep grid
    shows 08:00-09:59 refused, Chromium renders it."""
    report_dir = tmp_path / "seed"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "interopgate.cli",
            "demo",
            f"--report-dir={report_dir}",  # before the scenario: after it, pytest's
            "seed-incident",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cases = read_cases(report_dir / "junit.xml")
    page = read_page(report_dir / "report.html")
    junit = Counter(JUNIT_TO_VERDICT[c.outcome] for c in cases)
    assert page.summary[("*", "fail")] == junit["fail"] >= 2
    assert page.summary[("*", "pass")] == junit.get("pass", 0)
    assert page.bad_hours == {"08", "09"}
    assert page.cells["08:00"] == "R" and page.cells["09:59"] == "R"
    if CHROMIUM is not None:
        shot = tmp_path / "seed.png"
        chromium(
            f"--screenshot={shot}", "--window-size=1200,1400", (report_dir / "report.html").as_uri()
        )
        assert shot.stat().st_size > 20_000


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (Debian package tshark)")
def test_sweep_failure_links_captures_tshark_reads(faulted) -> None:
    """The refused SIU^S12s and their AE ACKs in the failed sweep's pcapng; the
    end-to-end sweep's C-FIND in the run's capture the failure also links."""
    report_dir, _ = faulted
    sweep = next(
        c for c in RunReport.read_json(report_dir / "results.json").checks if c.verdict == "fail"
    )
    own = next(report_dir / e for e in sweep.evidence if e.endswith(".pcapng") and "run" not in e)
    whole = next(report_dir / e for e in sweep.evidence if Path(e).name == "run.pcapng")

    def tshark(path: Path, where: str) -> str:
        return subprocess.run(
            [TSHARK, "-r", str(path), "-Y", where], capture_output=True, text=True, check=True
        ).stdout

    assert "SIU (S12)" in tshark(own, "hl7")
    assert tshark(own, 'hl7 && frame contains "MSA|AE"').count("ACK") == 2  # 08:00, 09:59
    assert "C-FIND-RQ" in tshark(whole, "dicom")
