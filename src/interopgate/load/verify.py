"""After the traffic: was anything lost? Judged from the merged :class:`Ledger`.

* Orders (HL7 2.5 §2.9.2: an AA/CA ACK means the receiver has taken the message; IHE RAD
  TF-2 RAD-4 → RAD-5): each acknowledged create must be in the Modality Worklist exactly
  once, queried by its Accession Number over one association and polled until
  ``hl7.worklist_deadline``; an order a load modality performed (MPPS COMPLETED) may have
  left the worklist, as many RIS drop completed steps, so it counts as delivered when a
  modality's query listed it once. Two items for one accession in one response, during
  the run or after it, is a duplicate.
* Instances (PS3.4 B.2.3: 0000H means stored): each must be found by a Study Root C-FIND
  at IMAGE level, one query per series (PS3.4 C.4.1.3.1: hierarchical keys), where the
  target provides Study Root FIND.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from interopgate.device import DeviceClient
from interopgate.dicom.query import MODELS, FindSession, build_identifier
from interopgate.load.plan import Ledger

POLL_S = 0.25


@dataclass
class Loss:
    """What a loss check found: how many it looked for, and the ones that went wrong."""

    checked: int = 0
    lost: list[str] = field(default_factory=list)  # one line each
    duplicated: list[str] = field(default_factory=list)
    skipped: str = ""  # why the check could not run ("" when it ran)
    seconds: float = 0.0


def _count(session: FindSession, accession: str) -> int:
    identifier = build_identifier(
        MODELS["worklist"], {"AccessionNumber": accession}, ["ScheduledProcedureStepSequence"]
    )
    outcome = session.find(identifier)
    if not outcome.accepted:
        raise RuntimeError(outcome.refusal)
    return len(outcome.matches)


def orders(device: DeviceClient, ledger: Ledger, deadline: float) -> Loss:
    loss = Loss(checked=len(ledger.orders))
    started = time.monotonic()
    with FindSession(device, MODELS["worklist"]) as session:
        if session.refusal:
            loss.skipped = f"the worklist could not be queried: {session.refusal}"
            return loss
        waiting = sorted(ledger.orders)
        counts: dict[str, int] = {}
        while True:
            for accession in waiting:
                counts[accession] = _count(session, accession)
            waiting = [a for a in waiting if counts[a] == 0 and a not in ledger.performed]
            if not waiting or time.monotonic() - started >= deadline:
                break
            time.sleep(POLL_S)
    loss.seconds = time.monotonic() - started
    for accession, count in sorted(counts.items()):
        sent = ledger.orders[accession]
        seen = ledger.seen.get(accession, 0)
        if count == 0 and not (accession in ledger.performed and seen >= 1):
            loss.lost.append(
                f"accession {accession} ({sent}, acknowledged): no worklist item after "
                f"{loss.seconds:.1f} s"
            )
        elif count > 1 or seen > 1:
            loss.duplicated.append(
                f"accession {accession} ({sent}): {max(count, seen)} worklist items"
            )
    return loss


def instances(device: DeviceClient, ledger: Ledger, provided: bool) -> Loss:
    loss = Loss(checked=len(ledger.instances))
    if not ledger.instances:
        loss.skipped = "no instance was stored with success during the run"
        return loss
    if not provided:
        loss.skipped = "the target does not provide Study Root C-FIND to look instances up"
        return loss
    started = time.monotonic()
    series: dict[tuple[str, str], set[str]] = {}
    for sop_uid, (study, series_uid, _) in ledger.instances.items():
        series.setdefault((study, series_uid), set()).add(sop_uid)
    model = MODELS["study"]
    with FindSession(device, model) as session:
        if session.refusal:
            loss.skipped = f"Study Root C-FIND refused: {session.refusal}"
            return loss
        for (study, series_uid), wanted in sorted(series.items()):
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "IMAGE"
            identifier.StudyInstanceUID = study
            identifier.SeriesInstanceUID = series_uid
            identifier.SOPInstanceUID = ""
            outcome = session.find(identifier)
            found = {str(m.get("SOPInstanceUID", "")).strip() for m in outcome.matches}
            for uid in sorted(wanted - found):
                loss.lost.append(
                    f"SOP Instance UID {uid} (series {series_uid}): stored with success, "
                    "not found by C-FIND at IMAGE level"
                )
    loss.seconds = time.monotonic() - started
    return loss
