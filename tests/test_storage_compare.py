"""The round trip's element comparison (interopgate/storage.py): what it must see and
what it must not mistake for a coercion."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.filebase import DicomBytesIO
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt

from fixtures.dicom_objects import CR, large_image, make_image, with_private_tags
from fixtures.patients import make_faker
from interopgate import storage
from interopgate.device import DeviceClient
from interopgate.dicom.association import Endpoint
from interopgate.evidence import Transcript
from interopgate.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_response_wait_grows_with_the_bulk_data_only():
    small = make_image(CR, make_faker(2).patient())
    large = large_image(CR, make_faker(2).patient(), megabytes=8)
    assert storage.response_wait(2.0, small) < 2.01
    assert storage.response_wait(2.0, large) == 2.0 + len(large.PixelData) / storage.TRANSFER_FLOOR


@pytest.fixture
def slow_store_scp():
    """A storage SCP that answers each C-STORE 1.5 s after it has it all: slow, and
    conforming (PS3.8 sets no deadline for a response)."""

    def handle(event):
        time.sleep(1.5)
        return 0x0000

    ae = AE("SLOW_SCP")
    ae.add_supported_context(CR, ExplicitVRLittleEndian)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, handle)]
    )
    yield server.server_address[1]
    server.shutdown()


def _slow_device(port: int) -> DeviceClient:
    profile = load_profile(
        "agfa-cr", ROOT / "profiles", target_fields={"dicom_port": port, "called_ae": "SLOW_SCP"}
    ).profile
    endpoint = Endpoint("127.0.0.1", port, "SLOW_SCP", 5.0, 1.0)  # DIMSE timeout 1 s
    return DeviceClient(profile, endpoint, Transcript("slow-store", Path("/dev/null")))


def test_a_large_store_answered_after_the_dimse_timeout_is_not_a_failure(slow_store_scp):
    """The wait for a large data set's response counts its bulk at TRANSFER_FLOOR on top
    of the DIMSE timeout (pynetdicom starts the timeout before the data is written)."""
    device = _slow_device(slow_store_scp)
    ds = large_image(CR, make_faker(3).patient(), megabytes=4)
    code, text = storage.store(device, ds)
    assert code == 0x0000, text


def test_a_small_store_answered_after_the_dimse_timeout_is_reported_with_the_wait(
    slow_store_scp,
):
    device = _slow_device(slow_store_scp)
    code, text = storage.store(device, make_image(CR, make_faker(3).patient()))
    assert code is None
    assert text == "no response within 1 s (association aborted or DIMSE timeout)"
