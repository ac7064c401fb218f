"""The HL7 worklist feed: a live RIS gets the generated worklist items the way its orders
come (SIU^S12 over MLLP), so every Modality Worklist matching and completeness check
runs against it; afterwards the fed items are cancelled (SIU^S15).

Against ``interopgate site`` started by hand (a system the run did not start): the clean
site passes every worklist check with none skipped, its worklist faults are found over
this path as over the embedded one, the worklist is empty after the run (unless
``--keep-worklist``), and a feed the site refuses is one header line and skips with
the reason. The MessageFoundry + wlmscpfs site as a live target:
tests/test_live_feed_messagefoundry.py.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom import sop_class as sop

from interopgate.site.faults import FAULTS
from tests.conftest import SUITES, interopgate_site
from tests.junit import failing_checks, read_cases

WORKLIST_SUITE = SUITES / "dicom"
# The worklist checks: completeness (test_worklist.py) and every matching check on the
# Modality Worklist model (test_matching.py's [worklist] items and test_sequence).
SELECT = "worklist or sequence"
SEEDING_WORDS = ("seeded", "fed", "HL7", "no items to inspect")


def site_address(line: str) -> tuple[str, str, int, int]:
    """(AE, host, DICOM port, HL7 port) from `interopgate site`'s first line."""
    match = re.search(r"DICOM (\S+)@([\d.]+):(\d+), HL7 \(MLLP\) [\d.]+:(\d+)", line)
    assert match, line
    return match.group(1), match.group(2), int(match.group(3)), int(match.group(4))


def live_profile(path: Path, ae: str, host: str, dicom_port: int, hl7_port: int, extra=""):
    path.write_text(
        "extends: agfa-cr\n"
        f"target: {{kind: live, host: {host}, dicom_port: {dicom_port}, "
        f"hl7_port: {hl7_port}, called_ae: {ae}}}\n" + extra
    )
    return path


def worklist_accessions(ae: str, host: str, port: int) -> list[str]:
    """Accession Numbers of every item the worklist returns to a universal query."""
    client = AE(ae_title="IG_CHECKER")
    client.add_requested_context(sop.ModalityWorklistInformationFind)
    assoc = client.associate(host, port, ae_title=ae)
    assert assoc.is_established
    query = Dataset()
    query.AccessionNumber = ""
    query.ScheduledProcedureStepSequence = []
    found = [
        str(identifier.AccessionNumber)
        for status, identifier in assoc.send_c_find(query, sop.ModalityWorklistInformationFind)
        if status and status.Status in (0xFF00, 0xFF01) and identifier is not None
    ]
    assoc.release()
    client.shutdown()
    return found


def worklist_cases(junit: Path):
    cases = read_cases(junit)
    return [
        c
        for c in cases
        if c.properties.get("check", "").startswith("dicom.worklist")
        or "[worklist]" in c.name
        or c.properties.get("check") == "dicom.find.sequence"
    ]


def test_clean_live_site_runs_every_worklist_check_and_is_left_empty(run_suites, tmp_path):
    with interopgate_site() as (_, line):
        ae, host, dicom_port, hl7_port = site_address(line)
        profile = live_profile(tmp_path / "ris.yaml", ae, host, dicom_port, hl7_port)
        result, junit = run_suites(f"--profile={profile}", "-k", SELECT, suites=WORKLIST_SUITE)
        output = result.stdout.str()
        assert result.ret == 0, output
        cases = worklist_cases(junit)
        # 6 completeness items, 10 matching checks on the worklist model (+ sequence)
        assert len(cases) >= 15, [c.name for c in cases]
        assert {c.outcome for c in cases} == {"passed"}, [
            (c.name, c.message) for c in cases if c.outcome != "passed"
        ]
        assert "worklist: generated items fed as SIU^S12 to" in output  # the header
        assert "cancelled after the run (SIU^S15)" in output
        assert "worklist: 6 run (6 passed); 0 skipped" in output  # the summary
        # the query data's 14 items, and the cancel check's own batch when it runs
        assert re.search(r"worklist feed: (\d+) of \1 item\(s\) fed as SIU\^S12", output), output
        assert re.search(
            r"worklist feed after the run: (\d+) of \1 fed item\(s\) cancelled", output
        )
        assert "evidence/worklist-feed.txt" in output  # each message, its ACK, the polls
        # The RIS is left as it was: no item the run fed.
        assert worklist_accessions(ae, host, dicom_port) == []


