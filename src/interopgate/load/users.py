"""The Locust users: the profile's modality and its order placer, as they behave.

A :class:`Modality` queries the Modality Worklist every ``load.query_interval`` seconds
with the profile's own query (IHE RAD-5), takes an item the run scheduled, reports the
step IN PROGRESS (MPPS N-CREATE, RAD-6), stores ``load.images_per_procedure`` images
(C-STORE, RAD-8) and reports it COMPLETED (N-SET, RAD-7), where the target provides
those services. An :class:`OrderPlacer` sends the profile's create message (SIU^S12,
ORM^O01 NW or OMI^O23 NW; RAD-4) over MLLP at ``load.message_rate`` messages a second
in all. Both use the harness's own clients (device.py, dicom/query.py, mpps.py,
hl7/mllp.py, workflow.Flow, fixtures/) and report every operation to Locust's
``request`` event, so Locust keeps the statistics and, distributed, sums them on the
master.

Importing this module imports locust, which monkey-patches socket and threading with
gevent: pynetdicom's reactor and DUL threads then run as greenlets (verified: the
associations of many users interleave, tests/test_load.py). Only the load process
imports it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import User, task
from locust.exception import StopUser
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from interopgate import mpps
from interopgate.device import DeviceClient
from interopgate.dicom import uids
from interopgate.dicom.query import MODELS, FindSession, build_identifier, resolve_dates
from interopgate.evidence import Transcript
from interopgate.hl7 import worklist_mapping as wm
from interopgate.hl7.messages import read_reply
from interopgate.hl7.mllp import MLLPClient
from interopgate.load.plan import Ledger, Plan
from interopgate.profile import Profile

WORKLIST = MODELS["worklist"]
ACCEPTED_ACK = ("AA", "CA")  # HL7 2.5 §2.9.2 original mode, §2.9.3 enhanced (commit)
PROCESS_TAG = secrets.token_hex(2).upper()  # tells the IDs of two worker processes apart
_numbers = itertools.count(1)


class QuietTranscript(Transcript):
    """A transcript that keeps nothing: thousands of associations, no evidence files."""

    def __init__(self) -> None:
        super().__init__("load")

    def note(self, text: str) -> None:
        return None

    def handlers(self) -> list:
        return []


class OperationFailed(Exception):
    """An operation the target answered with a failure (the text says what it said)."""


def _fixtures():
    """The project's data builders (fixtures/) from the checkout, as probe.py finds them."""
    root = Path(__file__).resolve().parents[3]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from fixtures import dicom_objects, hl7_messages, patients

    return dicom_objects, hl7_messages, patients


@dataclasses.dataclass
class Context:
    """What the users of one process share: the plan, the profile, the ledger."""

    plan: Plan
    profile: Profile
    ledger: Ledger
    claimed: set[str] = dataclasses.field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"L{self.plan.run_id}"

    def new_id(self) -> str:
        """An ID unique in the run (SH, 16 characters at most): L + run + process + n."""
        return f"{self.prefix}{PROCESS_TAG}{next(_numbers):06d}"

    def device(self) -> DeviceClient:
        return DeviceClient(self.profile, self.plan.endpoint_model, QuietTranscript())

    def provides(self, name: str) -> bool:
        proposed = {uids.resolve(n) for n in self.profile.dicom.propose}
        return uids.resolve(name) in proposed and self.profile.target_provides(name)

    def storage_class(self) -> str | None:
        """The first storage SOP class the device proposes that the target provides and
        the fixtures can generate."""
        dicom_objects = _fixtures()[0]
        for name in self.profile.dicom.propose:
            uid = uids.resolve(name)
            if uid in dicom_objects.GENERATED_CLASSES and self.profile.target_provides(name):
                return str(uid)
        return None


def install(environment, context: Context) -> None:
    """Give the users of this process their context (at once, or when it arrives)."""
    environment.interopgate = context
    ready(environment).set()


def ready(environment) -> Event:
    if not hasattr(environment, "interopgate_ready"):
        environment.interopgate_ready = Event()
    return environment.interopgate_ready


def context_of(environment) -> Context:
    if not ready(environment).wait(30):
        raise StopUser()
    return environment.interopgate


