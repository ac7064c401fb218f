"""Test data seeding: one interface, one backend per target kind.

Query checks need known data on the target. A check never talks to a backend directly:
it asks the session's :class:`Seeder` (``RunningTarget.seeder``) to put generated
instances or worklist items in place, and gets back a :class:`SeedReceipt` saying
what was seeded. Backends:

* embedded: straight into the reference site's memory;
* live: instances by C-STORE as the device would send them (PS3.4 B); worklist items
  cannot be written into a RIS by DICOM (PS3.4 K has no N-CREATE for them), so they come
  from the profile's declared data or through the HL7 interface (:class:`WorklistFeed`);
* process / container: each launcher supplies its own (``.wl`` files for DCMTK
  wlmscpfs, C-STORE for dcmqrscp and Orthanc, Orthanc's worklist folder, ...); one with
  an HL7 address also carries a :class:`WorklistFeed`.

A backend that cannot seed something raises :class:`~interopgate.errors.TargetUnavailable`
with the reason, so the checks that need that data are skipped, never faked.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydicom.dataset import Dataset

from interopgate.errors import TargetUnavailable


@dataclass
class SeedReceipt:
    """What a seeding call put in place (for the run header and the evidence)."""

    instances: int = 0
    worklist_items: int = 0
    notes: list[str] = field(default_factory=list)
    # identity (Accession Number) -> why that item is not on the target
    missing: dict[str, str] = field(default_factory=dict)


class Seeder(Protocol):
    def store_instances(self, datasets: Sequence[Dataset]) -> SeedReceipt: ...

    def add_worklist_items(self, items: Sequence[Dataset]) -> SeedReceipt: ...


class EmbeddedSeeder:
    """Direct access to the reference site (site/pacs.py)."""

    def __init__(self, site) -> None:
        self.site = site

    def store_instances(self, datasets: Sequence[Dataset]) -> SeedReceipt:
        self.site.add_instances(datasets)
        return SeedReceipt(instances=len(datasets))

    def add_worklist_items(self, items: Sequence[Dataset]) -> SeedReceipt:
        self.site.add_worklist_items(items)
        return SeedReceipt(worklist_items=len(items))


# MSH-18 (HL7 table 0211) that carries a worklist item's Specific Character Set
# (0008,0005): a name in ISO_IR 100 travels as 8859/1, one in ISO_IR 192 as UTF-8.
MSH_18 = {"ISO_IR 100": "8859/1", "ISO_IR 192": "UNICODE UTF-8"}
# The keys a C-FIND matching case may name and where the item gets them when it is fed:
# the scheduled start comes from the order's timing (worklist_mapping.START), the rest
# from the site's mapping (hl7.to_worklist).
TIMING_KEYS = {"ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime"}


@dataclass
class FedItem:
    """One worklist item sent as an order message: what was sent, the ACK, how long the
    worklist took to return it, and (after the run) its cancel."""

    accession: str
    message_type: str
    control_id: str
    ack: str  # MSA-1, "" when no ACK came
    observed: str  # the ACK in one line
    text: str  # the message as sent (ER7)
    seconds: float | None = None  # until a C-FIND by accession returned it
    problem: str | None = None  # why the checks cannot use it; None = queryable
    cancel: str | None = None  # the cancel's ACK in one line, once sent
    order: Any = None  # (patient, appointment, pins, charset) to build the cancel
    shared: bool = False  # sent by another xdist worker of the run, not by this one


def is_accepted(ack: str) -> bool:
    """AA (original mode, HL7 2.5 §2.9.2) or CA (enhanced mode commit, §2.9.3)."""
    return ack in ("AA", "CA")


class WorklistFeed:
    """Worklist items seeded through the target's HL7 interface, as the order placer
    does (IHE RAD TF-2 RAD-4): each item is sent as the profile's create message (the
    first of ``hl7.messages`` that creates: SIU^S12, ORM^O01 NW or OMI^O23 NW), its values
    at the locations of the site's mapping (``hl7.to_worklist``), then the worklist is
    polled (RAD-5) until each accepted item is returned or ``hl7.worklist_deadline``
    passes. An item refused (ACK other than AA/CA) or never returned is recorded with
    the reason, and the checks that need it are skipped with that reason.

    A launcher creates it with the target's MLLP address; the run gives it what only
    the profile knows (:meth:`configure`). After the run :meth:`withdraw` cancels what
    was fed (SIU^S15 / ORC-1 CA), so a shared test RIS is left as it was.
    """

    def __init__(self, hl7_address: tuple[str, int]) -> None:
        self.hl7_address = hl7_address
        self.fed: list[FedItem] = []
        self.family = ""  # SIU, ORM or OMI once configured
        self.mapping: dict[str, str] = {}  # attribute -> HL7 location (hl7.to_worklist)
        self.elapsed = 0.0  # seconds from the first message sent to the last poll
        self.withdrawn: str | None = None  # what the cancel after the run did
        self.evidence: Path | None = None
        self._profile: Any = None
        self._factory: Any = None
        self._endpoint: Any = None

    @property
    def address(self) -> str:
        return f"{self.hl7_address[0]}:{self.hl7_address[1]}"

    def configure(self, profile, factory, endpoint, evidence: Path | None = None) -> WorklistFeed:
        """The profile (HL7 version, messages, mapping, deadline, the device that polls),
        an HL7 message factory (fixtures/hl7_messages.py) and the target's DICOM endpoint."""
        self._profile, self._factory, self._endpoint = profile, factory, endpoint
        self.evidence = evidence
        return self

    # ---------------------------------------------------------------- seeding

    def __call__(self, items: Sequence[Dataset], *, send: bool = True) -> SeedReceipt:
        from interopgate.evidence import Transcript

        if self._profile is None:
            raise TargetUnavailable(
                f"the HL7 worklist feed to {self.address} was not configured for this run"
            )
        transcript = Transcript(f"worklist feed over HL7 to {self.address}", self.evidence)
        started = time.monotonic()
        try:
            self._feed(list(items), transcript, send)
        except _outcomes() as exc:  # the workflow engine's skips/fails, as one reason
            raise TargetUnavailable(
                f"worklist feed over HL7 to {self.address}: {exc.msg}"
            ) from None
        except OSError as exc:
            reason = f"cannot send HL7 to {self.address}: {exc.strerror or exc}"
            transcript.note(reason)
            raise TargetUnavailable(f"worklist items cannot be fed: {reason}") from None
        finally:
            self.elapsed = time.monotonic() - started
            for fed in self.fed:
                transcript.note(
                    f"{fed.accession}: {fed.message_type} MSH-10 {fed.control_id}: {fed.observed}; "
                    + (f"returned after {fed.seconds:.2f} s" if fed.seconds is not None else "")
                    + (fed.problem or "")
                )
            transcript.write()
        usable = [f for f in self.fed if f.problem is None]
        missing = {f.accession: f.problem for f in self.fed if f.problem is not None}
        if not usable:
            raise TargetUnavailable(
                f"no worklist item could be fed over HL7 to {self.address}: {self.common_problem()}"
            )
        return SeedReceipt(
            worklist_items=len(usable),
            notes=[self.summary()],
            missing=missing,  # type: ignore[arg-type]
        )

    def _flow(self, client, transcript):
        from interopgate.device import DeviceClient
        from interopgate.evidence import Transcript
        from interopgate.workflow import Flow

        device = DeviceClient(self._profile, self._endpoint, Transcript("worklist feed: C-FIND"))
        flow = Flow(self._profile, client, self._factory, device, transcript)
        self.family = flow.family or ""
        self.mapping = flow.mapping
        return flow

    def _feed(self, items: list[Dataset], transcript, send: bool) -> None:
        from interopgate.hl7.mllp import MLLPClient

        settings = self._profile.hl7
        with MLLPClient.for_settings(
            self.hl7_address, settings, persistent=True, note=transcript.note
        ) as client:
            flow = self._flow(client, transcript)
            flow.require("create")
            for item in items:
                order = order_of(item, flow.mapping, settings.encoding, self._factory)
                if not send:  # another xdist worker fed it and holds it: only look
                    accession = str(item.get("AccessionNumber", "") or "").strip()
                    self.fed.append(
                        FedItem(accession, "", "", "", "fed by another xdist worker", "")
                    )
                    self.fed[-1].order, self.fed[-1].shared = order, True
                    continue
                sent = flow.send(self._build(flow, "create", order))
                fed = FedItem(
                    sent.accession,
                    sent.message_type,
                    sent.control_id,
                    sent.ack,
                    sent.observed,
                    sent.text,
                    order=order,
                )
                if not is_accepted(sent.ack):
                    fed.problem = f"{sent.message_type} not accepted ({sent.observed})"
                self.fed.append(fed)
                if not sent.ack and sum(1 for f in self.fed if not f.ack) >= 3:
                    break  # three without an ACK: the interface is not answering
            self._wait_until_listed(flow)
        for item in items[len(self.fed) :]:
            accession = str(item.get("AccessionNumber", "") or "").strip()
            self.fed.append(
                FedItem(
                    accession,
                    "",
                    "",
                    "",
                    "not sent",
                    "",
                    problem="not sent: the HL7 interface stopped answering",
                )
            )

    def _build(self, flow, action: str, order):
        from interopgate.workflow import PLAIN

        patient, appointment, pins, charset = order
        factory = self._factory
        factory.pinned = {**self._profile.hl7.pin, **pins}
        factory.charset = charset
        try:
            times = flow.appointment_times(action, appointment.start, PLAIN)
            return flow.build(action, patient, appointment, times=times)
        finally:
            factory.pinned = dict(self._profile.hl7.pin)
            factory.charset = self._profile.hl7.encoding

    def _wait_until_listed(self, flow) -> None:
        """Poll by accession until each accepted item is returned (in any shape: what it
        carries is for the worklist checks to judge) or the deadline passes."""
        waiting = {f.accession: f for f in self.fed if f.problem is None}
        if not waiting:
            return
        by_patient: dict[str, list[str]] = {}
        for accession, fed in waiting.items():
            patient = fed.order[0] if fed.order is not None else None
            by_patient.setdefault(getattr(patient, "patient_id", "") or "", []).append(accession)
        for accession, seconds in flow.poll_listed(by_patient).items():
            if accession in waiting:
                waiting[accession].seconds = seconds
        for fed in waiting.values():
            if fed.seconds is None:
                fed.problem = (
                    f"accepted ({fed.ack}) but not in the worklist within "
                    f"{flow.deadline:g} s (hl7.worklist_deadline)"
                )

    # ---------------------------------------------------------------- after the run

    def withdraw(self) -> str:
        """Cancel every accepted item (SIU^S15 / ORC-1 CA, HL7 2.5 §10.6.3, §4.5.1.1),
        so the RIS holds no item of this run afterwards; return what happened, one line."""
        from interopgate.evidence import Transcript
        from interopgate.hl7.mllp import MLLPClient

        accepted = [f for f in self.fed if is_accepted(f.ack) or f.shared]
        if not accepted:
            self.withdrawn = "nothing to cancel"
            return self.withdrawn
        transcript = Transcript(f"worklist feed: cancel over HL7 to {self.address}")
        refused: list[str] = []
        try:
            with MLLPClient.for_settings(
                self.hl7_address, self._profile.hl7, persistent=True, note=transcript.note
            ) as client:
                flow = self._flow(client, transcript)
                for fed in accepted:
                    sent = flow.send(self._build(flow, "cancel", fed.order))
                    fed.cancel = f"{sent.message_type} {sent.observed}"
                    if not is_accepted(sent.ack):
                        refused.append(f"{fed.accession} ({sent.observed})")
        except (*_outcomes(), OSError) as exc:
            reason = getattr(exc, "msg", None) or getattr(exc, "strerror", None) or str(exc)
            self.withdrawn = (
                f"the {len(accepted)} fed item(s) could not be cancelled ({reason}); "
                "remove them by hand"
            )
            return self.withdrawn
        cancel = flow.types["cancel"] + ("" if self.family == "SIU" else " ORC-1 CA")
        self.withdrawn = (
            f"{len(accepted) - len(refused)} of {len(accepted)} fed item(s) cancelled ({cancel})"
        )
        if refused:
            self.withdrawn += f"; not accepted: {', '.join(refused[:3])}" + (
                " ..." if len(refused) > 3 else ""
            )
        return self.withdrawn

    def carried_keys(self) -> set[str]:
        """The attribute keywords the fed items carry: the site's mapping and the
        scheduled start (worklist_mapping.START)."""
        return {attribute.rsplit(".", 1)[-1] for attribute in self.mapping} | TIMING_KEYS

    # ---------------------------------------------------------------- report

    def common_problem(self) -> str:
        problems = Counter(_generic(f.problem) for f in self.fed if f.problem)
        if not problems:
            return "none"
        text, count = problems.most_common(1)[0]
        return f"{text} ({count} of {len(self.fed)})"

    def summary(self) -> str:
        """``14 of 14 item(s) fed as SIU^S12 to host:port, returned within 0.31 s``."""
        usable = [f for f in self.fed if f.problem is None]
        types = sorted({f.message_type for f in self.fed if f.message_type}) or ["(nothing)"]
        how = f"fed as {', '.join(types)}"
        if self.fed and all(f.shared for f in self.fed):
            how = "fed by another xdist worker of this run"
        line = f"{len(usable)} of {len(self.fed)} item(s) {how} to {self.address}"
        if usable:
            slowest = max(f.seconds or 0.0 for f in usable)
            line += f", each returned by the worklist within {slowest:.2f} s"
        if len(usable) < len(self.fed):
            line += f"; not usable: {self.common_problem()}"
        return line


