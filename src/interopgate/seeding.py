"""Test data seeding: one interface, one backend per target kind.

Query checks need known data on the target. A check never talks to a backend directly:
it asks the session's :class:`Seeder` (``RunningTarget.seeder``) to put generated
instances or worklist items in place, and gets back a :class:`SeedReceipt` saying
what was seeded. Backends:

* embedded: straight into the reference site's memory;
* live: instances by C-STORE as the device would send them (PS3.4 B); worklist items
  cannot be written into a live RIS by DICOM, so they come from the profile's declared
  data or, once the HL7 side exists, through the HL7 interface (``WorklistFeed``);
* process / container: each launcher supplies its own (``.wl`` files for DCMTK
  wlmscpfs, C-STORE for dcmqrscp and Orthanc, Orthanc's worklist folder, ...).

A backend that cannot seed something raises :class:`~interopgate.errors.TargetUnavailable`
with the reason, so the checks that need that data are skipped, never faked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydicom.dataset import Dataset

from interopgate.errors import TargetUnavailable


@dataclass
class SeedReceipt:
    """What a seeding call put in place (for the run header and the evidence)."""

    instances: int = 0
    worklist_items: int = 0
    notes: list[str] = field(default_factory=list)


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


# A hook for the HL7 side: given worklist items, make the target create them (e.g. by
# sending SIU^S12 / ORM^O01 over MLLP) and return once they are queryable.
WorklistFeed = Callable[[Sequence[Dataset]], SeedReceipt]


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
