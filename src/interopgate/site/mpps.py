"""The embedded site as Modality Performed Procedure Step SCP (PS3.4 F.7).

Instances live in memory; the SCP enforces what PS3.4 F.7.2 makes the SCP's job: the
Type 1 attributes of an N-CREATE (Table F.7.2-1, SCP column 1), IN PROGRESS as the only
state an instance is created in, an N-SET only of an instance that exists and is still
IN PROGRESS (F.7.2.2: a COMPLETED or DISCONTINUED step "may no longer be updated",
0110H), and the end date and time once a final state is set. Faults (site/faults.py)
switch each rule off or make it too strict.
"""

from __future__ import annotations

import threading

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import evt

from interopgate.site.faults import FaultSet

SUCCESS = 0x0000
NO_SUCH_ATTRIBUTE, INVALID_VALUE, PROCESSING_FAILURE = 0x0105, 0x0106, 0x0110
DUPLICATE_INSTANCE, NO_SUCH_INSTANCE = 0x0111, 0x0112
MISSING_ATTRIBUTE, MISSING_VALUE = 0x0120, 0x0121

IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
STATES = (IN_PROGRESS, COMPLETED, DISCONTINUED)

# PS3.4 Table F.7.2-1: Type 1 for the SCP at N-CREATE.
CREATE_TYPE_1 = (
    "PerformedStationAETitle",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepStatus",
    "Modality",
    "PerformedProcedureStepID",
    "ScheduledStepAttributesSequence",
)
# PS3.4 F.7.2.2 (N-SET to COMPLETED or DISCONTINUED): these must then have values.
FINAL_TYPE_1 = ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime")


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]  # LO (PS3.5 6.2)
    return status


def _empty(ds: Dataset, keyword: str) -> bool:
    value = ds.get(keyword)
    return value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0)


class MppsSCP:
    """N-CREATE / N-SET handlers for the MPPS SOP class, and the instances they keep."""

    def __init__(self, faults: FaultSet) -> None:
        self.faults = faults
        self.instances: dict[str, Dataset] = {}
        self._lock = threading.Lock()

    def on_create(self, event: evt.Event) -> tuple[Dataset | int, Dataset | None]:
        ds = event.attribute_list
        uid = event.request.AffectedSOPInstanceUID
        refusal = self._create_refusal(ds)
        if refusal is not None:
            return refusal, None
        with self._lock:
            uid = str(uid) if uid else generate_uid()
            if uid in self.instances:
                return _status(DUPLICATE_INSTANCE, "MPPS instance exists already"), None
            self.instances[uid] = ds
        reply = Dataset()
        if not event.request.AffectedSOPInstanceUID:
            reply.AffectedSOPInstanceUID = uid  # PS3.7 10.1.5.1.4: the SCP assigns it
        return SUCCESS, reply or None

    def _create_refusal(self, ds: Dataset) -> Dataset | None:
        if not self.faults.has("mpps-missing-attribute-accepted"):
            for keyword in CREATE_TYPE_1:
                if keyword not in ds:
                    return _status(MISSING_ATTRIBUTE, f"{keyword} missing")
                if _empty(ds, keyword):
                    return _status(MISSING_VALUE, f"{keyword} has no value")
            if any("StudyInstanceUID" not in item for item in ds.ScheduledStepAttributesSequence):
                return _status(MISSING_ATTRIBUTE, "Scheduled Step Attributes: Study UID missing")
        if str(ds.get("PerformedProcedureStepStatus", IN_PROGRESS)) != IN_PROGRESS:
            return _status(INVALID_VALUE, "an MPPS is created IN PROGRESS")
        steps = ds.get("ScheduledStepAttributesSequence") or []
        if self.faults.has("mpps-type2-empty-refused"):
            for where in [ds, *steps]:
                empty = [elem.keyword for elem in where if elem.is_empty]
                if empty:
                    return _status(MISSING_VALUE, f"{empty[0]} has no value")
        if self.faults.has("mpps-unscheduled-refused") and any(
            _empty(item, "ScheduledProcedureStepID") for item in steps
        ):
            return _status(INVALID_VALUE, "no Scheduled Procedure Step ID")
        return None

    def on_set(self, event: evt.Event) -> tuple[Dataset | int, Dataset | None]:
        changes = event.attribute_list
        uid = str(event.request.RequestedSOPInstanceUID)
        with self._lock:
            stored = self.instances.get(uid)
            if stored is None:
                if self.faults.has("mpps-unknown-instance-accepted"):
                    return SUCCESS, None
                return _status(NO_SUCH_INSTANCE, "no such MPPS instance"), None
            state = str(stored.get("PerformedProcedureStepStatus", IN_PROGRESS))
            if state != IN_PROGRESS and not self.faults.has("mpps-final-state-updatable"):
                return _status(PROCESSING_FAILURE, f"{state}: may no longer be updated"), None
            refusal = self._set_refusal(stored, changes)
            if refusal is not None:
                return refusal, None
            for elem in changes:
                stored[elem.tag] = elem
        return SUCCESS, None

    def _set_refusal(self, stored: Dataset, changes: Dataset) -> Dataset | None:
        new_state = str(changes.get("PerformedProcedureStepStatus", IN_PROGRESS))
        if new_state not in STATES:
            return _status(INVALID_VALUE, f"unknown status {new_state!r}")
        if new_state == DISCONTINUED and self.faults.has("mpps-discontinued-refused"):
            return _status(INVALID_VALUE, "DISCONTINUED not supported")
        if new_state != IN_PROGRESS:
            merged = Dataset()
            merged.update(stored)
            merged.update(changes)
            for keyword in FINAL_TYPE_1:
                if _empty(merged, keyword):
                    return _status(MISSING_VALUE, f"{keyword} has no value")
        if self.faults.has("mpps-one-image-per-series"):
            for series in changes.get("PerformedSeriesSequence") or []:
                if len(series.get("ReferencedImageSequence") or []) > 1:
                    return _status(INVALID_VALUE, "one Referenced Image per series")
        return None
