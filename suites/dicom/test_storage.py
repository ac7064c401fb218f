"""Storage round trip (PS3.4 B.2.3, C.4.2.2): what the archive keeps of what the
modality sent. Each instance is stored with C-STORE, retrieved back by C-MOVE to the
device's own SCP, and compared element by element; every difference the profile does
not list under ``dicom.storage.accepted_coercions`` is reported with both values.

The instances carry a worklist item's keys (IHE RAD-8) and, per variant, the awkward
parts real modalities send: a private block, names in UTF-8 or ISO 2022 (Japanese), and
one instance of tens of MB."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from pydicom.dataset import Dataset

from fixtures.dicom_objects import (
    image_for_item,
    large_image,
    new_uid,
    non_ascii_image,
    patient_of,
    with_private_tags,
)
from fixtures.worklist import make_worklist_item
from interopgate import retrieve, storage
from interopgate.dicom import iod, uids

MOVE = "StudyRootMove"
VARIANTS = ["worklist-keys", "private-tags", "ISO_IR 192", "ISO 2022 IR 87"]


@pytest.fixture
def item(profile, fake) -> Dataset:
    return make_worklist_item(
        fake.patient(),
        seed=fake.random_int(1, 10**6),
        accession=fake.accession_number(),
        modality=profile.device.modality,
        station_ae=profile.device.ae_title,
        start=dt.datetime.now().replace(microsecond=0),
        step_id=f"SPS{fake.numerify('####')}",
    )


@pytest.fixture
def move_uid(profile, target) -> str:
    if not profile.target_provides(MOVE):
        pytest.skip("the target provides no Study Root C-MOVE to retrieve the stored instance")
    if target.move_destination is None:
        pytest.skip("the target knows no move destination for the device (move_destination)")
    return uids.resolve(MOVE)


def _instance(sop_class: str, item: Dataset, variant: str) -> Dataset:
    if variant == "worklist-keys":
        return image_for_item(sop_class, item)
    if variant == "private-tags":
        return with_private_tags(image_for_item(sop_class, item))
    charset = {"ISO_IR 192": "ISO_IR 192", "ISO 2022 IR 87": "\\ISO 2022 IR 87"}[variant]
    ds = non_ascii_image(sop_class, patient_of(item), charset, study_uid=item.StudyInstanceUID)
    ds.AccessionNumber = item.AccessionNumber
    return ds


def _stored(check, profile, device, ds: Dataset, what: str) -> None:
    allowed = profile.dicom.storage.allowed_status
    code, text = storage.store(device, ds)
    check.expect(
        code in allowed,
        f"C-STORE of {what} {ds.SOPInstanceUID}",
        expected=f"status {' or '.join(f'{c:04X}H' for c in allowed)} "
        "(dicom.storage.allowed_status)",
        observed=text,
    )


def _retrieved(check, device, device_listener, move_uid, ds: Dataset, what: str) -> Dataset:
    back, status = storage.retrieve(
        device, device_listener, move_uid, ds, device.endpoint.dimse_timeout
    )
    check.expect(
        back is not None,
        f"C-MOVE of the stored {what} {ds.SOPInstanceUID} to {device_listener.ae_title}",
        expected="the instance delivered to the device's SCP by a C-STORE sub-operation",
        observed=f"nothing arrived ({status}): the target answered the store but does not "
        "return the instance",
    )
    assert back is not None
    return back


@pytest.mark.check("dicom.storage.round_trip")
@pytest.mark.parametrize("variant", VARIANTS)
def test_round_trip(
    check, device, profile, item, storage_sop_class, variant, move_uid, device_listener
):
    sop_class = uids.resolve(storage_sop_class)
    ds = _instance(sop_class, item, variant)
    what = f"{uids.label(sop_class)} instance ({variant})"
    _stored(check, profile, device, ds, what)
    back = _retrieved(check, device, device_listener, move_uid, ds, what)
    coercions = profile.dicom.storage.accepted_coercions
    found = [d for d in storage.differences(ds, back) if not storage.accepted(d, coercions)]
    check.expect(
        not found,
        f"the {what} {ds.SOPInstanceUID} as retrieved, element by element, against what was stored",
        expected="the same elements and values (coercions accepted by "
        f"dicom.storage.accepted_coercions: {', '.join(coercions) or 'none'})",
        observed=f"{len(found)} difference(s): " + "; ".join(map(str, found[:8])),
    )


@pytest.mark.check("dicom.storage.large_instance")
def test_large_instance_round_trip(
    check, device, profile, item, move_uid, device_listener, storage_sop_class
):
    sop_class = uids.resolve(storage_sop_class)
    ds = large_image(sop_class, patient_of(item), megabytes=24, study_uid=item.StudyInstanceUID)
    ds.SeriesInstanceUID = new_uid()
    what = f"{len(ds.PixelData) // 2**20} MiB {uids.label(sop_class)} instance"
    _stored(check, profile, device, ds, what)
    back = _retrieved(check, device, device_listener, move_uid, ds, what)
    pixels = back.get("PixelData")
    check.expect(
        pixels is not None and bytes(pixels) == bytes(ds.PixelData),
        f"Pixel Data of the retrieved {what} {ds.SOPInstanceUID}",
        expected=f"{len(ds.PixelData)} bytes, identical to what was stored",
        observed="no Pixel Data"
        if pixels is None
        else f"{len(pixels)} bytes"
        + (", identical" if bytes(pixels) == bytes(ds.PixelData) else ", different"),
    )


WARNINGS = (0xB000, 0xB006, 0xB007)


@pytest.mark.check("dicom.storage.restore")
def test_restore_same_instance(
    check, device, profile, item, storage_sop_class, move_uid, device_listener
):
    """A modality resends an image it is not sure arrived (an association aborted after
    the C-STORE, a retry after a timeout): the archive must not end up with two."""
    sop_class = uids.resolve(storage_sop_class)
    first = image_for_item(sop_class, item)
    first.ImageComments = "first copy"
    second = copy.deepcopy(first)
    second.ImageComments = "second copy"
    behaviour = profile.dicom.storage.restore
    what = f"{uids.label(sop_class)} instance"
    _stored(check, profile, device, first, what)
    code, text = storage.store(device, second)
    allowed = profile.dicom.storage.allowed_status
    refused = code is not None and code not in (0x0000, *WARNINGS)
    check.expect(
        refused if behaviour == "refuse" else code in allowed,
        f"a second C-STORE of {what} {first.SOPInstanceUID} (same SOP Instance UID, "
        "Image Comments changed)",
        expected="a failure status (dicom.storage.restore: refuse)"
        if behaviour == "refuse"
        else f"status {' or '.join(f'{c:04X}H' for c in allowed)} (dicom.storage.restore: "
        f"{behaviour})",
        observed=text,
    )
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = first.StudyInstanceUID
    query.SeriesInstanceUID = first.SeriesInstanceUID
    query.SOPInstanceUID = first.SOPInstanceUID
    result = retrieve.move(device, device_listener, move_uid, query, [first.SOPInstanceUID])
    copies = [ds for ds in result.arrived if ds.SOPInstanceUID == first.SOPInstanceUID]
    kept = "second copy" if behaviour == "accept-overwrite" else "first copy"
    comments = [str(ds.get("ImageComments", "")) for ds in copies]
    check.expect(
        comments == [kept],
        f"C-MOVE at IMAGE level of {first.SOPInstanceUID} after the second C-STORE",
        expected=f"exactly one instance, the {kept} (dicom.storage.restore: {behaviour})",
        observed=f"{len(copies)} instance(s) delivered"
        + (f", Image Comments {', '.join(map(repr, comments))}" if comments else "")
        + f" ({retrieve.status_text(result.final)})",
    )


@pytest.mark.check("dicom.storage.coercion_announced")
def test_coercion_announced(
    check, device, profile, item, storage_sop_class, move_uid, device_listener
):
    """What the target changed in what it keeps, it says so in the C-STORE response
    (B000H), or its conformance statement lists the change (silent_coercions)."""
    sop_class = uids.resolve(storage_sop_class)
    ds = image_for_item(sop_class, item)
    what = f"{uids.label(sop_class)} instance"
    code, text = storage.store(device, ds)
    back = _retrieved(check, device, device_listener, move_uid, ds, what)
    silent = profile.dicom.storage.silent_coercions
    changed = [
        d
        for d in storage.differences(ds, back)
        if d.sent is not None and d.received is not None and d.keyword not in silent
    ]
    check.expect(
        not changed or code in WARNINGS,
        f"the {what} {ds.SOPInstanceUID}, stored with {text}, as retrieved",
        expected="every changed value announced with B000H/B006H/B007H (PS3.4 B.2.3), or "
        f"listed in dicom.storage.silent_coercions ({', '.join(silent) or 'none'})",
        observed=f"{len(changed)} value(s) changed without a warning: "
        + "; ".join(map(str, changed[:6])),
    )


@pytest.mark.check("dicom.storage.iod_preserved")
def test_iod_preserved(check, device, profile, item, storage_sop_class, move_uid, device_listener):
    """dciodvfy over the instance as sent and as retrieved: only the errors the target
    introduced count (the harness's own objects validate clean, tests/test_objects.py)."""
    binary = iod.validator()
    if binary is None:
        pytest.skip(f"{iod.BINARY} not installed (Debian package {iod.PACKAGE})")
    sop_class = uids.resolve(storage_sop_class)
    ds = image_for_item(sop_class, item)
    what = f"{uids.label(sop_class)} instance"
    _stored(check, profile, device, ds, what)
    back = _retrieved(check, device, device_listener, move_uid, ds, what)
    sent = iod.validate(ds, binary)
    received = iod.validate(back, binary)
    new = [e for e in received.errors if e not in set(sent.errors)]
    check.expect(
        not new,
        f"dciodvfy over the retrieved {what} {ds.SOPInstanceUID} ({received.iod or 'IOD ?'}) "
        f"against the one sent ({len(sent.errors)} error(s))",
        expected="no IOD error the sent instance did not have",
        observed=f"{len(new)} new error(s): " + " | ".join(new[:4]),
    )
