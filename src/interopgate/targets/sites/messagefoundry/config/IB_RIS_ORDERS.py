"""RIS orders and appointments -> DICOM Modality Worklist files for DCMTK wlmscpfs.

A MessageFoundry channel: the site configuration of the ``messagefoundry-wlmscpfs``
target (see ../README.md). MessageFoundry does the HL7 work (MLLP, parsing, the
ACK, the store); this module only routes and maps, as a hospital's channel would.

Mapping (IHE RAD TF-2 RAD-4 for ORM/OMI; the site's own choice for SIU, which IHE SWF
does not map): PID-3.1 Patient ID, PID-5 Patient's Name, PID-7/8 birth date/sex;
SIU: SCH-2.1 accession (filler appointment ID), SCH-26.1 requested procedure ID,
SCH-5.1 step ID, AIG-4/AIG-3 modality/station, start from TQ1-7, SCH-11.4 or AIS-4;
ORM: OBR-18 accession, OBR-19 requested procedure, OBR-20 step, OBR-24 modality, OBR-21
station AE; OMI: IPC-1 accession, IPC-2 requested procedure, IPC-3 Study Instance UID,
IPC-4 step, IPC-5 modality, IPC-7 station name, IPC-9 station AE (HL7 2.5 §4.5.6);
start from OBR-27.4/ORC-7.4 (ORM) or TQ1-7 (OMI), then OBR-7; the Scheduled Protocol
Code Sequence from the procedure code (AIS-3, OBR-4).
Create (S12, ORC-1 NW) and update (S14, XO) write ``<accession>.wl``; cancel (S15, CA)
deletes it. The start time's offset and fraction are dropped: the worklist holds the
appointment's wall-clock time to the second (PS3.5 TM).
"""

import os
import re
from pathlib import Path

from messagefoundry import MLLP, AckMode, File, Send, env, handler, inbound, outbound, router
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"

inbound(
    "IB_RIS_ORDERS",
    MLLP(port=env("mllp_port", cast=int)),
    router="ris_orders",
    ack_mode=AckMode.ENHANCED,
    # Not strict: strict mode (hl7apy's Validator) refuses every HL7 2.5 ORM^O01 with CE,
    # "Missing required child ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP.RQD" (the OBR|RQD|...
    # choice read as a sequence), and it does not check TS/DTM values either.
    strict=False,
)
outbound("FILE-OUT_ORDER_ARCHIVE", File(directory=env("archive_dir"), filename="{MSH-10}.hl7"))

ACTIONS = {
    "SIU": {"S12": "create", "S14": "update", "S15": "cancel"},
    "ORC-1": {"NW": "create", "XO": "update", "CA": "cancel"},
}
START = {
    "SIU": ("TQ1-7.1", "SCH-11.4", "AIS-4.1"),
    "ORM": ("OBR-27.4", "ORC-7.4", "OBR-7.1"),
    "OMI": ("TQ1-7.1", "OBR-7.1"),
}


@router("ris_orders")
def route(msg):  # type: ignore[no-untyped-def]
    if msg["MSH-9.1"] in ("SIU", "ORM", "OMI"):
        return ["order_to_worklist"]
    return []


def _first(msg, *paths: str) -> str:  # type: ignore[no-untyped-def]
    for path in paths:
        value = msg[path]
        if value:
            return value
    return ""


def _start(msg, family: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    text = _first(msg, *START[family])
    plain = re.sub(r"[+-]\d{4}$", "", text).split(".")[0]
    return plain[:8], plain[8:14].ljust(6, "0") if len(plain) > 8 else ""


def _item(msg, family: str, accession: str) -> Dataset:  # type: ignore[no-untyped-def]
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.PatientID = msg["PID-3.1"] or ""
    item.PatientName = "^".join(p or "" for p in (msg["PID-5.1"], msg["PID-5.2"], msg["PID-5.3"]))
    item.PatientName = str(item.PatientName).rstrip("^")
    item.PatientBirthDate = (msg["PID-7.1"] or "")[:8]
    item.PatientSex = msg["PID-8"] or ""
    item.AccessionNumber = accession
    # The placer's Study Instance UID when it sends one (OMI IPC-3), else one per accession.
    item.StudyInstanceUID = msg["IPC-3.1"] or generate_uid(entropy_srcs=[accession])
    step = Dataset()
    if family == "SIU":
        item.RequestedProcedureID = _first(msg, "SCH-26.1", "SCH-1.1")
        item.RequestedProcedureDescription = msg["SCH-7.2"] or ""
        step.Modality = msg["AIG-4.1"] or ""
        step.ScheduledStationAETitle = msg["AIG-3.1"] or ""
        step.ScheduledProcedureStepID = msg["SCH-5.1"] or ""
        step.ScheduledProcedureStepDescription = msg["AIS-3.2"] or ""
    else:
        item.RequestedProcedureID = _first(msg, "IPC-2.1", "OBR-19.1")
        item.RequestedProcedureDescription = msg["OBR-4.2"] or ""
        step.Modality = _first(msg, "IPC-5.1", "OBR-24.1")
        step.ScheduledStationAETitle = _first(msg, "IPC-9", "OBR-21.1")
        if msg["IPC-7.1"]:
            step.ScheduledStationName = msg["IPC-7.1"]
        step.ScheduledProcedureStepID = _first(msg, "IPC-4.1", "OBR-20.1")
        step.ScheduledProcedureStepDescription = msg["OBR-4.2"] or ""
    step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime = _start(msg, family)
    # Scheduled Protocol Code Sequence (0040,0008), which RAD-5 returns, from the
    # procedure code (SIU AIS-3, ORM/OMI OBR-4: CE code^text^coding system); a code
    # without a coding system is the site's own (PS3.16 8.2: private schemes begin "99").
    service = "AIS-3" if family == "SIU" else "OBR-4"
    if msg[f"{service}.1"]:
        code = Dataset()
        code.CodeValue = msg[f"{service}.1"]
        code.CodingSchemeDesignator = msg[f"{service}.3"] or "99RIS"
        code.CodeMeaning = msg[f"{service}.2"] or msg[f"{service}.1"]
        step.ScheduledProtocolCodeSequence = [code]
    item.ScheduledProcedureStepSequence = [step]
    return item


def _write(item: Dataset, path: Path) -> None:
    item.file_meta = FileMetaDataset()
    item.file_meta.MediaStorageSOPClassUID = MODALITY_WORKLIST_FIND
    item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    item.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    part = path.with_suffix(".part")
    item.save_as(part, enforce_file_format=True)
    part.replace(path)  # wlmscpfs reads the folder on every query: never half a file


@handler("order_to_worklist")
def order_to_worklist(msg):  # type: ignore[no-untyped-def]
    family = msg["MSH-9.1"]
    if family == "SIU":
        accession = msg["SCH-2.1"] or ""
        action = ACTIONS["SIU"].get(msg["MSH-9.2"] or "")
    else:
        accession = _first(msg, "IPC-1.1", "OBR-18.1")
        action = ACTIONS["ORC-1"].get(msg["ORC-1"] or "")
    if not accession or action is None:
        return None  # FILTERED: nothing the worklist can use
    # The folder wlmscpfs serves (DIR/<AE>/): a per-instance value, set by whoever starts us.
    folder = Path(os.environ["MEFOR_VALUE_WORKLIST_DIR"])
    path = folder / (re.sub(r"[^A-Za-z0-9_-]", "_", accession) + ".wl")
    if action == "cancel":
        path.unlink(missing_ok=True)
    else:
        _write(_item(msg, family, accession), path)
    return Send("FILE-OUT_ORDER_ARCHIVE", msg)
