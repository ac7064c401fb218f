"""The device's own SCP: what a target sends back to the harness on an association it
opens itself.

Two services a modality or workstation offers at the AE title and port the target knows
it by (``RunningTarget.move_destination``): storage, for the C-STORE sub-operations of a
C-MOVE (PS3.4 C.4.2.2), and the Storage Commitment report, an N-EVENT-REPORT the
commitment SCP sends on a new association where it is the association requester but
plays the SCP role, negotiated with SCP/SCU Role Selection (PS3.4 J.3.3.1.2, PS3.7
D.3.3.4). Whatever arrives is kept with the association it came on, for the checks to
judge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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

SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
]


@dataclass
class Report:
    """One Storage Commitment N-EVENT-REPORT (PS3.4 J.3.3)."""

    event_type: int
    information: Dataset
    calling_ae: str
    same_association: bool
    role_selection: bool  # the requester negotiated the SCP role for the SOP class
    at: float = field(default_factory=time.monotonic)

    @property
    def transaction_uid(self) -> str:
        return str(self.information.get("TransactionUID", ""))


@dataclass
class Received:
    """One instance a C-STORE delivered to the listener."""

    dataset: Dataset
    calling_ae: str
    status: int


class DeviceListener:
    """A pynetdicom SCP on ``port`` as ``ae_title``: storage and commitment reports."""

    def __init__(
        self, ae_title: str, host: str, port: int, storage_classes: Sequence[str] = ()
    ) -> None:
        self.ae_title = ae_title
        self.address = (host, port)
        # The classes the checks retrieve first: at most 128 contexts (PS3.8 9.3.2.2).
        known = [uid for uid in sop._STORAGE_CLASSES.values() if uid not in storage_classes]
        self.storage_classes = [*storage_classes, *known][:110]
        self.reports: list[Report] = []
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._server = None
        # While set, the storage handler waits on it before answering: a C-MOVE's first
        # sub-operation held open so that a C-CANCEL meets sub-operations still to come.
        self.gate: threading.Event | None = None

    def start(self) -> DeviceListener:
        ae = AE(ae_title=self.ae_title)
        ae.maximum_associations = 16
        ae.network_timeout = 30
        ae.require_called_aet = False
        # The target is the requester and takes the SCP role (PS3.4 J.3.3.1.2).
        ae.add_supported_context(
            sop.StorageCommitmentPushModel, SYNTAXES, scu_role=False, scp_role=True
        )
        for uid in self.storage_classes:
            ae.add_supported_context(uid, SYNTAXES)
        handlers = [
            (evt.EVT_N_EVENT_REPORT, self.on_report),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_CONN_OPEN, lambda event: no_delay(event.assoc)),
        ]
        self._server = tuning.start_server(ae, self.address, evt_handlers=handlers)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> DeviceListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_report(
        self, event: evt.Event, *, same_association: bool = False
    ) -> tuple[int, Dataset | None]:
        """EVT_N_EVENT_REPORT: keep the report, answer Success. Also bound on the
        device's own association, for a report sent there (``same_association``)."""
        assoc = event.assoc
        role = not same_association and any(
            getattr(cx, "as_scp", False) is False and getattr(cx, "as_scu", False)
            for cx in assoc.accepted_contexts
            if cx.abstract_syntax == sop.StorageCommitmentPushModel
        )
        report = Report(
            event_type=int(event.request.EventTypeID),
            information=event.event_information,
            calling_ae=str(assoc.requestor.ae_title).strip(),
            same_association=same_association,
            role_selection=role,
        )
        with self._changed:
            self.reports.append(report)
            self._changed.notify_all()
        return 0x0000, None

    def _on_store(self, event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self._changed:
            self.received.append(Received(ds, str(event.assoc.requestor.ae_title).strip(), 0))
            self._changed.notify_all()
        gate = self.gate
        if gate is not None:
            gate.wait(30)
        return 0x0000

    def wait_for(self, found: Callable[[], object], timeout: float) -> object:
        """Wait until ``found()`` is truthy (a report, enough instances) or ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := found()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            return result

    def report_for(self, transaction_uid: str, timeout: float) -> Report | None:
        def match() -> Report | None:
            return next((r for r in self.reports if r.transaction_uid == transaction_uid), None)

        return self.wait_for(match, timeout)  # type: ignore[return-value]
