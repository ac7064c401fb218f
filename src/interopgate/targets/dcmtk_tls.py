"""DCMTK ``storescp`` over DICOM TLS (Debian's dcmtk is built with OpenSSL).

A TLS peer nobody here wrote: storescp(1) with ``+tls key cert`` and ``+cf`` the CA, in
its default Non-downgrading BCP 195 profile (``+py``, PS3.15 B.10) and with a client
certificate required (``-rc``, the default). Its certificates come from a test CA made
at start (tls.GeneratedPKI, RSA keys for its ECDHE-RSA suites); the harness is handed
the CA and the device's certificate. It provides Verification and storage only, and
takes any calling and called AE title (storescp has no access control).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset

from interopgate.errors import TargetUnavailable
from interopgate.profile import ProcessTarget
from interopgate.seeding import SeedReceipt, StoreSeeder
from interopgate.targets.launch import Launch, Ports, Server, endpoint_on
from interopgate.tls import GeneratedPKI, with_tls


class StoreOnlySeeder(StoreSeeder):
    """storescp keeps what it is sent; it has no worklist to seed (storescp(1))."""

    def add_worklist_items(self, items: Sequence[Dataset]) -> SeedReceipt:
        raise TargetUnavailable("storescp provides no Modality Worklist service")


class StorescpTls(Server):
    name = "dcmtk-storescp-tls"
    package = "dcmtk"
    # The Debian binary by its path: pynetdicom installs a Python ``storescp`` of its own
    # (no TLS options) that comes first on a virtualenv's PATH.
    binary = "/usr/bin/storescp"

    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        pki = GeneratedPKI(data_dir / "pki", rsa=True)
        received = data_dir / "received"
        received.mkdir()
        argv = [
            binary,
            "-v",
            "-aet",
            target.called_ae,
            "-od",
            str(received),
            "+tls",
            str(pki.server.key_file),
            str(pki.server.cert_file),
            "-pw",  # trustme's keys are not encrypted
            "+cf",
            str(pki.ca_file),
            "--require-peer-cert",
            str(ports.dicom),
        ]
        files = pki.client_files()
        verify = target.tls is None or target.tls.verify == "every-connection"
        endpoint = with_tls(endpoint_on(target, ports.dicom), files, verify)
        seeder = StoreOnlySeeder(endpoint, calling_ae)
        return Launch(argv, seeder, {"tls": files, "received": received})