class FeedLease:
    """xdist workers on one live RIS each feed the same items (same ``--seed``, same
    accessions: a resend replaces, HL7 2.5 §2.10.2) and share them: a count in a file,
    under an exclusive lock, so only the last worker to finish cancels them while no
    other still queries them. Without xdist there is nothing to share (``path`` None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @contextlib.contextmanager
    def _count(self, delta: int) -> Iterator[int]:
        if self.path is None:
            yield 1 if delta > 0 else 0
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # held while the caller feeds or cancels
            file.seek(0)
            count = max(0, int(file.read().strip() or 0) + delta)
            file.seek(0)
            file.truncate()
            file.write(str(count))
            file.flush()
            yield count

    def take(self) -> contextlib.AbstractContextManager[int]:
        """Count this worker in (feed inside the ``with``: no cancel runs meanwhile)."""
        return self._count(+1)

    def give_back(self) -> contextlib.AbstractContextManager[int]:
        """Count this worker out; cancel inside the ``with`` when it yields 0."""
        return self._count(-1)


def feed_for(profile: Any, target: Any) -> WorklistFeed | None:
    """The target's HL7 worklist feed when this run seeds the worklist through it:
    ``dicom.worklist.source: hl7``, or by default (``generated``) on a live target, whose
    worklist nothing else can write. None otherwise (or when the target has no HL7 port)."""
    worklist = profile.dicom.worklist
    feed = getattr(target.seeder, "worklist_feed", None)
    if feed is None and worklist is not None and worklist.source == "hl7" and target.hl7_address:
        feed = WorklistFeed(target.hl7_address)  # the embedded site's MLLP interface
        target.seeder.worklist_feed = feed
    if worklist is None or feed is None:
        return None
    if worklist.source == "hl7" or (worklist.source == "generated" and target.kind == "live"):
        return feed
    return None


def order_messages(profile: Any) -> tuple[str, str]:
    """(create, cancel) as the feed sends them for the profile's ``hl7.messages``, the
    way the workflow engine picks the family: ("SIU^S12", "SIU^S15") or ("ORM^O01 NW",
    "ORM^O01 ORC-1 CA")."""
    messages = profile.hl7.messages or ["SIU^S12"]
    family = next((f for f in ("SIU", "ORM", "OMI") if any(m.startswith(f) for m in messages)), "")
    if family == "SIU":
        return "SIU^S12", "SIU^S15"
    if family:
        message = "ORM^O01" if family == "ORM" else "OMI^O23"
        return f"{message} NW", f"{message} ORC-1 CA"
    return "", ""


def plan(profile: Any, target: Any, keep: bool) -> str | None:
    """The header's line on how this run seeds the worklist over HL7, or None."""
    worklist = profile.dicom.worklist
    feed = feed_for(profile, target)
    if feed is None:
        if worklist is not None and worklist.source == "hl7":
            return (
                "worklist: dicom.worklist.source is hl7, but the target has no HL7 port: "
                "the checks that need generated items are skipped"
            )
        return None
    create, cancel = order_messages(profile)
    if not create:
        return (
            f"worklist: fed over HL7 to {feed.address}, but hl7.messages has no create "
            "message (SIU^S12, ORM^O01, OMI^O23): the checks that need items are skipped"
        )
    after = (
        "kept after the run (--keep-worklist)"
        if keep
        else f"cancelled after the run ({cancel}), leaving a shared RIS as it was "
        "(--keep-worklist keeps them)"
    )
    return f"worklist: generated items fed as {create} to {feed.address} when first needed; {after}"


