"""HL7 v2 ER7 text without a parser: field locations, values by splitting, DTM → DICOM.

A location is written as the standard writes it (``MSH-10``, ``PID-3.1``, ``SCH-11.4``,
``PID-3.4.1``: segment, field, component, subcomponent; HL7 2.5 §2.5-2.7). A value is
read by splitting the message on its *own* separators, MSH-1 and MSH-2 (§2.5.4,
§2.14.9.1-2), not with hl7apy: the suites and the MLLP client read thousands of
messages and ACKs a sweep, and an hl7apy parse costs 7-50 ms each (bench/bench_hl7.py).

The worklist carries an HL7 time as DICOM DA and TM (PS3.5 6.2), so the conversion of
a DTM (HL7 2.5 §2.A.22) lives here too, for the site that writes the worklist item and
the suites that compare it.

This module imports nothing of the project: framing (hl7/mllp.py), messages, the profile
and the worklist mapping all build on it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_OFFSET = re.compile(r"[+-]\d{4}$")  # DTM +/-ZZZZ (HL7 2.5 §2.A.22)


@dataclass(frozen=True)
class Location:
    """Segment, field and optional component and subcomponent, numbered from 1."""

    segment: str
    field: int
    component: int | None = None
    subcomponent: int | None = None

    @classmethod
    def parse(cls, text: str) -> Location:
        """``PID-3.1`` → Location; ValueError for anything else (no surrounding blanks).
        A run names a few dozen locations and reads them thousands of times a sweep:
        each is parsed once (a Location is immutable, so one is shared)."""
        return _parse_location(text)

    def __str__(self) -> str:
        parts = [f"{self.segment}-{self.field}"]
        parts += [str(p) for p in (self.component, self.subcomponent) if p is not None]
        return ".".join(parts)


@functools.lru_cache(maxsize=1024)
def _parse_location(text: str) -> Location:
    match = _LOCATION.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a field location like PID-3.1 or SCH-11.4")
    segment, field, component, subcomponent = match.groups()
    return Location(
        segment,
        int(field),
        int(component) if component else None,
        int(subcomponent) if subcomponent else None,
    )


def is_location(text: str) -> bool:
    return _LOCATION.fullmatch(text) is not None


@dataclass(frozen=True)
class Separators:
    """MSH-1 and the MSH-2 encoding characters (HL7 2.5 §2.5.4): field, component,
    repetition, escape, subcomponent."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @classmethod
    def of(cls, header: str) -> Separators | None:
        """The separators an MSH segment declares; None when it is too short to declare
        them (fewer than MSH, MSH-1 and four encoding characters)."""
        if not header.startswith("MSH") or len(header) < 8:
            return None
        return cls(*header[3:8])


def segments(text: str) -> list[str]:
    """The segments of an ER7 message; ``<CR>`` separates them (§2.5.1), a ``<LF>`` as
    an editor or a transcript writes it is taken for one."""
    return text.replace("\n", "\r").split("\r")


@functools.lru_cache(maxsize=16)
def _split(text: str) -> tuple[tuple[str, ...], Separators | None]:
    """The segments and separators of a message :func:`value` reads: a reader asks one
    message for a dozen fields in a row, and splits it once."""
    lines = tuple(segments(text))
    return lines, Separators.of(lines[0])


def value(text: str, location: str | Location) -> str:
    """The text at ``location`` in the first such segment of an ER7 message ("" when
    absent), first repetition of the field. MSH-1 is the field separator itself and
    MSH-2 the encoding characters (§2.14.9.1-2), read whole."""
    loc = Location.parse(location) if isinstance(location, str) else location
    lines, separators = _split(text)
    if separators is None:
        return ""
    for segment in lines:
        if segment[:3] != loc.segment:
            continue
        if loc.segment == "MSH" and loc.field in (1, 2):
            return separators.field if loc.field == 1 else segment[4:].split(separators.field)[0]
        fields = segment.split(separators.field)
        index = loc.field - (1 if loc.segment == "MSH" else 0)
        if index >= len(fields):
            return ""
        out = fields[index].split(separators.repetition)[0]
        for number, separator in (
            (loc.component, separators.component),
            (loc.subcomponent, separators.subcomponent),
        ):
            if number is None:
                break
            parts = out.split(separator)
            out = parts[number - 1] if number <= len(parts) else ""
        return out
    return ""