def timed(environment, request_type: str, name: str, action: Callable[[], Any], size=None):
    """Run ``action`` and report it to Locust's request event: milliseconds, the size
    ``size(result)`` (bytes or items) and the exception, if any. Returns the result, or
    None when it failed."""
    started = time.perf_counter()
    result, failure = None, None
    try:
        result = action()
    except (OperationFailed, OSError, RuntimeError, ValueError) as exc:
        failure = exc
    elapsed = (time.perf_counter() - started) * 1000
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=elapsed,
        response_length=int(size(result)) if size and result is not None else 0,
        exception=failure,
        context={},
    )
    return None if failure else result


class _Paced(User):
    """A user whose task starts every ``interval()`` seconds (Locust's constant pacing,
    with the interval read from the profile once the context is there)."""

    abstract = True

    def interval(self) -> float:
        raise NotImplementedError

    def wait_time(self) -> float:
        started = getattr(self, "_task_started", None)
        now = time.monotonic()
        wait = self.interval() - (now - started) if started else self.interval()
        self._task_started = now + max(0.0, wait)
        return max(0.0, wait)


class Modality(_Paced):
    """The profile's device: worklist query, MPPS, images."""

    weight = 1

    def on_start(self) -> None:
        self.ctx = context_of(self.environment)
        self.mpps = self.ctx.provides("ModalityPerformedProcedureStep")
        self.storage = self.ctx.storage_class()
        load = self.ctx.profile.load
        # Spread the first queries over one interval, as real modalities are not in step.
        gevent.sleep(load.query_interval * (next(_numbers) % 7) / 7)
        self._task_started = time.monotonic()

    def interval(self) -> float:
        return self.ctx.profile.load.query_interval

    def _query(self) -> Dataset:
        wanted = self.ctx.profile.dicom.worklist
        keys = {k: resolve_dates(v) for k, v in (wanted.query if wanted else {}).items()}
        returns = ["AccessionNumber", "PatientName", "PatientID", "PatientBirthDate"]
        returns += ["PatientSex", "StudyInstanceUID", "RequestedProcedureID"]
        returns += ["RequestedProcedureDescription", "ScheduledProcedureStepSequence"]
        return build_identifier(WORKLIST, keys, [r for r in returns if r not in keys])

    def _find(self) -> list[Dataset]:
        with FindSession(self.ctx.device(), WORKLIST) as session:
            if session.refusal:
                raise OperationFailed(session.refusal)
            outcome = session.find(self._query())
            if not outcome.accepted or outcome.final_status != "0000H":
                raise OperationFailed(
                    outcome.refusal or f"C-FIND final status {outcome.final_status}"
                )
            return outcome.matches

    @task
    def procedure(self) -> None:
        env = self.environment
        items = timed(env, "DICOM", "C-FIND MWL", self._find, size=len)
        if not items:
            return
        counts: dict[str, int] = {}
        for item in items:
            accession = str(item.get("AccessionNumber", "") or "").strip()
            if accession.startswith(self.ctx.prefix):
                counts[accession] = counts.get(accession, 0) + 1
        for accession, count in counts.items():
            self.ctx.ledger.saw(accession, count)
        item = next(
            (
                i
                for i in items
                if str(i.get("AccessionNumber", "") or "").strip() in counts
                and str(i.AccessionNumber).strip() not in self.ctx.claimed
            ),
            None,
        )
        if item is None:
            return
        accession = str(item.AccessionNumber).strip()
        self.ctx.claimed.add(accession)
        self._perform(item, accession)

    def _perform(self, item: Dataset, accession: str) -> None:
        env, ctx = self.environment, self.ctx
        dicom_objects = _fixtures()[0]
        device = ctx.device()
        pps_uid, pps_id = str(generate_uid()), ctx.new_id()
        now = dt.datetime.now()
        if self.mpps:
            create = mpps.in_progress(
                item,
                mpps.scheduled_step(item),
                station_ae=device.ae_title,
                modality=ctx.profile.device.modality,
                pps_id=pps_id,
                when=now,
            )
            if not timed(
                env, "DICOM", "N-CREATE MPPS", lambda: self._mpps(device, "create", pps_uid, create)
            ):
                return
        images: list[Dataset] = []
        if self.storage:
            series_uid = str(generate_uid())
            images = [
                dicom_objects.image_for_item(
                    self.storage,
                    item,
                    series_uid=series_uid,
                    instance_number=n,
                    when=now,
                    pps_id=pps_id,
                )
                for n in range(1, ctx.profile.load.images_per_procedure + 1)
            ]
            if images:
                self._store(device, images)
        if self.mpps:
            done = mpps.completed(images, when=dt.datetime.now())
            if timed(env, "DICOM", "N-SET MPPS", lambda: self._mpps(device, "set", pps_uid, done)):
                ctx.ledger.performed.add(accession)

    def _mpps(self, device: DeviceClient, what: str, uid: str, data: Dataset) -> bool:
        with device.associate([mpps.SOP_CLASS]) as (assoc, negotiation):
            if not negotiation.established:
                raise OperationFailed(negotiation.outcome())
            client = mpps.MppsClient(assoc, lambda text: None)
            reply = client.create(uid, data) if what == "create" else client.set(uid, data)
            if reply.status != 0x0000:
                raise OperationFailed(f"N-{what.upper()} {reply}")
            return True

    def _store(self, device: DeviceClient, images: list[Dataset]) -> None:
        env, ctx = self.environment, self.ctx
        allowed = set(ctx.profile.dicom.storage.allowed_status)
        with device.associate([self.storage]) as (assoc, negotiation):
            if not negotiation.established:
                timed(env, "DICOM", "C-STORE", lambda: _raise(negotiation.outcome()))
                return
            for image in images:

                def store(image=image) -> int:
                    status = assoc.send_c_store(image)
                    code = int(status.Status) if status is not None and "Status" in status else None
                    if code is None:
                        raise OperationFailed("no C-STORE response (aborted or DIMSE timeout)")
                    if code not in allowed:
                        raise OperationFailed(f"C-STORE status {code:04X}H")
                    return len(image.PixelData)

                if timed(env, "DICOM", "C-STORE", store, size=int) is not None:
                    ctx.ledger.instances[str(image.SOPInstanceUID)] = (
                        str(image.StudyInstanceUID),
                        str(image.SeriesInstanceUID),
                        str(image.SOPClassUID),
                    )


