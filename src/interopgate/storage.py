"""Storage round trip (PS3.4 B.2.3, C.4.2): what the target made of an instance it stored.

The storage suite stores an instance, retrieves it back by C-MOVE to the device's own SCP
(:class:`~interopgate.dicom.listener.DeviceListener`), and compares the two element by
element: :func:`differences` names every attribute the target dropped, added or changed
(inside sequences too), so a coercion is reported as what it is, with both values. The
File Meta Information (group 0002) is the transfer's, not the instance's, and is not
compared; nor is the pixel data's encoding, only its bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

from interopgate.device import DeviceClient
from interopgate.dicom.listener import DeviceListener

# C-STORE statuses (PS3.4 B.2.3): success and the three warnings.
STATUS_TEXT = {
    0x0000: "Success",
    0xB000: "Coercion of data elements",
    0xB007: "Data set does not match SOP class",
    0xB006: "Elements discarded",
}

# PS3.8 sets no deadline for a DIMSE response: the DIMSE timeout is local policy, and
# DCMTK starts it once the request is written. pynetdicom starts it once the request is
# queued for its DUL thread, so for a large data set it would also time the writing
# (and, for a C-MOVE, the sub-operation's). The wait is lengthened by the time the
# bulk data takes to cross at TRANSFER_FLOOR, a rate loopback beats many times over
# even on a crowded machine; a small instance waits the DIMSE timeout alone.
TRANSFER_FLOOR = 2 * 2**20  # bytes per second


def response_wait(dimse_timeout: float, ds: Dataset) -> float:
    """How long to wait for the response to a request that carries (or moves) ``ds``."""
    pixels = ds.get("PixelData")
    size = len(pixels) if isinstance(pixels, bytes) else 0
    return dimse_timeout + size / TRANSFER_FLOOR


@dataclass(frozen=True)
class Difference:
    path: (
        str  # e.g. PatientName (0010,0010) or RequestAttributesSequence[0].ScheduledProcedureStepID
    )
    keyword: str
    sent: str | None  # None: absent
    received: str | None

    def __str__(self) -> str:
        if self.received is None:
            return f"{self.path} dropped (sent {self.sent})"
        if self.sent is None:
            return f"{self.path} added ({self.received})"
        return f"{self.path} changed: sent {self.sent}, received {self.received}"


def _name(elem: DataElement) -> str:
    keyword = elem.keyword or ("private" if elem.tag.is_private else "unknown")
    return f"{keyword} ({elem.tag.group:04X},{elem.tag.element:04X})"


def _show(elem: DataElement) -> str:
    if elem.VR == "SQ":
        return f"{len(elem.value)} item(s)"
    value = elem.value
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    text = repr(str(value) if not isinstance(value, list | tuple) else "\\".join(map(str, value)))
    return text if len(text) <= 60 else text[:57] + "...'"


def _raw(elem: DataElement) -> bytes:
    """The value as Little Endian bytes: how a private element arrives whose VR the
    receiver cannot know (Implicit VR, PS3.5 7.8.1: it is read as UN)."""
    if isinstance(elem.value, bytes):
        return elem.value
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_data_element(fp, elem)
    return fp.getvalue()[8:]  # after tag and 4-byte length


def _same(a: DataElement, b: DataElement) -> bool:
    if a.VR == "UN" or b.VR == "UN" or isinstance(a.value, bytes) or isinstance(b.value, bytes):
        return _raw(a).rstrip(b"\0 ") == _raw(b).rstrip(b"\0 ")
    return a.value == b.value


def differences(sent: Dataset, received: Dataset, prefix: str = "") -> Iterator[Difference]:
    """Every element dropped, added or changed between ``sent`` and ``received``."""
    tags = sorted({*sent.keys(), *received.keys()})
    for tag in tags:
        if tag.group == 0x0002:
            continue
        a, b = sent.get(tag), received.get(tag)
        elem = a if a is not None else b
        assert elem is not None
        path = f"{prefix}{_name(elem)}"
        keyword = elem.keyword or "private"
        if a is None or b is None:
            yield Difference(path, keyword, _show(a) if a else None, _show(b) if b else None)
        elif a.VR == "SQ" and b.VR == "SQ":
            if len(a.value) != len(b.value):
                yield Difference(path, keyword, _show(a), _show(b))
                continue
            for index, (x, y) in enumerate(zip(a.value, b.value, strict=True)):
                yield from differences(x, y, f"{path}[{index}].")
        elif not _same(a, b):
            yield Difference(path, keyword, _show(a), _show(b))


def accepted(difference: Difference, coercions: Sequence[str]) -> bool:
    """A coercion the profile accepts: by keyword, or ``private`` for private elements."""
    return difference.keyword in coercions


def accepted_class(device: DeviceClient, classes: Sequence[str]) -> str | None:
    """The first of ``classes`` whose presentation context the target accepts (a check
    that only needs some stored instance uses it; which contexts must be accepted is
    dicom.association.context_accepted's business)."""
    with device.associate(list(classes)) as (assoc, negotiation):
        if not assoc.is_established:
            return None
        for uid in classes:
            answer = negotiation.context(uid)[1]
            if answer is not None and answer.result == 0:
                return uid
    return None


def store(device: DeviceClient, ds: Dataset) -> tuple[int | None, str]:
    """C-STORE ``ds`` on an association of its own: the status and, for a warning or
    failure, its Error Comment and Offending Element (PS3.7 C.4)."""
    wait = response_wait(device.endpoint.dimse_timeout, ds)
    with device.associate([str(ds.SOPClassUID)]) as (assoc, negotiation):
        if not assoc.is_established:
            return None, negotiation.outcome()
        assoc.dimse_timeout = wait
        status = assoc.send_c_store(ds)
    if status is None or "Status" not in status:
        return None, f"no response within {wait:.3g} s (association aborted or DIMSE timeout)"
    code = int(status.Status)
    text = f"status {code:04X}H ({STATUS_TEXT.get(code, 'failure')})"
    if "ErrorComment" in status:
        text += f", Error Comment {str(status.ErrorComment)!r}"
    if "OffendingElement" in status:
        text += f", Offending Element {status.OffendingElement}"
    return code, text


def retrieve(
    device: DeviceClient,
    listener: DeviceListener,
    move_sop_class: str,
    ds: Dataset,
    timeout: float,
) -> tuple[Dataset | None, str]:
    """C-MOVE the instance (IMAGE level, Study Root) to the device's own SCP and return
    what arrived there, with the final C-MOVE status."""
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = ds.StudyInstanceUID
    query.SeriesInstanceUID = ds.SeriesInstanceUID
    query.SOPInstanceUID = ds.SOPInstanceUID
    uid = str(ds.SOPInstanceUID)
    with device.associate([move_sop_class]) as (assoc, negotiation):
        if not assoc.is_established:
            return None, negotiation.outcome()
        assoc.dimse_timeout = response_wait(timeout, ds)
        responses = list(assoc.send_c_move(query, listener.ae_title, move_sop_class))
    final = responses[-1][0] if responses else None
    if final is None or "Status" not in final:
        status = "no C-MOVE response"
    else:
        completed = final.get("NumberOfCompletedSuboperations")
        status = f"C-MOVE status {int(final.Status):04X}H, {completed} completed sub-operation(s)"
        if completed == 0:
            timeout = 0.5  # nothing was sent: do not wait the whole DIMSE timeout

    def arrived() -> Dataset | None:
        return next(
            (
                r.dataset
                for r in reversed(listener.received)
                if str(r.dataset.SOPInstanceUID) == uid
            ),
            None,
        )

    return listener.wait_for(arrived, timeout), status  # type: ignore[return-value]
