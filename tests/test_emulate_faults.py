"""The device-side fault matrix: the stand-in modality (tests/emulate_standin.py) driven
against the emulated site, once clean and once per wrong behaviour of
interopgate.emulate.faults: a clean stand-in passes every device check, each wrong
behaviour fails exactly the checks it names, with expected and observed."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from interopgate.checks import CHECKS
from interopgate.emulate.evaluate import EVALUATORS, evaluate
from interopgate.emulate.faults import DEVICE_FAULTS
from interopgate.emulate.scp import EmulatedSite
from interopgate.emulate.session import Session
from interopgate.profile import load_profile
from tests.emulate_standin import DCMTK_BIN, StandIn

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (DCMTK_BIN / "findscu").exists(), reason="DCMTK (findscu, storescu) not installed"
)


def emulation_profile():
    """The Agfa CR on loopback, a free port, DX for presentation rejected (the stand-in
    stores CR only, so a clean one never uses the rejected context)."""
    profile = load_profile("agfa-cr", ROOT / "profiles").profile
    settings = profile.emulate.model_copy(
        update={"host": "127.0.0.1", "port": 0, "reject": ["DXImageStorageForPresentation"]}
    )
    return profile.model_copy(update={"emulate": settings})


def polling_profile():
    """The emulation profile with a 2 s polling interval (loops: under 0.5 s)."""
    profile = emulation_profile()
    settings = profile.emulate.model_copy(update={"query_interval": 2.0, "min_query_interval": 0.5})
    return profile.model_copy(update={"emulate": settings})


# Faults whose check needs the polling profile (a recording of several intervals).
PROFILE_FOR = {"stops-querying": polling_profile}


def record(tmp_path: Path, faults=(), profile=None) -> tuple[Session, object]:
    profile = profile or emulation_profile()
    site = EmulatedSite(profile, evidence=tmp_path / "evidence" / "emulated-site").start()
    try:
        StandIn(profile, site.address, tmp_path / "work", faults).run(site.session.served_items())
        time.sleep(0.2)  # the last release reaches the site
    finally:
        session = site.stop()
    return session, profile


def test_device_checks_are_registered():
    assert set(EVALUATORS) == {c for c in CHECKS if c.startswith("device.")}
    broken = {check for fault in DEVICE_FAULTS.values() for check in fault.breaks}
    assert broken == set(EVALUATORS), "every device check must be broken by a device fault"


def test_clean_stand_in_passes_every_device_check(tmp_path):
    session, profile = record(tmp_path)
    outcomes = evaluate(session, profile)
    failed = {c: o.findings for c, o in outcomes.items() if o.findings}
    assert failed == {}
    judged = {c for c, o in outcomes.items() if o.not_applicable is None and o.judged}
    # nothing silently not applicable but the schedule (test_clean_stand_in_keeps_polling)
    assert judged == set(EVALUATORS) - {"device.mwl.query_schedule"}
    assert (tmp_path / "evidence" / "emulated-site.pcapng").stat().st_size > 0
    assert "A-ASSOCIATE-RQ" in (tmp_path / "evidence" / "emulated-site.txt").read_text()


@pytest.mark.parametrize("fault", sorted(DEVICE_FAULTS))
def test_device_fault_fails_exactly_its_checks(tmp_path, fault):
    session, profile = record(tmp_path, [fault], PROFILE_FOR.get(fault, emulation_profile)())
    outcomes = evaluate(session, profile)
    failed = {c for c, o in outcomes.items() if o.findings}
    assert failed == set(DEVICE_FAULTS[fault].breaks)
    for check_id in failed:
        for finding in outcomes[check_id].findings:
            assert finding.subject and finding.expected and finding.observed


def test_clean_stand_in_keeps_polling(tmp_path):
    session, profile = record(tmp_path, profile=polling_profile())
    outcomes = evaluate(session, profile)
    assert {c: o.findings for c, o in outcomes.items() if o.findings} == {}
    schedule = outcomes["device.mwl.query_schedule"]
    assert schedule.not_applicable is None and schedule.judged >= 3


def test_recording_round_trips_through_its_folder(tmp_path):
    session, profile = record(tmp_path, ["image-without-accession"])
    session.save(tmp_path / "session")
    loaded = Session.load(tmp_path / "session")
    assert [m.name for m in loaded.messages] == [m.name for m in session.messages]
    again = evaluate(loaded, profile)
    assert {c for c, o in again.items() if o.findings} == {"device.storage.worklist_attributes"}


def test_not_a_recording_is_one_sentence(tmp_path):
    from interopgate.errors import InteropGateError

    with pytest.raises(InteropGateError, match="not a recorded emulation session"):
        Session.load(tmp_path)


@pytest.mark.parametrize("listening", [True, False], ids=["device-listens", "device-deaf"])
def test_commitment_report_on_a_new_association(tmp_path, listening):
    """emulate.commitment_report: new-association — the site opens an association to the
    device's SCP (SCP role, PS3.4 J.3.3.1.2); a device that does not listen fails."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = emulation_profile()
    settings = profile.emulate.model_copy(
        update={"commitment_report": "new-association", "device_port": port}
    )
    profile = profile.model_copy(update={"emulate": settings})
    standin_profile = profile
    if not listening:  # the stand-in believes the report comes on its own association
        standin_profile = profile.model_copy(
            update={"emulate": settings.model_copy(update={"device_port": None})}
        )
    site = EmulatedSite(profile).start()
    try:
        StandIn(standin_profile, site.address, tmp_path / "work").run(site.session.served_items())
        time.sleep(0.5)
    finally:
        session = site.stop()
    outcome = evaluate(session, profile)["device.commitment.report_accepted"]
    assert outcome.judged == 1
    if listening:
        assert outcome.findings == []
        assert session.new_association_reports[0]["status"] == 0
    else:
        assert len(outcome.findings) == 1
        assert "new association" in outcome.findings[0].expected
        assert "not established" in outcome.findings[0].observed


def test_encoding_findings_name_the_element_and_the_rule():
    """The encoding check reads the identifier as sent: an odd length (PS3.5 7.1.1) and
    non-ASCII bytes in a sequence item without Specific Character Set (6.1.2.3)."""
    import struct
    from io import BytesIO

    from pydicom.filereader import read_dataset

    from interopgate.emulate.evaluate import _encoding_problems

    odd = struct.pack("<HHI", 0x0008, 0x0060, 1) + b"C"  # Modality "C", length 1
    assert _encoding_problems(read_dataset(BytesIO(odd), True, True)) == [
        "Modality has odd length 1 (PS3.5 7.1.1)"
    ]
    name = "Zo\xeb ".encode("latin-1")  # PN, padded to even length
    item = struct.pack("<HHI", 0x0040, 0x0006, len(name)) + name
    sequence = struct.pack("<HHI", 0x0040, 0x0100, 8 + len(item) + 8)
    sequence += struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item
    sequence += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    problems = _encoding_problems(read_dataset(BytesIO(sequence), True, True))
    assert problems == [
        "ScheduledProcedureStepSequence[0].ScheduledPerformingPhysicianName has non-ASCII "
        "bytes but there is no Specific Character Set"
    ]
