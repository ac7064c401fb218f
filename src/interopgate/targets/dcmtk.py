"""DCMTK servers (Debian package ``dcmtk``): ``wlmscpfs`` and ``dcmqrscp``.

* wlmscpfs serves a Modality Worklist from files: ``DIR/<CALLED_AE>/lockfile`` plus one
  ``*.wl`` data set per item (wlmscpfs(1), "worklist data files"), written by
  :mod:`.worklist_files`. It runs with ``-dfr`` (serve incomplete items too): the seeder
  puts in exactly what a suite asked for, and completeness is for the worklist checks to
  judge, not for the server to hide (with the default ``-efr`` wlmscpfs silently drops
  them).
* dcmqrscp is a storage + query/retrieve SCP configured by a file (dcmqrscp.cfg(5)):
  port, AE table with a storage folder, and a HostTable naming the C-MOVE destinations;
  the device's AE title is declared there on a port of its own, so retrieve checks can
  listen on ``RunningTarget.move_destination``. Data is seeded by C-STORE.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset

from interopgate.errors import TargetUnavailable
from interopgate.profile import ProcessTarget
from interopgate.seeding import SeedReceipt, StoreSeeder
from interopgate.targets.launch import HOST, Launch, Ports, Server, endpoint_on
from interopgate.targets.worklist_files import WorklistFileSeeder, wlmscpfs_folder

# DCMTK's network layer switches Nagle's algorithm off when the environment says
# TCP_NODELAY=1 (dcmnet; this Debian build leaves it on otherwise): a DIMSE message is a
# command PDU then a data set PDU, and with Nagle the second waits for the peer's
# delayed ACK, ~40 ms a message. Every server process is started with it (Orthanc and
# the HL7 engine ignore it).
NO_DELAY_ENV = {"TCP_NODELAY": "1"}


def wlmscpfs_argv(binary: str, worklist_root: Path, port: int) -> list[str]:
    """wlmscpfs(1): verbose, ``-dfp`` the folder holding the per-AE folders, ``-dfr``
    to serve items whatever they lack."""
    return [binary, "-v", "-dfp", str(worklist_root), "-dfr", str(port)]


class Wlmscpfs(Server):
    name = "dcmtk-wlmscpfs"
    package = "dcmtk"
    binary = "wlmscpfs"

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        folder = wlmscpfs_folder(data_dir / "worklists", target.called_ae)
        argv = wlmscpfs_argv(binary, folder.parent, ports.dicom)
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
        f"harness = ({calling_ae}, {HOST}, {ports.move_destination})\n"
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


class Dcmqrscp(Server):
    name = "dcmtk-dcmqrscp"
    package = "dcmtk"
    binary = "dcmqrscp"

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        config = data_dir / "dcmqrscp.cfg"
        config.write_text(dcmqrscp_config(target, calling_ae, data_dir, ports))
        argv = [binary, "-v", "-c", str(config), str(ports.dicom)]
        seeder = ArchiveSeeder(endpoint_on(target, ports.dicom), calling_ae)
        return Launch(argv, seeder, {"config": config})
