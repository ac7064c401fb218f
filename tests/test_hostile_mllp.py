"""The harness against MLLP peers that never end a frame, send garbage or a 50 MB frame.

Every exchange ends within its timeout (``hl7.ack.timeout``) or at the frame bound
(``hl7.max_frame``) with one line naming what arrived; a run of the HL7 suite against
such a peer ends with a complete report; the harness's own receiver ends its
connections when stopped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from interopgate.hl7.mllp import MLLPClient
from interopgate.hl7.receiver import MLLPReceiver
from interopgate.profile import load_profile
from tests.hostile_peer import HostileDicomPeer, HostileMLLPPeer

ROOT = Path(__file__).resolve().parents[1]
MESSAGE = "MSH|^~\\&|IG|IG|PACS|PACS|20240101120000||SIU^S12|C1|P|2.5\rSCH|1\r"

CASES = {
    "no-fs": "no ACK within 1 s (63 byte(s) of a frame never ended by <FS><CR>",
    "garbage": "no <VT> frame start), more than the 1048576 the harness reads (hl7.max_frame)",
    "huge-frame": "(a <VT> but no <FS><CR>), more than the 1048576 the harness reads",
    "one-byte-per-second": "no ACK within 1 s (",
}


def _settings(**hl7):
    return load_profile(
        "agfa-cr", ROOT / "profiles", target_fields={"called_ae": "HOSTILE"}
    ).profile.hl7.model_copy(update=hl7)


@pytest.mark.parametrize("script", list(CASES))
def test_a_hostile_mllp_peer_ends_the_exchange_with_one_line(script):
    settings = _settings(max_frame=1024 * 1024)
    settings = settings.model_copy(update={"ack": settings.ack.model_copy(update={"timeout": 1})})
    with HostileMLLPPeer(script) as peer:
        started = time.monotonic()
        with MLLPClient.for_settings(("127.0.0.1", peer.port), settings) as client:
            exchange = client.send(MESSAGE)
        elapsed = time.monotonic() - started
    assert exchange.reply is None
    assert CASES[script] in (exchange.problem or ""), exchange.problem
    assert elapsed < 5


def test_a_50_mb_frame_is_cut_at_the_default_bound():
    peer = HostileMLLPPeer("huge-frame", huge=50 * 1024 * 1024)
    with peer, MLLPClient("127.0.0.1", peer.port, read_timeout=20) as client:
        exchange = client.send(MESSAGE)
    assert "more than the 16777216 the harness reads (hl7.max_frame)" in exchange.problem


def test_the_receiver_ends_a_trickling_senders_connection_when_stopped():
    receiver = MLLPReceiver().start()
    before = threading.active_count()
    sender = socket.create_connection(receiver.address)
    sender.sendall(b"\x0bMSH|^~\\&|")  # a frame that never ends
    time.sleep(0.3)
    assert threading.active_count() > before  # its connection thread
    receiver.stop()
    deadline = time.monotonic() + 3
    while threading.active_count() >= before and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.close()
    assert threading.active_count() < before


def test_the_hl7_suite_against_a_peer_that_never_ends_its_frame(tmp_path):
    """A run of real HL7 checks against a no-<FS> peer: it ends, with a complete report
    whose failures name the wait, and no traceback (hard outer timeout)."""
    with HostileDicomPeer("ok") as dicom, HostileMLLPPeer("no-fs") as mllp:
        profile = tmp_path / "hostile.yaml"
        profile.write_text(
            f"extends: {ROOT / 'profiles' / 'agfa-cr.yaml'}\n"
            "target:\n  kind: live\n  host: 127.0.0.1\n"
            f"  dicom_port: {dicom.port}\n  hl7_port: {mllp.port}\n  called_ae: HOSTILE\n"
            "hl7:\n  ack:\n    timeout: 1\n",
            encoding="utf-8",
        )
        report_dir = tmp_path / "reports"
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(ROOT / "suites" / "hl7" / "test_ack.py"),
                f"--rootdir={ROOT}",
                f"--profile={profile}",
                f"--report-dir={report_dir}",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                "-k",
                "test_valid_message_accepted or test_ack_names_the_message",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
        )
    output = process.stdout + process.stderr
    assert process.returncode == 1, output[-3000:]
    assert "INTERNALERROR" not in output and "Traceback" not in output, output[-3000:]
    cases = ET.parse(report_dir / "junit.xml").getroot().findall(".//testcase")
    failures = [c.find("failure") for c in cases if c.find("failure") is not None]
    assert failures and len(failures) == len(cases)
    for failure in failures:
        assert "no ACK within 1 s" in failure.get("message", ""), failure.get("message")
