"""HL7 order/appointment → DICOM Modality Worklist item: the one mapping table. The
embedded site builds its worklist items from it (site/hl7_orders.py) and the workflow
suites expect it (with the profile's overrides); the value normalisation they compare
with lives here too.

The default follows the IHE Scheduled Workflow mapping (IHE RAD TF-2 4.4 RAD-4 and
4.5.4 RAD-5, "HL7 order mapping to DICOM MWL" tables): PID-3 → Patient ID, PID-5 →
Patient's Name, PID-7/8 → birth date/sex, the filler's accession, requested procedure and
step IDs, the scheduled start from the order/appointment timing, modality and station AE.
ORM^O01 (RAD-4, HL7 2.3.1 style) carries them in OBR-18..24; OMI^O23 (RAD-4, HL7 2.5.1
option) in IPC, the Imaging Procedure Control segment (HL7 2.5 ch. 4): IPC-1 accession,
IPC-2 requested procedure ID, IPC-3 Study Instance UID, IPC-4 SPS ID, IPC-5 modality,
IPC-7 Scheduled Station Name, IPC-9 Scheduled AE Title (the station's AE).
For SIU-fed worklists (HL7 2.5 ch. 10, which IHE SWF does not map) the common placement
is used: SCH-27 accession, SCH-26 requested procedure ID, AIG-4 modality, AIG-3 station.
A profile's ``hl7.to_worklist`` ({attribute: location}, or per family
{SIU: {attribute: location}}) overrides single entries.
"""

from __future__ import annotations

from typing import Any

from interopgate.hl7.er7 import dicom_date_time, dicom_time
from interopgate.hl7.er7 import value as er7_value

__all__ = [
    "ORDER",
    "PATIENT",
    "SPS_PREFIX",
    "START",
    "START_DATE",
    "START_TIME",
    "STATUS",
    "dicom_time",
    "dtm_to_dicom",
    "er7_value",
    "mapping",
    "normalise",
]

SPS_PREFIX = "ScheduledProcedureStepSequence[0]."

PATIENT = {
    "PatientID": "PID-3.1",
    "PatientName": "PID-5",
    "PatientBirthDate": "PID-7",
    "PatientSex": "PID-8",
}
ORDER = {
    "SIU": {
        "AccessionNumber": "SCH-27.1",
        "RequestedProcedureID": "SCH-26.1",
        "RequestedProcedureDescription": "SCH-7.2",
        f"{SPS_PREFIX}Modality": "AIG-4.1",
        f"{SPS_PREFIX}ScheduledStationAETitle": "AIG-3.1",
        f"{SPS_PREFIX}ScheduledProcedureStepID": "SCH-5.1",
        f"{SPS_PREFIX}ScheduledProcedureStepDescription": "AIS-3.2",
    },
    "ORM": {
        "AccessionNumber": "OBR-18",
        "RequestedProcedureID": "OBR-19",
        "RequestedProcedureDescription": "OBR-4.2",
        f"{SPS_PREFIX}Modality": "OBR-24",
        f"{SPS_PREFIX}ScheduledStationAETitle": "OBR-21",
        f"{SPS_PREFIX}ScheduledProcedureStepID": "OBR-20",
        f"{SPS_PREFIX}ScheduledProcedureStepDescription": "OBR-4.2",
    },
}
ORDER["OMI"] = {
    "AccessionNumber": "IPC-1.1",
    "RequestedProcedureID": "IPC-2.1",
    "StudyInstanceUID": "IPC-3.1",
    "RequestedProcedureDescription": "OBR-4.2",
    f"{SPS_PREFIX}Modality": "IPC-5.1",
    f"{SPS_PREFIX}ScheduledStationName": "IPC-7.1",
    f"{SPS_PREFIX}ScheduledStationAETitle": "IPC-9",
    f"{SPS_PREFIX}ScheduledProcedureStepID": "IPC-4.1",
    f"{SPS_PREFIX}ScheduledProcedureStepDescription": "OBR-4.2",
}
# The scheduled start (SPS Start Date + Time), first non-empty location wins.
START = {
    "SIU": ["TQ1-7", "SCH-11.4", "AIS-4"],
    "ORM": ["OBR-27.4", "ORC-7.4", "OBR-7"],
    "OMI": ["TQ1-7", "OBR-7"],
}
START_DATE = f"{SPS_PREFIX}ScheduledProcedureStepStartDate"
START_TIME = f"{SPS_PREFIX}ScheduledProcedureStepStartTime"
STATUS = f"{SPS_PREFIX}ScheduledProcedureStepStatus"  # (0040,0020), PS3.3 C.4.10


def mapping(family: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """{DICOM attribute (``Seq[0].Keyword`` inside the SPS) → HL7 location} for a
    message family (SIU, ORM, OMI), with the profile's overrides: flat entries apply to
    every family, entries under ``SIU``/``ORM``/``OMI`` to that family only (and win). An
    override key may name an SPS attribute bare (``Modality``) or with the
    ``ScheduledProcedureStepSequence[0].`` prefix; an empty location drops the attribute
    from the comparison."""
    result = {**PATIENT, **ORDER[family]}
    overrides = overrides or {}
    flat = {k: v for k, v in overrides.items() if not isinstance(v, dict)}
    for attribute, location in {**flat, **(overrides.get(family) or {})}.items():
        key = attribute
        if f"{SPS_PREFIX}{attribute}" in result:
            key = f"{SPS_PREFIX}{attribute}"
        if location:
            result[key] = location
        else:
            result.pop(key, None)
    return result


def normalise(attribute: str, text: str) -> str:
    """A value as both sides should agree on it: padding and trailing empty components
    dropped (PS3.5 6.2), HL7 XPN/XCN → DICOM PN components (family^given^middle; HL7 2.5
    §2.A.89), TS/DTM → DA (YYYYMMDD)."""
    text = str(text or "").strip()
    keyword = attribute.rsplit(".", 1)[-1]
    if keyword.endswith("Name"):
        parts = [p.strip() for p in text.split("=")[0].split("^")[:3]]
        return "^".join(parts).rstrip("^").upper()
    if keyword.endswith("Date"):
        return text[:8]
    return text


def dtm_to_dicom(text: str) -> tuple[str, str]:
    """The scheduled start a worklist item should carry for an HL7 DTM (TS component 1),
    in the form the suites compare it: DA and TM as ``HHMMSS`` ("" without a time),
    seconds precision, offset dropped (hl7/er7.py)."""
    date, time = dicom_date_time(text)
    return date, dicom_time(time)