def _generic(problem: str) -> str:
    """A problem without the item's own control ID (MSA-2), so equal problems count
    together: ``SIU^S12 not accepted (MSA-1 AE, ERR ...)``."""
    return re.sub(r", MSA-2 [^,)]*", "", problem)


def _outcomes() -> tuple[type[BaseException], ...]:
    """What the workflow engine raises for "cannot follow this" (pytest.skip and
    pytest.fail): caught by the feed and turned into one reason, since seeding is not a
    check."""
    import pytest

    return (pytest.skip.Exception, pytest.fail.Exception)


def order_of(item: Dataset, mapping: dict[str, str], encoding: str, factory: Any):
    """The order a worklist item is fed as: (patient, appointment, pins, MSH-18). The
    factory's patient and appointment, given the item's values, fill the message's
    default fields; ``pins`` put each mapped attribute's value at the site's location
    (hl7.to_worklist), so the site's own placement (e.g. the accession in SCH-2.1)
    carries the item's value. A non-ASCII name travels with the MSH-18 (table 0211) of
    the item's Specific Character Set."""
    import dataclasses
    import datetime as dt

    from interopgate.workflow import value_at

    steps = item.get("ScheduledProcedureStepSequence") or [Dataset()]
    step = steps[0]
    accession = str(item.get("AccessionNumber", "") or "").strip()
    name = str(item.get("PatientName", "") or "")
    family, _, given = name.partition("^")
    birth = str(item.get("PatientBirthDate", "") or "")
    try:
        birth_date = dt.datetime.strptime(birth, "%Y%m%d").date()
    except ValueError:
        birth_date = dt.date(1900, 1, 1)  # PID-7 is pinned to the item's (empty) value
    start_time = str(step.get("ScheduledProcedureStepStartTime", "") or "000000")[:6]
    start = dt.datetime.strptime(
        f"{step.get('ScheduledProcedureStepStartDate', '')}{start_time:0<6}", "%Y%m%d%H%M%S"
    )
    codes = item.get("RequestedProcedureCodeSequence") or [Dataset()]
    patient = dataclasses.replace(
        factory.patient(),
        patient_id=str(item.get("PatientID", "")),
        family_name=family,
        given_name=given,
        birth_date=birth_date,
        sex=str(item.get("PatientSex", "") or ""),
    )
    appointment = dataclasses.replace(
        factory.appointment(start),
        placer_id=f"P{accession}",
        filler_id=f"F{accession}",
        accession_number=accession,
        requested_procedure_id=str(item.get("RequestedProcedureID", "") or ""),
        scheduled_procedure_step_id=str(step.get("ScheduledProcedureStepID", "") or ""),
        modality=str(step.get("Modality", "") or ""),
        station_ae=str(step.get("ScheduledStationAETitle", "") or ""),
        procedure_code=str(codes[0].get("CodeValue", "") or "PROC"),
        description=str(item.get("RequestedProcedureDescription", "") or ""),
        study_instance_uid=str(item.get("StudyInstanceUID", "") or ""),
        station_name=str(step.get("ScheduledStationName", "") or "")[:16],
    )
    pins: dict[str, str] = {}
    for attribute, location in mapping.items():
        pins.setdefault(location, value_at(item, attribute) or "")
    charset = str(item.get("SpecificCharacterSet", "") or "")
    msh_18 = encoding if name.isascii() else MSH_18.get(charset, encoding)
    return patient, appointment, pins, msh_18


