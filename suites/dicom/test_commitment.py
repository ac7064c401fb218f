"""Storage Commitment (PS3.4 J.3, IHE RAD-10): before a modality deletes its local copy
it asks the archive to take responsibility for the images, and waits for the answer.

Each check stores its own images first (as the modality does), asks for their
commitment, and waits for the N-EVENT-REPORT on its association or at the device's own
SCP (the address the target knows it by), as long as ``dicom.commitment.timeout``."""

from __future__ import annotations

import pytest

from fixtures.dicom_objects import make_image, new_uid, patient_of
from interopgate import commitment, storage
from interopgate.dicom import uids


@pytest.fixture
def stored(check, device, profile, fake, commitment_sop_class):
    """Two images of a proposed storage class the target provides, stored."""
    classes = [
        uid
        for uid in profile.dicom.proposed_uids()
        if uids.is_storage(uid) and profile.target_provides(uid)
    ]
    if not classes:
        pytest.skip("the profile proposes no storage SOP class the target provides")
    sop_class = storage.accepted_class(device, classes)
    if sop_class is None:
        pytest.skip("no storage context accepted (see dicom.association.context_accepted)")
    patient = fake.patient()
    study, series = new_uid(), new_uid()
    images = [
        make_image(sop_class, patient, study_uid=study, series_uid=series, instance_number=n)
        for n in (1, 2)
    ]
    commitment.store(device, check, images)
    return images


def _arrived(check, profile, outcome: commitment.Outcome, subject: str) -> commitment.Report:
    settings = profile.dicom.commitment
    report = outcome.report
    check.expect(
        report is not None,
        subject,
        expected=f"an N-EVENT-REPORT within {settings.timeout:g} s (dicom.commitment.timeout), "
        f"{'on either association' if settings.report == 'either' else settings.report}",
        observed=f"no N-EVENT-REPORT for Transaction UID {outcome.transaction_uid} within "
        f"{outcome.waited:.1f} s, on the association or at the device's SCP",
    )
    assert report is not None
    wanted = {"same-association": True, "new-association": False}.get(settings.report)
    check.expect(
        wanted is None or report.same_association == wanted,
        subject,
        expected=f"the report {settings.report} (dicom.commitment.report)",
        observed=f"it came {outcome.where()}",
    )
    return report


@pytest.mark.check("dicom.commitment.request")
def test_request_accepted(check, device, stored, device_listener):
    outcome = commitment.request(device, check, stored, device_listener, None)
    check.expect(
        outcome.reply.status == 0x0000,
        f"N-ACTION Request Storage Commitment for {len(stored)} stored instances "
        f"(Transaction UID {outcome.transaction_uid})",
        expected="status 0000H (Success)",
        observed=str(outcome.reply),
    )


def _requested(check, outcome: commitment.Outcome, count: int) -> None:
    check.expect(
        outcome.reply.status == 0x0000,
        f"N-ACTION Request Storage Commitment for {count} instances (the step before the report)",
        expected="status 0000H",
        observed=str(outcome.reply),
    )


@pytest.mark.check("dicom.commitment.report_success")
def test_report_commits_every_instance(check, device, profile, stored, device_listener):
    outcome = commitment.request(
        device, check, stored, device_listener, profile.dicom.commitment.timeout
    )
    _requested(check, outcome, len(stored))
    subject = f"Storage Commitment report for Transaction UID {outcome.transaction_uid}"
    report = _arrived(check, profile, outcome, subject)
    committed = commitment.listed(report, "ReferencedSOPSequence")
    failed = commitment.listed(report, "FailedSOPSequence")
    missing = [str(ds.SOPInstanceUID) for ds in stored if str(ds.SOPInstanceUID) not in committed]
    check.expect(
        report.event_type == commitment.ALL_SUCCEEDED and not missing and not failed,
        subject,
        expected=f"Event Type ID 1 with all {len(stored)} stored instances in the Referenced "
        "SOP Sequence (0008,1199), no Failed SOP Sequence",
        observed=f"Event Type ID {report.event_type}, {len(committed)} committed, "
        f"{len(failed)} failed; not committed: {', '.join(missing) or 'none'}",
    )


@pytest.mark.check("dicom.commitment.report_failures")
def test_report_lists_instance_never_received(check, device, profile, stored, device_listener):
    allowed = profile.dicom.commitment.failure_reasons
    kept = stored[0]
    never = make_image(str(kept.SOPClassUID), patient_of(kept), study_uid=kept.StudyInstanceUID)
    outcome = commitment.request(
        device, check, [kept, never], device_listener, profile.dicom.commitment.timeout
    )
    _requested(check, outcome, 2)
    subject = (
        f"Storage Commitment report for Transaction UID {outcome.transaction_uid}: "
        f"{kept.SOPInstanceUID} stored, {never.SOPInstanceUID} never sent"
    )
    report = _arrived(check, profile, outcome, subject)
    committed = commitment.listed(report, "ReferencedSOPSequence")
    failed = commitment.listed(report, "FailedSOPSequence")
    item = failed.get(str(never.SOPInstanceUID))
    reason = None if item is None else item.get("FailureReason")
    reasons = " or ".join(f"{code:04X}H" for code in allowed)
    check.expect(
        report.event_type == commitment.FAILURES_EXIST
        and reason in allowed
        and str(never.SOPInstanceUID) not in committed
        and str(kept.SOPInstanceUID) in committed,
        subject,
        expected=f"Event Type ID 2; the missing instance in the Failed SOP Sequence with "
        f"Failure Reason {reasons} (dicom.commitment.failure_reasons); the stored one "
        "committed",
        observed=f"Event Type ID {report.event_type}; missing instance "
        f"{_fate(str(never.SOPInstanceUID), committed, failed)}; stored instance "
        f"{_fate(str(kept.SOPInstanceUID), committed, failed)}",
    )


def _fate(uid: str, committed: dict, failed: dict) -> str:
    if uid in committed:
        return "committed"
    if uid in failed:
        reason = failed[uid].get("FailureReason")
        return f"failed with Failure Reason {'(none)' if reason is None else f'{int(reason):04X}H'}"
    return "listed nowhere"
