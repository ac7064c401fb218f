"""The harness against a DICOM peer that passes the pre-flight and then misbehaves.

Each case runs the matching suite as a user would (a suite process of its own, forked
from a preloaded one, with a hard outer timeout) against a scripted peer
(tests/hostile_peer.py) and requires: the run ends, every selected check is in the JUnit
report with one clear failure line naming the event and the wait, no raw library error
or pytest-timeout traceback, no INTERNALERROR, and no harness thread left running when
the session ends.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from interopgate.dicom import query
from interopgate.dicom.association import Endpoint
from interopgate.evidence import Transcript
from interopgate.profile import load_profile
from tests import forked_pytest
from tests.hostile_peer import HostileDicomPeer

ROOT = Path(__file__).resolve().parents[1]
OUTER_TIMEOUT = 120  # seconds: a run that takes longer has hung

# A plugin loaded into the run: which threads are still alive once the session is over
# (after the plugin stopped the target and every association).
THREADS_PLUGIN = """
import threading, time, os

def pytest_unconfigure(config):
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        left = [t.name for t in threading.enumerate()
                if t is not threading.main_thread() and t.is_alive()]
        if not left:
            break
        time.sleep(0.1)
    with open(os.environ["IG_THREADS_FILE"], "w") as out:
        out.write("\\n".join(left))
