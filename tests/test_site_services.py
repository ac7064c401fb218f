"""The embedded site's MPPS and Storage Commitment SCPs on their own, over real
associations: the state machine of PS3.4 F.7.2 and both ways of delivering a commitment
report (PS3.4 J.3.3.1.2), including the one the suites cannot choose on the embedded
target (the request's own association, when the site knows no address for the AE)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import CR, make_image
from fixtures.patients import make_faker
from fixtures.worklist import make_worklist_item
from interopgate import commitment, mpps
from interopgate.checks import CHECKS
from interopgate.device import DeviceClient
from interopgate.dicom.association import Endpoint
from interopgate.dicom.listener import DeviceListener
from interopgate.evidence import Transcript
from interopgate.profile import load_profile
from interopgate.site.pacs import ReferenceSite, SiteConfig
from interopgate.targets.launch import free_port
from interopgate.verdict import CheckContext

ROOT = Path(__file__).resolve().parents[1]


def _associate(site: ReferenceSite, uid: str, handlers=()):
    ae = AE("TESTER")
    ae.add_requested_context(uid)
    return ae.associate(*site.dicom_address, ae_title="IG_PACS", evt_handlers=list(handlers))


def _item() -> Dataset:
    fake = make_faker(3)
    return make_worklist_item(
        fake.patient(),
        seed=3,
        accession="A1",
        modality="CR",
        station_ae="TESTER",
        start=dt.datetime(2026, 1, 2, 8, 0),
        step_id="SPS1",
    )


def test_mpps_state_machine():
    item = _item()
    create = mpps.in_progress(
        item,
        mpps.scheduled_step(item),
        station_ae="TESTER",
        modality="CR",
        pps_id="P1",
        when=dt.datetime(2026, 1, 2, 8, 1),
    )
    done = mpps.completed([make_image(CR, make_faker(1).patient())], when=dt.datetime.now())
    with ReferenceSite() as site:
        assoc = _associate(site, mpps.SOP_CLASS)
        client = mpps.MppsClient(assoc, lambda text: None)
        assert client.create("1.2.3.1", create).status == 0x0000
        assert client.create("1.2.3.1", create).status == 0x0111  # duplicate instance
        assert client.set("1.2.3.9", done).status == 0x0112
        assert client.set("1.2.3.1", done).status == 0x0000
        locked = client.set("1.2.3.1", done)
        assert locked.status == 0x0110 and "no longer" in locked.comment
        del create.PerformedStationAETitle
        assert client.create("1.2.3.2", create).status == 0x0120
        assoc.release()
    stored = site.mpps.instances["1.2.3.1"]
    assert stored.PerformedProcedureStepStatus == "COMPLETED"
    assert len(stored.PerformedSeriesSequence[0].ReferencedImageSequence) == 1


def _request(site: ReferenceSite, listener: DeviceListener, images: list[Dataset]):
    assoc = _associate(
        site,
        sop.StorageCommitmentPushModel,
        [(evt.EVT_N_EVENT_REPORT, lambda e: listener.on_report(e, same_association=True))],
    )
    answered = commitment.report_answered(assoc)
    info = commitment.action_information(images, "1.2.3.100")
    status, _ = assoc.send_n_action(
        info, 1, sop.StorageCommitmentPushModel, commitment.WELL_KNOWN_INSTANCE
    )
    assert status.Status == 0x0000
    report = listener.report_for("1.2.3.100", 5)
    if report is not None and report.same_association:
        answered.wait(5)  # the answer goes out before the release (as commitment.request)
    assoc.release()
    return report


def test_commitment_report_on_the_same_association():
    images = [make_image(CR, make_faker(1).patient()) for _ in range(2)]
    listener = DeviceListener("TESTER", "127.0.0.1", 0)  # not started
    with ReferenceSite() as site:
        site.add_instances(images[:1])
        report = _request(site, listener, images)
    assert report is not None and report.same_association
    assert report.event_type == commitment.FAILURES_EXIST
    assert commitment.listed(report, "ReferencedSOPSequence").keys() == {
        str(images[0].SOPInstanceUID)
    }
    (failed,) = report.information.FailedSOPSequence
    assert failed.ReferencedSOPInstanceUID == images[1].SOPInstanceUID
    assert failed.FailureReason == 0x0112


def test_commitment_report_on_a_new_association_with_the_scp_role():
    images = [make_image(CR, make_faker(1).patient())]
    port = free_port()
    config = SiteConfig(move_destinations={"TESTER": ("127.0.0.1", port)})
    with DeviceListener("TESTER", "127.0.0.1", port) as listener, ReferenceSite(config) as site:
        site.add_instances(images)
        started = time.monotonic()
        report = _request(site, listener, images)
    assert report is not None and not report.same_association
    assert report.role_selection and report.calling_ae == "IG_PACS"
    assert report.event_type == commitment.ALL_SUCCEEDED
    assert time.monotonic() - started < 5


def test_the_harness_answers_a_report_on_its_association_before_releasing():
    """commitment.request: the N-EVENT-REPORT-RSP goes out before the A-RELEASE-RQ, so
    the target's report is answered (Success) every time, not only when the race is won."""
    images = [make_image(CR, make_faker(1).patient())]
    listener = DeviceListener("IG_DEVICE", "127.0.0.1", 0)  # not started: same association
    with ReferenceSite() as site:
        site.add_instances(images)
        host, port = site.dicom_address
        profile = load_profile(
            "agfa-cr", ROOT / "profiles", target_fields={"dicom_port": port, "called_ae": "IG_PACS"}
        ).profile
        transcript = Transcript("commitment", Path("/dev/null"))
        device = DeviceClient(profile, Endpoint(host, port, "IG_PACS", 5.0, 5.0), transcript)
        check = CheckContext(CHECKS["dicom.commitment.request"], transcript)
        for _ in range(REPEATS):
            outcome = commitment.request(device, check, images, listener, 5.0)
            assert outcome.report is not None and outcome.report.same_association
        deadline = time.monotonic() + 5
        while len(site.commitment.answers) < REPEATS and time.monotonic() < deadline:
            time.sleep(0.01)
    assert site.commitment.answers == [0x0000] * REPEATS


REPEATS = 20
