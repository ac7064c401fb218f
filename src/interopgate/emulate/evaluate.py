"""The ``device.*`` checks: what the device sent the emulated site, judged from a session.

Each check is a function of the recording and the profile that returns an
:class:`Outcome`: its findings (subject, expected, observed), or why it had nothing to
judge (the device never queried, never stored...). The suite in suites/device turns an
outcome into a verdict; the same functions serve ``interopgate emulate``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID
from pynetdicom import sop_class as sop

from interopgate.dicom import iod
from interopgate.dicom.query import MODELS, SPS, build_identifier, resolve_dates
from interopgate.emulate.session import Message, Session
from interopgate.profile import Profile

MWL = str(sop.ModalityWorklistInformationFind)
MPPS = str(sop.ModalityPerformedProcedureStep)
COMMITMENT = str(sop.StorageCommitmentPushModel)
# IHE RAD TF-2 Table 4.6-1 (RAD-6): Type 1 for the modality in an N-CREATE.
RAD6_TOP = ("PerformedProcedureStepID", "PerformedStationAETitle", "Modality")
RAD6_TOP += ("PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime")
RAD6_SCHEDULED = (
    "StudyInstanceUID",
    "AccessionNumber",
    "RequestedProcedureID",
    "ScheduledProcedureStepID",
)


@dataclass
class Finding:
    subject: str
    expected: str
    observed: str


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    not_applicable: str | None = None
    judged: int = 0  # how many things were looked at

    def fail(self, subject: str, expected: str, observed: str) -> None:
        self.findings.append(Finding(subject, expected, observed))


def _name(uid: str) -> str:
    return UID(uid).name if uid else "(none)"


def _requests(session: Session, name: str, sop_class: str | None = None) -> list[Message]:
    found = session.of(name)
    return [m for m in found if sop_class is None or m.sop_class == sop_class]


def _where(session: Session, message: Message) -> str:
    record = session.association(message.association)
    return f"{message.name} (association {record.index}, context {message.context_id})"


# ------------------------------------------------------------------ association


def contexts(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    allowed = set(profile.dicom.proposed_uids())
    for record in session.associations:
        for context in record.contexts:
            out.judged += 1
            if context.abstract_syntax not in allowed:
                out.fail(
                    f"association {record.index}, context {context.id}",
                    f"one of the profile's SOP classes ({', '.join(_name(u) for u in sorted(allowed))})",
                    _name(context.abstract_syntax),
                )
    if not out.judged:
        out.not_applicable = "the device opened no association"
    return out


def transfer_syntaxes(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    claimed = set(profile.dicom.transfer_syntax_uids())
    for record in session.associations:
        for context in record.contexts:
            out.judged += 1
            extra = [ts for ts in context.transfer_syntaxes if ts not in claimed]
            if extra or not context.transfer_syntaxes:
                out.fail(
                    f"association {record.index}, context {context.id} "
                    f"({_name(context.abstract_syntax)})",
                    f"transfer syntaxes among {', '.join(_name(t) for t in sorted(claimed))}",
                    ", ".join(_name(t) for t in context.transfer_syntaxes) or "none",
                )
    if not out.judged:
        out.not_applicable = "the device opened no association"
    return out


def ae_title(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for record in session.associations:
        out.judged += 1
        if record.calling_ae != profile.device.ae_title.strip():
            out.fail(
                f"association {record.index}: calling AE title",
                repr(profile.device.ae_title.strip()),
                repr(record.calling_ae),
            )
        if record.called_ae != session.site_ae.strip():
            out.fail(
                f"association {record.index}: called AE title",
                repr(session.site_ae.strip()),
                repr(record.called_ae),
            )
    if not out.judged:
        out.not_applicable = "the device opened no association"
    return out


def max_pdu(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    site_max = profile.emulate.max_pdu
    for record in session.associations:
        out.judged += 1
        if record.max_pdu != profile.dicom.max_pdu:
            out.fail(
                f"association {record.index}: Maximum Length Sub-Item",
                f"{profile.dicom.max_pdu} (profile dicom.max_pdu)",
                str(record.max_pdu),
            )
        if site_max and record.largest_pdata > site_max:
            out.fail(
                f"association {record.index}: P-DATA-TF length",
                f"at most the site's maximum {site_max}",
                str(record.largest_pdata),
            )
    if not out.judged:
        out.not_applicable = "the device opened no association"
    return out


def rejected_context(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for message in session.messages:
        out.judged += 1
        record = session.association(message.association)
        context = record.context(message.context_id)
        if context is None or context.result != 0:
            state = "not proposed" if context is None else f"rejected (result {context.result})"
            out.fail(
                _where(session, message),
                "DIMSE messages only on accepted presentation contexts",
                f"{message.name} on context {message.context_id}, {state}"
                + (f" ({_name(context.abstract_syntax)})" if context else ""),
            )
    if not out.judged:
        out.not_applicable = "the device sent no DIMSE message"
    return out


# ------------------------------------------------------------------ worklist query


def _flat(ds: Dataset) -> dict[str, str]:
    """``Keyword`` / ``Sequence[0].Keyword`` → value text ("" for zero length)."""
    keys: dict[str, str] = {}
    for element in ds:
        if element.keyword in ("SpecificCharacterSet", ""):
            continue
        if element.VR == "SQ":
            items = list(element.value or [])
            keys[element.keyword] = ""
            for inner in items[0] if items else []:
                text = "" if inner.VR == "SQ" else str(inner.value or "")
                keys[f"{element.keyword}[0].{inner.keyword}"] = text
        else:
            keys[element.keyword] = "" if element.value is None else str(element.value)
    return keys


def _queries(session: Session) -> list[tuple[Message, Dataset]]:
    found = []
    for message in _requests(session, "C-FIND-RQ", MWL):
        ds = message.dataset()
        if ds is not None:
            found.append((message, ds))
    return found


def expected_query(profile: Profile, on: dt.date) -> Dataset:
    """The identifier the profile says the device sends (``today`` as of ``on``)."""
    worklist = profile.dicom.worklist
    match = {k: resolve_dates(v, on) for k, v in (worklist.query if worklist else {}).items()}
    returns = worklist.required_return_keys if worklist else []
    return build_identifier(MODELS["worklist"], match, returns)


def _day(message: Message) -> dt.date:
    return dt.datetime.fromtimestamp(message.time).date()


def matching_keys(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for message, query in _queries(session):
        out.judged += 1
        expected = {k: v for k, v in _flat(expected_query(profile, _day(message))).items() if v}
        observed = {k: v for k, v in _flat(query).items() if v}
        if observed != expected:
            out.fail(
                f"{_where(session, message)}: matching keys",
                ", ".join(f"{k}={v}" for k, v in sorted(expected.items())) or "none",
                ", ".join(f"{k}={v}" for k, v in sorted(observed.items())) or "none",
            )
    if not out.judged:
        out.not_applicable = "the device sent no worklist query"
    return out


def return_keys(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for message, query in _queries(session):
        out.judged += 1
        wanted = _flat(expected_query(profile, _day(message)))
        sent = _flat(query)
        missing = [k for k in wanted if k not in sent]
        if missing:
            out.fail(
                f"{_where(session, message)}: return keys",
                "every key of the profile's worklist.query and required_return_keys",
                f"missing {', '.join(missing)}",
            )
    if not out.judged:
        out.not_applicable = "the device sent no worklist query"
    return out


def _encoding_problems(ds: Dataset, charset: bool = False, path: str = "") -> list[str]:
    """What a freshly read identifier (its elements still raw, with their encoded
    lengths) breaks: odd value lengths (PS3.5 7.1.1), non-ASCII bytes without a Specific
    Character Set here or in an enclosing data set (6.1.2.3, 7.5.1), sequence keys with
    more than one item (PS3.4 C.2.2.2.6). Sequence items are searched too."""
    problems = []
    charset = charset or bool(ds.get("SpecificCharacterSet"))
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        length = getattr(raw, "length", 0)
        value = getattr(raw, "value", b"")
        element = ds[tag]  # decoded from here on
        name = f"{path}{element.keyword or tag}"
        if element.VR == "SQ":
            items = list(element.value or [])
            if len(items) > 1:
                problems.append(f"{name} carries {len(items)} items, a key has one")
            for number, item in enumerate(items):
                problems += _encoding_problems(item, charset, f"{name}[{number}].")
            continue
        if length != 0xFFFFFFFF and length % 2:
            problems.append(f"{name} has odd length {length} (PS3.5 7.1.1)")
        if isinstance(value, bytes) and any(b > 0x7F for b in value) and not charset:
            problems.append(f"{name} has non-ASCII bytes but there is no Specific Character Set")
    return problems


def encoding(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for message in _requests(session, "C-FIND-RQ", MWL):
        if message.data is None:
            continue
        out.judged += 1
        syntax = UID(message.transfer_syntax or "1.2.840.10008.1.2")
        raw = read_dataset(BytesIO(message.data), syntax.is_implicit_VR, syntax.is_little_endian)
        problems = _encoding_problems(raw)
        if problems:
            out.fail(
                f"{_where(session, message)}: identifier encoding",
                "even value lengths, Specific Character Set for non-ASCII, one item per sequence key",
                "; ".join(problems),
            )
    if not out.judged:
        out.not_applicable = "the device sent no worklist query"
    return out


def cancel(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for message in session.of("C-CANCEL-RQ"):
        out.judged += 1
        wanted = message.command.get("MessageIDBeingRespondedTo")
        finds = [
            m.command.get("MessageID")
            for m in session.of("C-FIND-RQ")
            if m.association == message.association and m.time <= message.time
        ]
        if wanted not in finds:
            out.fail(
                f"{_where(session, message)}: Message ID Being Responded To",
                f"the Message ID of a C-FIND-RQ it sent on that association ({finds or 'none'})",
                str(wanted),
            )
    if not out.judged:
        out.not_applicable = "the device sent no C-CANCEL"
    return out


def query_loop(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    window = profile.emulate.min_query_interval
    queries = _queries(session)
    out.judged = len(queries)
    for index in range(len(queries) - 2):
        (first, a), _, (third, c) = queries[index : index + 3]
        same = a == c and a == queries[index + 1][1]
        if same and third.time - first.time < window:
            out.fail(
                "worklist queries",
                f"no three identical queries within {window:g} s (emulate.min_query_interval)",
                f"3 identical C-FIND-RQs in {third.time - first.time:.2f} s",
            )
            break
    if not out.judged:
        out.not_applicable = "the device sent no worklist query"
    return out


SCHEDULE_SLACK = 1.5  # a poll may come this many intervals late (busy modality, clock)


def query_schedule(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    interval = profile.emulate.query_interval
    if interval is None:
        out.not_applicable = "the profile declares no polling interval (emulate.query_interval)"
        return out
    end = session.ended or max((m.time for m in session.messages), default=session.started)
    if end - session.started < 2 * interval:
        out.not_applicable = (
            f"the recording ({end - session.started:.1f} s) is shorter than two polling "
            f"intervals of {interval:g} s"
        )
        return out
    times = [session.started, *(m.time for m, _ in _queries(session)), end]
    out.judged = len(times) - 2
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(times)]
    gap, start, stop = max(gaps)
    if gap > SCHEDULE_SLACK * interval:
        out.fail(
            "worklist polling",
            f"a query at least every {SCHEDULE_SLACK * interval:g} s (emulate.query_interval "
            f"{interval:g} s)",
            f"no query for {gap:.1f} s ({start - session.started:.1f} s to "
            f"{stop - session.started:.1f} s into the recording; {out.judged} queries in all)",
        )
    return out


def release(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for record in session.associations:
        if not record.established or record.ending in ("aborted-by-site", "rejected"):
            continue
        out.judged += 1
        if record.ending != "released":
            out.fail(
                f"association {record.index} ({record.calling_ae})",
                "ended by A-RELEASE-RQ from the device",
                {"": "still open when the session ended"}.get(record.ending, record.ending),
            )
    if not out.judged:
        out.not_applicable = "the device opened no association the site accepted"
    return out


# ------------------------------------------------------------------ MPPS


def _steps(session: Session) -> dict[tuple[str, str, str, str], Dataset]:
    served = {}
    for item in session.served_items():
        for step in item.get(SPS) or []:
            key = (
                str(item.get("StudyInstanceUID", "")),
                str(item.get("AccessionNumber", "")),
                str(item.get("RequestedProcedureID", "")),
                str(step.get("ScheduledProcedureStepID", "")),
            )
            served[key] = item
    return served


def create_in_progress(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    served = _steps(session)
    for message in _requests(session, "N-CREATE-RQ", MPPS):
        out.judged += 1
        ds = message.dataset() or Dataset()
        where = _where(session, message)
        status = str(ds.get("PerformedProcedureStepStatus", ""))
        if status != "IN PROGRESS":
            out.fail(f"{where}: Performed Procedure Step Status", "IN PROGRESS", status or "absent")
        missing = [k for k in RAD6_TOP if not str(ds.get(k, "") or "").strip()]
        if missing:
            out.fail(
                f"{where}: RAD-6 attributes", "present with values", f"missing {', '.join(missing)}"
            )
        steps = list(ds.get("ScheduledStepAttributesSequence") or [])
        keys = [tuple(str(s.get(k, "") or "") for k in RAD6_SCHEDULED) for s in steps]
        if not any(k in served for k in keys):
            out.fail(
                f"{where}: Scheduled Step Attributes Sequence",
                "an item naming a served step (Study Instance UID, Accession Number, "
                "Requested Procedure ID, SPS ID)",
                "; ".join("/".join(k) for k in keys) or "no item",
            )
    if not out.judged:
        out.not_applicable = "the device sent no MPPS N-CREATE"
    return out


def set_final(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    created = {m.sop_instance for m in _requests(session, "N-CREATE-RQ", MPPS)}
    for message in _requests(session, "N-SET-RQ", MPPS):
        ds = message.dataset() or Dataset()
        status = str(ds.get("PerformedProcedureStepStatus", ""))
        if status not in ("COMPLETED", "DISCONTINUED"):
            continue
        out.judged += 1
        where = _where(session, message)
        if message.sop_instance not in created:
            out.fail(
                f"{where}: instance", "an MPPS instance the device created", message.sop_instance
            )
        missing = [
            k
            for k in ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime")
            if not str(ds.get(k, "") or "").strip()
        ]
        if status == "COMPLETED" and not list(ds.get("PerformedSeriesSequence") or []):
            missing.append("PerformedSeriesSequence")
        if missing:
            out.fail(
                f"{where}: RAD-7 attributes of {status}",
                "present with values",
                f"missing {', '.join(missing)}",
            )
    if not out.judged:
        out.not_applicable = "the device sent no N-SET COMPLETED or DISCONTINUED"
    return out


# ------------------------------------------------------------------ storage


def _stores(session: Session) -> list[tuple[Message, Dataset]]:
    found = []
    for message in _requests(session, "C-STORE-RQ"):
        context = session.association(message.association).context(message.context_id)
        if context is None or context.result != 0:
            continue  # judged by device.association.rejected_context
        ds = message.dataset()
        if ds is not None:
            found.append((message, ds))
    return found


def storage_iod(session: Session, profile: Profile, validator: str | None = None) -> Outcome:
    out = Outcome()
    binary = validator or iod.validator()
    stores = _stores(session)
    if stores and binary is None:
        out.not_applicable = f"{iod.BINARY} not installed (Debian package {iod.PACKAGE})"
        return out
    for message, ds in stores:
        out.judged += 1
        from pydicom.dataset import FileMetaDataset

        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = message.sop_class
        meta.MediaStorageSOPInstanceUID = message.sop_instance
        meta.TransferSyntaxUID = UID(message.transfer_syntax)
        ds.file_meta = meta
        report = iod.validate(ds, binary)
        if report.errors:
            out.fail(
                f"{_where(session, message)}: {_name(message.sop_class)} {message.sop_instance}",
                f"no dciodvfy errors ({report.iod or 'its IOD'})",
                "; ".join(report.errors[:5]) + (" ..." if len(report.errors) > 5 else ""),
            )
    if not out.judged and out.not_applicable is None:
        out.not_applicable = "the device stored no image"
    return out


def worklist_attributes(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    by_study = {str(item.get("StudyInstanceUID", "")): item for item in session.served_items()}
    for message, ds in _stores(session):
        out.judged += 1
        where = f"{_where(session, message)}: {message.sop_instance}"
        item = by_study.get(str(ds.get("StudyInstanceUID", "")))
        if item is None:
            out.fail(
                where,
                "the Study Instance UID of a served worklist item",
                str(ds.get("StudyInstanceUID", "absent")),
            )
            continue
        step = (item.get(SPS) or [Dataset()])[0]
        wanted = {
            "PatientID": item.get("PatientID", ""),
            "PatientName": item.get("PatientName", ""),
            "AccessionNumber": item.get("AccessionNumber", ""),
        }
        wrong = [
            f"{k} {str(ds.get(k, '(absent)'))!r} (served {str(v)!r})"
            for k, v in wanted.items()
            if str(ds.get(k, "")) != str(v)
        ]
        requests = list(ds.get("RequestAttributesSequence") or [])
        pairs = {
            (str(r.get("RequestedProcedureID", "")), str(r.get("ScheduledProcedureStepID", "")))
            for r in requests
        }
        served_pair = (
            str(item.get("RequestedProcedureID", "")),
            str(step.get("ScheduledProcedureStepID", "")),
        )
        if served_pair not in pairs:
            wrong.append(
                f"Request Attributes Sequence {sorted(pairs) or 'absent'} (served {served_pair})"
            )
        if wrong:
            out.fail(where, "the served item's values (IHE RAD-8)", "; ".join(wrong))
    if not out.judged:
        out.not_applicable = "the device stored no image"
    return out


# ------------------------------------------------------------------ commitment


def commitment_request(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    stored = {m.sop_instance: m.sop_class for m, _ in _stores(session)}
    for message in _requests(session, "N-ACTION-RQ", COMMITMENT):
        out.judged += 1
        where = _where(session, message)
        ds = message.dataset() or Dataset()
        if message.command.get("ActionTypeID") != 1:
            out.fail(
                f"{where}: Action Type ID",
                "1 (Request Storage Commitment)",
                str(message.command.get("ActionTypeID")),
            )
        if not str(ds.get("TransactionUID", "") or "").strip():
            out.fail(f"{where}: Transaction UID", "present with a value", "absent")
        for ref in ds.get("ReferencedSOPSequence") or []:
            uid = str(ref.get("ReferencedSOPInstanceUID", ""))
            cls = str(ref.get("ReferencedSOPClassUID", ""))
            if stored.get(uid) != cls:
                out.fail(
                    f"{where}: Referenced SOP Sequence",
                    "instances the device stored, with their SOP classes",
                    f"{uid} ({_name(cls)}): "
                    + ("never stored" if uid not in stored else f"stored as {_name(stored[uid])}"),
                )
    if not out.judged:
        out.not_applicable = "the device requested no storage commitment"
    return out


def report_accepted(session: Session, profile: Profile) -> Outcome:
    out = Outcome()
    for message in _requests(session, "N-ACTION-RQ", COMMITMENT):
        out.judged += 1
        where = _where(session, message)
        uid = str((message.dataset() or Dataset()).get("TransactionUID", ""))
        if session.commitment_report == "new-association":
            entries = [r for r in session.new_association_reports if r["transaction_uid"] == uid]
            statuses = [r.get("status") for r in entries]
            problem = "; ".join(r.get("problem", "") for r in entries if r.get("problem"))
            place = "on a new association to the device's SCP"
        else:
            statuses = [
                m.command.get("Status")
                for m in session.of("N-EVENT-REPORT-RSP")
                if m.association == message.association
            ]
            problem = "" if statuses else "no N-EVENT-REPORT-RSP on the association"
            place = "on the association of the N-ACTION"
        if 0 not in statuses:
            shown = ", ".join(f"{s:04X}H" for s in statuses if isinstance(s, int))
            out.fail(
                f"{where}: the N-EVENT-REPORT of transaction {uid}",
                f"answered 0000H {place} (emulate.commitment_report: {session.commitment_report})",
                "; ".join(x for x in (shown and f"status {shown}", problem) if x)
                or "not delivered",
            )
    if not out.judged:
        out.not_applicable = "the device requested no storage commitment"
    return out


EVALUATORS: dict[str, Callable[[Session, Profile], Outcome]] = {
    "device.association.contexts": contexts,
    "device.association.transfer_syntaxes": transfer_syntaxes,
    "device.association.ae_title": ae_title,
    "device.association.max_pdu": max_pdu,
    "device.association.rejected_context": rejected_context,
    "device.mwl.matching_keys": matching_keys,
    "device.mwl.return_keys": return_keys,
    "device.mwl.encoding": encoding,
    "device.mwl.cancel": cancel,
    "device.mwl.query_loop": query_loop,
    "device.mwl.query_schedule": query_schedule,
    "device.behaviour.release": release,
    "device.mpps.create_in_progress": create_in_progress,
    "device.mpps.set_final": set_final,
    "device.storage.iod": storage_iod,
    "device.storage.worklist_attributes": worklist_attributes,
    "device.commitment.request": commitment_request,
    "device.commitment.report_accepted": report_accepted,
}


def evaluate(session: Session, profile: Profile) -> dict[str, Outcome]:
    return {check_id: judge(session, profile) for check_id, judge in EVALUATORS.items()}
