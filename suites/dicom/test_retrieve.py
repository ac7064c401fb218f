"""Retrieve (PS3.4 C.4.2, C-MOVE): what a workstation relies on when it pulls studies:
a refusal for a destination the target does not know, and sub-operation counts that
add up to what was delivered to the device's own SCP.

The data a check retrieves is seeded through the target's seeder (C-STORE on real
servers), never written into a backend directly (ARCHITECTURE.md)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import make_image, new_uid
from interopgate.dicom import uids
from interopgate.errors import TargetUnavailable

UNKNOWN_DESTINATION = "IG_NO_SUCH_DEST"
MOVE_DESTINATION_UNKNOWN = 0xA801


def _status(response) -> str:
    if response is None or "Status" not in response:
        return "no response (association aborted or DIMSE timeout)"
    return f"status {int(response.Status):04X}H"


@pytest.fixture
def stored_study(target, fake) -> Dataset:
    """One instance the target holds, so that a refusal cannot be blamed on no match."""
    image = make_image(sop.SecondaryCaptureImageStorage, fake.patient())
    try:
        target.seeder.store_instances([image])
    except TargetUnavailable as exc:
        pytest.skip(f"cannot seed an instance to retrieve: {exc}")
    return image


@pytest.mark.check("dicom.retrieve.move_unknown_destination")
def test_move_to_unknown_destination_refused(check, device, move_sop_class, stored_study):
    uid = uids.resolve(move_sop_class)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = stored_study.StudyInstanceUID
    with device.associate([uid]) as (assoc, negotiation):
        check.expect(
            negotiation.established,
            f"C-MOVE over {uids.label(uid)}",
            expected="an established association (A-ASSOCIATE-AC)",
            observed=negotiation.outcome(),
        )
        responses = list(assoc.send_c_move(query, UNKNOWN_DESTINATION, uid))
        final = responses[-1][0] if responses else None
        check.expect(
            final is not None and final.get("Status") == MOVE_DESTINATION_UNKNOWN,
            f"C-MOVE of study {stored_study.StudyInstanceUID} to move destination "
            f"{UNKNOWN_DESTINATION!r}, an AE title the target was never told about",
            expected="status A801H (Refused: Move Destination unknown)",
            observed=_status(final),
        )


COUNTS = (
    "NumberOfRemainingSuboperations",
    "NumberOfCompletedSuboperations",
    "NumberOfFailedSuboperations",
    "NumberOfWarningSuboperations",
)


@pytest.fixture
def three_instance_study(target, fake) -> list[Dataset]:
    """A study of three instances the target holds (seeded, as every retrieve check's)."""
    patient, study, series = fake.patient(), new_uid(), new_uid()
    images = [
        make_image(
            sop.SecondaryCaptureImageStorage,
            patient,
            study_uid=study,
            series_uid=series,
            instance_number=n,
        )
        for n in (1, 2, 3)
    ]
    try:
        target.seeder.store_instances(images)
    except TargetUnavailable as exc:
        pytest.skip(f"cannot seed instances to retrieve: {exc}")
    return images


def _counts(response: Dataset) -> tuple[int, ...]:
    return tuple(int(response.get(k) or 0) for k in COUNTS)


@pytest.mark.check("dicom.retrieve.sub_operation_counts")
def test_move_sub_operation_counts(
    check, device, move_sop_class, three_instance_study, device_listener, target
):
    if target.move_destination is None:
        pytest.skip("the target knows no move destination for the device (move_destination)")
    uid = uids.resolve(move_sop_class)
    study = three_instance_study[0].StudyInstanceUID
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study
    with device.associate([uid]) as (assoc, negotiation):
        check.expect(
            negotiation.established,
            f"C-MOVE over {uids.label(uid)}",
            expected="an established association (A-ASSOCIATE-AC)",
            observed=negotiation.outcome(),
        )
        responses = [r for r, _ in assoc.send_c_move(query, device_listener.ae_title, uid)]
    wanted = {str(ds.SOPInstanceUID) for ds in three_instance_study}
    device_listener.wait_for(
        lambda: wanted <= {str(r.dataset.SOPInstanceUID) for r in device_listener.received}, 5
    )
    arrived = [
        str(r.dataset.SOPInstanceUID)
        for r in device_listener.received
        if str(r.dataset.SOPInstanceUID) in wanted
    ]
    problems = []
    pending = [r for r in responses if r is not None and r.get("Status") in (0xFF00, 0xFF01)]
    totals = {sum(_counts(r)) for r in pending}
    if len(totals) > 1:
        problems.append(
            f"pending totals (remaining+completed+failed+warning) vary: {sorted(totals)}"
        )
    final = responses[-1] if responses else None
    if final is None or "Status" not in final:
        problems.append("no final C-MOVE response")
    else:
        remaining, completed, failed, warning = _counts(final)
        if int(final.Status) != 0x0000:
            problems.append(f"final status {int(final.Status):04X}H")
        if remaining:
            problems.append(f"final response has {remaining} remaining sub-operation(s)")
        if completed + warning != len(arrived) or failed:
            problems.append(
                f"final counts completed {completed}, failed {failed}, warning {warning} for "
                f"{len(arrived)} instance(s) received"
            )
        if totals and totals != {remaining + completed + failed + warning}:
            problems.append(
                f"final total {remaining + completed + failed + warning} differs "
                f"from the pending total {sorted(totals)}"
            )
    if sorted(arrived) != sorted(wanted):
        problems.append(f"{len(arrived)} instance(s) received for 3 in the study")
    check.expect(
        not problems,
        f"C-MOVE of study {study} (3 instances) to {device_listener.ae_title}: "
        f"{len(pending)} pending response(s)",
        expected="pending responses whose four counts add up to 3, a final 0000H with no "
        "remaining sub-operations and completed + warning = 3 = instances received, each once",
        observed="; ".join(problems),
    )
