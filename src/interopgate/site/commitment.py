"""The embedded site as Storage Commitment Push Model SCP (PS3.4 J.3).

An N-ACTION-RQ (Action Type ID 1, Request Storage Commitment) with a Transaction UID and
a Referenced SOP Sequence is answered at once; the result follows as an N-EVENT-REPORT
(J.3.3.1.1): Event Type ID 1 when every instance is held, 2 with a Failed SOP Sequence
whose items carry a Failure Reason (0112H, No such object instance, for one never
received). The report goes on a new association to the requester's AE when the site
knows its address (the SCP is then association requester and negotiates the SCP role,
J.3.3.1.2), else on the association of the request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, Association, build_role, evt
from pynetdicom import sop_class as sop

from interopgate.site.faults import FaultSet

log = logging.getLogger("interopgate.site")

WELL_KNOWN_INSTANCE = "1.2.840.10008.1.20.1.1"  # PS3.4 J.3.5 (Storage Commitment Push Model)
SUCCESS, NO_SUCH_ACTION, INVALID_VALUE, MISSING_ATTRIBUTE = 0x0000, 0x0123, 0x0106, 0x0120
NO_SUCH_OBJECT = 0x0112  # Failure Reason (0008,1197), PS3.4 J.3.2.1.1.2
CLASS_INSTANCE_CONFLICT = 0x0119
ALL_SUCCEEDED, FAILURES_EXIST = 1, 2

# The SOP class of an instance the site holds, by SOP Instance UID (None: not held).
Holdings = Callable[[str], str | None]


class CommitmentSCP:
    """N-ACTION handler; the report is sent from a thread of its own."""

    def __init__(
        self,
        faults: FaultSet,
        holdings: Holdings,
        ae_title: str,
        destinations: dict[str, tuple[str, int]],
    ) -> None:
        self.faults = faults
        self.holdings = holdings
        self.ae_title = ae_title
        self.destinations = destinations
        self.delay = 0.05  # after the N-ACTION-RSP has gone out
        # The status of the answer to each report sent on the request's association
        # (None: none came), so a test can see the requester answered before releasing.
        self.answers: list[int | None] = []

    def on_action(self, event: evt.Event) -> tuple[int, Dataset | None]:
        if int(event.request.ActionTypeID) != 1 or self.faults.has("commitment-not-implemented"):
            return NO_SUCH_ACTION, None
        info = event.action_information
        if "TransactionUID" not in info or "ReferencedSOPSequence" not in info:
            return MISSING_ATTRIBUTE, None
        report = self._report(info)
        if not self.faults.has("commitment-report-never-sent"):
            calling = str(event.assoc.requestor.ae_title).strip()
            threading.Thread(
                target=self._send,
                args=(event.assoc, calling, report),
                name="commitment report",
                daemon=True,
            ).start()
        return SUCCESS, None

    def _report(self, info: Dataset) -> tuple[int, Dataset]:
        """Event Type ID and Event Information of the report (PS3.4 Table J.3-2)."""
        done, failed = [], []
        for ref in info.ReferencedSOPSequence:
            held = self.holdings(str(ref.ReferencedSOPInstanceUID))
            item = Dataset()
            item.ReferencedSOPClassUID = ref.ReferencedSOPClassUID
            item.ReferencedSOPInstanceUID = ref.ReferencedSOPInstanceUID
            if held is None and not self.faults.has("commitment-success-for-missing"):
                item.FailureReason = NO_SUCH_OBJECT
                failed.append(item)
            elif held is not None and held != str(ref.ReferencedSOPClassUID):
                item.FailureReason = CLASS_INSTANCE_CONFLICT
                failed.append(item)
            else:
                done.append(item)
        if self.faults.has("commitment-report-incomplete") and len(done) > 1:
            done = done[:-1]
        result = Dataset()
        result.TransactionUID = info.TransactionUID
        result.RetrieveAETitle = self.ae_title
        if done:
            result.ReferencedSOPSequence = done
        if failed:
            result.FailedSOPSequence = failed
        return (FAILURES_EXIST if failed else ALL_SUCCEEDED), result

    def _send(self, assoc: Association, calling: str, report: tuple[int, Dataset]) -> None:
        time.sleep(self.delay)
        event_type, information = report
        destination = self.destinations.get(calling)
        try:
            if destination is None:
                if assoc.is_established:
                    status, _ = assoc.send_n_event_report(
                        information,
                        event_type,
                        sop.StorageCommitmentPushModel,
                        WELL_KNOWN_INSTANCE,
                    )
                    self.answers.append(int(status.Status) if "Status" in status else None)
                return
            self._send_on_new_association(calling, destination, event_type, information)
        except Exception:  # a report that cannot be delivered is what the check sees
            log.exception("storage commitment report to %s not delivered", calling)

    def _send_on_new_association(
        self, calling: str, destination: tuple[str, int], event_type: int, information: Dataset
    ) -> None:
        ae = AE(ae_title=self.ae_title)
        ae.add_requested_context(
            sop.StorageCommitmentPushModel, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        )
        role = build_role(sop.StorageCommitmentPushModel, scp_role=True)  # PS3.7 D.3.3.4
        assoc = ae.associate(*destination, ae_title=calling, ext_neg=[role])
        if not assoc.is_established:
            log.warning("storage commitment report: association to %s refused", calling)
            return
        try:
            assoc.send_n_event_report(
                information, event_type, sop.StorageCommitmentPushModel, WELL_KNOWN_INSTANCE
            )
        finally:
            assoc.release()
