"""Retrieve (PS3.4 C.4.2, C-MOVE): what a workstation relies on when it pulls studies.

The data a check retrieves is seeded through the target's seeder (C-STORE on real
servers), never written into a backend directly (ARCHITECTURE.md)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import make_image
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