def _trimmed(text: str, separator: str) -> str:
    """``text`` without its trailing empty parts: ``DOE^JOHN^^`` is ``DOE^JOHN``."""
    return text.rstrip(separator) if text.endswith(separator) else text


class Message:
    """An ER7 message read once, by splitting: :meth:`value` as :func:`value` reads it,
    except that a field, component or subcomponent is given as an HL7 encoder writes it,
    without its trailing empty components and subcomponents (``DOE^JOHN^^`` reads
    ``DOE^JOHN``; HL7 2.5 §2.5.3: trailing empty parts carry no meaning), the form a
    parser that builds the message tree (hl7apy) gives back. Values are cached: a
    receiver asks for the same dozen fields several times a message."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = segments(text)
        self.separators = Separators.of(self.lines[0])
        self._values: dict[str | Location, str] = {}

    def segment_ids(self) -> list[str]:
        """The three-letter IDs of the message's non-empty segments, in order."""
        return [line[:3] for line in self.lines if line]

    def value(self, location: str | Location) -> str:
        cached = self._values.get(location)
        if cached is None:
            cached = self._values[location] = self._read(
                Location.parse(location) if isinstance(location, str) else location
            )
        return cached

    def _read(self, loc: Location) -> str:
        separators = self.separators
        if separators is None:
            return ""
        for segment in self.lines:
            if segment[:3] != loc.segment:
                continue
            if loc.segment == "MSH" and loc.field in (1, 2):
                if loc.field == 1:
                    return separators.field
                return segment[4:].split(separators.field)[0]
            fields = segment.split(separators.field)
            index = loc.field - (1 if loc.segment == "MSH" else 0)
            if index >= len(fields):
                return ""
            out = fields[index].split(separators.repetition)[0]
            if loc.component is not None:
                parts = out.split(separators.component)
                out = parts[loc.component - 1] if loc.component <= len(parts) else ""
                if loc.subcomponent is not None:
                    parts = out.split(separators.subcomponent)
                    out = parts[loc.subcomponent - 1] if loc.subcomponent <= len(parts) else ""
                    return out
                return _trimmed(out, separators.subcomponent)
            components = [
                _trimmed(part, separators.subcomponent) for part in out.split(separators.component)
            ]
            return _trimmed(separators.component.join(components), separators.component)
        return ""


def with_field(text: str, segment: str, number: int, new: str) -> str:
    """The ER7 message with field ``number`` of its first ``segment`` replaced by ``new``
    (fields added when the segment is shorter); MSH is numbered as the standard numbers
    it, MSH-1 being the field separator (§2.14.9.1)."""
    lines = segments(text)
    separators = Separators.of(lines[0])
    field_separator = separators.field if separators else "|"
    for index, line in enumerate(lines):
        if line[:3] != segment:
            continue
        fields = line.split(field_separator)
        position = number - (1 if segment == "MSH" else 0)
        fields += [""] * (position + 1 - len(fields))
        fields[position] = new
        lines[index] = field_separator.join(fields)
        break
    return "\r".join(lines)


# --------------------------------------------------------------------------- DTM → DICOM


def dicom_date_time(dtm: str) -> tuple[str, str]:
    """An HL7 DTM (a TS's first component) as DICOM DA ``YYYYMMDD`` and TM at the DTM's
    own precision (PS3.5 6.2: ``HH``, ``HHMM``, ``HHMMSS``, ``HHMMSS.FFFF``; "" without a
    time). The offset is dropped: the worklist holds the appointment's own wall-clock
    time. Separators a vendor writes between and inside date and time (``:``, a blank,
    ``T``; no HL7 version has them) are dropped too, so such a value, where a receiver
    takes it, maps to the DICOM value of the DTM it means."""
    text = dtm.split("^")[0].split("&")[0]
    plain = _OFFSET.sub("", text).replace(":", "").replace(" ", "").replace("T", "")
    return plain[:8], plain[8:]


def dicom_time(text: str) -> str:
    """A DICOM TM as ``HHMMSS``, the form two TMs are compared in: a shorter TM padded
    with zeros, the fraction and the ``:`` of ACR-NEMA TM dropped (PS3.5 6.2); "" stays
    ""."""
    plain = str(text or "").strip().replace(":", "").split(".")[0]
    return (plain + "000000")[:6] if plain else ""
