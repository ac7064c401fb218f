"""End to end: an HL7 order or appointment becomes a complete worklist item (issue 6).

The seed incident (shared/seeds/000_*) crossed two protocols: an SIU^S12 the PACS's HL7
engine rejected (AE, "invalid date/time") still left a Modality Worklist item with an
empty Scheduled Procedure Step Sequence, and the Agfa CR saw an empty worklist. Each
check here sends through MLLP as the order placer does (IHE RAD TF-2 RAD-4, HL7 2.5
ch. 10 / ch. 4), then queries the worklist as the profile's modality does (RAD-5,
PS3.4 K.6), polling until ``hl7.worklist_deadline`` seconds. Expected values come from
the profile's ``hl7.to_worklist`` mapping (default: IHE SWF, hl7/worklist_mapping.py).
The transcript holds the HL7 exchange (MSH..., ACK) and the C-FIND request/responses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from interopgate.dicom.query import MODELS, SPS, FindSession, build_identifier
from interopgate.hl7 import timestamps
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.messages import appointment_fields, new_control_id, read_reply
from interopgate.hl7.mllp import MLLPClient, show

MODEL = MODELS["worklist"]
# A future instant with every unit distinct, outside the 08/09 hours, with an offset.
INSTANT = dt.datetime(2024, 9, 30, 14, 37, 25, 123400, tzinfo=dt.timezone(dt.timedelta(hours=2)))
PLAIN = "YYYYMMDDHHMMSS"
SAMPLE_MINUTES = [hour * 60 + (59 if hour % 2 else 0) for hour in range(24)]
POLL_INTERVAL_S = 0.05
ACCEPTED = ("AA", "CA")
# Fields a sweep varies per appointment so that each minute is its own order/appointment.
ID_FIELDS = {
    "SIU": ["SCH-1", "SCH-2", "SCH-5", "SCH-26", "SCH-27"],
    "ORM": ["ORC-2", "ORC-3", "OBR-2", "OBR-3", "OBR-18", "OBR-19", "OBR-20"],
    "OMI": ["ORC-2", "ORC-3", "OBR-2", "OBR-3", "IPC-1", "IPC-2", "IPC-4"],
}
# ... and the placer's Study Instance UID, where the message carries one (OMI IPC-3).
UID_FIELDS = {"OMI": ["IPC-3"]}
REFUSED = ("AE", "AR", "CE", "CR")


def _when(minute: int | None = None) -> dt.datetime:
    day = dt.date.today() + dt.timedelta(days=1)
    when = INSTANT.replace(year=day.year, month=day.month, day=day.day)
    if minute is not None:
        when = when.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)
    return when


def _label(key: str) -> str:
    keyword = key.rsplit(".", 1)[-1].split("[")[0]
    tag = tag_for_keyword(keyword)
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else key


def _get(item: Dataset, key: str) -> str | None:
    """The value at ``Keyword`` or ``Seq[0].Keyword`` as text; None when absent."""
    if "[0]." in key:
        sequence, key = key.split("[0].", 1)
        steps = item.get(sequence) or []
        if not steps:
            return None
        item = steps[0]
    if key not in item:
        return None
    element_value = item[key].value
    return "" if element_value is None else str(element_value)


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
        self.controls = {"create": "NW", "update": "XO", "cancel": "CA"}

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

    def send(self, message, client: MLLPClient | None = None) -> Sent:
        exchange = (client or self.client).send(message.text)
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

    # ---------------------------------------------------------------- DICOM

    def identifier(self, key: str, match: str) -> Dataset:
        returns = [k for k in self.mapping if not k.startswith(wm.SPS_PREFIX)]
        returns += ["AccessionNumber", "StudyInstanceUID", SPS]  # SPS universal: all of it
        returns = [k for k in dict.fromkeys(returns) if k != key]
        return build_identifier(MODEL, {key: match}, returns)

    def poll(
        self,
        accessions: list[str],
        done: Callable[[dict[str, list[Dataset]]], bool],
        *,
        patient_id: str | None = None,
    ) -> tuple[dict[str, list[Dataset]], float]:
        """Query each accession (one association; or once by ``patient_id`` for all)
        until ``done(items)`` or the deadline; return the last items per accession and
        the elapsed seconds."""
        started = time.monotonic()
        found: dict[str, list[Dataset]] = {}
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
                self.transcript.note("C-FIND response item:\n" + str(item))
        return found, elapsed

    def problems(self, sent: Sent, item: Dataset, compare: bool = True) -> list[str]:
        """Empty/missing keys of ``item`` and mapped values that differ from ``sent``."""
        out: list[str] = []
        steps = item.get(SPS)
        if steps is None:
            return [f"{_label(SPS)} missing"]
        if not steps:
            return [f"{_label(SPS)} present with 0 items"]
        keys = [*self.mapping, wm.START_DATE, wm.START_TIME, "StudyInstanceUID"]
        for key in dict.fromkeys(keys):
            got = _get(item, key)
            if got is None:
                out.append(f"{_label(key)} missing")
            elif not got.strip() and (key not in self.mapping or sent.expected.get(key)):
                out.append(f"{_label(key)} zero-length")
        if not compare:
            return out
        for key, want in sent.expected.items():
            got = _get(item, key)
            # Nothing sent there (e.g. SCH-26 before HL7 2.4): the site's own fallback is
            # not a mismatch; completeness above still wants the key present.
            if want and got is not None and got.strip() and wm.normalise(key, got) != want:
                out.append(f"{_label(key)} {wm.normalise(key, got)!r}, sent {want!r}")
        date, tm = _get(item, wm.START_DATE) or "", wm.dicom_time(_get(item, wm.START_TIME))
        if date.strip() and tm and (date.strip(), tm) != sent.start:
            out.append(
                f"SPS start {date.strip()} {tm}, sent {sent.start[0]} {sent.start[1]} "
                f"({sent.start_text})"
            )
        return out


@pytest.fixture
def flow(profile, hl7_client, hl7_factory, device, transcript) -> Flow:
    return Flow(profile, hl7_client, hl7_factory, device, transcript)


def _complete(
    flow: Flow, sent: Sent, compare: bool = False
) -> Callable[[dict[str, list[Dataset]]], bool]:
    """Poll until an item for the accession has no empty/missing key (and, with
    ``compare``, carries the sent values: waiting for an update to land)."""
    return lambda found: any(
        not flow.problems(sent, i, compare) for i in found.get(sent.accession, [])
    )


def _observed(
    flow: Flow, sent: Sent, items: list[Dataset], elapsed: float, compare: bool = True
) -> str:
    if not items:
        return f"no item with accession {sent.accession} after {elapsed:.2f} s"
    lines = [f"{len(items)} item(s) after {elapsed:.2f} s"]
    for n, item in enumerate(items, 1):
        problems = flow.problems(sent, item, compare)
        lines.append(f"item {n}: {'; '.join(problems) if problems else 'complete'}")
    return "\n    " + "\n    ".join(lines)


def _create(flow: Flow, form: str = PLAIN, minute: int | None = None):
    patient, appointment = flow.factory.patient(), flow.factory.appointment()
    appointment = dataclasses.replace(appointment, start=_when(minute).replace(tzinfo=None))
    times = flow.appointment_times("create", _when(minute), form)
    return patient, appointment, flow.build("create", patient, appointment, times=times)


@pytest.mark.check("workflow.create.complete")
def test_create_appears_complete(check, flow, workflow_form):
    """RAD-4 → RAD-5: the accepted create is one complete item, each mapped value as
    sent, the SPS start date/time the appointment's (for each timestamp form)."""
    flow.require("create")
    _, _, message = _create(flow, workflow_form)
    sent = flow.send(message)
    flow.must_accept(sent, "create")
    found, elapsed = flow.poll([sent.accession], _complete(flow, sent))
    items = found[sent.accession]
    good = [i for i in items if not flow.problems(sent, i)]
    check.expect(
        len(items) == 1 and len(good) == 1,
        f"{sent.who()} (form {workflow_form}), answered {sent.observed}",
        expected=f"one complete worklist item within {flow.deadline:g} s, mapped values and "
        f"SPS start {sent.start[0]} {sent.start[1]} as sent",
        observed=_observed(flow, sent, items, elapsed),
    )
    check.transcript.note(f"create -> complete item in {elapsed:.2f} s")


