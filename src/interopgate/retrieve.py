"""Retrieve (PS3.4 C.4.2 C-MOVE, C.4.3 C-GET): the harness as retrieving SCU.

The harness retrieves what the target holds whether or not the device proposes C-MOVE or
C-GET itself: a modality's images are only verified stored once they come back. C-MOVE
sends them to the device's own SCP (:class:`~interopgate.dicom.listener.DeviceListener`,
at the address the target knows as move destination); C-GET brings them back on the
same association, the device taking the SCP role for the storage classes by SCP/SCU
Role Selection (PS3.7 D.3.3.4).

:class:`Retrieval` keeps every response and every instance that arrived, in order;
:func:`count_problems` judges the Number of Remaining/Completed/Failed/Warning
Sub-operations of the pending and final responses (PS3.4 C.4.2.1.6, C.4.3.1.6) against
what arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pynetdicom import evt

from interopgate.device import DeviceClient
from interopgate.dicom import uids
from interopgate.dicom.listener import DeviceListener

SUCCESS, CANCEL = 0x0000, 0xFE00
PENDING = (0xFF00, 0xFF01)
COUNTS = (
    "NumberOfRemainingSuboperations",
    "NumberOfCompletedSuboperations",
    "NumberOfFailedSuboperations",
    "NumberOfWarningSuboperations",
)
# The unique keys above and at each level (PS3.4 C.4.2.2.1.1 hierarchical retrieve).
LEVEL_KEYS = {
    "PATIENT": ["PatientID"],
    "STUDY": ["StudyInstanceUID"],
    "SERIES": ["StudyInstanceUID", "SeriesInstanceUID"],
    "IMAGE": ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
}


def identifier(sop_class: str, level: str, instance: Dataset) -> Dataset:
    """The retrieve identifier for ``instance``'s entity at ``level``: Patient Root puts
    Patient ID above every level, Study Root starts at the study (PS3.4 C.6.1, C.6.2)."""
    keys = list(LEVEL_KEYS[level])
    if "PatientRoot" in uids.resolve(sop_class).keyword and level != "PATIENT":
        keys.insert(0, "PatientID")
    query = Dataset()
    query.QueryRetrieveLevel = level
    for key in keys:
        setattr(query, key, instance.get(key))
    return query


def counts(response: Dataset) -> tuple[int, int, int, int]:
    """(remaining, completed, failed, warning); an absent count is 0."""
    return tuple(int(response.get(k) or 0) for k in COUNTS)  # type: ignore[return-value]


def status_text(response: Dataset | None) -> str:
    if response is None or "Status" not in response:
        return "no response (association aborted or DIMSE timeout)"
    return f"status {int(response.Status):04X}H"


@dataclass
class Retrieval:
    operation: str  # "C-MOVE" or "C-GET"
    responses: list[Dataset] = field(default_factory=list)
    arrived: list[Dataset] = field(default_factory=list)  # in order, repeats kept
    refused: str | None = None  # the association or context was not accepted
    cancel_sent: bool = False
    waited: float = 0.0

    @property
    def pending(self) -> list[Dataset]:
        return [r for r in self.responses if "Status" in r and int(r.Status) in PENDING]

    @property
    def final(self) -> Dataset | None:
        """The last response when it is not pending; None when the operation never ended
        (no response after the pending ones: an abort or a DIMSE timeout)."""
        last = self.responses[-1] if self.responses else None
        if last is None or "Status" not in last or int(last.Status) in PENDING:
            return None
        return last

    def arrived_uids(self) -> list[str]:
        return [str(ds.SOPInstanceUID) for ds in self.arrived]


def move(
    device: DeviceClient,
    listener: DeviceListener,
    sop_class: str,
    query: Dataset,
    wanted: Sequence[str],
    *,
    cancel: bool = False,
) -> Retrieval:
    """C-MOVE ``query`` to the listener; with ``cancel``, hold the first sub-operation at
    the listener, send C-CANCEL-MOVE-RQ meanwhile, then let it go (PS3.4 C.4.2.3.1)."""
    result = Retrieval("C-MOVE")
    before = len(listener.received)
    wanted_set = set(wanted)
    gate = threading.Event()
    if cancel:
        listener.gate = gate
    try:
        with device.associate([sop_class]) as (assoc, negotiation):
            if not assoc.is_established or not _accepted(negotiation, sop_class):
                result.refused = negotiation.outcome()
                return result
            canceller = None
            if cancel:
                canceller = threading.Thread(
                    target=_cancel_when_first_arrives,
                    args=(device, assoc, listener, before, gate, result, sop_class),
                    daemon=True,
                )
                canceller.start()
            started = time.monotonic()
            for status, _ in assoc.send_c_move(query, listener.ae_title, sop_class, msg_id=1):
                result.responses.append(status)
                if "Status" not in status:
                    break
            result.waited = time.monotonic() - started
            gate.set()
            if canceller is not None:
                canceller.join(5)
    finally:
        listener.gate = None
        gate.set()
    final = result.final
    expected = len(wanted_set)
    if final is not None:
        expected = counts(final)[1] + counts(final)[3]
    # The sub-operations ran on other associations before the final response; a short
    # grace for a target that answers first.
    listener.wait_for(
        lambda: (
            sum(str(r.dataset.SOPInstanceUID) in wanted_set for r in listener.received[before:])
            >= expected
        ),
        0.5,
    )
    result.arrived = [r.dataset for r in listener.received[before:]]
    return result


def _cancel_when_first_arrives(device, assoc, listener, before, gate, result, sop_class) -> None:
    """C-CANCEL while the first C-STORE sub-operation is held open at the listener."""
    if listener.wait_for(lambda: len(listener.received) > before, 10):
        device.transcript.note(">> C-CANCEL-MOVE-RQ for message 1")
        assoc.send_c_cancel(1, query_model=sop_class)
        result.cancel_sent = True
        time.sleep(cancel_hold(device.endpoint.dimse_timeout))
    gate.set()


CANCEL_HOLD = 2.0  # seconds the held sub-operation waits for the C-CANCEL to arrive


def cancel_hold(dimse_timeout: float) -> float:
    """How long the first sub-operation stays held after the C-CANCEL-MOVE-RQ went out:
    time for it to reach the target before it goes on (PS3.4 C.4.2.3.1), and at most a
    quarter of the DIMSE timeout, because the harness waits for the next C-MOVE-RSP
    meanwhile and a hold that outlasts it would fail a target that does nothing wrong."""
    return min(CANCEL_HOLD, dimse_timeout / 4)


def get(
    device: DeviceClient,
    sop_class: str,
    query: Dataset,
    storage_classes: Sequence[str],
) -> Retrieval:
    """C-GET ``query``; the C-STORE sub-operations come back on this association for the
    proposed ``storage_classes`` (PS3.4 C.4.3.3)."""
    result = Retrieval("C-GET")
    lock = threading.Lock()

    def on_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with lock:
            result.arrived.append(ds)
        return SUCCESS

    contexts = [sop_class, *dict.fromkeys(storage_classes)]
    with device.associate(
        contexts,
        scp_roles=list(dict.fromkeys(storage_classes)),
        handlers=[(evt.EVT_C_STORE, on_store)],
    ) as (assoc, negotiation):
        if not assoc.is_established or not _accepted(negotiation, sop_class):
            result.refused = negotiation.outcome()
            return result
        started = time.monotonic()
        for status, _ in assoc.send_c_get(query, sop_class, msg_id=1):
            result.responses.append(status)
            if "Status" not in status:
                break
        result.waited = time.monotonic() - started
    return result


def _accepted(negotiation, sop_class: str) -> bool:
    answer = negotiation.context(sop_class)[1]
    return answer is not None and answer.result == 0


def count_problems(result: Retrieval, wanted: Sequence[str]) -> list[str]:
    """What is wrong with the counts and deliveries of a retrieve expected to deliver
    exactly ``wanted`` (PS3.4 C.4.2.1.6, C.4.3.1.6): pending totals constant, a final
    0000H with no remaining sub-operation, completed + warning equal to the instances
    received, none failed, each wanted instance once and nothing else."""
    problems: list[str] = []
    totals = sorted({sum(counts(r)) for r in result.pending})
    if len(totals) > 1:
        problems.append(f"pending totals (remaining+completed+failed+warning) vary: {totals}")
    final = result.final
    arrived = [u for u in result.arrived_uids()]
    if final is None:
        problems.append(
            f"no final {result.operation} response after {len(result.pending)} pending "
            f"({status_text(result.responses[-1] if result.responses else None)})"
        )
    else:
        remaining, completed, failed, warning = counts(final)
        if int(final.Status) != SUCCESS:
            problems.append(f"final status {int(final.Status):04X}H")
        if remaining:
            problems.append(f"final response has {remaining} remaining sub-operation(s)")
        if completed + warning != len(arrived) or failed:
            problems.append(
                f"final counts completed {completed}, failed {failed}, warning {warning} for "
                f"{len(arrived)} instance(s) received"
            )
        if totals and totals != [remaining + completed + failed + warning]:
            problems.append(
                f"final total {remaining + completed + failed + warning} differs from the "
                f"pending total {totals}"
            )
    repeated = sorted({u for u in arrived if arrived.count(u) > 1})
    if repeated:
        problems.append(f"{len(repeated)} instance(s) received more than once: {repeated[0]}")
    extra = sorted(set(arrived) - set(wanted))
    if extra:
        problems.append(f"{len(extra)} instance(s) received that the identifier does not match")
    missing = sorted(set(wanted) - set(arrived))
    if missing:
        problems.append(f"{len(missing)} of {len(wanted)} instance(s) never received")
    return problems
