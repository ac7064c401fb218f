"""tshark (Debian's Wireshark) decodes the harness's pcapng evidence without settings:
the association, the C-FIND with the seed's empty Scheduled Procedure Step Sequence, the
SIU^S12 and its ACK with MSA-1 AE.

Skipped with one line when tshark is not installed, unless INTEROPGATE_REQUIRE_TARGETS=1
(.ci/run installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.junit import read_cases

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"


def tshark(*args: str) -> str:
    """tshark's output; skip (or fail under INTEROPGATE_REQUIRE_TARGETS=1) without it."""
    binary = shutil.which("tshark")
    if binary is None:
        reason = "tshark not installed (apt-get install tshark)"
        if os.environ.get("INTEROPGATE_REQUIRE_TARGETS") == "1":
            pytest.fail(f"{reason}, but INTEROPGATE_REQUIRE_TARGETS=1", pytrace=False)
        pytest.skip(reason)
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _linked_pcap(junit: Path) -> Path:
    failed = [c for c in read_cases(junit) if c.outcome == "failed"]
    assert failed, "the fault should have failed the check"
    found = re.search(r"evidence: \S+\.txt, (\S+\.pcapng)", failed[0].message)
    assert found, failed[0].message
    return Path(found.group(1))


def test_tshark_decodes_the_association_and_the_empty_sps_item(run_suites) -> None:
    tshark("--version")
    result, junit = run_suites(
        "--profile=agfa-cr",
        "--site-fault=empty-sps-sequence",
        "-k",
        "sps_sequence_present and profile-query",
        suites=SUITES / "dicom" / "test_worklist.py",
    )
    assert result.ret == 1, result.stdout.str()
    pcap = _linked_pcap(junit)
    summary = tshark("-r", str(pcap), "-Y", "dicom")
    assert "A-ASSOCIATE request AGFA_CR1 --> IG_PACS" in summary
    assert "A-ASSOCIATE accept" in summary
    assert "C-FIND-RQ" in summary and "C-FIND-RSP" in summary
    detail = tshark("-r", str(pcap), "-Y", "dicom", "-V")
    assert re.search(r"\(0040,0100\)\s+0 Scheduled Procedure Step Sequence\s+\[SQ\]", detail)
    # nothing Wireshark's TCP analysis would flag (lost segments, bad ACKs, ...)
    assert tshark("-r", str(pcap), "-Y", "tcp.analysis.flags") == ""


def test_tshark_decodes_the_refused_s12_and_its_ae_ack(run_suites) -> None:
    tshark("--version")
    result, junit = run_suites(
        "--profile=agfa-cr",
        "--site-fault=hl7-octal-hours",
        "-k",
        "time_sweep_sampled",
        suites=SUITES / "hl7" / "test_timestamps.py",
    )
    assert result.ret == 1, result.stdout.str()
    pcap = _linked_pcap(junit)
    assert "SIU (S12)" in tshark("-r", str(pcap), "-Y", "hl7")
    refused = tshark("-r", str(pcap), "-Y", 'hl7.field == "AE"')
    assert "ACK (S12)" in refused
    # the refused S12s are the 08:xx and 09:xx appointments (SCH-11.4, TQ1-7, AIS-4)
    fields = tshark(
        "-r", str(pcap), "-Y", 'hl7.message.type == "SIU"', "-T", "fields", "-e", "hl7.field"
    )
    assert any(re.search(r",\d{8}0[89]\d{4},", line) for line in fields.splitlines())
    assert tshark("-r", str(pcap), "-Y", "tcp.analysis.flags") == ""
