"""``interopgate analyze`` on real captures (tests/captures/, made with tcpdump on
loopback): the seed's chain is found from the wire alone, and bad input is one line."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import dpkt
import pytest

from interopgate.analysis.findings import analyze
from interopgate.analysis.report import junit
from interopgate.evidence.pcap import CLIENT, SERVER, TcpConnection, write_pcapng

CAPTURES = Path(__file__).parent / "captures"
SEED = CAPTURES / "seed-demo.pcap"
HARNESS = CAPTURES / "seed-demo-harness.pcapng"
WLMSCPFS = CAPTURES / "wlmscpfs-findscu.pcap"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interopgate.cli", "analyze", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _kinds(analysis) -> Counter:
    return Counter(f.kind for f in analysis.findings)


def test_the_seed_chain_from_the_wire_alone(tmp_path: Path) -> None:
    result = _cli(str(SEED), "--junit", str(tmp_path / "junit.xml"))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    # the refused S12s: 08:00 and 09:59 answered AE although valid HL7 2.5 DTM
    assert "SCH-11.4 '20261202080000': invalid hour" in out
    assert "SCH-11.4 '20261202095900': invalid hour" in out
    assert "its time fields are valid HL7 2.5" in out
    # the resend with the same MSH-10: AE, then AA, the fixed time field named
    assert "MSH-10 RJ261201102607626100 sent 2 times" in out and "ACKs AE, AA" in out
    assert "TQ1-7 '2026120214:37:25' -> '20261202143725'" in out
    # the worklist items with an empty SPS, by patient and accession
    assert (
        "patient BARRETT^Steven (W54283PT), accession W542830480: "
        "ScheduledProcedureStepSequence (0040,0100) present with 0 items" in out
    )
    # linked in one line: S12 -> ACK AE -> item with empty SPS
    chain = [line for line in out.splitlines() if line.startswith("  accession W542830480")]
    assert chain and "ACK AE" in chain[0] and "present with 0 items" in chain[0], out
    assert "frame 82" in chain[0] and "frame 148" in chain[0]


def test_junit_has_one_testcase_per_finding(tmp_path: Path) -> None:
    analysis = analyze([SEED])
    path = junit(analysis, tmp_path / "a.xml")
    cases = list(ET.parse(path).getroot().iter("testcase"))
    assert len(cases) == len(analysis.findings) >= 10
    assert all(case.find("failure") is not None for case in cases)
    props = {p.get("name") for p in cases[0].iter("property")}
    assert {"check", "file", "frame", "time"} <= props
    assert {case.get("classname") for case in cases} == set(_kinds(analysis))


def test_the_harness_capture_of_the_same_run_reads_the_same() -> None:
    """The harness's rebuilt pcapng and tcpdump's capture of one run: the same findings."""
    wire, rebuilt = analyze([SEED]), analyze([HARNESS])
    assert _kinds(wire) == _kinds(rebuilt)
    assert [line for line, _ in wire.chains] != []
    assert len(wire.chains) == len(rebuilt.chains)


def _split(source: Path, folder: Path, at: int) -> list[Path]:
    """A rotated series (as tcpdump -G writes): frames before ``at`` and from it on."""
    parts = [folder / "hl7-20261201-a.pcap", folder / "hl7-20261201-b.pcap"]
    with source.open("rb") as f:
        packets = list(dpkt.pcap.Reader(f))
    for path, chunk in zip(parts, (packets[:at], packets[at:]), strict=True):
        with path.open("wb") as out:
            writer = dpkt.pcap.Writer(out, snaplen=262144)
            for ts, frame in chunk:
                writer.writepkt(frame, ts)
    return parts


def test_a_rotated_series_reads_as_one(tmp_path: Path) -> None:
    first, second = _split(SEED, tmp_path, 100)  # mid-way through the second HL7 connection
    series = analyze([second, first])  # in any order
    assert _kinds(series) == _kinds(analyze([SEED]))
    assert any("hl7-20261201-b.pcap frame" in series.at(f.where) for f in series.findings)


def test_findscu_against_wlmscpfs() -> None:
    analysis = analyze([WLMSCPFS])
    assert len(analysis.associations) == 3
    rejected = [f.summary for f in analysis.findings if f.kind == "dicom.association.rejected"]
    assert len(rejected) == 2
    assert any("WRONG_AE" in r and "called-AE-title-not-recognized" in r for r in rejected)
    (find,) = analysis.finds
    assert len(find.items) == 3 and find.final.status == 0
    assert 'ScheduledProcedureStepSequence[Modality="CR"]' in find.query_keys()
    assert not [i for i in analysis.worklist_items if i.problem]
    assert analysis.associations[0].implementation.endswith("OFFIS_DCMTK_367")


def _exchange(tmp_path: Path, shuffle: bool = False) -> Path:
    message = (
        b"\x0bMSH|^~\\&|EHR|H|PACS|H|20261124083000||SIU^S12^SIU_S12|M1|P|2.5\r"
        b"SCH|1|1||||||||||^^15^20261124083000\rPID|1||P1||DOE^JANE\r"
        + b"NTE|1||"
        + b"x" * 1000
        + b"\r\x1c\x0d"
    )
    ack = b"\x0bMSH|^~\\&|PACS|H|EHR|H|20261124083001||ACK^S12^ACK|A1|P|2.5\rMSA|AA|M1\r\x1c\x0d"
    conn = TcpConnection(("10.0.0.5", 40000), ("10.0.0.9", 5555), "hl7", 1_795_000_000.0)
    conn.data(CLIENT, message * 3, 1_795_000_000.1)  # 3 segments of at most the MSS
    conn.data(SERVER, ack, 1_795_000_000.2)
    conn.finish(1_795_000_000.3)
    packets = list(conn.packets)
    assert sum(1 for p in packets if len(p.frame) > 60) == 4  # three data segments, the ACK
    if shuffle:  # out of order, and one segment retransmitted
        packets[3], packets[4] = packets[4], packets[3]
        packets.insert(6, packets[3])
    return write_pcapng(tmp_path / ("shuffled.pcapng" if shuffle else "clean.pcapng"), packets)


def test_reassembly_puts_segments_back_in_order(tmp_path: Path) -> None:
    clean, shuffled = analyze([_exchange(tmp_path)]), analyze([_exchange(tmp_path, True)])
    for analysis in (clean, shuffled):
        texts = [m.control_id for m in analysis.messages]
        assert texts == ["M1", "M1", "M1", "A1"]
    # one MSH-10 three times, one ACK: a resend and two messages without an ACK
    expected = Counter({"hl7.resend": 1, "hl7.ack.missing": 2})
    assert _kinds(clean) == _kinds(shuffled) == expected


def test_no_findings_exit_zero(tmp_path: Path) -> None:
    conn = TcpConnection(("10.0.0.5", 40001), ("10.0.0.9", 5555), "hl7", 1_795_000_001.0)
    conn.data(
        CLIENT,
        b"\x0bMSH|^~\\&|A|B|C|D|20261124083000||ADT^A08^ADT_A01|X9|P|2.5\r\x1c\x0d",
        1_795_000_001.1,
    )
    conn.data(
        SERVER,
        b"\x0bMSH|^~\\&|C|D|A|B|20261124083000||ACK|Y9|P|2.5\rMSA|AA|X9\r\x1c\x0d",
        1_795_000_001.2,
    )
    conn.finish(1_795_000_001.3)
    capture = write_pcapng(tmp_path / "one.pcapng", conn.packets)
    result = _cli(str(capture), "--junit", str(tmp_path / "j.xml"))
    assert result.returncode == 0, result.stdout
    assert "no findings" in result.stdout
    (case,) = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    assert case.find("failure") is None


def test_help_says_what_the_exit_status_means() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "interopgate.cli", "analyze", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "1 findings" in " ".join(result.stdout.split())


@pytest.mark.parametrize("kind", ["missing", "not-a-capture", "truncated", "empty"])
def test_bad_input_is_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.pcap"
    if kind == "not-a-capture":
        path.write_text("MSH|^~\\&|this is an HL7 log, not a capture\n")
    elif kind == "truncated":
        path.write_bytes(SEED.read_bytes()[:30000])
    elif kind == "empty":
        path.write_bytes(b"")
    result = _cli(str(path), "--junit", str(tmp_path / "j.xml"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"interopgate: error: {path}")


def test_the_harness_run_capture_round_trips(run_suites, tmp_path: Path) -> None:
    """A conformance run's evidence/run.pcapng, analysed: the item without its SPS Start
    Time (fault sps-without-start-time) is named with its key and tag."""
    result, junit_path = run_suites(
        "--profile=agfa-cr",
        "--site-fault=sps-without-start-time",
        "-k",
        "required_return_keys and profile-query",
        suites=Path(__file__).resolve().parents[1] / "suites" / "dicom" / "test_worklist.py",
    )
    assert result.ret == 1, result.stdout.str()
    analysis = analyze([junit_path.parent / "evidence" / "run.pcapng"])
    missing = [f.summary for f in analysis.findings if f.kind == "dicom.worklist.required_keys"]
    assert missing and all("ScheduledProcedureStepStartTime (0040,0003)" in m for m in missing)
    assert {f.kind for f in analysis.findings} == {"dicom.worklist.required_keys"}
