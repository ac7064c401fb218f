"""Orthanc (Debian package ``orthanc``, 1.10.1) over DICOM TLS.

Orthanc has spoken DICOM TLS since 1.9.0 (Orthanc Book, "DICOM TLS"): the options
``DicomTlsEnabled``, ``DicomTlsCertificate``, ``DicomTlsPrivateKey``,
``DicomTlsTrustedCertificates`` and ``DicomTlsRemoteCertificateRequired`` are in the
1.10.1 binary. It has no option for the TLS version in 1.10.1; the version it takes is
DCMTK's (which Orthanc links) and OpenSSL's defaults -- which is why the version check
is worth running. The configuration is the plain Orthanc one (:mod:`.orthanc`) plus these
options, with a test CA made at start (tls.GeneratedPKI, RSA keys). C-MOVE and Storage
Commitment associations from Orthanc to the device stay plain TCP (the device's own SCP
is not a TLS listener; ``UseDicomTls`` of the modality keeps its default, false).
"""

from __future__ import annotations

import json
from pathlib import Path

from interopgate.profile import ProcessTarget
from interopgate.seeding import StoreSeeder
from interopgate.targets.launch import HOST, Launch, Ports, endpoint_on
from interopgate.targets.orthanc import Orthanc, orthanc_config
from interopgate.targets.worklist_files import WorklistFileSeeder
from interopgate.tls import GeneratedPKI, with_tls


class OrthancTls(Orthanc):
    name = "orthanc-tls"

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        pki = GeneratedPKI(data_dir / "pki", rsa=True)
        worklists = data_dir / "worklists"
        worklists.mkdir()
        settings = orthanc_config(target, calling_ae, data_dir, ports, worklists)
        settings |= {
            "DicomTlsEnabled": True,
            "DicomTlsCertificate": str(pki.server.cert_file),
            "DicomTlsPrivateKey": str(pki.server.key_file),
            "DicomTlsTrustedCertificates": str(pki.ca_file),
            "DicomTlsRemoteCertificateRequired": True,
        }
        config = data_dir / "orthanc.json"
        config.write_text(json.dumps(settings, indent=2))
        files = pki.client_files()
        verify = target.tls is None or target.tls.verify == "every-connection"
        store = StoreSeeder(with_tls(endpoint_on(target, ports.dicom), files, verify), calling_ae)
        seeder = WorklistFileSeeder(worklists, self.name, store=store)
        argv = [binary, "--verbose", str(config)]
        details = {"config": config, "rest": f"http://{HOST}:{ports.http}", "tls": files}
        return Launch(argv, seeder, details)