@pytest.mark.check("workflow.update.applied")
def test_update_changes_item(check, flow):
    """S14 / ORM XO moves the appointment by an hour and a quarter: the item follows."""
    flow.require("update")
    patient, appointment, message = _create(flow)
    created = flow.send(message)
    flow.must_accept(created, "create")
    flow.poll([created.accession], _complete(flow, created))
    moved = _when() + dt.timedelta(minutes=75)
    update = flow.build(
        "update",
        patient,
        dataclasses.replace(appointment, start=moved.replace(tzinfo=None)),
        times=flow.appointment_times("update", moved, PLAIN),
    )
    sent = flow.send(update)
    flow.must_accept(sent, "update")
    found, elapsed = flow.poll([sent.accession], _complete(flow, sent, compare=True))
    items = found[sent.accession]
    check.expect(
        len(items) == 1 and not flow.problems(sent, items[0]),
        f"{sent.who()} (update of {created.start_text}), answered {sent.observed}",
        expected=f"the one item moved to {sent.start[0]} {sent.start[1]} within "
        f"{flow.deadline:g} s",
        observed=_observed(flow, sent, items, elapsed),
    )


def _create_then_cancel(flow: Flow) -> Sent:
    flow.require("cancel")
    patient, appointment, message = _create(flow)
    created = flow.send(message)
    flow.must_accept(created, "create")
    flow.poll([created.accession], _complete(flow, created))
    times = flow.appointment_times("cancel", _when(), PLAIN)
    sent = flow.send(flow.build("cancel", patient, appointment, times=times))
    flow.must_accept(sent, "cancel")
    return sent


