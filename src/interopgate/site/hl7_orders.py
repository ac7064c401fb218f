"""The reference site's order application: accepted HL7 orders and appointments applied
to its Modality Worklist, as the order filler of IHE RAD SWF (RAD-4, RAD-5) does.

SIU^S12 / ORC-1 NW create an item, S14 / XO replace it, S15 / CA / DC remove it (or,
configured ``cancel="mark"``, keep it with Scheduled Procedure Step Status =
``cancel_status``, PS3.3 C.4.10); ADT^A08 updates the patient of the items. The item is
built from the one mapping table, hl7/worklist_mapping.py, at its IHE SWF default (a
profile's ``hl7.to_worklist`` describes a target, not this site). Before anything is
applied, the time fields are judged by the TS/DTM grammar of the message's own version
(hl7/timestamps.py), strictly: AE with table 0357 code 102 otherwise. A resend with the
same MSH-3, MSH-4 and MSH-10 is applied once (HL7 2.5 §2.10.2). The ``hl7`` faults of
the worklist side (site/faults.py) hook in here.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
import threading
from collections.abc import Callable

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import generate_uid

from interopgate.hl7 import er7, timestamps
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.messages import APPOINTMENT_FIELDS, time_fields
from interopgate.site.faults import FaultSet
from interopgate.site.hl7_ack import Message, Rejected, value, version_of

# The message types and trigger events applied (HL7 2.5 ch. 10, 4 and 3).
EVENTS = {
    "SIU": {"S12", "S14", "S15"},
    "ORM": {"O01"},
    "OMI": {"O23"},
    "ADT": {"A04", "A08"},
}
# What identifies the item a message is about: the filler's, else the placer's
# appointment ID (SCH-2, SCH-1) or order number (ORC-3, ORC-2).
ITEM_KEY = {"SIU": ["SCH-2.1", "SCH-1.1"], "ORM": ["ORC-3", "ORC-2"], "OMI": ["ORC-3", "ORC-2"]}
ACTIONS = {
    "SIU": {"S12": "create", "S14": "update", "S15": "remove"},
    "ORC-1": {"NW": "create", "XO": "update", "CA": "remove", "DC": "remove"},  # table 0119
}
SCHEDULED = "SCHEDULED"  # SPS Status of a new step, PS3.3 C.4.10 Defined Term
_COLON_TIME = re.compile(r"\d{8}[ T]?\d{2}:\d{2}(:\d{2})?")


@functools.cache
def _tag_and_vr(keyword: str) -> tuple[BaseTag, str] | None:
    tag = tag_for_keyword(keyword)
    return None if tag is None else (BaseTag(tag), dictionary_VR(tag))


def _put(dataset: Dataset, keyword: str, value: str | list[Dataset]) -> None:
    """``setattr(dataset, keyword, value)``, with the keyword's tag and VR (PS3.6) looked
    up once per keyword: the site builds an item per order, thousands in a sweep."""
    known = _tag_and_vr(keyword)
    if known is None:
        setattr(dataset, keyword, value)  # pydicom's own handling of an unknown name
    else:
        dataset.add_new(known[0], known[1], value)


class OrderApplication:
    """The worklist side of the site's HL7 interface. ``worklist_add`` /
    ``worklist_remove`` change the site's worklist (ReferenceSite methods), so this module
    needs no PACS internals. ``cancel`` and ``cancel_status`` may be changed while it runs."""

    def __init__(
        self,
        worklist_add: Callable[[list[Dataset]], None],
        worklist_remove: Callable[[list[Dataset]], None],
        faults: FaultSet,
        *,
        strict: bool = True,
        cancel: str = "remove",
        cancel_status: str = "CANCELED",
    ) -> None:
        self.worklist_add = worklist_add
        self.worklist_remove = worklist_remove
        self.faults = faults
        self.strict = strict
        self.cancel = cancel  # "remove" | "mark" (profile hl7.cancel)
        self.cancel_status = cancel_status  # SPS Status of a marked cancel
        self.items: dict[str, Dataset] = {}
        self.seen_control_ids: set[tuple[str, str, str]] = set()
        self.creates = 0  # creates applied (hl7-order-dropped-under-load: 1st, 101st, ...)
        self._lock = threading.Lock()

    def apply(self, message: Message) -> None:
        """Judge the message's times, then apply it once; raise :class:`Rejected` (AE)
        for a time field, a missing start, or (hl7-resend-rejected) a resend."""
        version = version_of(message)
        family, trigger = value(message, "MSH-9.1"), value(message, "MSH-9.2")
        try:
            self._check_times(message, f"{family}^{trigger}", version)
        except Rejected:
            if "hl7-partial-item-on-reject" in self.faults and _creates(message, family, trigger):
                self._leave_partial_item(message, family)
            raise
        key = (value(message, "MSH-3"), value(message, "MSH-4"), value(message, "MSH-10"))
        with self._lock:
            if key in self.seen_control_ids:
                self._resent(message, family, trigger, key[2])
                return  # HL7 2.5 §2.10.2: a resend is acknowledged again, applied once
            self._apply(message, family, trigger)
            self.seen_control_ids.add(key)

    def _resent(self, message: Message, family: str, trigger: str, control_id: str) -> None:
        if "hl7-resend-rejected" in self.faults:
            raise Rejected("AE", "MSH-10", "205", f"duplicate control ID {control_id!r}")
        if "hl7-duplicate-on-resend" in self.faults and _creates(message, family, trigger):
            duplicate = self._worklist_item(message, family)
            step = duplicate.ScheduledProcedureStepSequence[0]
            step.ScheduledProcedureStepID = f"{step.ScheduledProcedureStepID}.2"[:16]
            self.worklist_add([duplicate])

    # ---------------------------------------------------------------- time fields

    def _check_times(self, message: Message, message_type: str, version: str) -> None:
        locations = list(dict.fromkeys([*time_fields(message_type, version), "OBR-27.4"]))
        for location in locations:
            text = value(message, location).replace("&", "^")
            if not text:
                continue
            appointment = location in APPOINTMENT_FIELDS
            if appointment and "hl7-colon-times-only" in self.faults:
                # The vendor's claim the fault reproduces: the time must be HH:MM:SS.
                if not _COLON_TIME.fullmatch(text.split("^")[0]):
                    raise Rejected(
                        "AE", location, "102", f"{location} {text!r}: time must be HH:MM:SS"
                    )
                continue
            try:
                stamp = timestamps.parse(text, version, strict=self.strict)
            except timestamps.TimestampError as exc:
                raise Rejected("AE", location, "102", f"{location}: {exc}") from None
            if appointment and "hl7-octal-hours" in self.faults and stamp.hour is not None:
                try:
                    _strtol_hour(text[8:10])
                except ValueError:
                    raise Rejected(
                        "AE", location, "102", f"{location} {text!r}: invalid hour"
                    ) from None

    # ---------------------------------------------------------------- worklist

    def _apply(self, message: Message, family: str, trigger: str) -> None:
        if family == "ADT":
            if trigger == "A08":
                self._update_patient(message)
            return
        key = next((value(message, loc) for loc in ITEM_KEY[family] if value(message, loc)), "")
        if family == "SIU":
            action = ACTIONS["SIU"][trigger]
        else:
            action = ACTIONS["ORC-1"].get(value(message, "ORC-1"), "ignore")
        if (action == "remove" and "hl7-cancel-ignored" in self.faults) or (
            action == "update" and "hl7-update-ignored" in self.faults
        ):
            return  # the defect: AA, and the worklist is left as it was
        if action == "remove" and self.cancel == "mark":
            self._mark_cancelled(key)
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.worklist_remove([old])
        if action == "create":
            self.creates += 1
            if "hl7-order-dropped-under-load" in self.faults and self.creates % 100 == 1:
                return  # the defect: acknowledged, never in the worklist
        if action in ("create", "update"):
            item = self._worklist_item(message, family)
            if old is not None and "StudyInstanceUID" in old and not self._placer_uid(family):
                item.StudyInstanceUID = old.StudyInstanceUID  # the site's own, kept
            self.items[key] = item
            self.worklist_add([item])

    def _placer_uid(self, family: str) -> bool:
        """Whether the message carries the Study Instance UID (OMI IPC-3) for the item."""
        mapped = "StudyInstanceUID" in wm.mapping(family)
        return mapped and "hl7-omi-study-uid-ignored" not in self.faults

    def _mark_cancelled(self, key: str) -> None:
        """hl7.cancel: mark -- the item stays, its Scheduled Procedure Step Status
        (0040,0020, PS3.3 C.4.10) becomes the configured marker."""
        old = self.items.get(key)
        if old is None:
            return
        marked = copy.deepcopy(old)
        status = "DISCONTINUED" if "hl7-cancel-status-discontinued" in self.faults else None
        marked.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus = (
            status or self.cancel_status
        )
        self.worklist_remove([old])
        self.worklist_add([marked])
        self.items[key] = marked

    def _worklist_item(self, message: Message, family: str) -> Dataset:
        item, sps = Dataset(), Dataset()
        # MSH-18 (HL7 table 0211) → Specific Character Set (0008,0005, PS3.3 C.12.1.1.2)
        charset = {"8859/1": "ISO_IR 100", "UNICODE UTF-8": "ISO_IR 192"}.get(
            value(message, "MSH-18")
        )
        if charset:
            _put(item, "SpecificCharacterSet", charset)
        for attribute, location in wm.mapping(family).items():
            text = value(message, location)
            if attribute == "PatientBirthDate":
                text = text[:8]
            if attribute.startswith(wm.SPS_PREFIX):
                _put(sps, attribute.removeprefix(wm.SPS_PREFIX), text)
            else:
                _put(item, attribute, text)
        start = next((value(message, loc) for loc in wm.START[family] if value(message, loc)), "")
        if not start:
            raise Rejected("AE", wm.START[family][0], "101", "no scheduled start date/time")
        start = start.split("&")[0].split("^")[0]
        if "hl7-time-utc-shift" in self.faults:
            start = _to_utc(start)
        date, time = er7.dicom_date_time(start)
        if "hl7-sps-date-from-msh7" in self.faults:
            date = value(message, "MSH-7")[:8]
        _put(sps, "ScheduledProcedureStepStartDate", date)
        _put(sps, "ScheduledProcedureStepStartTime", _start_time(time))
        _put(sps, "ScheduledProcedureStepStatus", SCHEDULED)
        # Scheduled Protocol Code Sequence (0040,0008), a RAD-5 return key, from the
        # procedure code (SIU AIS-3, ORM/OMI OBR-4: CE code^text^coding system); without it
        # the Type 1C sequence is left out of responses (PS3.4 Table K.6-1).
        service = "AIS-3" if family == "SIU" else "OBR-4"
        if value(message, f"{service}.1"):
            code = Dataset()
            code_value = value(message, f"{service}.1")
            _put(code, "CodeValue", code_value)
            _put(code, "CodingSchemeDesignator", value(message, f"{service}.3") or "99RIS")
            _put(code, "CodeMeaning", value(message, f"{service}.2") or code_value)
            _put(sps, "ScheduledProtocolCodeSequence", [code])
        if not self._placer_uid(family) or not item.StudyInstanceUID:
            _put(item, "StudyInstanceUID", generate_uid())  # the site's own
        _put(item, "ReferencedStudySequence", [])
        _put(item, "ReferencedPatientSequence", [])
        _put(item, "ScheduledProcedureStepSequence", [sps])
        return item

    def _leave_partial_item(self, message: Message, family: str) -> None:
        """hl7-partial-item-on-reject: the patient/order part of a rejected create is
        stored before the time is judged, and never rolled back."""
        item = Dataset()
        for attribute, location in wm.mapping(family).items():
            if not attribute.startswith(wm.SPS_PREFIX):
                setattr(item, attribute, value(message, location)[:64])
        item.PatientBirthDate = item.PatientBirthDate[:8]
        item.StudyInstanceUID = generate_uid()
        item.ScheduledProcedureStepSequence = []
        self.worklist_add([item])

    def _update_patient(self, message: Message) -> None:
        patient_id = value(message, wm.PATIENT["PatientID"])
        for key, item in list(self.items.items()):
            if item.PatientID == patient_id:
                updated = Dataset()
                updated.update(item)
                updated.PatientName = value(message, wm.PATIENT["PatientName"])
                updated.PatientBirthDate = value(message, wm.PATIENT["PatientBirthDate"])[:8]
                updated.PatientSex = value(message, wm.PATIENT["PatientSex"])
                self.worklist_remove([item])
                self.worklist_add([updated])
                self.items[key] = updated


def _start_time(tm: str) -> str:
    """Scheduled Procedure Step Start Time (0040,0003) is a Type 1 return key of the
    worklist (PS3.4 Table K.6-1): a start without a time is midnight; an hour alone is
    written HHMM. Otherwise the TM keeps the DTM's precision (PS3.5 6.2)."""
    if tm and len(tm) < 4:
        tm = tm.ljust(4, "0")
    return tm or dt.time(0).strftime("%H%M%S")


def _creates(message: Message, family: str, trigger: str) -> bool:
    """S12, or an order message with ORC-1 NW."""
    if family == "SIU":
        return trigger == "S12"
    return family in ("ORM", "OMI") and value(message, "ORC-1") == "NW"


def _strtol_hour(text: str) -> int:
    """The octal-hours defect: the hour read like C ``strtol(s, NULL, 0)`` -- a leading
    0 means octal, so "08" and "09" are not numbers at all."""
    if len(text) > 1 and text.startswith("0"):
        return int(text, 8)  # ValueError for 08 and 09
    return int(text)


def _to_utc(text: str) -> str:
    """hl7-time-utc-shift: a DTM with an offset rewritten as UTC (YYYYMMDDHHMMSS)."""
    match = re.fullmatch(r"(\d{12})(\d{2})?(?:\.\d+)?([+-])(\d{2})(\d{2})", text)
    if not match:
        return text
    stamp = dt.datetime.strptime(match.group(1) + (match.group(2) or "00"), "%Y%m%d%H%M%S")
    sign = 1 if match.group(3) == "+" else -1
    offset = dt.timedelta(hours=int(match.group(4)), minutes=int(match.group(5)))
    return (stamp - sign * offset).strftime("%Y%m%d%H%M%S")
