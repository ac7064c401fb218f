"""The HL7 side of the reference site: an MLLP listener that feeds the worklist.

It plays the RIS/PACS order filler of IHE RAD SWF: it accepts SIU^S12/S14/S15 (HL7 2.5
ch. 10), ORM^O01 and OMI^O23 (ch. 4, IHE RAD-2/RAD-4) and ADT^A04/A08 (ch. 3), answers
each with an ACK (§2.9: original mode AA/AE/AR, enhanced mode CA/CE/CR per MSH-15), and
keeps the site's Modality Worklist (site/pacs.py) in step: S12/NW create an item,
S14/XO replace it, S15/CA/DC remove it (or, configured ``cancel="mark"``, keep it with
Scheduled Procedure Step Status = ``cancel_status``). A resend with the same MSH-10 is
answered AA again and applied once. Time fields are judged by the TS/DTM grammar of the
message's own version (hl7/timestamps.py), strictly.

Faults (site/faults.py, layer "hl7") make it commit the seed's defects on purpose.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from interopgate.hl7 import timestamps
from interopgate.hl7.messages import (
    APPOINTMENT_FIELDS,
    build_ack,
    parse,
    time_fields,
    value,
)
from interopgate.hl7.mllp import Connection, Frame, MLLPListener, decode
from interopgate.hl7.mllp import frame as mllp_frame

log = logging.getLogger("interopgate.site.hl7")

SUPPORTED = {
    "SIU": {"S12", "S14", "S15"},
    "ORM": {"O01"},
    "OMI": {"O23"},
    "ADT": {"A04", "A08"},
}
SITE_APPLICATION = ("IG_PACS", "IG_SITE")
PROCESSING_IDS = {"P", "D", "T"}  # HL7 table 0103 (MSH-11.1)

# HL7 → DICOM Modality Worklist, after IHE RAD TF-2 (RAD-4 / RAD-5) and DESIGN.md.
# (location, attribute); "SPS." marks attributes of the Scheduled Procedure Step item.
PATIENT_MAPPING = [
    ("PID-3.1", "PatientID"),
    ("PID-5", "PatientName"),
    ("PID-7", "PatientBirthDate"),
    ("PID-8", "PatientSex"),
]
ORDER_MAPPING = {
    "SIU": [
        ("SCH-27.1", "AccessionNumber"),
        ("SCH-26.1", "RequestedProcedureID"),
        ("SCH-7.2", "RequestedProcedureDescription"),
        ("AIG-4.1", "SPS.Modality"),
        ("AIG-3.1", "SPS.ScheduledStationAETitle"),
        ("SCH-5.1", "SPS.ScheduledProcedureStepID"),
        ("AIS-3.2", "SPS.ScheduledProcedureStepDescription"),
    ],
    "ORM": [
        ("OBR-18", "AccessionNumber"),
        ("OBR-19", "RequestedProcedureID"),
        ("OBR-4.2", "RequestedProcedureDescription"),
        ("OBR-24", "SPS.Modality"),
        ("OBR-21", "SPS.ScheduledStationAETitle"),
        ("OBR-20", "SPS.ScheduledProcedureStepID"),
        ("OBR-4.2", "SPS.ScheduledProcedureStepDescription"),
    ],
}
# OMI^O23 (IHE RAD-4, HL7 2.5.1 option): IPC, Imaging Procedure Control (HL7 2.5 ch. 4).
ORDER_MAPPING["OMI"] = [
    ("IPC-1.1", "AccessionNumber"),
    ("IPC-2.1", "RequestedProcedureID"),
    ("IPC-3.1", "StudyInstanceUID"),
    ("OBR-4.2", "RequestedProcedureDescription"),
    ("IPC-5.1", "SPS.Modality"),
    ("IPC-9", "SPS.ScheduledStationAETitle"),
    ("IPC-7.1", "SPS.ScheduledStationName"),
    ("IPC-4.1", "SPS.ScheduledProcedureStepID"),
    ("OBR-4.2", "SPS.ScheduledProcedureStepDescription"),
]
# Where the scheduled start comes from, first non-empty wins.
START_FIELDS = {
    "SIU": ["TQ1-7", "SCH-11.4", "AIS-4"],
    "ORM": ["OBR-27.4", "ORC-7.4", "OBR-7"],
    "OMI": ["TQ1-7", "OBR-7"],
}
KEY_FIELDS = {"SIU": ["SCH-2.1", "SCH-1.1"], "ORM": ["ORC-3", "ORC-2"], "OMI": ["ORC-3", "ORC-2"]}


class Rejected(Exception):
    """An ACK other than AA: code (AE/AR), error location, table 0357 code, text."""

    def __init__(self, code: str, location: str, condition: str, text: str) -> None:
        super().__init__(text)
        self.code, self.location, self.condition, self.text = code, location, condition, text


def _strtol_hour(text: str) -> int:
    """The octal-hours defect: the hour read like C ``strtol(s, NULL, 0)`` -- a leading
    0 means octal, so "08" and "09" are not numbers at all."""
    if len(text) > 1 and text.startswith("0"):
        return int(text, 8)  # ValueError for 08 and 09
    return int(text)


_COLON_TIME = re.compile(r"\d{8}[ T]?\d{2}:\d{2}(:\d{2})?")


class HL7Interface:
    """The site's MLLP listener. ``worklist_add`` / ``worklist_remove`` change the
    site's worklist (ReferenceSite methods), so this module needs no PACS internals."""

    def __init__(
        self,
        worklist_add: Callable[[list[Dataset]], None],
        worklist_remove: Callable[[list[Dataset]], None],
        faults: frozenset[str] = frozenset(),
        host: str = "127.0.0.1",
        port: int = 0,
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
        self.received: list[str] = []
        self._lock = threading.Lock()
        self._listener = MLLPListener(self.handle, host, port)

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address

    def start(self) -> HL7Interface:
        self._listener.start()
        log.info("reference site HL7 (MLLP) on %s:%s", *self.address)
        return self

    def stop(self) -> None:
        self._listener.stop()

    def has(self, fault: str) -> bool:
        return fault in self.faults

    # ---------------------------------------------------------------- one message

    def handle(self, frame: Frame, connection: Connection) -> str | bytes | None:
        data = frame.payload
        malformed = self._malformed(data)
        if malformed is not None:
            if self.has("hl7-no-ack-on-malformed"):
                connection.close = True  # the defect: hang up without a word
                return None
            location, reason = malformed
            return self._reject_unparsed(reason, location, "100" if location == "MSH" else "102")
        text = decode(data)
        with self._lock:
            self.received.append(text)
        try:
            message = parse(text)
        except Exception as exc:
            return self._reject_unparsed(f"hl7apy cannot parse the message: {exc}")
        header = {loc: value(message, loc) for loc in ("MSH-3", "MSH-4", "MSH-5", "MSH-6")}
        control_id = value(message, "MSH-10")
        version = value(message, "MSH-12.1") or "2.5"
        trigger = value(message, "MSH-9.2")
        try:
            self._process(message, version)
            code, error, note = "AA", None, ""
        except Rejected as rejected:
            code = rejected.code
            error = (rejected.location, rejected.condition, rejected.text)
            note = rejected.text
        except Exception as exc:  # a site bug must still be answered (table 0357: 207)
            log.exception("HL7 message %s could not be applied", control_id)
            code, note = "AE", f"application internal error: {type(exc).__name__}: {exc}"
            error = ("MSH", "207", note)
        answer_version = version if version in timestamps.VERSIONS else "2.5"
        colon_stamp = (
            dt.datetime.now().strftime("%Y%m%d %H:%M:%S")
            if self.has("hl7-ack-colon-timestamp")
            else None
        )
        msa_2 = control_id
        if self.has("hl7-wrong-msa-2"):
            msa_2 = f"ACK{control_id[::-1]}"[:20]  # the defect: not the sender's MSH-10

        def ack(ack_code: str, err, ack_types=None) -> str:
            return build_ack(
                answer_version,
                sending=(header["MSH-5"], header["MSH-6"]),
                receiving=(header["MSH-3"], header["MSH-4"]),
                trigger=trigger,
                code=ack_code,
                control_id=msa_2,
                text=note if err else "",
                error=err,
                timestamp=colon_stamp,
                ack_types=ack_types,
            )

        accept_ack, app_ack = value(message, "MSH-15"), value(message, "MSH-16")
        if not (accept_ack or app_ack) or self.has("hl7-ignores-accept-ack-type"):
            return ack(code, error)  # original mode (§2.9.2): one ACK, AA/AE/AR
        return self._enhanced(ack, code, error, accept_ack, app_ack)

    def _enhanced(self, ack, code: str, error, accept_ack: str, app_ack: str) -> bytes | None:
        """Enhanced acknowledgment mode (HL7 2.5 §2.9.3; tables 0155, 0008). The accept
        (commit) ACK says whether the message was taken into safe storage: CR when its
        MSH-9, MSH-11 or MSH-12 is unacceptable (the site's AR cases), else CA -- an
        application error (AE) is no reason to refuse the commit. MSH-15 says when it is
        sent (AL always, NE never, ER only CE/CR, SU only CA). The application ACK
        (AA/AE/AR) follows as a separate message on the same connection when the message
        was committed and MSH-16 asks for it; it asks for no acknowledgment itself (NE/NE:
        acknowledging an acknowledgment would never end)."""
        commit = "CR" if code == "AR" else "CA"
        sent_commit = "AR" if commit == "CR" and self.has("hl7-commit-reject-as-ar") else commit
        accept_when = accept_ack or "AL"
        if self.has("hl7-accept-ack-always") and accept_when in ("ER", "SU"):
            accept_when = "AL"  # the defect: ER/SU treated as AL
        frames = []
        if _wanted(accept_when, commit == "CA"):
            frames.append(ack(sent_commit, error if commit != "CA" else None))
        if (
            commit == "CA"
            and _wanted(app_ack or "NE", code == "AA")
            and not self.has("hl7-no-application-ack")
        ):
            frames.append(ack(code, error, ack_types=("NE", "NE")))
        return b"".join(mllp_frame(f) for f in frames) or None

    def _malformed(self, data: bytes) -> tuple[str, str] | None:
        """(location, reason) when the bytes are not an HL7 message at all (§2.5, §2.6)."""
        if not data.startswith(b"MSH"):
            return "MSH", "the message does not start with an MSH segment"
        header = data.split(b"\r", 1)[0]
        separator = header[3:4]
        chars = header[4:].split(separator, 1)[0] if separator else b""
        if (
            len(chars) not in (4, 5)
            or len(set(chars)) != len(chars)
            or separator in chars
            or any(chr(c).isalnum() for c in chars)
        ):
            return "MSH-2", f"encoding characters {chars!r} are not 4 distinct delimiters"
        return None

    def _reject_unparsed(self, reason: str, location: str = "MSH", condition: str = "100") -> str:
        """AR for a message that cannot be read: no MSH-10 to echo, so MSA-2 is empty;
        ERR names the location and the table 0357 code (100 segment sequence, 102 data
        type error)."""
        return build_ack(
            "2.5",
            sending=SITE_APPLICATION,
            receiving=("", ""),
            trigger="",
            code="AR",
            control_id="",
            text=reason,
            error=(location, condition, reason),
        )

    def _process(self, message, version: str) -> None:
        if version not in timestamps.VERSIONS:
            raise Rejected("AR", "MSH-12", "203", f"unsupported version {version!r}")
        processing = value(message, "MSH-11.1")
        if processing not in PROCESSING_IDS:
            raise Rejected("AR", "MSH-11", "202", f"unsupported processing ID {processing!r}")
        family, trigger = value(message, "MSH-9.1"), value(message, "MSH-9.2")
        if family not in SUPPORTED:
            raise Rejected("AR", "MSH-9.1", "200", f"unsupported message type {family!r}")
        known = SUPPORTED[family]
        if self.has("hl7-known-events-rejected"):
            known = {"S12"} if family == "SIU" else known
        if trigger not in known:
            if self.has("hl7-accepts-unknown-events"):
                return  # the defect: AA, and the message is silently dropped
            raise Rejected("AR", "MSH-9.2", "201", f"unsupported event code {trigger!r}")
        message_type = f"{family}^{trigger}"
        try:
            self._check_times(message, message_type, version)
        except Rejected:
            if self.has("hl7-partial-item-on-reject") and _creates(message, family, trigger):
                self._leave_partial_item(message, family)  # the seed's defect
            raise
        key = (value(message, "MSH-3"), value(message, "MSH-4"), value(message, "MSH-10"))
        with self._lock:
            if key in self.seen_control_ids:
                if self.has("hl7-resend-rejected"):
                    raise Rejected("AE", "MSH-10", "205", f"duplicate control ID {key[2]!r}")
                if self.has("hl7-duplicate-on-resend") and _creates(message, family, trigger):
                    duplicate = self._worklist_item(message, family)
                    step = duplicate.ScheduledProcedureStepSequence[0]
                    step.ScheduledProcedureStepID = f"{step.ScheduledProcedureStepID}.2"[:16]
                    self.worklist_add([duplicate])
                return  # HL7 2.5 §2.10.2: a resend is acknowledged again, applied once
            self._apply(message, family, trigger)
            self.seen_control_ids.add(key)

    # ---------------------------------------------------------------- time fields

    def _check_times(self, message, message_type: str, version: str) -> None:
        locations = list(dict.fromkeys([*time_fields(message_type, version), "OBR-27.4"]))
        for location in locations:
            text = value(message, location).replace("&", "^")
            if not text:
                continue
            appointment = location in APPOINTMENT_FIELDS
            if appointment and self.has("hl7-colon-times-only"):
                # The vendor's claim from the seed: the time must be written HH:MM:SS.
                if not _COLON_TIME.fullmatch(text.split("^")[0]):
                    raise Rejected(
                        "AE", location, "102", f"{location} {text!r}: time must be HH:MM:SS"
                    )
                continue
            try:
                stamp = timestamps.parse(text, version, strict=self.strict)
            except timestamps.TimestampError as exc:
                raise Rejected("AE", location, "102", f"{location}: {exc}") from None
            if appointment and self.has("hl7-octal-hours") and stamp.hour is not None:
                try:
                    _strtol_hour(text[8:10])
                except ValueError:
                    raise Rejected(
                        "AE", location, "102", f"{location} {text!r}: invalid hour"
                    ) from None

    # ---------------------------------------------------------------- worklist

    def _apply(self, message, family: str, trigger: str) -> None:
        if family == "ADT":
            if trigger == "A08":
                self._update_patient(message)
            return
        key = next((value(message, loc) for loc in KEY_FIELDS[family] if value(message, loc)), "")
        if family == "SIU":
            action = {"S12": "create", "S14": "update", "S15": "remove"}[trigger]
        else:
            control = value(message, "ORC-1")
            action = {"NW": "create", "XO": "update", "CA": "remove", "DC": "remove"}.get(
                control, "ignore"
            )
        if (action == "remove" and self.has("hl7-cancel-ignored")) or (
            action == "update" and self.has("hl7-update-ignored")
        ):
            return  # the defect: AA, and the worklist is left as it was
        if action == "remove" and self.cancel == "mark":
            self._mark_cancelled(key)
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.worklist_remove([old])
        if action in ("create", "update"):
            item = self._worklist_item(message, family)
            if old is not None and "StudyInstanceUID" in old and not self._placer_uid(family):
                item.StudyInstanceUID = old.StudyInstanceUID  # the site's own, kept
            self.items[key] = item
            self.worklist_add([item])

    def _placer_uid(self, family: str) -> bool:
        """Whether the message carries the Study Instance UID (OMI IPC-3) for the item."""
        mapped = any(a == "StudyInstanceUID" for _, a in ORDER_MAPPING[family])
        return mapped and not self.has("hl7-omi-study-uid-ignored")

    def _mark_cancelled(self, key: str) -> None:
        """hl7.cancel: mark -- the item stays, its Scheduled Procedure Step Status
        (0040,0020, PS3.3 C.4.10) becomes the configured marker."""
        old = self.items.get(key)
        if old is None:
            return
        marked = copy.deepcopy(old)
        status = "DISCONTINUED" if self.has("hl7-cancel-status-discontinued") else None
        marked.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus = (
            status or self.cancel_status
        )
        self.worklist_remove([old])
        self.worklist_add([marked])
        self.items[key] = marked

    def _worklist_item(self, message, family: str) -> Dataset:
        item, sps = Dataset(), Dataset()
        for location, attribute in PATIENT_MAPPING + ORDER_MAPPING[family]:
            text = value(message, location)
            if attribute == "PatientBirthDate":
                text = text[:8]
            target = sps if attribute.startswith("SPS.") else item
            setattr(target, attribute.removeprefix("SPS."), text)
        start = next(
            (value(message, loc) for loc in START_FIELDS[family] if value(message, loc)), ""
        )
        if not start:
            raise Rejected("AE", START_FIELDS[family][0], "101", "no scheduled start date/time")
        start = start.split("&")[0].split("^")[0]
        if self.has("hl7-time-utc-shift"):
            start = _to_utc(start)
        date, time = _dicom_date_time(start)
        if self.has("hl7-sps-date-from-msh7"):
            date = value(message, "MSH-7")[:8]
        sps.ScheduledProcedureStepStartDate = date
        sps.ScheduledProcedureStepStartTime = time
        sps.ScheduledProcedureStepStatus = "SCHEDULED"  # PS3.3 C.4.10 Defined Term
        if not self._placer_uid(family) or not item.StudyInstanceUID:
            item.StudyInstanceUID = generate_uid()  # the site's own
        item.ReferencedStudySequence = []
        item.ReferencedPatientSequence = []
        item.ScheduledProcedureStepSequence = [sps]
        return item

    def _leave_partial_item(self, message, family: str) -> None:
        """hl7-partial-item-on-reject: the patient/order part of a rejected create is
        stored before the time is judged, and never rolled back."""
        item = Dataset()
        for location, attribute in PATIENT_MAPPING + ORDER_MAPPING[family]:
            if not attribute.startswith("SPS."):
                setattr(item, attribute, value(message, location)[:64])
        item.PatientBirthDate = item.PatientBirthDate[:8]
        item.StudyInstanceUID = generate_uid()
        item.ScheduledProcedureStepSequence = []
        self.worklist_add([item])

    def _update_patient(self, message) -> None:
        patient_id = value(message, "PID-3.1")
        for key, item in list(self.items.items()):
            if item.PatientID == patient_id:
                updated = Dataset()
                updated.update(item)
                updated.PatientName = value(message, "PID-5")
                updated.PatientBirthDate = value(message, "PID-7")[:8]
                updated.PatientSex = value(message, "PID-8")
                self.worklist_remove([item])
                self.worklist_add([updated])
                self.items[key] = updated


def _wanted(condition: str, success: bool) -> bool:
    """Table 0155: AL always, NE never, ER on error/reject only, SU on success only."""
    return {"AL": True, "NE": False, "ER": not success, "SU": success}.get(condition, True)


def _creates(message, family: str, trigger: str) -> bool:
    """S12, or an order message with ORC-1 NW."""
    if family == "SIU":
        return trigger == "S12"
    return family in ("ORM", "OMI") and value(message, "ORC-1") == "NW"


def _to_utc(text: str) -> str:
    """hl7-time-utc-shift: a DTM with an offset rewritten as UTC (YYYYMMDDHHMMSS)."""
    match = re.fullmatch(r"(\d{12})(\d{2})?(?:\.\d+)?([+-])(\d{2})(\d{2})", text)
    if not match:
        return text
    stamp = dt.datetime.strptime(match.group(1) + (match.group(2) or "00"), "%Y%m%d%H%M%S")
    sign = 1 if match.group(3) == "+" else -1
    offset = dt.timedelta(hours=int(match.group(4)), minutes=int(match.group(5)))
    return (stamp - sign * offset).strftime("%Y%m%d%H%M%S")


def _dicom_date_time(text: str) -> tuple[str, str]:
    """DTM → DICOM DA and TM (PS3.5 6.2): ``YYYYMMDD`` and ``HHMMSS[.FFFFFF]``; the
    offset is dropped (the worklist is in the site's local time)."""
    digits = re.sub(r"[+-]\d{4}$", "", text)
    plain = digits.replace(":", "").replace(" ", "").replace("T", "")
    date, time = plain[:8], plain[8:]
    if time and len(time) < 4:
        time = time.ljust(4, "0")
    return date, time or dt.time(0).strftime("%H%M%S")
