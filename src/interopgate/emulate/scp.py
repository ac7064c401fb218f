"""The emulated site: the RIS and PACS a modality is configured against.

One pynetdicom AE on the profile's ``emulate.port`` / ``emulate.ae_title`` answering
Verification (PS3.4 A), Modality Worklist FIND (K.6, served by the embedded site's
matching and response stream, site/find.py and site/matching.py), MPPS (F.7, the
embedded site's MppsSCP), Storage (B) and Storage Commitment Push Model (J.3, the
embedded site's CommitmentSCP: the N-EVENT-REPORT on the same association, or on a new
one to ``emulate.device_port`` as the profile says). What the device sends is recorded
(emulate/recorder.py) with the same transcript and pcapng evidence as a PACS-side check.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom import sop_class as sop

from interopgate.dicom import tuning, uids
from interopgate.dicom.association import no_delay
from interopgate.emulate import worklist
from interopgate.emulate.recorder import Recorder
from interopgate.emulate.session import Session
from interopgate.evidence import Capture, Transcript
from interopgate.profile import Profile
from interopgate.site.commitment import WELL_KNOWN_INSTANCE, CommitmentSCP
from interopgate.site.faults import FaultSet
from interopgate.site.find import FindResponder
from interopgate.site.matching import response_for
from interopgate.site.mpps import MppsSCP
from interopgate.site.pacs import ALL_TRANSFER_SYNTAXES

log = logging.getLogger("interopgate.emulate")

SUCCESS, PENDING, CANCEL = 0x0000, 0xFF00, 0xFE00
DEFAULT_SEED = 20240916


class EmulatedSite:
    """Start with :meth:`start` (or ``with``); stop, then :attr:`session` is the recording."""

    def __init__(
        self,
        profile: Profile,
        *,
        host: str | None = None,
        port: int | None = None,
        seed: int = DEFAULT_SEED,
        evidence: Path | None = None,
    ) -> None:
        self.profile = profile
        self.settings = profile.emulate
        self.host = host if host is not None else self.settings.host
        self.port = port if port is not None else self.settings.port
        self.transcript = Transcript(
            "emulated site", evidence.with_suffix(".txt") if evidence else None
        )
        self.transcript.capture = Capture("emulated site", note=self.transcript.note)
        self.evidence = evidence
        self.rejected = {uids.resolve(name) for name in self.settings.reject}
        items, self._forced = worklist.generated(
            seed,
            profile.device.modality,
            profile.device.ae_title,
            hard=self.settings.worklist == "hard",
        )
        self._items = items
        self.session = Session(
            site_ae=self.settings.ae_title,
            site_address=(self.host, self.port),
            started=time.time(),
            rejected_classes=sorted(self.rejected),
            served=[item.to_json_dict() for item in [*items, *self._forced]],
            commitment_report=self.settings.commitment_report,
        )
        self.recorder = Recorder(self.session, note=self.transcript.note)
        no_faults = FaultSet()
        self._find = FindResponder(no_faults)
        self.mpps = MppsSCP(no_faults)
        self.stored: dict[str, str] = {}  # SOP Instance UID -> SOP Class UID
        self._lock = threading.Lock()
        destinations = {}
        if self.settings.commitment_report == "new-association" and self.settings.device_port:
            destinations[profile.device.ae_title] = (
                self.settings.device_host,
                self.settings.device_port,
            )
        self.commitment = _RecordedCommitment(
            no_faults, self.stored.get, self.settings.ae_title, destinations
        )
        self.commitment.session = self.session
        self._server = None
        self.address: tuple[str, int] = (self.host, self.port)

    # ---------------------------------------------------------------- lifecycle
    def _build_ae(self) -> AE:
        ae = AE(ae_title=self.settings.ae_title)
        ae.maximum_pdu_size = self.settings.max_pdu
        ae.require_called_aet = True
        ae.maximum_associations = 16
        ae.network_timeout = 30
        ae.dimse_timeout = 30
        services = [sop.Verification, sop.ModalityWorklistInformationFind]
        services += [sop.ModalityPerformedProcedureStep, sop.StorageCommitmentPushModel]
        services += list(sop._STORAGE_CLASSES.values())  # every storage class pynetdicom knows
        for uid in services:
            if uid not in self.rejected:
                ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        return ae

    def start(self) -> EmulatedSite:
        handlers = [
            *self.recorder.handlers(),
            *self.transcript.handlers(),
            (evt.EVT_C_ECHO, lambda event: SUCCESS),
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_N_CREATE, self.mpps.on_create),
            (evt.EVT_N_SET, self.mpps.on_set),
            (evt.EVT_N_ACTION, self.commitment.on_action),
            (evt.EVT_CONN_OPEN, lambda event: no_delay(event.assoc)),
        ]
        try:
            self._server = tuning.start_server(
                self._build_ae(), (self.host, self.port), evt_handlers=handlers
            )
        except OSError as exc:
            from interopgate.errors import TargetError

            raise TargetError(
                f"the emulated site cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        self.address = tuple(self._server.server_address[:2])  # type: ignore[assignment]
        self.session.site_address = self.address
        self.session.started = time.time()
        log.info("emulated site %s on %s:%s", self.settings.ae_title, *self.address)
        return self

    def stop(self) -> Session:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
            self.session.ended = time.time()
            self.transcript.capture.finish()  # type: ignore[union-attr]
            if self.evidence is not None:
                self.transcript.write()
                self.transcript.capture.write(self.evidence.with_suffix(".pcapng"))  # type: ignore[union-attr]
        return self.session

    def __enter__(self) -> EmulatedSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def config_line(self) -> str:
        """What the user types into the modality's network configuration."""
        host = self.address[0]
        if host in ("0.0.0.0", ""):
            host = _outward_address()
        return (
            f"configure the device's worklist/MPPS/storage/commitment node as: "
            f"AE title {self.settings.ae_title}, host {host}, port {self.address[1]}"
        )

    # ---------------------------------------------------------------- handlers
    def _on_find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        if event.context.abstract_syntax != sop.ModalityWorklistInformationFind:
            yield 0xA900, None  # only the worklist is served (Identifier does not match SOP Class)
            return
        query = event.identifier
        for status, identifier in self._find.respond(event, query, list(self._items), True):
            yield status, identifier
            if status == CANCEL:
                return
        for item in self._forced:  # sent whatever the query: the seed's empty-SPS item
            if event.is_cancelled:
                yield CANCEL, None
                return
            response = response_for(query, item)
            response.ScheduledProcedureStepSequence = []
            yield PENDING, response

    def _on_store(self, event: evt.Event) -> int:
        with self._lock:
            self.stored[str(event.request.AffectedSOPInstanceUID)] = str(
                event.request.AffectedSOPClassUID
            )
        return SUCCESS


