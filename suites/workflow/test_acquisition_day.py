"""The modality's whole acquisition day as one check (IHE RAD Scheduled Workflow):

1. RAD-4/RAD-5: an order sent over HL7 becomes a worklist item (``Flow``);
2. RAD-6: MPPS N-CREATE IN PROGRESS for that item's Scheduled Procedure Step;
3. RAD-8: images C-STOREd carrying the item's keys (Request Attributes Sequence);
4. RAD-7: MPPS N-SET COMPLETED referencing those images;
5. RAD-10: Storage Commitment for them, the report listing every one committed;
6. PS3.4 C.6.2: a Study Root C-FIND at STUDY level shows the study with the accession.

Each step is judged only as far as the next one needs it (the step's own checks judge it
in depth); the failure message names the step that broke, and the transcript holds the
whole day.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset

from fixtures.dicom_objects import image_for_item, new_uid
from interopgate import commitment, mpps, storage
from interopgate.dicom import uids
from interopgate.dicom.query import MODELS, FindSession, build_identifier

STEPS = 6


def _step(n: int, name: str) -> str:
    return f"step {n} of {STEPS} ({name})"


def _storage_class(profile) -> str:
    classes = [
        uid
        for uid in profile.dicom.proposed_uids()
        if uids.is_storage(uid) and profile.target_provides(uid)
    ]
    if not classes:
        pytest.skip("the profile proposes no storage SOP class the target provides")
    return classes[0]


def _require(profile, name: str) -> None:
    uid = uids.resolve(name)
    if uid not in profile.dicom.proposed_uids() or not profile.target_provides(name):
        pytest.skip(f"the acquisition day needs {name} proposed and provided")


@pytest.mark.check("workflow.day.acquisition")
def test_acquisition_day(check, flow, profile, device, device_listener, hl7_address):
    for name in ("MPPS", "StorageCommitmentPushModel"):
        _require(profile, name)
    if not profile.target_provides("StudyRootFind"):
        pytest.skip("the acquisition day ends with a Study Root C-FIND the target does not provide")
    sop_class = _storage_class(profile)
    flow.require("create")

    # 1. HL7 order -> worklist item
    _, _, message = flow.new_order()
    sent = flow.send(message)
    step = _step(1, "RAD-4 order → RAD-5 worklist item")
    flow.must_accept(sent, "create")  # a refusal is the hl7.* checks' to judge
    found, elapsed = flow.poll([sent.accession], lambda f: bool(f[sent.accession]))
    items = found[sent.accession]
    check.expect(
        len(items) == 1,
        f"{step}: worklist query by Accession Number {sent.accession}",
        expected=f"one worklist item within {flow.deadline:g} s",
        observed=f"{len(items)} item(s) after {elapsed:.2f} s",
    )
    item = items[0]
    absent = [k for k in ("PatientID", "PatientName", "StudyInstanceUID") if not item.get(k)]
    check.expect(
        not absent,
        f"{step}: the item for accession {sent.accession}",
        expected="Patient ID, Patient's Name and Study Instance UID, which the images carry",
        observed=f"{', '.join(absent)} missing or empty",
    )
    sps = (item.get("ScheduledProcedureStepSequence") or [Dataset()])[0]

    # 2. MPPS IN PROGRESS
    now = dt.datetime.now().replace(microsecond=0)
    pps_id = f"PPS{new_uid().split('.')[-1][:10]}"
    series = new_uid()
    images = [
        image_for_item(sop_class, item, series_uid=series, instance_number=n, pps_id=pps_id)
        for n in (1, 2)
    ]
    mpps_uid = new_uid()
    with mpps.session(device, check) as client:
        reply = client.create(
            mpps_uid,
            mpps.in_progress(
                item,
                mpps.scheduled_step(item),
                station_ae=profile.device.ae_title,
                modality=profile.device.modality,
                pps_id=pps_id,
                when=now,
            ),
        )
        check.expect(
            reply.status == 0x0000,
            f"{_step(2, 'RAD-6 MPPS IN PROGRESS')}: N-CREATE of {mpps_uid} for SPS "
            f"{sps.get('ScheduledProcedureStepID', '')!s}",
            expected="status 0000H",
            observed=str(reply),
        )

        # 3. images with the item's keys
        for ds in images:
            code, text = storage.store(device, ds)
            check.expect(
                code in profile.dicom.storage.allowed_status,
                f"{_step(3, 'RAD-8 images stored')}: C-STORE of {ds.SOPInstanceUID} with "
                f"accession {sent.accession} in its Request Attributes Sequence",
                expected=" or ".join(f"{c:04X}H" for c in profile.dicom.storage.allowed_status),
                observed=text,
            )

        # 4. MPPS COMPLETED
        reply = client.set(mpps_uid, mpps.completed(images, when=dt.datetime.now()))
        check.expect(
            reply.status == 0x0000,
            f"{_step(4, 'RAD-7 MPPS COMPLETED')}: N-SET of {mpps_uid} with {len(images)} images",
            expected="status 0000H",
            observed=str(reply),
        )

    # 5. Storage Commitment
    settings = profile.dicom.commitment
    outcome = commitment.request(device, check, images, device_listener, settings.timeout)
    step = _step(5, "RAD-10 Storage Commitment")
    check.expect(
        outcome.reply.status == 0x0000,
        f"{step}: N-ACTION for {len(images)} images",
        expected="status 0000H",
        observed=str(outcome.reply),
    )
    report = outcome.report
    committed = commitment.listed(report, "ReferencedSOPSequence") if report else {}
    missing = [str(ds.SOPInstanceUID) for ds in images if str(ds.SOPInstanceUID) not in committed]
    check.expect(
        report is not None and not missing,
        f"{step}: N-EVENT-REPORT for Transaction UID {outcome.transaction_uid}",
        expected=f"within {settings.timeout:g} s, every image in the Referenced SOP Sequence",
        observed="no report"
        if report is None
        else f"{len(missing)} of {len(images)} image(s) not committed",
    )

    # 6. the study in the archive, with the accession
    model = MODELS["study"]
    query = build_identifier(
        model,
        {"StudyInstanceUID": str(item.StudyInstanceUID)},
        ["AccessionNumber", "PatientID"],
    )
    with FindSession(device, model) as session:
        result = session.find(query)
    step = _step(6, "Study Root C-FIND")
    accessions = [str(m.get("AccessionNumber", "") or "") for m in result.matches]
    check.expect(
        result.accepted and accessions == [sent.accession],
        f"{step}: STUDY level, Study Instance UID {item.StudyInstanceUID}",
        expected=f"one study with Accession Number {sent.accession}",
        observed=result.refusal
        if not result.accepted
        else f"{len(accessions)} match(es), Accession Number(s) {accessions}",
    )
