"""Storage Commitment as the modality asks for it (PS3.4 J.3, IHE RAD-10).

The modality stores its images, then sends an N-ACTION (Request Storage Commitment) to
the well-known SOP instance with a Transaction UID and the instances it wants committed,
and keeps its association open while it waits for the N-EVENT-REPORT: the target may
send it there or on a new association to the device's own SCP
(:class:`~interopgate.dicom.listener.DeviceListener`), J.3.3.1.2. :func:`request` does
exactly that and returns what came back, when and where, for the checks to judge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import Association, evt
from pynetdicom import sop_class as sop

from interopgate.device import DeviceClient
from interopgate.dicom.association import describe_context
from interopgate.dicom.listener import DeviceListener, Report
from interopgate.mpps import Reply, reply_of
from interopgate.verdict import CheckContext

SOP_CLASS = sop.StorageCommitmentPushModel
WELL_KNOWN_INSTANCE = "1.2.840.10008.1.20.1.1"  # PS3.4 J.3.5
REQUEST_STORAGE_COMMITMENT = 1  # Action Type ID, PS3.4 Table J.3-1
ALL_SUCCEEDED, FAILURES_EXIST = 1, 2  # Event Type ID, PS3.4 Table J.3-2
P_DATA_TF = 0x04  # PDU-type of a P-DATA-TF PDU, PS3.8 9.3.5


def report_answered(assoc: Association) -> threading.Event:
    """An event set once the answer to an N-EVENT-REPORT received on ``assoc`` (the
    first P-DATA-TF after it) is on the wire. The release waits for it: pynetdicom sends
    the answer after the handler returns, and drops it once it awaits the A-RELEASE-RP
    (Sta7), which would leave the target's report unanswered."""
    received, answered = threading.Event(), threading.Event()

    def on_received(event: evt.Event) -> None:
        if type(event.message).__name__ == "N_EVENT_REPORT_RQ":
            received.set()

    def on_sent(event: evt.Event) -> None:
        if received.is_set() and event.pdu.pdu_type == P_DATA_TF:
            answered.set()

    assoc.bind(evt.EVT_DIMSE_RECV, on_received)
    assoc.bind(evt.EVT_PDU_SENT, on_sent)
    return answered


def reference(ds: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    return item


def action_information(instances: Sequence[Dataset], transaction_uid: str) -> Dataset:
    info = Dataset()
    info.TransactionUID = transaction_uid
    info.ReferencedSOPSequence = [reference(ds) for ds in instances]
    return info


@dataclass
class Outcome:
    """What one commitment request brought back."""

    transaction_uid: str
    reply: Reply
    report: Report | None = None
    waited: float = 0.0

    def where(self) -> str:
        if self.report is None:
            return "nowhere"
        if self.report.same_association:
            return "on the association of the N-ACTION"
        role = "with" if self.report.role_selection else "without"
        return f"on a new association from {self.report.calling_ae!r} ({role} SCP role selection)"


def listed(report: Report, keyword: str) -> dict[str, Dataset]:
    """The items of the report's Referenced SOP Sequence or Failed SOP Sequence, by
    SOP Instance UID."""
    items = report.information.get(keyword) or []
    return {str(item.ReferencedSOPInstanceUID): item for item in items}


def store(device: DeviceClient, check: CheckContext, images: Sequence[Dataset]) -> None:
    """C-STORE the images as the modality does before it asks for commitment; a store
    that fails fails the check naming this step."""
    classes = sorted({str(ds.SOPClassUID) for ds in images})
    with device.associate(classes) as (assoc, negotiation):
        check.expect(
            negotiation.established,
            "association for C-STORE before the commitment request",
            expected="an established association (A-ASSOCIATE-AC)",
            observed=negotiation.outcome(),
        )
        for ds in images:
            status = assoc.send_c_store(ds)
            code = int(status.Status) if status is not None and "Status" in status else None
            check.expect(
                code == 0x0000,
                f"C-STORE of {ds.SOPInstanceUID} before the commitment request",
                expected="status 0000H",
                observed="no response" if code is None else f"status {code:04X}H",
            )


def request(
    device: DeviceClient,
    check: CheckContext,
    instances: Sequence[Dataset],
    listener: DeviceListener,
    timeout: float | None,
) -> Outcome:
    """Send the N-ACTION and wait up to ``timeout`` seconds for its report, on this
    association or at ``listener`` (``None``: do not wait); the association is released
    afterwards."""
    transaction_uid = generate_uid(prefix=None)
    with device.associate([SOP_CLASS]) as (assoc, negotiation):
        subject = f"association for Storage Commitment from {device.ae_title}"
        check.expect(
            negotiation.established,
            subject,
            expected="an established association (A-ASSOCIATE-AC)",
            observed=negotiation.outcome(),
        )
        answer = negotiation.context(SOP_CLASS)[1]
        check.expect(
            answer is not None and answer.result == 0,
            subject,
            expected="the Storage Commitment Push Model context accepted",
            observed=describe_context(answer),
        )
        assoc.bind(
            evt.EVT_N_EVENT_REPORT,
            lambda event: listener.on_report(event, same_association=True),
        )
        answered = report_answered(assoc)
        status, _ = assoc.send_n_action(
            action_information(instances, transaction_uid),
            REQUEST_STORAGE_COMMITMENT,
            SOP_CLASS,
            WELL_KNOWN_INSTANCE,
        )
        outcome = Outcome(transaction_uid, reply_of(status))
        device.transcript.note(
            f"N-ACTION Request Storage Commitment, Transaction UID {transaction_uid}, "
            f"{len(instances)} instance(s): {outcome.reply}"
        )
        if outcome.reply.status != 0x0000 or timeout is None:
            return outcome
        start = time.monotonic()
        outcome.report = listener.report_for(transaction_uid, timeout)
        outcome.waited = time.monotonic() - start
        if outcome.report is not None and outcome.report.same_association:
            answered.wait(device.endpoint.dimse_timeout)
    if outcome.report is not None:
        device.transcript.note(
            f"N-EVENT-REPORT Event Type ID {outcome.report.event_type} after "
            f"{outcome.waited:.2f} s {outcome.where()}:\n{outcome.report.information}"
        )
    return outcome
