"""Complete Modality Worklist items for seeding self-tests (IHE RAD-5 return keys, and
what DCMTK's wlmscpfs calls complete: wlfsim.cc ``DatasetIsComplete``)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid


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