def test_keep_worklist_leaves_the_fed_items(run_suites, tmp_path):
    with interopgate_site() as (_, line):
        ae, host, dicom_port, hl7_port = site_address(line)
        profile = live_profile(tmp_path / "ris.yaml", ae, host, dicom_port, hl7_port)
        result, _ = run_suites(
            f"--profile={profile}",
            "--keep-worklist",
            "-k",
            "test_sps_sequence_present",
            suites=WORKLIST_SUITE,
        )
        output = result.stdout.str()
        assert result.ret == 0, output
        assert "kept after the run (--keep-worklist)" in output
        assert len(worklist_accessions(ae, host, dicom_port)) == 14


# A few worklist faults of the reference site, each found over the HL7-fed live path as
# the fault matrix finds it on the embedded site: exactly the checks it breaks fail.
LIVE_FAULTS = ["empty-sps-sequence", "sps-without-start-time", "pad-sensitive-matching"]


@pytest.mark.parametrize("fault", LIVE_FAULTS)
def test_worklist_fault_is_found_over_the_live_path(run_suites, tmp_path, fault):
    with interopgate_site("--fault", fault) as (_, line):
        ae, host, dicom_port, hl7_port = site_address(line)
        profile = live_profile(tmp_path / "ris.yaml", ae, host, dicom_port, hl7_port)
        result, junit = run_suites(f"--profile={profile}", "-k", SELECT, suites=WORKLIST_SUITE)
    output = result.stdout.str()
    cases = worklist_cases(junit)
    ran = {c.properties["check"] for c in cases}
    assert not [c for c in cases if c.outcome == "skipped"], output
    assert failing_checks(cases) == set(FAULTS[fault].breaks) & ran, output
    assert result.ret == 1


def test_refused_feed_is_one_line_and_skips_with_the_reason(run_suites, tmp_path):
    """Every S12 answered AE (the site takes HH:MM:SS times only): nothing is faked; the
    matching and completeness checks skip, naming the refusal."""
    with interopgate_site("--fault", "hl7-colon-times-only") as (_, line):
        ae, host, dicom_port, hl7_port = site_address(line)
        profile = live_profile(tmp_path / "ris.yaml", ae, host, dicom_port, hl7_port)
        result, junit = run_suites(f"--profile={profile}", "-k", SELECT, suites=WORKLIST_SUITE)
    output = result.stdout.str()
    assert result.ret == 0, output
    assert "Traceback" not in output
    cases = worklist_cases(junit)
    assert cases and {c.outcome for c in cases} == {"skipped"}, output
    assert all("SIU^S12 not accepted (MSA-1 AE" in c.message for c in cases), [
        c.message for c in cases
    ]
    assert "worklist feed: 0 of 14 item(s) fed as SIU^S12" in output
    assert re.search(r"worklist: 0 run; 6 skipped \(most common, \d of 6: ", output), output
    assert "worklist feed after the run: nothing to cancel" in output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refusing_hl7_port_is_one_clear_line(run_suites, tmp_path):
    with interopgate_site() as (_, line):
        ae, host, dicom_port, _ = site_address(line)
        profile = live_profile(tmp_path / "ris.yaml", ae, host, dicom_port, _closed_port())
        result, _ = run_suites(f"--profile={profile}", "-k", SELECT, suites=WORKLIST_SUITE)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3, output
    assert "Traceback" not in output
    assert "HL7" in output and "127.0.0.1" in output


def test_xdist_workers_share_the_fed_items_and_the_last_cancels(run_suites, tmp_path):
    """Two workers on one live RIS: one feeds, the other uses the same items (no resend
    under the other's queries), and only the last to finish cancels them."""
    with interopgate_site() as (_, line):
        ae, host, dicom_port, hl7_port = site_address(line)
        profile = live_profile(tmp_path / "ris.yaml", ae, host, dicom_port, hl7_port)
        result, junit = run_suites(
            f"--profile={profile}", "-n", "2", "-k", SELECT, suites=WORKLIST_SUITE
        )
        output = result.stdout.str()
        assert result.ret == 0, output
        assert {c.outcome for c in worklist_cases(junit)} == {"passed"}, output
        assert re.search(
            r"worklist feed after the run: (\d+) of \1 fed item\(s\) cancelled", output
        )
        assert worklist_accessions(ae, host, dicom_port) == []