@pytest.mark.cancel_mode("remove")
@pytest.mark.check("workflow.cancel.removed")
def test_cancel_removes_item(check, flow, cancel_mode):
    """hl7.cancel: remove -- S15 / ORC-1 CA takes the item off the worklist."""
    sent = _create_then_cancel(flow)
    found, elapsed = flow.poll([sent.accession], lambda f: not f[sent.accession])
    items = found[sent.accession]
    check.expect(
        not items,
        f"{sent.who()}, answered {sent.observed}",
        expected=f"no worklist item with accession {sent.accession} within {flow.deadline:g} s",
        observed=f"{len(items)} item(s) still there after {elapsed:.2f} s",
    )


@pytest.mark.cancel_mode("mark")
@pytest.mark.check("workflow.cancel.marked")
def test_cancel_marks_item(check, flow, profile, cancel_mode):
    """hl7.cancel: mark -- the item stays, once, with Scheduled Procedure Step Status
    (0040,0020) the profile's marker (hl7.cancel_status; PS3.3 C.4.10 has no Defined Term
    for a cancelled step, so the site's own term is the profile's to name)."""
    sent = _create_then_cancel(flow)
    marker = profile.hl7.cancel_status

    def marked(found: dict[str, list[Dataset]]) -> bool:
        return any(_get(i, wm.STATUS) == marker for i in found[sent.accession])

    found, elapsed = flow.poll([sent.accession], marked)
    items = found[sent.accession]
    statuses = ", ".join(repr(_get(i, wm.STATUS)) for i in items) or "none"
    check.expect(
        len(items) == 1 and _get(items[0], wm.STATUS) == marker,
        f"{sent.who()}, answered {sent.observed}",
        expected=f"the one worklist item with accession {sent.accession} kept, its "
        f"{_label(wm.STATUS)} {marker!r} within {flow.deadline:g} s",
        observed=f"{len(items)} item(s) after {elapsed:.2f} s; {_label(wm.STATUS)}: {statuses}",
    )


