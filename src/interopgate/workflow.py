"""The end-to-end workflow engine: an HL7 order or appointment in, worklist items out.

:class:`Flow` sends messages of the profile's family (SIU^S12/S14/S15, ORM^O01 or
OMI^O23, HL7 2.5 ch. 10 and ch. 4) over MLLP as the order placer does (IHE RAD TF-2
RAD-4), then queries the Modality Worklist as the profile's device does (RAD-5, PS3.4
K.6), polling until ``hl7.worklist_deadline`` seconds. What each item must carry comes
from the profile's ``hl7.to_worklist`` mapping (default: IHE SWF, hl7/worklist_mapping.py),
read from the message actually sent. A workflow check follows accepted messages only:
the ACK itself is judged by the hl7.* checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Callable

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import generate_uid

from interopgate import sweep
from interopgate.dicom.query import MODELS, SPS, FindSession, build_identifier
from interopgate.hl7 import timestamps
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.messages import appointment_fields, new_control_id, read_reply
from interopgate.hl7.mllp import MLLPClient

MODEL = MODELS["worklist"]
PLAIN = "YYYYMMDDHHMMSS"
POLL_INTERVAL_S = 0.05
ACCEPTED = ("AA", "CA")  # HL7 2.5 §2.9.2 original mode, §2.9.3 enhanced mode (commit)
REFUSED = ("AE", "AR", "CE", "CR")
# Fields a sweep varies per appointment so that each minute is its own order/appointment.
ID_FIELDS = {
    "SIU": ["SCH-1", "SCH-2", "SCH-5", "SCH-26", "SCH-27"],
    "ORM": ["ORC-2", "ORC-3", "OBR-2", "OBR-3", "OBR-18", "OBR-19", "OBR-20"],
    "OMI": ["ORC-2", "ORC-3", "OBR-2", "OBR-3", "IPC-1", "IPC-2", "IPC-4"],
}
# ... and the placer's Study Instance UID, where the message carries one (OMI IPC-3).
UID_FIELDS = {"OMI": ["IPC-3"]}

Found = dict[str, list[Dataset]]  # accession -> the worklist items found for it


def tag_label(key: str) -> str:
    """``Keyword (gggg,eeee)`` for a mapped key (``Seq[0].Keyword`` or ``Keyword``)."""
    keyword = key.rsplit(".", 1)[-1].split("[")[0]
    tag = tag_for_keyword(keyword)
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else key


@functools.cache
def _path(key: str) -> tuple[BaseTag | None, BaseTag | str] | None:
    """(sequence tag or None, tag) for :func:`value_at`'s ``key``, each keyword turned
    into its tag once (PS3.6). A keyword the dictionary does not know stays as it is
    (pydicom then finds nothing and says so); under an unknown sequence nothing can be
    found: None."""
    sequence, _, keyword = key.partition("[0].") if "[0]." in key else ("", "", key)
    sequence_tag = tag_for_keyword(sequence) if sequence else None
    if sequence and sequence_tag is None:
        return None
    tag = tag_for_keyword(keyword)
    return (
        None if sequence_tag is None else BaseTag(sequence_tag),
        keyword if tag is None else BaseTag(tag),
    )


def value_at(item: Dataset, key: str) -> str | None:
    """The value at ``Keyword`` or ``Seq[0].Keyword`` as text; None when absent. Looked
    up by tag: a sweep compares thousands of items, and a keyword is turned into its tag
    on every access."""
    path = _path(key)
    if path is None:
        return None
    sequence_tag, tag = path
    if sequence_tag is not None:
        steps = item[sequence_tag].value if sequence_tag in item else None
        if not steps:
            return None
        item = steps[0]
    if tag not in item:
        return None
    found = item[tag].value
    return "" if found is None else str(found)


@dataclasses.dataclass
class Sent:
    """One message sent, what it says and how it was answered."""

    message_type: str
    text: str
    control_id: str
    ack: str  # MSA-1, "" when there was no ACK
    observed: str  # the ACK in one line
    expected: dict[str, str]  # mapped attribute -> normalised expected value
    start: tuple[str, str]  # (DA, TM HHMMSS) of the appointment as sent
    start_text: str

    @property
    def accession(self) -> str:
        return self.expected.get("AccessionNumber", "")

    def who(self) -> str:
        return (
            f"patient {self.expected.get('PatientName', '?')} "
            f"({self.expected.get('PatientID', '?')}), accession {self.accession}, "
            f"{self.message_type} MSH-10 {self.control_id} sent for {self.start_text}"
        )


@dataclasses.dataclass
class SweepRun:
    """A sweep's messages by minute of the day, and the worklist items found for them."""

    sent: dict[int, Sent]
    accepted: dict[int, Sent]
    found: Found
    elapsed: float  # seconds the worklist was polled


