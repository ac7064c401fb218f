"""DCMTK servers (Debian package ``dcmtk``): ``wlmscpfs`` and ``dcmqrscp``.

* wlmscpfs serves a Modality Worklist from files: ``DIR/<CALLED_AE>/lockfile`` plus one
  ``*.wl`` data set per item (wlmscpfs(1), "worklist data files"). The called AE title
  must name a folder, so the harness creates the folder for the target's ``called_ae``.
  It runs with ``-dfr`` (serve incomplete items too): the seeder puts in exactly what a
  suite asked for, and completeness is for the worklist checks to judge, not for the
  server to hide (with the default ``-efr`` wlmscpfs silently drops them).
* dcmqrscp is a storage + query/retrieve SCP configured by a file (dcmqrscp.cfg(5)):
  port, AE table with a storage folder, and a HostTable naming the C-MOVE destinations;
  the device's AE title is declared there on a port of its own, so retrieve checks can
  listen on ``RunningTarget.move_destination``. Data is seeded by C-STORE.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from interopgate.dicom.association import Endpoint
from interopgate.errors import TargetUnavailable
from interopgate.profile import ProcessTarget
from interopgate.seeding import SeedReceipt, StoreSeeder
from interopgate.targets.process import Launch, Ports

MWL_FIND = "1.2.840.10008.5.1.4.31"  # Modality Worklist Information Model - FIND


def write_worklist_file(item: Dataset, path: Path) -> Path:
    """One worklist item as a DICOM file (PS3.10 format, Explicit VR Little Endian),
    as ``dump2dcm`` would write it; wlmscpfs and Orthanc's worklist plugin read these."""
    ds = Dataset()
    ds.update(item)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MWL_FIND
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    tmp = path.with_suffix(".tmp")
    ds.save_as(tmp, enforce_file_format=True)
    tmp.replace(path)  # a server scanning the folder never sees half a file
    return path


class WorklistFileSeeder:
    """Seeds worklist items as ``*.wl`` files in a folder the server scans on every query
    (wlmscpfs: ``DIR/<AE>/``; Orthanc: ``Worklists.Database``). Instances have no place
    in a worklist server: storing them is unavailable, with the reason."""

    def __init__(self, folder: Path, server: str, store: StoreSeeder | None = None) -> None:
        self.folder = folder
        self.server = server
        self.store = store
        self._count = 0
        self._lock = threading.Lock()

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


class Wlmscpfs:
    name = "dcmtk-wlmscpfs"
    package = "dcmtk"
    binary = "wlmscpfs"
    needs_http_port = False

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        folder = data_dir / "worklists" / target.called_ae.strip()
        folder.mkdir(parents=True)
        (folder / "lockfile").touch()  # wlmscpfs(1): the folder must hold a lockfile
        argv = [binary, "-v", "-dfp", str(folder.parent), "-dfr", str(ports.dicom)]
        return Launch(argv, WorklistFileSeeder(folder, self.name), {"worklist_folder": folder})


def dcmqrscp_config(target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports) -> str:
    """dcmqrscp.cfg(5): one AE with a read/write storage area open to ANY peer, and the
    device in the HostTable as C-MOVE destination (unknown destinations get A801)."""
    storage = data_dir / "db"
    storage.mkdir()
    return (
        f"NetworkTCPPort = {ports.dicom}\n"
        "MaxPDUSize = 16384\n"
        "MaxAssociations = 16\n"
        "HostTable BEGIN\n"
        f"harness = ({calling_ae}, 127.0.0.1, {ports.move_destination})\n"
        "HostTable END\n"
        "VendorTable BEGIN\n"
        "VendorTable END\n"
        "AETable BEGIN\n"
        f"{target.called_ae.strip()} {storage} RW (200, 1024mb) ANY\n"
        "AETable END\n"
    )


class ArchiveSeeder(StoreSeeder):
    """dcmqrscp: instances by C-STORE; it has no worklist service to seed (dcmqrscp(1))."""

    def add_worklist_items(self, items: Sequence[Dataset]) -> SeedReceipt:
        raise TargetUnavailable(
            "dcmqrscp provides no Modality Worklist service; worklist checks need "
            "--target=dcmtk-wlmscpfs or --target=orthanc"
        )


class Dcmqrscp:
    name = "dcmtk-dcmqrscp"
    package = "dcmtk"
    binary = "dcmqrscp"
    needs_http_port = False

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        config = data_dir / "dcmqrscp.cfg"
        config.write_text(dcmqrscp_config(target, calling_ae, data_dir, ports))
        argv = [binary, "-v", "-c", str(config), str(ports.dicom)]
        endpoint = Endpoint(
            "127.0.0.1", ports.dicom, target.called_ae, target.connect_timeout, target.dimse_timeout
        )
        return Launch(argv, ArchiveSeeder(endpoint, calling_ae), {"config": config})


SERVERS = {"dcmtk-wlmscpfs": Wlmscpfs, "dcmtk-dcmqrscp": Dcmqrscp}
