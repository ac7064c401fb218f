"""`interopgate probe`: discovery against the reference site and DCMTK wlmscpfs, the
draft target profiles it writes (used as they are: no failure from a wrong provides:),
and bad input as one line with a non-zero exit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from interopgate.profile import ProcessTarget, load_profile
from interopgate.targets import process
from tests.conftest import PROFILES, interopgate_site
from tests.junit import read_cases
from tests.test_process_targets import _require

# The checks a wrong provides: would break: what must be accepted and what rejected.
PROVIDES_CHECKS = "context_accepted or context_rejected or test_store or test_echo"


def probe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interopgate.cli", "probe", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def _site_address(line: str) -> tuple[str, int, int]:
    match = re.search(r"DICOM (\S+)@([\d.]+):(\d+), HL7 \(MLLP\) [\d.]+:(\d+)", line)
    assert match, line
    return match.group(2), int(match.group(3)), int(match.group(4))


def test_probe_of_the_reference_site(tmp_path, run_suites):
    with interopgate_site() as (_, line):
        host, port, hl7_port = _site_address(line)
        out = tmp_path / "site.yaml"
        result = probe(
            f"dicom://IG_PACS@{host}:{port}",
            "--hl7-port",
            str(hl7_port),
            "-o",
            str(out),
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        table = result.stdout
        assert re.search(r"ModalityWorklistFind\s+accepted: Implicit VR Little Endian", table)
        assert re.search(r"RTPlanStorage\s+rejected \(result 3\)", table)
        assert "implementation: class UID 1.2.826.0.1.3680043.9.3811" in table
        assert "rejects an unknown called AE" in table and "another case: rejected" in table
        assert "answered MSA-1 AA" in table and "cancelled again (SIU^S15: AA)" in table
        data = yaml.safe_load(out.read_text())
        assert "known_deviations" not in data
        target = data["target"]
        assert target["kind"] == "live" and target["hl7_port"] == hl7_port
        assert target["accepts_any_called_ae"] is False
        assert {"Verification", "ModalityWorklistFind", "StudyRootFind"} <= set(target["provides"])
        assert "RTPlanStorage" not in target["provides"]
        load_profile("agfa-cr", PROFILES, target=str(out))  # a valid target profile
        run, junit = run_suites("--profile=agfa-cr", f"--target={out}", "-k", PROVIDES_CHECKS)
        assert run.ret == 0, run.stdout.str()
        assert any(c.outcome == "passed" for c in read_cases(junit))


def test_probe_of_wlmscpfs(tmp_path, run_suites):
    _require("dcmtk-wlmscpfs")
    target = ProcessTarget(kind="process", server="dcmtk-wlmscpfs", called_ae="WLMSCPFS")
    with process.start(target, "AGFA_CR1", tmp_path / "reports" / "work") as running:
        endpoint = running.endpoint
        out = tmp_path / "wlmscpfs.yaml"
        result = probe(
            f"dicom://WLMSCPFS@{endpoint.host}:{endpoint.port}", "-o", str(out), cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        provides = yaml.safe_load(out.read_text())["target"]["provides"]
        assert provides == ["Verification", "ModalityWorklistFind"], result.stdout
        run, _ = run_suites("--profile=agfa-cr", f"--target={out}", "-k", PROVIDES_CHECKS)
        assert run.ret == 0, run.stdout.str()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("dicom://IG_PACS@127.0.0.1:1", "connection refused"),
        ("dicom://IG_PACS@no-such-host.invalid:104", "unknown host"),
        ("127.0.0.1:104", "expected dicom://CALLED_AE@host:port"),
    ],
)
def test_bad_input_is_one_line(tmp_path, address, message):
    result = probe(address, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_refused_association_is_one_line(tmp_path):
    with interopgate_site() as (_, line):
        host, port, _ = _site_address(line)
        result = probe(f"dicom://WRONG_AE@{host}:{port}", cwd=tmp_path)
    assert result.returncode == 2
    assert "refused an association" in result.stderr and "reason 7" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
