"""HL7 v2 messages through hl7apy: parsing, field access by location, ACK building.

Locations are written as the standard writes them (``MSH-10``, ``SCH-11.4``, ``PID-3.1``;
hl7/er7.py reads them). Message structures follow HL7 2.5 §2.14.9.9 (MSH-9.3): S14/S15
travel in the SIU_S12 structure, A04/A08 in ADT_A01.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message, Segment
from hl7apy.parser import parse_message

from interopgate.hl7 import er7
from interopgate.hl7.er7 import Location

STRUCTURES = {
    "SIU^S12": "SIU_S12",
    "SIU^S13": "SIU_S12",
    "SIU^S14": "SIU_S12",
    "SIU^S15": "SIU_S12",
    "ORM^O01": "ORM_O01",
    "OMI^O23": "OMI_O23",
    "ADT^A04": "ADT_A01",
    "ADT^A08": "ADT_A01",
}

# The fields that carry times, per message family (HL7 2.5 ch. 10, 4, 3).
# SCH-11.4 (TQ start) exists up to 2.6; TQ1-7 from 2.5 on.
TIME_FIELDS = {
    "SIU": ["MSH-7", "SCH-11.4", "TQ1-7", "AIS-4", "PID-7"],
    "ORM": ["MSH-7", "ORC-9", "OBR-7", "PID-7"],
    "OMI": ["MSH-7", "ORC-9", "TQ1-7", "OBR-7", "PID-7"],
    "ADT": ["MSH-7", "PID-7"],
}
# The ones that carry the *appointment / scheduled* start (OBR-27.4: ORM's TQ start).
APPOINTMENT_FIELDS = ("SCH-11.4", "TQ1-7", "AIS-4", "OBR-27.4")


def time_fields(message_type: str, version: str) -> list[str]:
    """The time-carrying fields a message of ``message_type`` has in ``version``."""
    fields = TIME_FIELDS[message_type.split("^")[0]]
    has_tq1 = version not in ("2.3", "2.3.1", "2.4")
    return [
        f
        for f in fields
        if not (f.startswith("TQ1") and not has_tq1)
        and not (f == "SCH-11.4" and version in ("2.7", "2.8"))
    ]


def appointment_fields(message_type: str, version: str) -> list[str]:
    """The fields that carry the scheduled start (SCH-11.4, TQ1-7, AIS-4, ORM's OBR-27.4)."""
    fields = [f for f in time_fields(message_type, version) if f in APPOINTMENT_FIELDS]
    return [*fields, "OBR-27.4"] if message_type == "ORM^O01" else fields


def parse(text: str) -> Message:
    """Parse an ER7 message (segments flat, no group detection: fast and tolerant)."""
    message = parse_message(
        text.replace("\n", "\r"), find_groups=False, validation_level=VALIDATION_LEVEL.QUIET
    )
    # value() cache (hl7apy lookups cost ~0.1 ms each); hl7apy's __setattr__ would take
    # the name for a segment, hence object.__setattr__.
    object.__setattr__(message, "_interopgate_values", {})
    return message


def segments(message: Message, name: str) -> list[Segment]:
    """Every ``name`` segment of the message, at any depth."""
    found: list[Segment] = []
    for child in message.children:
        if child.name == name:
            found.append(child)
        elif hasattr(child, "children") and child.classname == "Group":
            found.extend(segments(child, name))
    return found


def value(message: Message, location: str | Location) -> str:
    """The ER7 text at ``location`` in the first segment of its kind ("" if absent)."""
    cache = message.__dict__.get("_interopgate_values")
    if cache is not None and location in cache:
        return cache[location]
    loc = Location.parse(location) if isinstance(location, str) else location
    found = segments(message, loc.segment)
    text = field_value(found[0], loc) if found else ""
    if cache is not None:
        cache[location] = text
    return text


def field_value(segment: Segment, loc: Location) -> str:
    """ER7 text of a field, component or subcomponent of ``segment`` ("" if absent)."""
    element = _child(segment, loc.field)
    for index in (loc.component, loc.subcomponent):
        if element is None or index is None:
            break
        element = _child(element, index)
    return element.to_er7() if element is not None else ""


def _child(element, index: int):
    """hl7apy names children after their position (``SCH_11``, ``TQ_4``, ``TS_1``); a
    primitive has one unnumbered child, which is its own component 1."""
    children = list(element.children)
    for child in children:
        suffix = child.name.rsplit("_", 1)[-1]
        if suffix.isdigit() and int(suffix) == index:
            return child
    if index == 1 and children and not children[0].name.rsplit("_", 1)[-1].isdigit():
        return element
    return None


# The logical clock behind MSH-10: the second the stamp shows, and the IDs issued in it.
_control_clock = {"second": 0, "issued": 0}
_control_lock = threading.Lock()
CONTROL_IDS_PER_SECOND = 1000  # the three-digit counter


def new_control_id(prefix: str = "IG") -> str:
    """A message control ID (MSH-10, ST, at most 20 characters): two letters, the UTC
    time to the second, the process ID and a counter -- unique across runs and xdist
    workers, since a receiver that de-duplicates resends (HL7 2.5 §2.10.2) would
    silently drop a new message that reuses an old ID.

    The counter has three digits, so one second of the stamp holds 1,000 IDs. A sender
    faster than that (a full-day sweep sends 1,440 messages in under a second) takes
    the next second's stamp instead of wrapping the counter: a wrapped counter repeated
    MSH-10 within the same second, and a receiver applying §2.10.2 then answered the
    repeat AA without applying it -- a conforming receiver made to look as if it lost
    orders. The stamp may so run ahead of the wall clock; it is an identifier, not the
    message's time (that is MSH-7)."""
    with _control_lock:
        now = int(time.time())
        if now > _control_clock["second"]:
            _control_clock.update(second=now, issued=0)
        elif _control_clock["issued"] >= CONTROL_IDS_PER_SECOND:
            _control_clock.update(second=_control_clock["second"] + 1, issued=0)
        second, count = _control_clock["second"], _control_clock["issued"]
        _control_clock["issued"] = count + 1
    stamp = time.strftime("%y%m%d%H%M%S", time.gmtime(second))
    return f"{prefix[:2]}{stamp}{os.getpid() % 1000:03d}{count:03d}"


def now_ts() -> str:
    """The current time as a DTM with seconds and offset (valid in every version)."""
    return dt.datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")


@dataclass(frozen=True)
class Ack:
    """What a check needs from an ACK (HL7 2.5 §2.9, §3.4.2 MSA)."""

    text: str
    msh_3: str
    msh_4: str
    msh_5: str
    msh_6: str
    msh_7: str
    msh_9: str
    msh_10: str
    msh_12: str
    msa_1: str
    msa_2: str
    err: str

    @classmethod
    def read(cls, text: str) -> Ack:
        """Read an ACK's fields; raise ValueError if it is not an HL7 message.

        By splitting on its own separators (hl7/er7.py), not with hl7apy:
        a sweep reads 1,440 ACKs and hl7apy's parse costs ~7 ms each (bench/bench_hl7.py).
        What makes a reply unusable is checked here: an MSH first, a field separator and
        four distinct encoding characters (HL7 2.5 §2.5.4, §2.14.9.1-2), an MSA segment."""
        text = text.replace("\n", "\r")
        if not text.startswith("MSH") or len(text) < 8:
            raise ValueError("the reply does not start with an MSH segment")
        separators = text[3:8]
        if len(set(separators)) != 5 or any(c.isalnum() or c in "\r " for c in separators):
            raise ValueError(
                f"MSH-1/MSH-2 {separators!r} are not a field separator and four distinct "
                "encoding characters"
            )
        segment_ids = [segment[:3] for segment in text.split("\r") if segment]
        if "MSA" not in segment_ids:
            raise ValueError("the reply has no MSA segment")

        def get(loc: str) -> str:
            return er7.value(text, loc)

        return cls(
            text=text,
            msh_3=get("MSH-3"),
            msh_4=get("MSH-4"),
            msh_5=get("MSH-5"),
            msh_6=get("MSH-6"),
            msh_7=get("MSH-7"),
            msh_9=get("MSH-9"),
            msh_10=get("MSH-10"),
            msh_12=get("MSH-12"),
            msa_1=get("MSA-1"),
            msa_2=get("MSA-2"),
            err=next((s for s in text.split("\r") if s.startswith("ERR")), ""),
        )


# MSH-9.3 (message structure) exists from 2.3.1 on and is required from 2.4 on
# (HL7 2.5 §2.14.9.9, §2.A.46 MSG; table 0354: ACK for the general acknowledgment).
STRUCTURE_REQUIRED = ("2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8")


def ack_message_type(version: str, trigger: str) -> str:
    """MSH-9 of a general acknowledgment in ``version``, as a verdict states it."""
    if version in STRUCTURE_REQUIRED:
        return f"ACK^{trigger}^ACK (the message structure ACK required from HL7 2.4 on)"
    return f"ACK or ACK^{trigger} (HL7 {version}: trigger event and structure optional)"


def ack_message_type_problems(msh_9: str, version: str, trigger: str) -> list[str]:
    """What is wrong with an ACK's MSH-9 answering a message of ``trigger`` in
    ``version``, no stricter than the standard: MSH-9.1 ACK always; MSH-9.2 may be left
    out of an acknowledgment, but when present is the trigger acknowledged; MSH-9.3 ACK,
    required from 2.4 on (§2.14.9.9)."""
    code, event, structure = [*msh_9.split("^"), "", ""][:3]
    problems = []
    if code != "ACK":
        problems.append(f"MSH-9.1 {code or '(empty)'}, not ACK")
    if event and event != trigger:
        problems.append(f"MSH-9.2 {event}, not the trigger event acknowledged ({trigger})")
    if structure != "ACK" and (structure or version in STRUCTURE_REQUIRED):
        problems.append(f"MSH-9.3 {structure or '(absent)'}, not ACK")
    return problems


def build_ack(
    version: str,
    *,
    sending: tuple[str, str],
    receiving: tuple[str, str],
    trigger: str,
    code: str,
    control_id: str,
    text: str = "",
    error: tuple[str, str, str] | None = None,
    timestamp: str | None = None,
    ack_types: tuple[str, str] | None = None,
) -> str:
    """An ACK (HL7 2.5 §2.9.2): MSH-5/6 mirror the message's MSH-3/4, MSA-2 its MSH-10;
    ``error`` = (location, HL7 table 0357 code, text) adds an ERR segment; ``ack_types``
    sets MSH-15/MSH-16 (table 0155), e.g. NE/NE on an enhanced-mode application ACK."""
    ack = Message("ACK", version=version, validation_level=VALIDATION_LEVEL.QUIET)
    ack.msh.msh_3, ack.msh.msh_4 = sending
    ack.msh.msh_5, ack.msh.msh_6 = receiving
    ack.msh.msh_7 = timestamp or now_ts()
    if not trigger:
        ack.msh.msh_9 = "ACK"
    else:
        ack.msh.msh_9 = f"ACK^{trigger}" if version == "2.3" else f"ACK^{trigger}^ACK"
    ack.msh.msh_10 = new_control_id("ACK")
    ack.msh.msh_11 = "P"
    if ack_types is not None:
        ack.msh.msh_15, ack.msh.msh_16 = ack_types
    ack.msa.msa_1 = code
    ack.msa.msa_2 = control_id
    if text and version in ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6"):
        ack.msa.msa_3 = text[:80]
    if error is not None:
        location, code_0357, err_text = error
        err = ack.add_segment("ERR")
        if version in ("2.3", "2.3.1", "2.4"):
            err.err_1 = f"{location}^^^{code_0357}&{err_text[:60]}&HL70357"
        else:
            err.err_2 = location.replace("-", "^").replace(".", "^")
            err.err_3 = f"{code_0357}^{err_text[:60]}^HL70357"
            err.err_4 = "E"
    return ack.to_er7()


def _unreadable(reply_text: str, exc: Exception) -> str:
    """An answer hl7apy cannot parse, described with what a plain split still reads (its
    MSH-2 and MSA), so the verdict shows *why* a sender cannot use it: e.g. an ACK that
    repeats the invalid encoding characters of the message it refuses."""
    header = reply_text.replace("\n", "\r").split("\r", 1)[0]
    msa_1, msa_2 = er7.value(reply_text, "MSA-1"), er7.value(reply_text, "MSA-2")
    if header.startswith("MSH") and msa_1:
        return (
            f"an ACK that is not a valid HL7 message ({exc}): MSH-2 {header[4:8]!r}, "
            f"MSA-1 {msa_1}, MSA-2 {msa_2 or '(empty)'}; a sender cannot parse it"
        )
    return f"a reply that is not an HL7 ACK ({exc}): {reply_text[:80]!r}"


def read_reply(reply_text: str | None, problem: str | None) -> tuple[Ack | None, str]:
    """(the ACK, a one-line description of the reply for a verdict's "observed")."""
    if reply_text is None:
        return None, f"no reply ({problem})"
    try:
        ack = Ack.read(reply_text)
    except Exception as exc:
        return None, _unreadable(reply_text, exc)
    err = f", {ack.err}" if ack.err else ""
    return ack, f"MSA-1 {ack.msa_1 or '(empty)'}, MSA-2 {ack.msa_2 or '(empty)'}{err}"
