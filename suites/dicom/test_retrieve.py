"""Retrieve (PS3.4 C.4.2 C-MOVE, C.4.3 C-GET): the harness as retrieving SCU verifies
what the target holds, whether or not the device proposes C-MOVE or C-GET itself: the
checks run for every retrieve information model the target provides (``target.provides``,
its conformance statement). C-MOVE goes to the device's own SCP, at the AE title and port
the target knows as move destination (``RunningTarget.move_destination``: reserved and
configured by the harness for the embedded site and process targets); C-GET brings the
instances back on the same association.

The data a check retrieves is seeded through the target's seeder (C-STORE on real
servers), never written into a backend directly (ARCHITECTURE.md): one study of two
series (2 + 1 instances), so that each level retrieves a different number of instances.
"""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import make_image, new_uid
from interopgate import retrieve
from interopgate.dicom import uids
from interopgate.errors import TargetUnavailable

UNKNOWN_DESTINATION = "IG_NO_SUCH_DEST"
MOVE_DESTINATION_UNKNOWN = 0xA801
LEVELS = ["STUDY", "SERIES", "IMAGE"]


@pytest.fixture(scope="session")
def retrieve_study(target) -> list[Dataset]:
    """A study of three SC instances in two series (2 + 1), seeded once per session."""
    from fixtures.patients import make_faker

    fake = make_faker(20_261_201)
    patient, study = fake.patient(), new_uid()
    series = [new_uid(), new_uid()]
    images = [
        make_image(
            sop.SecondaryCaptureImageStorage,
            patient,
            study_uid=study,
            series_uid=series[0 if n < 3 else 1],
            instance_number=n,
        )
        for n in (1, 2, 3)
    ]
    try:
        target.seeder.store_instances(images)
    except TargetUnavailable as exc:
        pytest.skip(f"cannot seed instances to retrieve: {exc}")
    return images


def _at(level: str, study: list[Dataset]) -> list[str]:
    """The SOP Instance UIDs a retrieve of the first instance's entity at ``level`` moves."""
    first = study[0]
    if level == "IMAGE":
        return [str(first.SOPInstanceUID)]
    if level == "SERIES":
        return [
            str(d.SOPInstanceUID) for d in study if d.SeriesInstanceUID == first.SeriesInstanceUID
        ]
    return [str(d.SOPInstanceUID) for d in study]


@pytest.fixture
def destination(target, device_listener):
    if target.move_destination is None:
        pytest.skip("the target knows no move destination for the device (move_destination)")
    return device_listener


def _established(check, result: retrieve.Retrieval, uid: str) -> None:
    check.expect(
        result.refused is None,
        f"{result.operation} over {uids.label(uid)}",
        expected="an established association with the context accepted",
        observed=result.refused or "",
    )


def _expect_counts(check, result: retrieve.Retrieval, wanted: list[str], subject: str) -> None:
    """The sub-operation counts of a C-MOVE or C-GET (PS3.4 C.4.2.1.6-9, C.4.3.1.6): pending
    counts that add up, a final 0000H, and the instances received each once."""
    problems = retrieve.count_problems(result, wanted)
    check.expect(
        not problems,
        f"{subject}: {len(result.pending)} pending response(s)",
        expected=f"pending counts adding up to {len(wanted)}, a final 0000H with no remaining "
        f"sub-operation and completed + warning = {len(wanted)} = instances received, each once",
        observed="; ".join(problems),
    )


@pytest.mark.check("dicom.retrieve.move_unknown_destination")
def test_move_to_unknown_destination_refused(check, device, retrieve_move_class, retrieve_study):
    uid = uids.resolve(retrieve_move_class)
    study = retrieve_study[0]
    query = retrieve.identifier(uid, "STUDY", study)
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
            f"C-MOVE of study {study.StudyInstanceUID} to move destination "
            f"{UNKNOWN_DESTINATION!r}, an AE title the target was never told about",
            expected="status A801H (Refused: Move Destination unknown)",
            observed=retrieve.status_text(final),
        )


