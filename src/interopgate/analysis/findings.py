"""What a capture shows, and what in it is a finding.

Reported, with frame numbers and times: every association (calling/called AE, the
contexts proposed and what became of them, rejections and aborts); every C-FIND (its
keys, the number of items, the worklist items without a usable Scheduled Procedure
Step); every HL7 message with its ACK; resends; and per accession (or patient) the chain
across both protocols, so "S12 refused AE -> worklist item with an empty SPS" is one line.

A finding is something a site would open a ticket for; each becomes a JUnit testcase.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

from interopgate.analysis.dicom import Association, Dimse, decode_association, is_dicom
from interopgate.analysis.hl7 import Hl7Message, decode_messages, is_mllp
from interopgate.analysis.reassembly import Stream, Where, read_segments, streams
from interopgate.dicom.query import MODELS, SPS, describe_query
from interopgate.hl7 import timestamps
from interopgate.hl7.messages import TIME_FIELDS, time_fields
from interopgate.hl7.worklist_mapping import ORDER, PATIENT

WORKLIST_FIND = MODELS["worklist"].sop_class
# Scheduled Procedure Step keys a modality needs with a value (IHE RAD TF-2 4.5.4.1.2.2,
# RAD-5 return keys of type R+/R; PS3.4 K.6.1.2.2): an item without them cannot be run.
RAD5_SPS_KEYS = (
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "Modality",
    "ScheduledProcedureStepID",
)
NEGATIVE_ACKS = {"AE", "AR", "CE", "CR"}
PENDING = {0xFF00, 0xFF01}
FIND_DONE = {0x0000, 0xFE00}  # success, cancel (PS3.4 C.4.1.1.4)


def clock(where: Where) -> str:
    """A frame's time as UTC with milliseconds (what a site's log and Wireshark's
    absolute time column show)."""
    moment = dt.datetime.fromtimestamp(where.time, dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@dataclass
class Finding:
    kind: str  # a dotted id: dicom.worklist.sps_sequence, hl7.ack.negative, ...
    where: Where
    summary: str
    detail: list[str] = field(default_factory=list)


@dataclass
class WorklistItem:
    where: Where
    find: Find
    item: Dataset
    problem: str | None  # "ScheduledProcedureStepSequence (0040,0100) present with 0 items", ...

    @property
    def accession(self) -> str:
        return str(self.item.get("AccessionNumber", "") or "").strip()

    @property
    def patient_id(self) -> str:
        return str(self.item.get("PatientID", "") or "").strip()

    @property
    def who(self) -> str:
        name = str(self.item.get("PatientName", "") or "?")
        return f"patient {name} ({self.patient_id or '?'}), accession {self.accession or '(none)'}"


@dataclass
class Find:
    association: Association
    request: Dimse
    responses: list[Dimse] = field(default_factory=list)

    @property
    def sop_class(self) -> str:
        return str(self.request.command.get("AffectedSOPClassUID", ""))

    @property
    def label(self) -> str:
        for model in MODELS.values():
            if model.sop_class == self.sop_class:
                return model.label
        return f"C-FIND {UID(self.sop_class).name}"

    @property
    def items(self) -> list[Dimse]:
        return [r for r in self.responses if r.status in PENDING and r.dataset is not None]

    @property
    def final(self) -> Dimse | None:
        done = [r for r in self.responses if r.status not in PENDING]
        return done[-1] if done else None

    def query_keys(self) -> str:
        identifier = self.request.dataset
        if identifier is None:
            return "(no identifier)"
        returns = _return_keys(identifier)
        return f"{describe_query(identifier)}; return keys {', '.join(returns) or '(none)'}"


def _return_keys(identifier: Dataset, prefix: str = "") -> list[str]:
    keys = []
    for element in identifier:
        if element.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if element.VR == "SQ":
            if element.value:
                keys += _return_keys(element.value[0], f"{element.keyword}.")
            else:
                keys.append(f"{prefix}{element.keyword}")
        elif element.value in (None, ""):
            keys.append(f"{prefix}{element.keyword}")
    return keys


@dataclass
class Analysis:
    files: list[Path]
    frames: int
    streams: list[Stream]
    associations: list[Association]
    finds: list[Find]
    worklist_items: list[WorklistItem]
    messages: list[Hl7Message]
    findings: list[Finding] = field(default_factory=list)
    chains: list[tuple[str, bool]] = field(default_factory=list)  # (line, something wrong)

    @property
    def several_files(self) -> bool:
        return len(self.files) > 1

    def at(self, where: Where) -> str:
        """``frame 12 (2026-11-24 08:30:00.120)``, with the file for a series."""
        return f"{where.label(self.several_files)} ({clock(where)})"


def analyze(paths: list[Path]) -> Analysis:
    """Read the files, decode every DICOM and MLLP stream, and judge what they carry."""
    segments = read_segments(paths)
    found = streams(segments)
    associations = [decode_association(s) for s in found if is_dicom(s)]
    messages = sorted(
        (m for s in found if not is_dicom(s) and is_mllp(s) for m in decode_messages(s)),
        key=lambda m: m.where.time,
    )
    finds = _finds(associations)
    items = [item for find in finds for item in _worklist_items(find)]
    frames = len({(s.where.file, s.where.frame) for s in segments})
    analysis = Analysis(list(paths), frames, found, associations, finds, items, messages)
    _association_findings(analysis)
    _find_findings(analysis)
    _hl7_findings(analysis)
    _chains(analysis)
    analysis.findings.sort(key=lambda f: f.where.time)
    return analysis


# --------------------------------------------------------------------------- DICOM
def _finds(associations: list[Association]) -> list[Find]:
    finds: list[Find] = []
    for assoc in associations:
        open_: dict[int | None, Find] = {}
        for message in assoc.messages:
            field_ = int(message.command.get("CommandField", -1))
            if field_ == 0x0020:
                find = Find(assoc, message)
                open_[message.message_id] = find
                finds.append(find)
            elif field_ == 0x8020:
                find = open_.get(message.message_id)
                if find is not None:
                    find.responses.append(message)
    return finds


def _sps_problem(item: Dataset, query: Dataset | None) -> str | None:
    """Why a worklist item is not one runnable Scheduled Procedure Step (PS3.4 K.6.1.2.2:
    each item has one SPS; IHE RAD-5 return keys), or None."""
    if SPS not in item:
        return "ScheduledProcedureStepSequence (0040,0100) absent"
    sequence = item[SPS].value
    if not sequence:
        return "ScheduledProcedureStepSequence (0040,0100) present with 0 items"
    asked = RAD5_SPS_KEYS
    if query is not None and SPS in query and query[SPS].value:
        asked = tuple(k for k in RAD5_SPS_KEYS if k in query[SPS].value[0])
    step = sequence[0]
    missing = [k for k in asked if k not in step or step[k].value in (None, "")]
    if missing:
        return "Scheduled Procedure Step lacks RAD-5 key(s) " + ", ".join(
            f"{k} {step[k].tag if k in step else _tag(k)}" for k in missing
        )
    return None


def _tag(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword
    from pydicom.tag import Tag

    tag = tag_for_keyword(keyword)
    return str(Tag(tag)) if tag is not None else "?"


def _worklist_items(find: Find) -> list[WorklistItem]:
    if find.sop_class != WORKLIST_FIND:
        return []
    return [
        WorklistItem(r.where, find, r.dataset, _sps_problem(r.dataset, find.request.dataset))
        for r in find.items
    ]


def _association_findings(analysis: Analysis) -> None:
    for assoc in analysis.associations:
        if assoc.rejected:
            where, why = assoc.rejected
            analysis.findings.append(
                Finding("dicom.association.rejected", where, f"{assoc.title} rejected: {why}")
            )
        if assoc.aborted:
            where, why = assoc.aborted
            analysis.findings.append(
                Finding("dicom.association.aborted", where, f"{assoc.title}: {why}")
            )
        for problem in assoc.problems:
            where = assoc.requested or assoc.stream.opened
            analysis.findings.append(Finding("dicom.decode", where, f"{assoc.title}: {problem}"))


def _find_findings(analysis: Analysis) -> None:
    for find in analysis.finds:
        final = find.final
        if final is not None and final.status not in FIND_DONE:
            analysis.findings.append(
                Finding(
                    "dicom.find.status",
                    final.where,
                    f"{find.label} ({find.association.title}) ended with status "
                    f"0x{final.status:04X} (PS3.4 C.4.1.1.4)",
                )
            )
        for response in find.responses:
            if response.problem:
                analysis.findings.append(
                    Finding("dicom.decode", response.where, f"{find.label}: {response.problem}")
                )
    for item in analysis.worklist_items:
        if item.problem:
            kind = (
                "dicom.worklist.required_keys"
                if "lacks" in item.problem
                else "dicom.worklist.sps_sequence"
            )
            analysis.findings.append(
                Finding(
                    kind,
                    item.where,
                    f"{item.find.label} ({item.find.association.title}) item: {item.who}: {item.problem}",
                    [
                        f"query {item.find.query_keys()}, sent {analysis.at(item.find.request.where)}"
                    ],
                )
            )


# --------------------------------------------------------------------------- HL7
def _time_problems(message: Hl7Message) -> tuple[list[str], list[str]]:
    """The message's time fields judged with the TS/DTM grammar of its MSH-12 version
    (hl7/timestamps.py): (valid "LOC 'value'", invalid "LOC 'value': why")."""
    version = message.version
    family = message.type.split("^")[0]
    if family not in TIME_FIELDS or version not in timestamps.VERSIONS:
        return [], []
    valid, invalid = [], []
    for location in time_fields(message.type, version):
        value = message.get(location)
        if not value:
            continue
        try:
            timestamps.parse(value, version, strict=True)
            valid.append(f"{location} {value!r}")
        except timestamps.TimestampError as exc:
            invalid.append(f"{location} {value!r}: {exc}")
    return valid, invalid


def _ack_text(message: Hl7Message) -> str:
    ack = message.ack
    if ack is None:
        return "no ACK"
    latency = (ack.where.time - message.where.time) * 1000
    error = f": {ack.error_text}" if ack.error_text else ""
    return f"ACK {ack.get('MSA-1')} {ack.where.label()} (+{latency:.0f} ms){error}"


def _hl7_findings(analysis: Analysis) -> None:
    by_id: dict[str, list[Hl7Message]] = defaultdict(list)
    for message in analysis.messages:
        if message.framing:
            analysis.findings.append(
                Finding(
                    "hl7.framing",
                    message.where,
                    f"{message.type or 'frame'} MSH-10 {message.control_id}: MLLP framing: "
                    + ", ".join(message.framing)
                    + " (HL7 2.5 Appendix C.4.3)",
                )
            )
        if message.is_ack:
            continue
        by_id[message.control_id].append(message)
        subject = f"{message.type} MSH-10 {message.control_id}"
        valid, invalid = _time_problems(message)
        for problem in invalid:
            analysis.findings.append(
                Finding(
                    "hl7.timestamp.invalid",
                    message.where,
                    f"{subject}: {problem} ({timestamps.clause(message.version)})",
                )
            )
        ack = message.ack
        if ack is None:
            analysis.findings.append(
                Finding(
                    "hl7.ack.missing",
                    message.where,
                    f"{subject} ({message.stream.label}): no ACK in the capture (HL7 2.5 §2.9.2)",
                )
            )
        elif ack.get("MSA-1") in NEGATIVE_ACKS:
            judged = (
                f"its time fields are valid HL7 {message.version} "
                f"{timestamps.grammar(message.version)} ({', '.join(valid)})"
                if valid and not invalid
                else ""
            )
            analysis.findings.append(
                Finding(
                    "hl7.ack.negative",
                    ack.where,
                    f"{subject} {analysis.at(message.where)}: {_ack_text(message)}",
                    [judged] if judged else [],
                )
            )
    for control_id, sent in by_id.items():
        if len(sent) > 1 and control_id:
            analysis.findings.append(_resend(analysis, control_id, sent))


def _resend(analysis: Analysis, control_id: str, sent: list[Hl7Message]) -> Finding:
    """The same MSH-10 twice (HL7 2.5 §2.10.1: a resend of the same message): when, what
    each got, and which fields changed."""
    first = sent[0]
    lines = []
    for previous, again in itertools.pairwise(sent):
        apart = again.where.time - previous.where.time
        changes = _changes(previous, again)
        lines.append(
            f"{again.where.label(analysis.several_files)} {apart:.3f} s after "
            f"{previous.where.label(analysis.several_files)}: "
            + (f"changed {'; '.join(changes)}" if changes else "identical")
        )
    acks = ", ".join(m.ack.get("MSA-1") if m.ack else "no ACK" for m in sent)
    return Finding(
        "hl7.resend",
        sent[-1].where,
        f"{first.type} MSH-10 {control_id} sent {len(sent)} times "
        f"({analysis.at(first.where)} .. {clock(sent[-1].where)}), ACKs {acks}",
        lines,
    )


def _fields(message: Hl7Message) -> dict[str, str]:
    out: dict[str, str] = {}
    separator = message.text[3:4] or "|"
    counts: dict[str, int] = defaultdict(int)
    for segment in message.segments():
        name = segment[:3]
        counts[name] += 1
        label = name if counts[name] == 1 else f"{name}({counts[name]})"
        # MSH-1 is the field separator itself, so MSH's second piece is MSH-2 (§2.14.9)
        values = segment.split(separator)
        for number, value in enumerate(values[1:], start=2 if name == "MSH" else 1):
            out[f"{label}-{number}"] = value
    return out


def _changes(a: Hl7Message, b: Hl7Message) -> list[str]:
    fa, fb = _fields(a), _fields(b)
    return [
        f"{loc} {fa.get(loc, '')!r} -> {fb.get(loc, '')!r}"
        for loc in sorted(set(fa) | set(fb), key=_order)
        if fa.get(loc, "") != fb.get(loc, "")
    ]


def _order(location: str) -> tuple[str, int]:
    name, _, number = location.rpartition("-")
    return name, int(number)


# --------------------------------------------------------------------------- chains
def _accession_of(message: Hl7Message) -> str:
    family = message.type.split("^")[0]
    location = ORDER.get(family, {}).get("AccessionNumber")
    return message.get(location) if location else ""


def _chains(analysis: Analysis) -> None:
    """Per accession (else patient ID): the HL7 messages, their ACKs and the worklist
    items that carry it, one line each, a finding when something on it went wrong."""
    hl7_by: dict[tuple[str, str], list[Hl7Message]] = defaultdict(list)
    for message in analysis.messages:
        if message.is_ack:
            continue
        accession = _accession_of(message)
        key = (
            ("accession", accession)
            if accession
            else ("patient", message.get(PATIENT["PatientID"]))
        )
        if key[1]:
            hl7_by[key].append(message)
    items_by: dict[tuple[str, str], list[WorklistItem]] = defaultdict(list)
    for item in analysis.worklist_items:
        key = ("accession", item.accession) if item.accession else ("patient", item.patient_id)
        if key[1]:
            items_by[key].append(item)
    for key in sorted(set(hl7_by) & set(items_by), key=lambda k: _first(hl7_by[k], items_by[k])):
        sent, items = hl7_by[key], items_by[key]
        bad_ack = [m for m in sent if m.ack is None or m.ack.get("MSA-1") in NEGATIVE_ACKS]
        bad_items = [i for i in items if i.problem]
        patient = sent[0].get("PID-5") or (
            str(items[0].item.get("PatientName", "")) if items else ""
        )
        parts = [
            f"{m.type} MSH-10 {m.control_id} {clock(m.where)} {m.where.label(analysis.several_files)} -> {_ack_text(m)}"
            for m in sent
        ]
        distinct = {}
        for item in items:
            distinct.setdefault(item.problem or "complete", item)
        worklist = [
            f"worklist {item.where.label(analysis.several_files)} {clock(item.where)}: "
            f"{problem if problem != 'complete' else 'item complete'}"
            + (
                f" (and {sum(1 for i in items if (i.problem or 'complete') == problem) - 1} more responses alike)"
                if sum(1 for i in items if (i.problem or "complete") == problem) > 1
                else ""
            )
            for problem, item in distinct.items()
        ]
        line = f"{key[0]} {key[1]}, patient {patient or '?'}: " + " -> ".join(parts + worklist)
        analysis.chains.append((line, bool(bad_ack or bad_items)))
        if bad_ack and (bad_items or items):
            analysis.findings.append(
                Finding(
                    "workflow.chain",
                    (bad_items or items)[0].where,
                    line,
                )
            )
        elif bad_items:
            analysis.findings.append(Finding("workflow.chain", bad_items[0].where, line))


def _first(sent: list[Hl7Message], items: list[WorklistItem]) -> float:
    return min([m.where.time for m in sent] + [i.where.time for i in items])


def latency_summary(messages: list[Hl7Message]) -> str:
    delays = [(m.ack.where.time - m.where.time) * 1000 for m in messages if not m.is_ack and m.ack]
    if not delays:
        return "no ACK latency (no ACKs)"
    return f"ACK latency median {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms"
