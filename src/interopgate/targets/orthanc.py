"""Orthanc (Debian package ``orthanc``) with its Modality Worklists plugin.

The configuration is generated (Orthanc Book, "Configuration of Orthanc"): DICOM port and
AE title from the target, the REST API on a loopback port without authentication
(``RemoteAccessAllowed: false``), storage and index in a temporary folder, and the device
in ``DicomModalities`` — Orthanc aborts a C-FIND from a calling AE it does not know, and
that entry is also the C-MOVE destination. The worklist plugin the Debian package ships
(``libModalityWorklists.so``) serves the ``*.wl`` files of ``Worklists.Database``.
``DicomCheckCalledAet`` keeps Orthanc's default (false): any called AE title is accepted,
which the target profile states with ``accepts_any_called_ae: true``.

Seeding: instances by C-STORE from the device's AE, worklist items as ``.wl`` files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interopgate.profile import ProcessTarget
from interopgate.seeding import StoreSeeder
from interopgate.targets.launch import HOST, Launch, Ports, Server, endpoint_on
from interopgate.targets.worklist_files import WorklistFileSeeder

WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")


def orthanc_config(
    target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports, worklists: Path
) -> dict[str, Any]:
    storage = data_dir / "db"
    return {
        "Name": "INTEROPGATE",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpServerEnabled": True,
        "HttpPort": ports.http,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": target.called_ae.strip(),
        "DicomPort": ports.dicom,
        "DicomCheckCalledAet": False,
        "DicomModalities": {"harness": [calling_ae, HOST, ports.move_destination]},
        "Plugins": [str(WORKLIST_PLUGIN)],
        "Worklists": {"Enable": True, "Database": str(worklists)},
    }


class Orthanc(Server):
    name = "orthanc"
    package = "orthanc"
    binary = "Orthanc"
    needs_http_port = True

    def missing_requirement(self) -> str | None:
        if WORKLIST_PLUGIN.exists():
            return None
        return (
            f"its worklist plugin {WORKLIST_PLUGIN} is missing; "
            "install the Debian package: apt-get install orthanc"
        )

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        worklists = data_dir / "worklists"
        worklists.mkdir()
        config = data_dir / "orthanc.json"
        config.write_text(
            json.dumps(orthanc_config(target, calling_ae, data_dir, ports, worklists), indent=2)
        )
        store = StoreSeeder(endpoint_on(target, ports.dicom), calling_ae)
        seeder = WorklistFileSeeder(worklists, self.name, store=store)
        argv = [binary, "--verbose", str(config)]
        return Launch(argv, seeder, {"config": config, "rest": f"http://{HOST}:{ports.http}"})