class StoreSeeder:
    """Seeds instances by C-STORE from the device's AE (live targets, dcmqrscp, Orthanc)."""

    def __init__(self, endpoint, calling_ae: str, worklist_feed: WorklistFeed | None = None):
        self.endpoint = endpoint
        self.calling_ae = calling_ae
        self.worklist_feed = worklist_feed

    def store_instances(self, datasets: Sequence[Dataset]) -> SeedReceipt:
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

        from interopgate.dicom.association import open_association, quick_ack
        from interopgate.dicom.query import _quiesce_reactor

        classes = sorted({str(ds.SOPClassUID) for ds in datasets})
        contexts = [(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]) for uid in classes]
        with open_association(self.endpoint, self.calling_ae, contexts) as (assoc, negotiation):
            if not assoc.is_established:
                raise TargetUnavailable(
                    f"cannot seed instances on {self.endpoint}: {negotiation.outcome()}"
                )
            quick_ack(assoc)
            failed = []
            for ds in datasets:
                _quiesce_reactor(assoc)  # a quick C-STORE-RSP must not go to the reactor
                status = assoc.send_c_store(ds)
                code = int(status.Status) if status is not None and "Status" in status else None
                if code not in (0x0000, 0xB000, 0xB006, 0xB007):
                    failed.append(f"{ds.SOPInstanceUID}: {code if code is None else hex(code)}")
            if failed:
                raise TargetUnavailable(
                    f"seeding by C-STORE on {self.endpoint} failed for {len(failed)} of "
                    f"{len(datasets)} instances (first: {failed[0]})"
                )
        return SeedReceipt(instances=len(datasets))

    def add_worklist_items(self, items: Sequence[Dataset]) -> SeedReceipt:
        if self.worklist_feed is None:
            raise TargetUnavailable(
                f"worklist items cannot be seeded on {self.endpoint} by DICOM; declare the "
                "target's worklist data in the profile or give it an HL7 port"
            )
        return self.worklist_feed(items)