def _raise(text: str):
    raise OperationFailed(text)


class OrderPlacer(_Paced):
    """The EHR / order placer: one create message after another over MLLP."""

    fixed_count = 1

    def on_start(self) -> None:
        from interopgate.workflow import Flow

        self.ctx = context_of(self.environment)
        profile = self.ctx.profile
        _, hl7_messages, patients = _fixtures()
        seed = int.from_bytes(os.urandom(4), "big")
        self.factory = hl7_messages.HL7MessageFactory(
            patients.make_faker(seed),
            profile.hl7.version,
            station_ae=profile.device.ae_title,
            modality=profile.device.modality,
            charset=profile.hl7.encoding,
            pinned=profile.hl7.pin,
        )
        address = self.ctx.plan.hl7_address
        if address is None:
            raise StopUser()
        self.client = MLLPClient.for_settings(address, profile.hl7)
        self.flow = Flow(profile, self.client, self.factory, None, None)
        self.accession_at = self.flow.mapping.get("AccessionNumber", "")
        self._task_started = time.monotonic()

    def on_stop(self) -> None:
        self.client.close()

    def interval(self) -> float:
        load = self.ctx.profile.load
        return max(1, load.senders) / load.message_rate

    def _message(self):
        unique = self.ctx.new_id()
        # Today, a few minutes ahead: the modality's query (date today) lists it.
        now = dt.datetime.now()
        start = min(now + dt.timedelta(minutes=10), now.replace(hour=23, minute=59, second=0))
        patient = self.factory.patient()
        appointment = dataclasses.replace(
            self.factory.appointment(start.replace(microsecond=0)),
            placer_id=f"P{unique[1:]}",
            filler_id=unique,
            accession_number=unique,
            requested_procedure_id=f"R{unique[1:]}",
            scheduled_procedure_step_id=f"S{unique[1:]}",
        )
        times = self.flow.appointment_times("create", start, "YYYYMMDDHHMMSS")
        return self.flow.build("create", patient, appointment, times=times)

    @task
    def order(self) -> None:
        message = self._message()
        accession = wm.normalise("AccessionNumber", wm.er7_value(message.text, self.accession_at))

        def send() -> int:
            exchange = self.client.send(message.text)
            ack, observed = read_reply(exchange.reply_text, exchange.problem)
            if ack is None or ack.msa_1 not in ACCEPTED_ACK:
                raise OperationFailed(observed)
            return len(exchange.reply_text or "")

        if timed(self.environment, "HL7", message.message_type, send, size=int) is not None:
            self.ctx.ledger.orders[accession] = (
                f"{message.message_type} MSH-10 {message.control_id}"
            )
