"""Modality Worklist data for self-tests: complete items for seeding (IHE RAD-5 return
keys, and what DCMTK's wlmscpfs calls complete: wlfsim.cc ``DatasetIsComplete``), data
sets from plain descriptions, and C-FIND identifiers sent with group lengths."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator, Mapping
from itertools import groupby
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import association as pynetdicom_association
from pynetdicom import sop_class as sop

from interopgate.dicom.association import Endpoint, open_association

MWL = sop.ModalityWorklistInformationFind
CALLING_AE = "IG_DIFF_SCU"


def worklist_item(patient_id: str, name: str, accession: str, modality: str = "CR") -> Dataset:
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 100"
    item.PatientName = name
    item.PatientID = patient_id
    item.PatientBirthDate = "19700101"
    item.PatientSex = "O"
    item.AccessionNumber = accession
    item.StudyInstanceUID = generate_uid()
    item.RequestedProcedureID = f"RP{accession}"
    item.RequestedProcedureDescription = "Chest PA"
    item.ReferencedStudySequence = []
    item.ReferencedPatientSequence = []
    step = Dataset()
    step.ScheduledStationAETitle = "AGFA_CR1"
    step.ScheduledProcedureStepStartDate = "20240916"
    step.ScheduledProcedureStepStartTime = "083000"
    step.Modality = modality
    step.ScheduledProcedureStepID = f"SPS{accession}"
    step.ScheduledProcedureStepDescription = "Chest PA"
    item.ScheduledProcedureStepSequence = [step]
    return item


def worklist_query(modality: str = "CR") -> Dataset:
    query = Dataset()
    query.PatientName = ""
    query.PatientID = ""
    query.AccessionNumber = ""
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = ""
    step.ScheduledProcedureStepStartDate = ""
    step.ScheduledProcedureStepID = ""
    query.ScheduledProcedureStepSequence = [step]
    return query


def dataset_from_spec(spec: Mapping[str, Any]) -> Dataset:
    """A data set from a plain description, readable in a failing example: keyword ->
    value (``""`` zero-length, a list of strings for several values, a list of dicts for
    a sequence's items); ``"gggg,eeee VR"`` for elements without a keyword (private)."""
    ds = Dataset()
    for key, value in spec.items():
        if " " in key:
            tag, vr = key.split(" ")
            ds.add_new(int(tag.replace(",", ""), 16), vr, value)
        elif dictionary_VR(key) == "SQ":
            setattr(ds, key, [dataset_from_spec(item) for item in value])
        else:
            setattr(ds, key, list(value) if isinstance(value, (list, tuple)) else value)
    return ds


def encode_with_group_lengths(ds: Dataset) -> bytes:
    """Explicit VR Little Endian with a Group Length (gggg,0000) before every group, in
    items too, as older SCUs send them (PS3.5 7.2); pydicom no longer writes them."""
    out = bytearray()
    elements = sorted((e for e in ds if e.tag.element != 0), key=lambda e: e.tag)
    for group, members in groupby(elements, key=lambda e: e.tag.group):
        body = b"".join(_element_bytes(e) for e in members)
        out += struct.pack("<HH2sHI", group, 0, b"UL", 4, len(body)) + body
    return bytes(out)


def _element_bytes(element) -> bytes:
    if element.VR == "SQ":
        undefined = 0xFFFFFFFF
        out = struct.pack("<HH2sHI", element.tag.group, element.tag.element, b"SQ", 0, undefined)
        for item in element.value:
            out += struct.pack("<HHI", 0xFFFE, 0xE000, undefined)
            out += encode_with_group_lengths(item)
            out += struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
        return out + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, element)
    return fp.getvalue()


WITH_GROUP_LENGTHS: set[int] = set()


@contextlib.contextmanager
def group_lengths_on_the_wire() -> Iterator[None]:
    """pynetdicom encodes a C-FIND identifier with pydicom; identifiers marked here go
    out with group lengths instead (same transfer syntax, Explicit VR Little Endian)."""
    original = pynetdicom_association.encode

    def encode(ds, implicit, little, deflated=False):
        if id(ds) in WITH_GROUP_LENGTHS and not implicit and little and not deflated:
            return encode_with_group_lengths(ds)
        return original(ds, implicit, little, deflated)

    pynetdicom_association.encode = encode
    try:
        yield
    finally:
        pynetdicom_association.encode = original


def query_dataset(spec: Mapping[str, Any]) -> Dataset:
    return dataset_from_spec({k: v for k, v in spec.items() if k != "group_lengths"})


class WorklistPeer:
    """One association to one C-FIND SCP (Modality Worklist unless ``model`` says
    another information model), as the device would open it; ``find`` sends a query
    given as a plain description (with ``group_lengths``: sent with them) and returns
    the pending identifiers, asserting the final 0000H."""

    def __init__(self, endpoint: Endpoint, model: str = MWL) -> None:
        self.endpoint = endpoint
        self.model = model
        self._stack = contextlib.ExitStack()
        self.assoc = None

    def __enter__(self) -> WorklistPeer:
        assoc, negotiation = self._stack.enter_context(
            open_association(self.endpoint, CALLING_AE, [(self.model, [ExplicitVRLittleEndian])])
        )
        assert assoc.is_established, negotiation.outcome()
        self.assoc = assoc
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def find(self, spec: Mapping[str, Any]) -> list[Dataset]:
        query = query_dataset(spec)
        if spec.get("group_lengths"):
            WITH_GROUP_LENGTHS.add(id(query))
        try:
            answers = []
            for status, identifier in self.assoc.send_c_find(query, self.model):
                assert status is not None, f"no C-FIND response from {self.endpoint}"
                if status.Status in (0xFF00, 0xFF01):
                    answers.append(identifier)
                else:
                    assert status.Status == 0x0000, f"{self.endpoint}: {status.Status:04X}H"
            return answers
        finally:
            WITH_GROUP_LENGTHS.discard(id(query))