@pytest.mark.check("dicom.retrieve.sub_operation_counts")
@pytest.mark.parametrize("level", LEVELS)
def test_move_sub_operation_counts(
    check, device, retrieve_move_class, level, retrieve_study, destination
):
    uid = uids.resolve(retrieve_move_class)
    wanted = _at(level, retrieve_study)
    query = retrieve.identifier(uid, level, retrieve_study[0])
    result = retrieve.move(device, destination, uid, query, wanted)
    _established(check, result, uid)
    _expect_counts(
        check,
        result,
        wanted,
        f"C-MOVE ({uids.label(uid)}) at {level} level ({len(wanted)} instance(s)) to "
        f"{destination.ae_title}",
    )


@pytest.mark.check("dicom.retrieve.get_sub_operation_counts")
@pytest.mark.parametrize("level", LEVELS)
def test_get_sub_operation_counts(check, device, retrieve_get_class, level, retrieve_study):
    uid = uids.resolve(retrieve_get_class)
    wanted = _at(level, retrieve_study)
    query = retrieve.identifier(uid, level, retrieve_study[0])
    classes = [str(retrieve_study[0].SOPClassUID)]
    result = retrieve.get(device, uid, query, classes)
    _established(check, result, uid)
    _expect_counts(
        check,
        result,
        wanted,
        f"C-GET ({uids.label(uid)}) at {level} level ({len(wanted)} instance(s)), C-STORE "
        "sub-operations on the same association",
    )


@pytest.mark.check("dicom.retrieve.move_final_response")
def test_move_final_response(check, device, retrieve_move_class, retrieve_study, destination):
    uid = uids.resolve(retrieve_move_class)
    wanted = _at("STUDY", retrieve_study)
    query = retrieve.identifier(uid, "STUDY", retrieve_study[0])
    result = retrieve.move(device, destination, uid, query, wanted)
    _established(check, result, uid)
    final = result.final
    last = result.responses[-1] if result.responses else None
    check.expect(
        final is not None,
        f"C-MOVE ({uids.label(uid)}) of a study of {len(wanted)} instances to "
        f"{destination.ae_title}",
        expected=f"a final (non-pending) response within the DIMSE timeout "
        f"({device.endpoint.dimse_timeout:g} s) after the pending ones",
        observed=f"{len(result.pending)} pending response(s), {len(result.arrived)} "
        f"instance(s) delivered, then no final response after {result.waited:.1f} s "
        f"({retrieve.status_text(last)})",
    )


@pytest.mark.check("dicom.retrieve.move_cancel")
def test_move_cancel(check, device, retrieve_move_class, retrieve_study, destination):
    uid = uids.resolve(retrieve_move_class)
    wanted = _at("STUDY", retrieve_study)
    query = retrieve.identifier(uid, "STUDY", retrieve_study[0])
    result = retrieve.move(device, destination, uid, query, wanted, cancel=True)
    _established(check, result, uid)
    problems = []
    final = result.final
    arrived = len(result.arrived)
    if not result.cancel_sent:
        problems.append("no sub-operation arrived to cancel during")
    if final is None:
        problems.append(f"no final response ({len(result.pending)} pending)")
    else:
        remaining, completed, failed, warning = retrieve.counts(final)
        if int(final.Status) != retrieve.CANCEL:
            problems.append(f"final status {int(final.Status):04X}H")
        if completed + warning != arrived:
            problems.append(
                f"final counts completed {completed}, warning {warning} for {arrived} "
                "instance(s) received"
            )
        total = remaining + completed + failed + warning
        if int(final.Status) == retrieve.CANCEL and total != len(wanted):
            problems.append(f"final counts add up to {total}, not {len(wanted)}")
        if arrived >= len(wanted):
            problems.append(f"all {arrived} instances were delivered after the C-CANCEL")
    check.expect(
        not problems,
        f"C-MOVE ({uids.label(uid)}) of a study of {len(wanted)} instances, C-CANCEL-MOVE-RQ "
        "sent while the first C-STORE sub-operation was held open at the destination",
        expected="a final FE00H (Cancel) with completed + warning = instances received and "
        "the remaining ones not performed",
        observed="; ".join(problems) or f"{arrived} instance(s) received",
    )