"""

# script -> what every failing check's message must name
CASES = {
    "abort": "association aborted by the peer (A-ABORT source 2",
    "reset": "the peer reset the TCP connection (RST)",
    "huge-length": "a PDU declaring 4294967280 bytes, more than the",
    "short-data": "a PDU did not arrive whole within 3 s (network timeout",
    "unknown-pdu": "a PDU of unknown type 09H",
    "wrong-message-id": "(PS3.7 9.3.2.2, Message ID Being Responded To)",
    "endless": "pending C-FIND responses (target.max_find_responses)",
    "no-final": "no C-FIND response within 2 s (DIMSE timeout, target.dimse_timeout)",
    "one-byte-per-second": "a PDU did not arrive whole within 3 s",
    "silent-store": "the query data could not be seeded on the target",
}


def _profile(folder: Path, port: int) -> Path:
    path = folder / "hostile.yaml"
    path.write_text(
        f"extends: {ROOT / 'profiles' / 'agfa-cr.yaml'}\n"
        "target:\n"
        "  kind: live\n"
        "  host: 127.0.0.1\n"
        f"  dicom_port: {port}\n"
        "  called_ae: HOSTILE\n"
        "  connect_timeout: 2\n"
        "  dimse_timeout: 2\n"
        "  network_timeout: 3\n"
        "  find_timeout: 5\n"
        "  max_find_responses: 300\n",
        encoding="utf-8",
    )
    return path


def run_against(
    peer_port: int, tmp_path: Path, pytester, monkeypatch, select: str = "test_single_value"
):
    """Run the single-value checks (study, patient; the worklist skips on a live target
    without HL7) in a suite process of their own (tests/forked_pytest.py); return
    (process, junit root, threads left)."""
    report_dir = tmp_path / "reports"
    (pytester.path / "hostile_threads.py").write_text(THREADS_PLUGIN, encoding="utf-8")
    threads_file = tmp_path / "threads.txt"
    monkeypatch.setenv("IG_THREADS_FILE", str(threads_file))
    result = forked_pytest.run(
        pytester,
        str(ROOT / "suites" / "dicom" / "test_matching.py"),
        f"--rootdir={ROOT}",
        f"--profile={_profile(tmp_path, peer_port)}",
        f"--report-dir={report_dir}",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-p",
        "hostile_threads",
        "-k",
        select,
        timeout=OUTER_TIMEOUT,
    )
    process = SimpleNamespace(
        returncode=result.ret,
        stdout="\n".join(result.outlines),
        stderr="\n".join(result.errlines),
    )
    junit = report_dir / "junit.xml"
    root = ET.parse(junit).getroot() if junit.exists() else None
    threads = threads_file.read_text().split() if threads_file.exists() else None
    return process, root, threads


@pytest.mark.parametrize("script", list(CASES))
def test_a_hostile_peer_mid_exchange_fails_each_check_clearly(
    script, tmp_path, pytester, monkeypatch
):
    with HostileDicomPeer(script) as peer:
        started = time.monotonic()
        process, junit, threads = run_against(peer.port, tmp_path, pytester, monkeypatch)
        elapsed = time.monotonic() - started
    output = process.stdout + process.stderr
    assert process.returncode == 1, output[-3000:]
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output, output[-3000:]
    assert "RuntimeError" not in output, output[-3000:]
    assert "Timeout" not in output  # pytest-timeout never had to step in
    assert junit is not None, "no junit.xml written"
    cases = junit.findall(".//testcase")
    names = sorted(c.get("name") for c in cases)
    assert names == [f"test_single_value[{m}]" for m in ("patient", "study", "worklist")], names
    # A live target without HL7 has no worklist data: that check skips, unless seeding
    # itself broke, which fails every check that needs the data.
    judged = [c for c in cases if c.find("skipped") is None]
    assert len(judged) == (3 if script == "silent-store" else 2)
    for case in judged:
        failure = case.find("failure")
        assert failure is not None, f"{case.get('name')} did not fail"
        message = failure.get("message") or ""
        assert CASES[script] in message, message
    assert (tmp_path / "reports" / "report.html").exists()
    assert threads == [], f"threads left running after the session: {threads}"
    assert elapsed < OUTER_TIMEOUT


def test_the_cancel_check_against_a_stream_that_never_ends(tmp_path, pytester, monkeypatch):
    """The C-CANCEL check reads a bounded stream from a peer that ignores the cancel."""
    with HostileDicomPeer("endless") as peer:
        process, junit, threads = run_against(
            peer.port, tmp_path, pytester, monkeypatch, select="test_cancel"
        )
    output = process.stdout + process.stderr
    assert process.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    failures = [c.find("failure") for c in junit.findall(".//testcase")]
    assert len([f for f in failures if f is not None]) == 2
    assert threads == [], threads


def _session(peer: HostileDicomPeer, **target):
    profile = load_profile(
        "agfa-cr", ROOT / "profiles", target_fields={"dicom_port": peer.port, **target}
    ).profile
    endpoint = Endpoint("127.0.0.1", peer.port, "HOSTILE", 2.0, 2.0)
    from interopgate.device import DeviceClient

    device = DeviceClient(profile, endpoint, Transcript("hostile", Path("/dev/null")))
    return query.FindSession(device, query.MODELS["study"])


def test_pending_responses_that_never_end_stop_at_the_profile_limit():
    with (
        HostileDicomPeer("endless") as peer,
        _session(peer, called_ae="HOSTILE", max_find_responses=200) as session,
    ):
        outcome = session.find(query.build_identifier(query.MODELS["study"], {"PatientID": "X"}))
    assert len(outcome.responses) == 200  # bounded memory: nothing read past the limit
    assert "more than 200 pending C-FIND responses (target.max_find_responses)" in (
        outcome.final_status
    )


def test_a_c_find_has_an_overall_deadline():
    with (
        HostileDicomPeer("endless") as peer,
        _session(peer, called_ae="HOSTILE", find_timeout=1) as session,
    ):
        started = time.monotonic()
        outcome = session.find(query.build_identifier(query.MODELS["study"], {"PatientID": "X"}))
    assert time.monotonic() - started < 10
    assert "no final C-FIND response within 1 s (target.find_timeout)" in outcome.final_status


def test_a_query_after_the_association_was_lost_fails_not_skips():
    with HostileDicomPeer("abort") as peer, _session(peer, called_ae="HOSTILE") as session:
        identifier = query.build_identifier(query.MODELS["study"], {"PatientID": "X"})
        first, second = session.find(identifier), session.find(identifier)
    assert first.accepted and second.accepted  # a lost association is not a refusal
    assert "after 3 C-FIND response(s)" in first.final_status
    assert second.final_status.startswith("none (the association was lost before this C-FIND")
