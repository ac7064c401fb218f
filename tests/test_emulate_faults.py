"""The device-side fault matrix: the stand-in modality (tests/emulate_standin.py) driven
against the emulated site, once clean and once per wrong behaviour of
interopgate.emulate.faults: a clean stand-in passes every device check, each wrong
behaviour fails exactly the checks it names, with expected and observed."""

from __future__ import annotations

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


def record(tmp_path: Path, faults=()) -> tuple[Session, object]:
    profile = emulation_profile()
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
    assert judged == set(EVALUATORS)  # nothing silently not applicable
    assert (tmp_path / "evidence" / "emulated-site.pcapng").stat().st_size > 0
    assert "A-ASSOCIATE-RQ" in (tmp_path / "evidence" / "emulated-site.txt").read_text()


@pytest.mark.parametrize("fault", sorted(DEVICE_FAULTS))
def test_device_fault_fails_exactly_its_checks(tmp_path, fault):
    session, profile = record(tmp_path, [fault])
    outcomes = evaluate(session, profile)
    failed = {c for c, o in outcomes.items() if o.findings}
    assert failed == set(DEVICE_FAULTS[fault].breaks)
    for check_id in failed:
        for finding in outcomes[check_id].findings:
            assert finding.subject and finding.expected and finding.observed


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
