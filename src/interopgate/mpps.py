"""Modality Performed Procedure Step as the modality sends it (IHE RAD-6/7, PS3.4 F.7).

What the MPPS suite builds its checks from: the N-CREATE attribute list of RAD-6 (IHE
RAD TF-2 Table 4.6-1 / PS3.4 Table F.7.2-1) for a worklist item or for an unscheduled
step, the N-SET modification lists of RAD-7 (COMPLETED with the performed series and
their Referenced Image Sequence, DISCONTINUED with a reason code), and a client that
sends them over one association and reports each reply as a status with its Error
Comment, so a failure message names exactly what the SCP answered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import Association
from pynetdicom import sop_class as sop

from interopgate.device import DeviceClient
from interopgate.dicom.association import describe_context
from interopgate.profile import CodedReason
from interopgate.verdict import CheckContext

SOP_CLASS = sop.ModalityPerformedProcedureStep
IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code


def scheduled_step(item: Dataset) -> Dataset:
    """A Scheduled Step Attributes Sequence item for the worklist item the modality
    performs (RAD-6: Study Instance UID, Accession Number, Requested Procedure ID and
    Description, SPS ID and Description, Scheduled Protocol Code Sequence)."""
    step = (item.get("ScheduledProcedureStepSequence") or [Dataset()])[0]
    ssas = Dataset()
    ssas.StudyInstanceUID = item.StudyInstanceUID
    ssas.ReferencedStudySequence = []
    ssas.AccessionNumber = item.get("AccessionNumber", "")
    ssas.RequestedProcedureID = item.get("RequestedProcedureID", "")
    ssas.RequestedProcedureDescription = item.get("RequestedProcedureDescription", "")
    ssas.ScheduledProcedureStepID = step.get("ScheduledProcedureStepID", "")
    ssas.ScheduledProcedureStepDescription = step.get("ScheduledProcedureStepDescription", "")
    ssas.ScheduledProtocolCodeSequence = step.get("ScheduledProtocolCodeSequence", [])
    return ssas


def unscheduled_step(study_uid: str) -> Dataset:
    """The unscheduled case (IHE RAD TF-2 4.6.4.1.2): a Study Instance UID the modality
    made up, every worklist key zero-length."""
    ssas = Dataset()
    ssas.StudyInstanceUID = study_uid
    ssas.ReferencedStudySequence = []
    ssas.AccessionNumber = ""
    ssas.RequestedProcedureID = ""
    ssas.RequestedProcedureDescription = ""
    ssas.ScheduledProcedureStepID = ""
    ssas.ScheduledProcedureStepDescription = ""
    ssas.ScheduledProtocolCodeSequence = []
    return ssas


def in_progress(
    patient: Dataset,
    step: Dataset,
    *,
    station_ae: str,
    modality: str,
    pps_id: str,
    when: dt.datetime,
) -> Dataset:
    """The RAD-6 N-CREATE attribute list: status IN PROGRESS, start date/time, the
    performing station, the patient and the step; end date/time and the performed series
    are present and zero-length (Type 2, filled by RAD-7)."""
    ds = Dataset()
    ds.SpecificCharacterSet = patient.get("SpecificCharacterSet", "ISO_IR 100")
    ds.ScheduledStepAttributesSequence = [step]
    ds.PatientName = patient.get("PatientName", "")
    ds.PatientID = patient.get("PatientID", "")
    ds.PatientBirthDate = patient.get("PatientBirthDate", "")
    ds.PatientSex = patient.get("PatientSex", "")
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = pps_id
    ds.PerformedStationAETitle = station_ae
    ds.PerformedStationName = station_ae
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = when.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = when.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = IN_PROGRESS
    ds.PerformedProcedureStepDescription = step.get("ScheduledProcedureStepDescription", "")
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = modality
    ds.StudyID = ""
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def performed_series(images: Sequence[Dataset]) -> list[Dataset]:
    """Performed Series Sequence items (PS3.3 C.4.17): one per series of ``images``,
    each with its Referenced Image Sequence."""
    by_series: dict[str, list[Dataset]] = {}
    for image in images:
        by_series.setdefault(str(image.SeriesInstanceUID), []).append(image)
    items = []
    for series_uid, members in by_series.items():
        series = Dataset()
        series.PerformingPhysicianName = ""
        series.ProtocolName = str(members[0].get("ProtocolName", "") or "InteropGate protocol")
        series.OperatorsName = ""
        series.SeriesInstanceUID = series_uid
        series.SeriesDescription = ""
        series.RetrieveAETitle = ""
        series.ReferencedImageSequence = [_reference(image) for image in members]
        series.ReferencedNonImageCompositeSOPInstanceSequence = []
        items.append(series)
    return items


def _reference(image: Dataset) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = image.SOPClassUID
    ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
    return ref


def completed(images: Sequence[Dataset], *, when: dt.datetime) -> Dataset:
    """The RAD-7 N-SET to COMPLETED: end date/time and the performed series."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = COMPLETED
    ds.PerformedProcedureStepEndDate = when.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = when.strftime("%H%M%S")
    ds.PerformedSeriesSequence = performed_series(images)
    return ds