@pytest.mark.check("workflow.rejected.no_trace")
def test_rejected_create_leaves_no_trace(check, flow, profile):
    """The seed: S12 refused for its appointment time (AE), resent later with the same
    MSH-10 and accepted. The refusal must leave nothing (HL7 2.5 §2.9.2); the resend
    exactly one complete item -- never a half-filled one with an empty SPS."""
    flow.require("create")
    if not profile.hl7.forms_rejected:
        pytest.skip("the profile lists no hl7.forms_rejected to provoke a refusal with")
    form = profile.hl7.forms_rejected[0]
    patient, appointment, _ = _create(flow)
    control_id = new_control_id("RJ")
    bad = flow.build(
        "create",
        patient,
        appointment,
        times=flow.appointment_times("create", _when(), form),
        control_id=control_id,
    )
    refused = flow.send(bad)
    if refused.ack not in REFUSED:
        pytest.skip(
            f"{refused.message_type} with form {form} was not refused ({refused.observed}); "
            "hl7.timestamp.rejected judges that"
        )
    before, _ = flow.poll([refused.accession], lambda found: True)
    traces = [
        f"{'; '.join(flow.problems(refused, i, compare=False)) or 'a complete item'}"
        for i in before[refused.accession]
    ]
    good = flow.build(
        "create",
        patient,
        appointment,
        times=flow.appointment_times("create", _when(), PLAIN),
        control_id=control_id,
    )
    sent = flow.send(good)
    flow.must_accept(sent, "resend")
    found, elapsed = flow.poll([sent.accession], _complete(flow, sent))
    items = found[sent.accession]
    problems = []
    if traces:
        problems.append(
            f"after the {refused.ack} for {refused.start_text!r}: {len(traces)} item(s): "
            + " | ".join(traces)
        )
    if len(items) != 1 or flow.problems(sent, items[0], compare=False):
        problems.append(
            "after the accepted resend:" + _observed(flow, sent, items, elapsed, compare=False)
        )
    check.expect(
        not problems,
        f"{refused.who()} answered {refused.observed}; resent with {sent.start_text}, "
        f"answered {sent.observed}",
        expected="no item after the refusal; exactly one complete item after the resend",
        observed="\n    ".join(problems),
    )


@pytest.mark.check("workflow.resend.no_duplicate")
def test_resend_creates_no_duplicate(check, flow):
    """HL7 2.5 §2.10.2: the same MSH-10 again is a retry, applied once."""
    flow.require("create")
    _, _, message = _create(flow)
    first = flow.send(message)
    flow.must_accept(first, "create")
    sent = flow.send(message)
    flow.must_accept(sent, "resend")
    found, elapsed = flow.poll([sent.accession], _complete(flow, sent))
    time.sleep(POLL_INTERVAL_S)
    found, _ = flow.poll([sent.accession], lambda found: True)  # one more look
    items = found[sent.accession]
    check.expect(
        len(items) == 1,
        f"{sent.who()} sent twice, answered {first.observed} / {sent.observed}",
        expected="exactly one worklist item for the accession",
        observed=_observed(flow, sent, items, elapsed),
    )