class _RecordedCommitment(CommitmentSCP):
    """The embedded site's commitment SCP, keeping what the device answered to a report
    sent on a new association (on the same association the recorder sees the answer)."""

    session: Session

    def _send_on_new_association(
        self, calling: str, destination: tuple[str, int], event_type: int, information: Dataset
    ) -> None:
        entry: dict = {"transaction_uid": str(information.TransactionUID), "status": None}
        self.session.new_association_reports.append(entry)
        ae = AE(ae_title=self.ae_title)
        ae.add_requested_context(sop.StorageCommitmentPushModel, ALL_TRANSFER_SYNTAXES[:2])
        role = build_role(sop.StorageCommitmentPushModel, scp_role=True)  # PS3.7 D.3.3.4
        assoc = ae.associate(*destination, ae_title=calling, ext_neg=[role])
        if not assoc.is_established:
            entry["problem"] = (
                f"association to {calling} at {destination[0]}:{destination[1]} not established"
            )
            return
        try:
            status, _ = assoc.send_n_event_report(
                information, event_type, sop.StorageCommitmentPushModel, WELL_KNOWN_INSTANCE
            )
            entry["status"] = int(status.Status) if status and "Status" in status else None
            if entry["status"] is None:
                entry["problem"] = "no N-EVENT-REPORT-RSP"
        finally:
            assoc.release()


def _outward_address() -> str:
    """The address other hosts reach this one by (the route a UDP socket would take)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 104))  # TEST-NET-1 (RFC 5737): nothing is sent
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()