def discontinued(reason: CodedReason, images: Sequence[Dataset], *, when: dt.datetime) -> Dataset:
    """The RAD-7 N-SET to DISCONTINUED with a Performed Procedure Step Discontinuation
    Reason Code Sequence item (PS3.3 C.4.14, CID 9300)."""
    ds = completed(images, when=when)
    ds.PerformedProcedureStepStatus = DISCONTINUED
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = [
        _code(reason.value, reason.scheme, reason.meaning)
    ]
    return ds


@dataclass(frozen=True)
class Reply:
    """A DIMSE N-CREATE/N-SET response as far as a verdict needs it."""

    status: int | None
    comment: str = ""

    def __str__(self) -> str:
        if self.status is None:
            return "no response (association aborted or DIMSE timeout)"
        comment = f" (Error Comment {self.comment!r})" if self.comment else ""
        return f"status {self.status:04X}H{comment}"


def reply_of(status: Dataset | None) -> Reply:
    if status is None or "Status" not in status:
        return Reply(None)
    return Reply(int(status.Status), str(status.get("ErrorComment", "") or ""))


def statuses(codes: Sequence[int]) -> str:
    return " or ".join(f"{code:04X}H" for code in codes)


class MppsClient:
    """N-CREATE and N-SET of the MPPS SOP class over one established association."""

    def __init__(self, assoc: Association, transcript_note) -> None:
        self.assoc = assoc
        self.note = transcript_note

    def create(self, uid: str, attributes: Dataset) -> Reply:
        status, _ = self.assoc.send_n_create(attributes, SOP_CLASS, uid)
        reply = reply_of(status)
        self.note(f"N-CREATE MPPS {uid}: {reply}")
        return reply

    def set(self, uid: str, changes: Dataset) -> Reply:
        status, _ = self.assoc.send_n_set(changes, SOP_CLASS, uid)
        reply = reply_of(status)
        self.note(f"N-SET MPPS {uid} ({changes.get('PerformedProcedureStepStatus', '')}): {reply}")
        return reply


@contextlib.contextmanager
def session(device: DeviceClient, check: CheckContext) -> Iterator[MppsClient]:
    """An association proposing MPPS, whose context must be accepted (else the check
    fails naming the negotiation)."""
    with device.associate([SOP_CLASS]) as (assoc, negotiation):
        subject = f"association for MPPS from {device.ae_title}"
        check.expect(
            negotiation.established,
            subject,
            expected="an established association (A-ASSOCIATE-AC)",
            observed=negotiation.outcome(),
        )
        answer = negotiation.context(SOP_CLASS)[1]
        check.expect(
            answer is not None and answer.result == 0,
            subject,
            expected="the MPPS presentation context accepted",
            observed=describe_context(answer),
        )
        yield MppsClient(assoc, device.transcript.note)
