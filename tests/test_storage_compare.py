"""The round trip's element comparison (interopgate/storage.py): what it must see and
what it must not mistake for a coercion."""

from __future__ import annotations

import copy

from pydicom import dcmread
from pydicom.filebase import DicomBytesIO
from pydicom.uid import ImplicitVRLittleEndian

from fixtures.dicom_objects import CR, make_image, with_private_tags
from fixtures.patients import make_faker
from interopgate import storage


def _through(ds, syntax):
    """``ds`` written in ``syntax`` and read back, as a receiver decodes it."""
    ds.file_meta.TransferSyntaxUID = syntax
    fp = DicomBytesIO()
    ds.save_as(fp, enforce_file_format=True)
    return dcmread(DicomBytesIO(fp.getvalue()))


def test_private_elements_read_as_un_are_not_differences():
    ds = with_private_tags(make_image(CR, make_faker(2).patient()))
    back = _through(copy.deepcopy(ds), ImplicitVRLittleEndian)
    assert list(storage.differences(ds, back)) == []


def test_changes_drops_and_additions_are_named_with_both_values():
    ds = make_image(CR, make_faker(2).patient())
    back = copy.deepcopy(ds)
    back.PatientName = str(ds.PatientName).upper()
    del back.ViewPosition
    back.InstitutionName = "ELSEWHERE"
    back.AnatomicRegionSequence[0].CodeMeaning = "Thorax"
    found = {d.keyword: str(d) for d in storage.differences(ds, back)}
    assert set(found) == {"PatientName", "ViewPosition", "InstitutionName", "CodeMeaning"}
    assert "changed: sent" in found["PatientName"]
    assert found["ViewPosition"].endswith("dropped (sent 'PA')")
    assert "added ('ELSEWHERE')" in found["InstitutionName"]
    assert found["CodeMeaning"].startswith("AnatomicRegionSequence (0008,2218)[0].")
    assert storage.accepted(
        next(d for d in storage.differences(ds, back) if d.keyword == "PatientName"),
        ["PatientName"],
    )
