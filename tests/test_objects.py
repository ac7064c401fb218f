"""The generated instances are valid by their IOD, carry the worklist keys, and the
awkward ones are awkward in the way their names say.

``dciodvfy`` (Debian package dicom3tools) judges each generated storage class: what the
harness stores into a user's test PACS must never be the reason it is refused or coerced.
Without the validator these tests skip with one line, unless
INTEROPGATE_REQUIRE_TARGETS=1 (CI, after .ci/run installed it).
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID

from fixtures.dicom_objects import (
    CR,
    GENERATED_CLASSES,
    MODALITY_OF,
    NON_ASCII_NAMES,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    UID_ROOT,
    image_for_item,
    large_image,
    make_image,
    new_uid,
    non_ascii_image,
    with_private_tags,
)
from fixtures.patients import make_faker
from fixtures.worklist import todays_worklist
from interopgate.dicom import iod


@pytest.fixture(scope="module")
def dciodvfy() -> str:
    binary = iod.validator()
    if binary is None:
        reason = f"dciodvfy not found (install the Debian package {iod.PACKAGE})"
        if os.environ.get("INTEROPGATE_REQUIRE_TARGETS") == "1":
            pytest.fail(f"{reason}, but INTEROPGATE_REQUIRE_TARGETS=1", pytrace=False)
        pytest.skip(reason)
    return binary


@pytest.fixture
def fake():
    return make_faker(15)


@pytest.fixture
def item(fake) -> Dataset:
    return todays_worklist(fake, seed=15, modality="CR", station_ae="AGFA_CR1")[0]


def _errors(ds: Dataset, binary: str) -> list[str]:
    return iod.validate(ds, binary).errors


@pytest.mark.parametrize("sop_class", GENERATED_CLASSES, ids=lambda u: f"{MODALITY_OF[u]}-{u}")
def test_every_generated_class_is_valid(sop_class, fake, dciodvfy):
    ds = make_image(sop_class, fake.patient())
    report = iod.validate(ds, dciodvfy)
    assert report.errors == []
    assert report.iod  # dciodvfy recognised the IOD of the SOP class


@pytest.mark.parametrize("sop_class", GENERATED_CLASSES, ids=lambda u: f"{MODALITY_OF[u]}-{u}")
def test_images_for_a_worklist_item_are_valid(sop_class, item, dciodvfy):
    assert _errors(image_for_item(sop_class, item, pps_id="PPS-1"), dciodvfy) == []


@pytest.mark.parametrize("charset", NON_ASCII_NAMES)
def test_non_ascii_instances_are_valid(charset, fake, dciodvfy):
    assert _errors(non_ascii_image(CR, fake.patient(), charset), dciodvfy) == []


def test_private_tags_are_valid(fake, dciodvfy):
    assert _errors(with_private_tags(make_image(CR, fake.patient())), dciodvfy) == []


def test_the_validator_finds_a_broken_instance(fake, dciodvfy):
    """The check above can fail: a CR without its Type 2 View Position is an error."""
    ds = make_image(CR, fake.patient())
    del ds.ViewPosition
    assert any("ViewPosition" in line for line in _errors(ds, dciodvfy))


def test_images_carry_the_worklist_keys(item):
    """IHE RAD TF-2 4.8.4.1.3 (RAD-8): patient, accession, study, and the Request
    Attributes Sequence naming the requested procedure and the scheduled step."""
    ds = image_for_item(CR, item)
    step = item.ScheduledProcedureStepSequence[0]
    assert ds.PatientID == item.PatientID
    assert ds.PatientName == item.PatientName
    assert ds.PatientBirthDate == item.PatientBirthDate
    assert ds.AccessionNumber == item.AccessionNumber
    assert ds.StudyInstanceUID == item.StudyInstanceUID
    (request,) = ds.RequestAttributesSequence
    assert request.RequestedProcedureID == item.RequestedProcedureID
    assert request.ScheduledProcedureStepID == step.ScheduledProcedureStepID


def test_uids_come_from_the_project_root(fake):
    ds = make_image(CR, fake.patient())
    for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
        assert str(uid).startswith(f"{UID_ROOT}.")
        assert UID(uid).is_valid
    assert new_uid("a", 1) == new_uid("a", 1) != new_uid("a", 2)
    seeded = make_image(CR, fake.patient(), uid_seed=("study-x",))
    again = make_image(CR, fake.patient(), uid_seed=("study-x",))
    assert seeded.SOPInstanceUID == again.SOPInstanceUID


def test_pixel_data_is_small_and_within_bits_stored(fake):
    ds = make_image(CR, fake.patient(), when=dt.datetime(2026, 1, 2, 3, 4, 5))
    assert len(ds.PixelData) == 64 * 64 * 2
    words = memoryview(ds.PixelData).cast("H")
    assert max(words) < 1 << ds.BitsStored
    assert ds.StudyDate == "20260102"


def test_private_block_and_non_ascii_round_trip_through_part10(fake, tmp_path):
    from pydicom import dcmread

    ds = with_private_tags(non_ascii_image(CR, fake.patient(), "\\ISO 2022 IR 87"))
    path = tmp_path / "x.dcm"
    ds.save_as(path, enforce_file_format=True)
    back = dcmread(path)
    assert str(back.PatientName) == NON_ASCII_NAMES["\\ISO 2022 IR 87"]
    assert back.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x02].value == 4711


def test_large_instance_is_tens_of_megabytes(fake):
    ds = large_image(CR, fake.patient(), megabytes=20)
    assert 19 * 2**20 < len(ds.PixelData) <= 20 * 2**20
