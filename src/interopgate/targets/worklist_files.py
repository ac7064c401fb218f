"""Worklist items as ``*.wl`` files, the way file-based worklist servers read them.

DCMTK wlmscpfs serves ``DIR/<CALLED_AE>/*.wl`` next to a ``lockfile`` (wlmscpfs(1),
"worklist data files"); Orthanc's Modality Worklists plugin serves the ``*.wl`` files
of its ``Worklists.Database`` folder; the MessageFoundry site's channel writes into a
wlmscpfs folder. Each file is one item as a DICOM file (PS3.10 format, Explicit VR
Little Endian), as ``dump2dcm`` would write it. Used by every process and container
target whose worklist is such a folder.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid
from pynetdicom import sop_class as sop

from interopgate.errors import TargetUnavailable
from interopgate.seeding import SeedReceipt, StoreSeeder, WorklistFeed


def wlmscpfs_folder(root: Path, called_ae: str) -> Path:
    """``root/<CALLED_AE>/`` with its ``lockfile``: wlmscpfs(1) takes the called AE title
    as the name of the folder to search, and needs the lockfile there."""
    return lock_folder(root / called_ae.strip())


def lock_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) with an empty ``lockfile`` in it."""
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()
    return folder


def write_worklist_file(item: Dataset, path: Path) -> Path:
    """One worklist item as a PS3.10 file; written aside and renamed into place, so a
    server scanning the folder on a query never reads half a file."""
    ds = Dataset()
    ds.update(item)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop.ModalityWorklistInformationFind
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    tmp = path.with_suffix(".tmp")
    ds.save_as(tmp, enforce_file_format=True)
    tmp.replace(path)
    return path


class WorklistFileSeeder:
    """Seeds worklist items as ``*.wl`` files in a folder the server scans on every query.
    Instances go to ``store`` (C-STORE) when the server has storage; a worklist-only
    server has no place for them, and storing is unavailable with that reason."""

    def __init__(self, folder: Path, server: str, store: StoreSeeder | None = None) -> None:
        self.folder = folder
        self.server = server
        self.store = store
        self._count = 0
        self._lock = threading.Lock()
        self.worklist_feed: WorklistFeed | None = None  # set when the site has an HL7 port

    def store_instances(self, datasets: Sequence[Dataset]) -> SeedReceipt:
        if self.store is None:
            raise TargetUnavailable(
                f"{self.server} is a worklist server only: it has no storage to seed instances into"
            )
        return self.store.store_instances(datasets)

    def add_worklist_items(self, items: Sequence[Dataset]) -> SeedReceipt:
        paths = []
        with self._lock:
            for item in items:
                self._count += 1
                paths.append(write_worklist_file(item, self.folder / f"item{self._count:05}.wl"))
        return SeedReceipt(
            worklist_items=len(items), notes=[f"{len(paths)} .wl file(s) in {self.folder}"]
        )