def _sweep(check, flow: Flow, profile, hl7_address, minutes: list[int], label: str) -> None:
    """One new appointment per minute, all sent first (one connection), then every
    accession polled: accepted → one complete item at its time; refused → nothing."""
    flow.require("create")
    sent: dict[int, Sent] = {}
    started = time.monotonic()
    # One hl7apy build, then fast copies (fixtures/hl7_messages.Variants) with the
    # appointment time, the order/appointment IDs and the accession per minute.
    _, _, template = _create(flow)
    time_fields = appointment_fields(flow.types["create"], profile.hl7.version)
    id_fields = [
        loc
        for loc in (*ID_FIELDS[flow.family], flow.mapping.get("AccessionNumber", ""))
        if loc and "." not in loc and wm.er7_value(template.text, loc)  # SCH-26/27: from 2.4
    ]
    # One patient for the sweep, with an even-length ID (8 characters): one C-FIND by
    # Patient ID finds every item, without also testing PS3.5 6.2 padding (an odd-length
    # ID), which dicom.find.trailing_space owns.
    uid_fields = UID_FIELDS.get(flow.family, [])
    variants = flow.factory.variants(
        template, [*time_fields, *dict.fromkeys(id_fields), *uid_fields, "PID-3"]
    )
    base = f"{flow.accession_stem()}"
    uid_root = generate_uid(prefix=None)  # 2.25.<UUID>: room for .<minute> within 64
    with MLLPClient.for_settings(hl7_address, profile.hl7, persistent=True) as client:
        for minute in minutes:
            stamp = timestamps.Form.parse(PLAIN).render(_when(minute))
            values = {f: stamp for f in time_fields}
            values.update({f: f"{base}{minute:04d}" for f in id_fields})
            values.update({f: f"{uid_root}.{minute + 1}" for f in uid_fields})
            values["PID-3"] = f"{base}PT^^^IG_HOSPITAL^MR"
            message = variants.make(values, new_control_id("WS"))
            sent[minute] = flow.send(message, client)
            if not sent[minute].ack and sum(1 for s in sent.values() if not s.ack) >= 3:
                break
    accepted = {m: s for m, s in sent.items() if s.ack in ACCEPTED}
    by_accession = {s.accession: s for s in sent.values()}

    def settled(found: dict[str, list[Dataset]]) -> bool:
        return all(
            any(not flow.problems(s, i, compare=False) for i in found.get(s.accession, []))
            for s in accepted.values()
        )

    flow.transcript.note(
        f"{label}: {len(sent)} {flow.types['create']} sent in {time.monotonic() - started:.1f} s, "
        f"{len(sent) - len(accepted)} refused"
    )
    found, elapsed = flow.poll(list(by_accession), settled, patient_id=f"{base}PT")
    bad: list[str] = []
    affected: list[int] = []
    for minute, s in sent.items():
        items = found.get(s.accession, [])
        if s.ack in ACCEPTED:
            wrong = [flow.problems(s, i) for i in items]
            if len(items) != 1 or wrong[0]:
                affected.append(minute)
                what = "; ".join(p for w in wrong for p in w) or f"{len(items)} items"
                bad.append(f"{timestamps.hhmm(minute)} ({s.ack}) {s.who()}: {what or 'no item'}")
        elif items:
            affected.append(minute)
            what = " | ".join("; ".join(flow.problems(s, i, compare=False)) for i in items)
            bad.append(
                f"{timestamps.hhmm(minute)} (refused {s.ack or 'no ACK'}) {s.who()}: "
                f"{len(items)} item(s) left: {what or 'a complete item'}"
            )
    for minute in affected[:5]:  # the proof: the HL7 exchange (the C-FINDs are above)
        s = sent[minute]
        flow.transcript.note(
            f"{timestamps.hhmm(minute)}: >> {show(s.text)}\n<< {s.observed}\n"
            + "\n".join(f"C-FIND item: {i}" for i in found.get(s.accession, []))
        )
    check.expect(
        not bad,
        f"{label}: {len(sent)} appointments on {_when():%Y-%m-%d} ({len(accepted)} accepted), "
        f"worklist polled for {elapsed:.2f} s; affected times {_ranges(affected, list(sent))}",
        expected="every accepted appointment one complete item at its time; no item for a "
        "refused one",
        observed="\n    "
        + "\n    ".join(bad[:40] + ([f"... and {len(bad) - 40} more"] if len(bad) > 40 else [])),
    )


def _ranges(minutes: list[int], sent: list[int]) -> str:
    """``08:00-09:59 (120 of 1440)``: runs of consecutive sent minutes."""
    runs = timestamps.compress_runs(set(minutes), sent)
    text = ", ".join(
        timestamps.hhmm(a) if a == b else f"{timestamps.hhmm(a)}-{timestamps.hhmm(b)}"
        for a, b in runs
    )
    return f"{text} ({len(minutes)} of {len(sent)})"


@pytest.mark.check("workflow.sweep.complete")
def test_sweep_sampled(check, flow, profile, hl7_address):
    """One minute in every hour (24 appointments); ``-m sweep`` sends all 1,440."""
    _sweep(check, flow, profile, hl7_address, SAMPLE_MINUTES, "sampled end-to-end sweep")


@pytest.mark.sweep
@pytest.mark.check("workflow.sweep.complete")
def test_sweep_full_day(check, flow, profile, hl7_address):
    _sweep(check, flow, profile, hl7_address, list(range(1440)), "full end-to-end sweep")
