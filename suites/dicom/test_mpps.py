"""Modality Performed Procedure Step (PS3.4 F.7; IHE RAD-6/7): the modality tells the
RIS/PACS what it performed for a worklist item. The device is the SCU, the target the
SCP; the checks run where the device proposes MPPS and the target provides it.

Each check builds its own step from a generated worklist item (the MPPS SCP need not
hold the item: RAD-6 carries its keys in the Scheduled Step Attributes Sequence) and
images made for it, so no check depends on another's instance."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset

from fixtures.dicom_objects import CR, image_for_item, new_uid
from fixtures.worklist import make_worklist_item
from interopgate import mpps

SUCCESS = 0x0000


@pytest.fixture
def item(profile, fake) -> Dataset:
    """A worklist item for the device, scheduled now."""
    return make_worklist_item(
        fake.patient(),
        seed=fake.random_int(1, 10**6),
        accession=fake.accession_number(),
        modality=profile.device.modality,
        station_ae=profile.device.ae_title,
        start=dt.datetime.now().replace(microsecond=0),
        step_id=f"SPS{fake.numerify('####')}",
    )


def _create(profile, item: Dataset, step: Dataset | None = None) -> Dataset:
    return mpps.in_progress(
        item,
        step if step is not None else mpps.scheduled_step(item),
        station_ae=profile.device.ae_title,
        modality=profile.device.modality,
        pps_id=f"PPS{new_uid().split('.')[-1][:10]}",
        when=dt.datetime.now(),
    )


def _images(item: Dataset, count: int = 2) -> list[Dataset]:
    series = new_uid()
    return [
        image_for_item(CR, item, series_uid=series, instance_number=n + 1) for n in range(count)
    ]


def _start(check, client, profile, item: Dataset) -> str:
    """An IN PROGRESS instance the later steps act on (its failure names this step)."""
    uid = new_uid()
    reply = client.create(uid, _create(profile, item))
    check.expect(
        reply.status == SUCCESS,
        f"N-CREATE IN PROGRESS of MPPS {uid} (the step before the one checked)",
        expected="status 0000H",
        observed=str(reply),
    )
    return uid


@pytest.mark.check("dicom.mpps.create_in_progress")
def test_create_in_progress(check, device, profile, item, mpps_sop_class):
    with mpps.session(device, check) as client:
        uid = new_uid()
        reply = client.create(uid, _create(profile, item))
        step = item.ScheduledProcedureStepSequence[0]
        check.expect(
            reply.status == SUCCESS,
            f"N-CREATE IN PROGRESS of MPPS {uid} for accession {item.AccessionNumber}, "
            f"SPS {step.ScheduledProcedureStepID} (RAD-6 attributes, end date/time and "
            "performed series zero-length)",
            expected="status 0000H (Success)",
            observed=str(reply),
        )


@pytest.mark.check("dicom.mpps.create_missing_attribute")
@pytest.mark.parametrize("dropped", ["PerformedProcedureStepStartDate", "PerformedStationAETitle"])
def test_create_without_type1_refused(check, device, profile, item, mpps_sop_class, dropped):
    allowed = profile.dicom.mpps.missing_attribute_status
    attributes = _create(profile, item)
    delattr(attributes, dropped)
    with mpps.session(device, check) as client:
        uid = new_uid()
        reply = client.create(uid, attributes)
        check.expect(
            reply.status in allowed,
            f"N-CREATE of MPPS {uid} without {dropped} (Type 1, PS3.4 Table F.7.2-1)",
            expected=f"status {mpps.statuses(allowed)} (dicom.mpps.missing_attribute_status)",
            observed=str(reply),
        )


@pytest.mark.check("dicom.mpps.set_completed")
def test_set_completed(check, device, profile, item, mpps_sop_class):
    images = _images(item)
    with mpps.session(device, check) as client:
        uid = _start(check, client, profile, item)
        reply = client.set(uid, mpps.completed(images, when=dt.datetime.now()))
        check.expect(
            reply.status == SUCCESS,
            f"N-SET COMPLETED of MPPS {uid}: 1 performed series with {len(images)} images "
            "in its Referenced Image Sequence",
            expected="status 0000H (Success)",
            observed=str(reply),
        )


@pytest.mark.check("dicom.mpps.set_discontinued")
def test_set_discontinued(check, device, profile, item, mpps_sop_class):
    reason = profile.dicom.mpps.discontinued_reason
    with mpps.session(device, check) as client:
        uid = _start(check, client, profile, item)
        changes = mpps.discontinued(reason, _images(item, 1), when=dt.datetime.now())
        reply = client.set(uid, changes)
        check.expect(
            reply.status == SUCCESS,
            f"N-SET DISCONTINUED of MPPS {uid} with reason ({reason.value}, {reason.scheme}, "
            f"{reason.meaning!r})",
            expected="status 0000H (Success)",
            observed=str(reply),
        )


@pytest.mark.check("dicom.mpps.final_state_locked")
def test_no_update_after_completed(check, device, profile, item, mpps_sop_class):
    allowed = profile.dicom.mpps.final_update_status
    images = _images(item, 1)
    with mpps.session(device, check) as client:
        uid = _start(check, client, profile, item)
        first = client.set(uid, mpps.completed(images, when=dt.datetime.now()))
        check.expect(
            first.status == SUCCESS,
            f"N-SET COMPLETED of MPPS {uid} (the step before the one checked)",
            expected="status 0000H",
            observed=str(first),
        )
        again = mpps.completed(images, when=dt.datetime.now() + dt.timedelta(minutes=5))
        reply = client.set(uid, again)
        check.expect(
            reply.status in allowed,
            f"a second N-SET of MPPS {uid}, already COMPLETED (new end time)",
            expected=f"status {mpps.statuses(allowed)} (may no longer be updated; "
            "dicom.mpps.final_update_status)",
            observed=str(reply),
        )


@pytest.mark.check("dicom.mpps.unknown_instance")
def test_set_of_unknown_instance_refused(check, device, profile, item, mpps_sop_class):
    allowed = profile.dicom.mpps.unknown_instance_status
    with mpps.session(device, check) as client:
        uid = new_uid()
        reply = client.set(uid, mpps.completed(_images(item, 1), when=dt.datetime.now()))
        check.expect(
            reply.status in allowed,
            f"N-SET COMPLETED of MPPS {uid}, an instance never created",
            expected=f"status {mpps.statuses(allowed)} (No Such SOP Instance; "
            "dicom.mpps.unknown_instance_status)",
            observed=str(reply),
        )


@pytest.mark.check("dicom.mpps.unscheduled")
def test_unscheduled_step(check, device, profile, item, mpps_sop_class):
    if not profile.dicom.mpps.unscheduled:
        pytest.skip(
            "the profile says the target takes no unscheduled step (dicom.mpps.unscheduled)"
        )
    with mpps.session(device, check) as client:
        uid = new_uid()
        study = new_uid()
        reply = client.create(uid, _create(profile, item, mpps.unscheduled_step(study)))
        check.expect(
            reply.status == SUCCESS,
            f"unscheduled N-CREATE IN PROGRESS of MPPS {uid} (study {study}, no worklist "
            "item: accession, requested procedure and SPS IDs zero-length)",
            expected="status 0000H (Success)",
            observed=str(reply),
        )