class Flow:
    """Messages of the profile's family, sent over one MLLP client; worklist polls."""

    def __init__(self, profile, client: MLLPClient, factory, device, transcript) -> None:
        self.profile, self.client, self.factory = profile, client, factory
        self.device, self.transcript = device, transcript
        messages = profile.hl7.messages or ["SIU^S12"]
        self.family = next(
            (f for f in ("SIU", "ORM", "OMI") if any(m.startswith(f) for m in messages)), None
        )
        if self.family is None:
            pytest.skip(
                f"the profile's HL7 messages ({', '.join(messages)}) create no orders or "
                "appointments (SIU^S12, ORM^O01, OMI^O23)"
            )
        self.mapping = wm.mapping(self.family, profile.hl7.to_worklist)
        self.deadline = profile.hl7.worklist_deadline
        self.types = {
            "SIU": {"create": "SIU^S12", "update": "SIU^S14", "cancel": "SIU^S15"},
            "ORM": {"create": "ORM^O01", "update": "ORM^O01", "cancel": "ORM^O01"},
            "OMI": {"create": "OMI^O23", "update": "OMI^O23", "cancel": "OMI^O23"},
        }[self.family]
        self.controls = {"create": "NW", "update": "XO", "cancel": "CA"}  # ORC-1 (HL7 0119)

    def accession_stem(self) -> str:
        """Six characters that, with a 4-digit minute, make a sweep's IDs (SH, 16 max)."""
        return f"W{self.factory.fake.numerify('#####')}"

    def require(self, action: str) -> None:
        message_type = self.types[action]
        if message_type not in (self.profile.hl7.messages or ["SIU^S12"]):
            pytest.skip(f"the profile's hl7.messages do not include {message_type} ({action})")

    # ---------------------------------------------------------------- HL7

    def build(self, action: str, patient, appointment, *, times=None, control_id=None):
        order_control = None if self.family == "SIU" else self.controls[action]
        return self.factory.build(
            self.types[action],
            patient,
            appointment,
            times=times,
            control_id=control_id,
            order_control=order_control,
        )

    def appointment_times(self, action: str, when: dt.datetime, form: str) -> dict[str, str]:
        text = timestamps.Form.parse(form).render(when)
        fields = appointment_fields(self.types[action], self.profile.hl7.version)
        return {f: text for f in fields}

    def new_order(self, form: str = PLAIN, minute: int | None = None):
        """A new patient and appointment on the sweep day (at ``minute``), and its create
        message with the appointment time in ``form``: (patient, appointment, message)."""
        patient, appointment = self.factory.patient(), self.factory.appointment()
        when = sweep.when(minute)
        appointment = dataclasses.replace(appointment, start=when.replace(tzinfo=None))
        times = self.appointment_times("create", when, form)
        return patient, appointment, self.build("create", patient, appointment, times=times)

    def send(self, message, client: MLLPClient | None = None) -> Sent:
        return self.sent(message, (client or self.client).send(message.text))

    def sent(self, message, exchange) -> Sent:
        """What ``message`` and the ``exchange`` that delivered it say for the checks."""
        ack, observed = read_reply(exchange.reply_text, exchange.problem)
        text = message.text
        expected = {
            attribute: wm.normalise(attribute, wm.er7_value(text, location))
            for attribute, location in self.mapping.items()
        }
        start_text = next(
            (v for loc in wm.START[self.family] if (v := wm.er7_value(text, loc))), ""
        )
        start_text = start_text.split("^")[0].split("&")[0]
        if not expected.get("AccessionNumber"):
            # Every poll finds items by accession: without one this is a mapping error.
            pytest.fail(
                f"hl7.to_worklist maps AccessionNumber to {self.mapping.get('AccessionNumber')}, "
                f"which is empty in the {message.message_type} sent: give the {self.family} "
                "location of the accession (e.g. hl7.to_worklist: {"
                f"{self.family}: {{AccessionNumber: ...}}}})",
                pytrace=False,
            )
        return Sent(
            message.message_type,
            message.text,
            message.control_id,
            ack.msa_1 if ack is not None else "",
            observed,
            expected,
            wm.dtm_to_dicom(start_text),
            start_text,
        )

    def must_accept(self, sent: Sent, action: str) -> None:
        """A workflow check follows accepted messages; refusals are judged by the HL7
        checks (hl7.ack.accepted, hl7.timestamp.*), so they skip here with one line."""
        if sent.ack not in ACCEPTED:
            pytest.skip(
                f"{sent.message_type} ({action}) was not accepted ({sent.observed}): "
                "nothing to follow into the worklist; the hl7.* checks judge the ACK"
            )

    def create_then_cancel(self) -> Sent:
        """A create, followed into the worklist, then its cancel (S15 / ORC-1 CA) sent
        and accepted: what the cancel checks judge the worklist after."""
        self.require("cancel")
        patient, appointment, message = self.new_order()
        created = self.send(message)
        self.must_accept(created, "create")
        self.poll([created.accession], self.complete(created))
        times = self.appointment_times("cancel", sweep.when(), PLAIN)
        sent = self.send(self.build("cancel", patient, appointment, times=times))
        self.must_accept(sent, "cancel")
        return sent

    # ---------------------------------------------------------------- DICOM

    def identifier(self, key: str, match: str) -> Dataset:
        returns = [k for k in self.mapping if not k.startswith(wm.SPS_PREFIX)]
        returns += ["AccessionNumber", "StudyInstanceUID", SPS]  # SPS universal: all of it
        returns = [k for k in dict.fromkeys(returns) if k != key]
        return build_identifier(MODEL, {key: match}, returns)

    def poll(
        self,
        accessions: list[str],
        done: Callable[[Found], bool],
        *,
        patient_id: str | None = None,
    ) -> tuple[Found, float]:
        """Query each accession (one association; or once by ``patient_id`` for all)
        until ``done(items)`` or the deadline; return the last items per accession and
        the elapsed seconds."""
        started = time.monotonic()
        found: Found = {}
        queries = [("AccessionNumber", a) for a in accessions]
        if patient_id is not None:
            queries = [("PatientID", patient_id)]
        with FindSession(self.device, MODEL) as session:
            while True:
                found = {a: [] for a in accessions}
                for key, match in queries:
                    outcome = session.find(self.identifier(key, match))
                    if not outcome.accepted:
                        pytest.skip(f"{MODEL.label} not available: {outcome.refusal}")
                    for item in outcome.matches:
                        accession = str(item.get("AccessionNumber", "") or "").strip()
                        if key == "AccessionNumber":
                            accession = match
                        found.setdefault(accession, []).append(item)
                elapsed = time.monotonic() - started
                if done(found) or elapsed >= self.deadline:
                    break
                time.sleep(POLL_INTERVAL_S)
        self.transcript.note(
            f"worklist polled for {', '.join(accessions[:4])}{' ...' if len(accessions) > 4 else ''}"
            f": {sum(len(v) for v in found.values())} item(s) after {elapsed:.2f} s "
            f"(deadline {self.deadline:g} s)"
        )
        for items in found.values():
            for item in items:
                self.transcript.note(lambda item=item: f"C-FIND response item:\n{item}")
        return found, elapsed

    def poll_listed(self, by_patient: dict[str, list[str]]) -> dict[str, float]:
        """Seconds until each accession was first listed (presence only: what the items
        carry is for the worklist checks), polling until all are or the deadline passes.

        Each round asks once per Patient ID for that patient's accessions still missing,
        then by accession for those the patient query did not return (a RIS that stores
        PID-3 elsewhere is still found item by item). A batch of hundreds of items for
        one patient costs one query a round, not hundreds; accessions already listed are
        not asked for again."""
        started = time.monotonic()
        listed: dict[str, float] = {}
        wanted = sum(len(accessions) for accessions in by_patient.values())
        with FindSession(self.device, MODEL) as session:

            def matches(key: str, value: str) -> list[Dataset]:
                outcome = session.find(self.identifier(key, value))
                if not outcome.accepted:
                    pytest.skip(f"{MODEL.label} not available: {outcome.refusal}")
                return outcome.matches

            while True:
                for patient_id, accessions in by_patient.items():
                    missing = [a for a in accessions if a not in listed]
                    if len(missing) > 1 and patient_id:
                        now = time.monotonic() - started
                        for item in matches("PatientID", patient_id):
                            accession = str(item.get("AccessionNumber", "") or "").strip()
                            if accession in missing:
                                listed.setdefault(accession, now)
                    for accession in [a for a in missing if a not in listed]:
                        if matches("AccessionNumber", accession):
                            listed[accession] = time.monotonic() - started
                elapsed = time.monotonic() - started
                if len(listed) >= wanted or elapsed >= self.deadline:
                    break
                time.sleep(POLL_INTERVAL_S)
        self.transcript.note(
            f"worklist polled for {wanted} accession(s) of {len(by_patient)} patient(s): "
            f"{len(listed)} listed after {elapsed:.2f} s (deadline {self.deadline:g} s)"
        )
        return listed

    def problems(self, sent: Sent, item: Dataset, compare: bool = True) -> list[str]:
        """Empty/missing keys of ``item`` and mapped values that differ from ``sent``."""
        out: list[str] = []
        steps = item.get(SPS)
        if steps is None:
            return [f"{tag_label(SPS)} missing"]
        if not steps:
            return [f"{tag_label(SPS)} present with 0 items"]
        keys = [*self.mapping, wm.START_DATE, wm.START_TIME, "StudyInstanceUID"]
        for key in dict.fromkeys(keys):
            got = value_at(item, key)
            if got is None:
                out.append(f"{tag_label(key)} missing")
            elif not got.strip() and (key not in self.mapping or sent.expected.get(key)):
                out.append(f"{tag_label(key)} zero-length")
        if not compare:
            return out
        for key, want in sent.expected.items():
            got = value_at(item, key)
            # Nothing sent there (e.g. SCH-26 before HL7 2.4): the site's own fallback is
            # not a mismatch; completeness above still wants the key present.
            if want and got is not None and got.strip() and wm.normalise(key, got) != want:
                out.append(f"{tag_label(key)} {wm.normalise(key, got)!r}, sent {want!r}")
        date, tm = value_at(item, wm.START_DATE) or "", wm.dicom_time(value_at(item, wm.START_TIME))
        if date.strip() and tm and (date.strip(), tm) != sent.start:
            out.append(
                f"SPS start {date.strip()} {tm}, sent {sent.start[0]} {sent.start[1]} "
                f"({sent.start_text})"
            )
        return out

    def complete(self, sent: Sent, compare: bool = False) -> Callable[[Found], bool]:
        """Poll until an item for the accession has no empty/missing key (and, with
        ``compare``, carries the sent values: waiting for an update to land)."""
        return lambda found: any(
            not self.problems(sent, i, compare) for i in found.get(sent.accession, [])
        )

    def describe(
        self, sent: Sent, items: list[Dataset], elapsed: float, compare: bool = True
    ) -> str:
        """The items found for ``sent``, one line each with its problems: an observed."""
        if not items:
            return f"no item with accession {sent.accession} after {elapsed:.2f} s"
        lines = [f"{len(items)} item(s) after {elapsed:.2f} s"]
        for n, item in enumerate(items, 1):
            problems = self.problems(sent, item, compare)
            lines.append(f"item {n}: {'; '.join(problems) if problems else 'complete'}")
        return "\n    " + "\n    ".join(lines)

    # ---------------------------------------------------------------- sweep

    def sweep(self, hl7_address: tuple[str, int], minutes: list[int], label: str) -> SweepRun:
        """One new appointment per minute, all sent first over one persistent connection,
        then every accession polled (one C-FIND by the sweep's patient) until each
        accepted one has a complete item or the deadline passes."""
        self.require("create")
        sent: dict[int, Sent] = {}
        started = time.monotonic()
        # One hl7apy build, then fast copies (fixtures/hl7_messages.Variants) with the
        # appointment time, the order/appointment IDs and the accession per minute.
        _, _, template = self.new_order()
        time_fields = appointment_fields(self.types["create"], self.profile.hl7.version)
        id_fields = [
            loc
            for loc in (*ID_FIELDS[self.family], self.mapping.get("AccessionNumber", ""))
            if loc and "." not in loc and wm.er7_value(template.text, loc)  # SCH-26/27: 2.4+
        ]
        # One patient for the sweep, with an even-length ID (8 characters): one C-FIND by
        # Patient ID finds every item, without also testing PS3.5 6.2 padding (an
        # odd-length ID), which dicom.find.trailing_space owns.
        uid_fields = UID_FIELDS.get(self.family, [])
        variants = self.factory.variants(
            template, [*time_fields, *dict.fromkeys(id_fields), *uid_fields, "PID-3"]
        )
        base = f"{self.accession_stem()}"
        uid_root = generate_uid(prefix=None)  # 2.25.<UUID>: room for .<minute> within 64
        built: dict[str, object] = {}  # MSH-10 -> the message, until its exchange is back

        unanswered = 0  # exchanges back without an ACK (counted as they come)

        def messages():
            for minute in minutes:
                if unanswered >= 3:
                    return  # three without an ACK: the interface is not answering
                stamp = timestamps.Form.parse(PLAIN).render(sweep.when(minute))
                values = {f: stamp for f in time_fields}
                values.update({f: f"{base}{minute:04d}" for f in id_fields})
                values.update({f: f"{uid_root}.{minute + 1}" for f in uid_fields})
                values["PID-3"] = f"{base}PT^^^IG_HOSPITAL^MR"
                message = variants.make(values, new_control_id("WS"))
                built[message.control_id] = message
                yield message.text

        # hl7.pipeline messages ahead of the oldest ACK on the one connection (1: each
        # waits for its ACK, the default).
        with MLLPClient.for_settings(hl7_address, self.profile.hl7, persistent=True) as client:
            window = client.send_window(messages(), self.profile.hl7.pipeline)
            for minute, exchange in zip(minutes, window, strict=False):
                sent[minute] = self.sent(built.pop(exchange.control_id), exchange)
                unanswered += not sent[minute].ack
        accepted = {m: s for m, s in sent.items() if s.ack in ACCEPTED}
        by_accession = {s.accession: s for s in sent.values()}

        def settled(found: Found) -> bool:
            return all(
                any(not self.problems(s, i, compare=False) for i in found.get(s.accession, []))
                for s in accepted.values()
            )

        self.transcript.note(
            f"{label}: {len(sent)} {self.types['create']} sent in "
            f"{time.monotonic() - started:.1f} s, {len(sent) - len(accepted)} refused"
        )
        found, elapsed = self.poll(list(by_accession), settled, patient_id=f"{base}PT")
        return SweepRun(sent, accepted, found, elapsed)
