"""The embedded reference site: a pure-Python PACS + worklist on pynetdicom.

Correct by the standard by default, so that a check failing against it is a harness
bug; wrong on purpose when a fault from site/faults.py is switched on. Services:
Verification, Modality Worklist FIND, Patient/Study Root FIND/MOVE/GET, storage of
CR, DX, SC, CT and MR, Modality Performed Procedure Step (site/mpps.py) and Storage
Commitment (site/commitment.py) (PS3.4 Annexes A, B, C, F, J, K). Data lives in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt
from pynetdicom import sop_class as sop

from interopgate.dicom import tuning
from interopgate.dicom.association import no_delay
from interopgate.site.commitment import CommitmentSCP
from interopgate.site.faults import FaultSet
from interopgate.site.find import FindResponder
from interopgate.site.matching import MatchOptions, dataset_matches, matching_keys
from interopgate.site.mpps import MppsSCP
from interopgate.site.security import SiteSecurity
from interopgate.site.wire import WireRelay

log = logging.getLogger("interopgate.site")

STORAGE_CLASSES = [
    sop.ComputedRadiographyImageStorage,
    sop.DigitalXRayImageStorageForPresentation,
    sop.DigitalXRayImageStorageForProcessing,
    sop.SecondaryCaptureImageStorage,
    sop.CTImageStorage,
    sop.MRImageStorage,
]
QUERY_MODELS = {
    sop.StudyRootQueryRetrieveInformationModelFind: "STUDY_ROOT",
    sop.PatientRootQueryRetrieveInformationModelFind: "PATIENT_ROOT",
}
RETRIEVE_CLASSES = [
    sop.StudyRootQueryRetrieveInformationModelMove,
    sop.StudyRootQueryRetrieveInformationModelGet,
    sop.PatientRootQueryRetrieveInformationModelMove,
    sop.PatientRootQueryRetrieveInformationModelGet,
]
ALL_TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
]
LEVEL_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}

# Status codes, PS3.4 C.4 / B.2.3 / PS3.7 C.
SUCCESS, PENDING, CANCEL = 0x0000, 0xFF00, 0xFE00
PROCESSING_FAILURE, OUT_OF_RESOURCES = 0x0110, 0xA700
IDENTIFIER_MISMATCH, UNABLE_TO_PROCESS = 0xA900, 0xC000


@dataclass
class SiteConfig:
    ae_title: str = "IG_PACS"
    host: str = "127.0.0.1"
    dicom_port: int = 0
    hl7_port: int = 0
    max_pdu: int = 16384
    faults: frozenset[str] = frozenset()
    move_destinations: dict[str, tuple[str, int]] = field(default_factory=dict)
    hl7_cancel: str = "remove"  # what an HL7 cancel does: "remove" | "mark" (profile hl7.cancel)
    hl7_cancel_status: str = "CANCELED"  # with "mark": Scheduled Procedure Step Status
    max_associations: int = 32  # beyond: A-ASSOCIATE-RJ 2/3/2 local-limit-exceeded (PS3.8 9.3.4)
    # Transport security and access control (site/security.py; profile target.tls and
    # target.access_control): "off" | "required" | "optional", on DICOM and/or HL7.
    tls_mode: str = "off"
    tls_services: frozenset[str] = frozenset({"dicom"})
    tls_dir: Path | None = None  # where the site writes its own test PKI
    known_calling_aes: frozenset[str] | None = None  # None: every calling AE is served

    def __post_init__(self) -> None:
        self.faults = frozenset(FaultSet(self.faults))  # UnknownFault (a ValueError) on a typo


class ReferenceSite:
    """Start with :meth:`start` (or ``with``); the DICOM address is :attr:`dicom_address`."""

    def __init__(self, config: SiteConfig | None = None) -> None:
        self.config = config or SiteConfig()
        self.instances: dict[str, Dataset] = {}
        # The worklist in arrival order, by identity (an item may equal another and still be
        # its own entry), and the index of the step keys that decide replacement: adding
        # one item is O(1) however many are held (a full-day sweep adds 1,440 one by one).
        self._worklist: dict[int, tuple[Dataset, tuple[str, str, str] | None]] = {}
        self._worklist_by_key: dict[tuple[str, str, str], Dataset] = {}
        self._lock = threading.Lock()
        self._pdata_count: dict[int, int] = {}
        self._server = None
        self._stores = 0  # C-STORE requests answered (the load faults count them)
        self._released = threading.Event()  # set on stop: a held association goes
        self._relay: WireRelay | None = None
        self.faults = FaultSet(self.config.faults)
        self._find = FindResponder(self.faults)
        self.mpps = MppsSCP(self.faults)
        self.commitment = CommitmentSCP(
            self.faults, self._held_class, self.config.ae_title, self.config.move_destinations
        )
        self._hl7 = None  # site/hl7_listener.HL7Interface, started with the SCP
        self.security: SiteSecurity | None = None  # made at start (its PKI, its contexts)
        self.dicom_address: tuple[str, int] = (self.config.host, 0)
        self.hl7_address: tuple[str, int] = (self.config.host, 0)

    # ---------------------------------------------------------------- lifecycle

    def has(self, fault: str) -> bool:
        return fault in self.faults

    def _build_ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        ae.maximum_pdu_size = self.config.max_pdu
        ae.require_called_aet = not self.has("any-called-ae")
        ae.maximum_associations = self.config.max_associations
        ae.network_timeout = 30
        syntaxes = [ImplicitVRLittleEndian] if self.has("implicit-only") else ALL_TRANSFER_SYNTAXES
        services = [sop.Verification, sop.ModalityWorklistInformationFind, *QUERY_MODELS]
        services += [*RETRIEVE_CLASSES, sop.ModalityPerformedProcedureStep]
        services += [sop.StorageCommitmentPushModel]
        for uid in services:
            ae.add_supported_context(uid, syntaxes)
        storage = [
            uid
            for uid in STORAGE_CLASSES
            if not (self.has("reject-cr-storage") and uid == sop.ComputedRadiographyImageStorage)
        ]
        if self.has("accept-all-contexts"):
            storage += [
                uid
                for uid in sop._STORAGE_CLASSES.values()  # every storage SOP class pynetdicom knows
                if uid not in storage
            ]
        for uid in storage:
            # scu_role so that C-GET can send C-STORE back over the same association.
            ae.add_supported_context(uid, syntaxes, scu_role=True, scp_role=True)
        for uid in STORAGE_CLASSES:
            # What a C-MOVE sub-association to the destination proposes (PS3.4 C.4.2.2).
            ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        return ae

    def start(self) -> ReferenceSite:
        ae = self._build_ae()
        cfg = self.config
        self.security = SiteSecurity(self.faults, cfg.tls_mode, cfg.tls_dir, cfg.known_calling_aes)
        ae.require_calling_aet = self.security.required_calling_aes()
        dicom_tls = self.security.ssl_context() if "dicom" in cfg.tls_services else None
        handlers = [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_GET, self._on_get),
            (evt.EVT_C_MOVE, self._on_move),
            (evt.EVT_N_CREATE, self.mpps.on_create),
            (evt.EVT_N_SET, self.mpps.on_set),
            (evt.EVT_N_ACTION, self.commitment.on_action),
            (evt.EVT_DATA_RECV, self._on_data),
            (evt.EVT_CONN_OPEN, self._on_conn_open),
        ]
        self._server = tuning.start_server(
            ae,
            (self.config.host, self.config.dicom_port),
            evt_handlers=handlers,
            ssl_context=dicom_tls,  # type: ignore[arg-type]  # or tls.PlainOrTls
        )
        address = self._server.server_address[:2]
        wire_faults = self.faults.layer("wire")
        if wire_faults:
            self._relay = WireRelay(address, wire_faults, self.config.ae_title).start()
            address = self._relay.address
        self.dicom_address = (str(address[0]), int(address[1]))
        log.info("reference site %s on %s:%s", self.config.ae_title, *self.dicom_address)
        self._start_hl7()
        return self

    def _start_hl7(self) -> None:
        """The HL7 (MLLP) interface feeding the worklist (IHE RAD SWF), beside the SCP."""
        from interopgate.site.hl7_listener import HL7Interface

        security = self.security or SiteSecurity(self.faults, "off", None, None)
        self._hl7 = HL7Interface(
            self.add_worklist_items,
            self.remove_worklist_items,
            faults=self.faults.layer("hl7"),
            host=self.config.host,
            port=self.config.hl7_port,
            cancel=self.config.hl7_cancel,
            cancel_status=self.config.hl7_cancel_status,
            ssl_context=security.ssl_context() if "hl7" in self.config.tls_services else None,
        ).start()
        self.hl7_address = self._hl7.address

    def stop(self) -> None:
        self._released.set()
        if self._hl7:
            self._hl7.stop()
            self._hl7 = None
        if self._relay:
            self._relay.stop()
        if self._server:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> ReferenceSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- data

    def add_instances(self, datasets: Iterable[Dataset]) -> None:
        with self._lock:
            for ds in datasets:
                self.instances[str(ds.SOPInstanceUID)] = ds

    def _held_class(self, sop_instance_uid: str) -> str | None:
        """The SOP Class UID of a held instance (what Storage Commitment reports on)."""
        with self._lock:
            ds = self.instances.get(sop_instance_uid)
        return None if ds is None else str(ds.SOPClassUID)

    @property
    def worklist(self) -> list[Dataset]:
        """The held worklist items, oldest first: a copy taken under the site's lock, so
        that neither a C-FIND nor a test iterates a list the HL7 listener is changing."""
        with self._lock:
            return [item for item, _ in self._worklist.values()]

    def add_worklist_items(self, items: Iterable[Dataset]) -> None:
        """Store the items as given. Re-seeding is idempotent: an item naming the same
        Scheduled Procedure Step (Accession Number, Requested Procedure ID and SPS ID)
        replaces the old one; an item without all three is kept beside the others."""
        with self._lock:
            for item in items:
                key = _worklist_key(item)
                again = self._worklist.pop(id(item), None)  # the same object: moved last
                if again is not None and again[1] is not None:
                    self._worklist_by_key.pop(again[1], None)
                if key is not None:
                    old = self._worklist_by_key.pop(key, None)
                    if old is not None:
                        self._worklist.pop(id(old), None)
                    self._worklist_by_key[key] = item
                self._worklist[id(item)] = (item, key)

    def remove_worklist_items(self, items: Iterable[Dataset]) -> None:
        """Remove these item objects (by identity: equal items may be distinct entries)."""
        with self._lock:
            for item in items:
                _, key = self._worklist.pop(id(item), (None, None))
                if key is not None and self._worklist_by_key.get(key) is item:
                    del self._worklist_by_key[key]

    # ---------------------------------------------------------------- handlers

    def _on_data(self, event: evt.Event) -> None:
        if event.data[:1] == b"\x04":  # P-DATA-TF (PS3.8 9.3.5)
            key = id(event.assoc)
            self._pdata_count[key] = self._pdata_count.get(key, 0) + 1

    def _on_conn_open(self, event: evt.Event) -> None:
        no_delay(event.assoc)
        if self.has("association-limit-hang"):
            others = [a for a in event.assoc.ae.active_associations if a.is_acceptor]
            if len(others) >= self.config.max_associations:
                self._released.wait(60)  # the defect: no A-ASSOCIATE-AC or -RJ, ever

    def _on_echo(self, event: evt.Event) -> int:
        return PROCESSING_FAILURE if self.has("echo-failure") else SUCCESS

    def _on_store(self, event: evt.Event) -> int | Dataset:
        # P-DATA-TF PDUs since the previous C-STORE: 1 for the command + at least 1 for the
        # data set; more means the data set was fragmented over several PDUs.
        pdus = self._pdata_count.pop(id(event.assoc), 0)
        if self.has("fragmented-dataset-rejected") and pdus > 2:
            return OUT_OF_RESOURCES
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
        except Exception:
            return 0xC210  # Cannot understand (PS3.4 B.2.3)
        if self.has("storage-large-instance-dropped") and len(ds.get("PixelData") or b"") > 2**24:
            return SUCCESS
        with self._lock:
            self._stores += 1
            tenth = self._stores % 10 == 0
        if self.has("storage-busy-under-load") and tenth:
            return OUT_OF_RESOURCES
        if self.has("storage-slow-under-load"):
            self._released.wait(6.0)
        if self.has("storage-dropped-under-load") and tenth:
            return SUCCESS
        if self.has("storage-coercion-without-warning") and "PatientName" in ds:
            ds.PatientName = str(ds.PatientName).upper()
        status = self._store_faults(ds)
        if status is not None:
            return status
        self._keep(ds)
        return SUCCESS

    def _store_faults(self, ds: Dataset) -> int | Dataset | None:
        """What a faulty storage SCP does to an instance before keeping it: a status to
        answer without keeping it, a warning status after keeping it, or None."""
        if self.has("storage-instance-dropped") and "2022" in str(
            ds.get("SpecificCharacterSet", "")
        ):
            return SUCCESS
        if self.has("storage-type1-emptied") and "Modality" in ds:
            ds.Modality = ""
        if self.has("storage-warning-b006") and any(e.tag.is_private for e in ds):
            offending = [e.tag for e in ds if e.tag.is_private]
            for tag in offending:
                del ds[tag]
            self._keep(ds)
            status = Dataset()
            status.Status = 0xB006  # Elements discarded (PS3.4 B.2.3)
            status.ErrorComment = "private elements discarded"
            status.OffendingElement = offending
            return status
        return None

    def _keep(self, ds: Dataset) -> None:
        uid = str(ds.SOPInstanceUID)
        if self.has("storage-restore-duplicates"):
            with self._lock:
                if uid in self.instances:
                    uid = f"{uid}#{len(self.instances)}"  # a second record, same UID
        with self._lock:
            self.instances[uid] = ds

    def _on_find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        assert self.security is not None
        refusal = self.security.refusal(event.assoc.requestor.ae_title, self._names_of(query))
        if refusal is not None:
            yield refusal, None
            return
        worklist = event.context.abstract_syntax == sop.ModalityWorklistInformationFind
        if worklist:
            candidates = self.worklist  # a snapshot (the property copies under the lock)
        else:
            level = str(query.get("QueryRetrieveLevel", "")).strip()
            if level not in LEVEL_KEYS:
                yield IDENTIFIER_MISMATCH, None
                return
            candidates = self._unique_at_level(level)
        yield from self._find.respond(event, query, candidates, worklist)

    def _names_of(self, query: Dataset) -> list[str]:
        """The held patients' names for the query's Patient ID (what a leak would name)."""
        wanted = str(query.get("PatientID", "") or "").strip()
        worklist = self.worklist
        with self._lock:
            held = [*worklist, *self.instances.values()]
        names = {
            str(ds.get("PatientName", "")) for ds in held if str(ds.get("PatientID", "")) == wanted
        }
        return sorted(name for name in names if name)

    def _unique_at_level(self, level: str) -> list[Dataset]:
        key = LEVEL_KEYS[level]
        seen: dict[str, Dataset] = {}
        with self._lock:
            for ds in self.instances.values():
                seen.setdefault(str(ds.get(key, "")), ds)
        return list(seen.values())

    def _matching_instances(self, query: Dataset) -> list[Dataset] | None:
        level = str(query.get("QueryRetrieveLevel", "")).strip()
        if level not in LEVEL_KEYS:
            return None
        options = MatchOptions()
        keys = matching_keys(query, options)
        with self._lock:
            return [
                ds for ds in self.instances.values() if dataset_matches(query, ds, options, keys)
            ]

    def _on_get(self, event: evt.Event) -> Iterator[object]:
        yield from self._sub_operations(event)

    def _sub_operations(self, event: evt.Event) -> Iterator[object]:
        """What pynetdicom's C-GET/C-MOVE handlers yield after the destination: the number
        of sub-operations, then one instance each, stopping on C-CANCEL (PS3.4 C.4.2.3)."""
        matches = self._matching_instances(event.identifier)
        if matches is None:
            yield IDENTIFIER_MISMATCH, None
            return
        if self.has("get-instance-sent-twice") and matches and _is_get(event):
            matches = [matches[0], *matches]
        yield len(matches) + (1 if self.has("move-wrong-sub-operation-counts") else 0)
        for ds in matches:
            if event.is_cancelled and not self.has("move-cancel-ignored"):
                yield CANCEL, None
                return
            yield PENDING, ds

    def _on_move(self, event: evt.Event) -> Iterator[object]:
        destination = self.config.move_destinations.get(event.move_destination.strip())
        if destination is None:
            yield None, None  # pynetdicom answers A801 (move destination unknown)
            return
        yield destination
        several = len(self._matching_instances(event.identifier) or []) > 1
        yield from self._sub_operations(event)
        if self.has("move-final-response-missing") and several and not event.is_cancelled:
            _wait_until_closed(event.assoc)


def _is_get(event: evt.Event) -> bool:
    return event.context.abstract_syntax in (
        sop.StudyRootQueryRetrieveInformationModelGet,
        sop.PatientRootQueryRetrieveInformationModelGet,
    )


def _wait_until_closed(assoc, limit: float = 60.0) -> None:
    """Hold the C-MOVE handler (no final response) until the peer gives up. The handler
    runs on the association's reactor thread, which is what would clear
    ``is_established``: the DUL thread's state (Sta1, idle: the peer's A-ABORT or closed
    connection, PS3.8 9.2) is what shows the peer has gone."""
    deadline = time.monotonic() + limit
    dul = getattr(assoc, "dul", None)
    while assoc.is_established and time.monotonic() < deadline:
        if dul is not None and dul.state_machine.current_state == "Sta1":
            return
        time.sleep(0.1)


def _worklist_key(item: Dataset) -> tuple[str, str, str] | None:
    """The step an item schedules: SPS ID (0040,0009) within its Requested Procedure ID
    (0040,1001) within the Imaging Service Request's Accession Number (0008,0050),
    PS3.3 C.4.10 to C.4.12. None when one is empty: one accession spans several
    procedures and steps, and steps without IDs cannot be told apart, so such items are
    never merged."""
    steps = item.get("ScheduledProcedureStepSequence") or [Dataset()]
    key = (
        str(item.get("AccessionNumber", "") or "").strip(),
        str(item.get("RequestedProcedureID", "") or "").strip(),
        str(steps[0].get("ScheduledProcedureStepID", "") or "").strip(),
    )
    return key if all(key) else None
