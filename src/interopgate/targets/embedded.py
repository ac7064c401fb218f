"""``kind: embedded``: the reference site (site/) on free loopback ports, per session.

The site plays the target the profile describes, also where the standard leaves the
behaviour to the site: what an HL7 cancel does to the worklist item (``hl7.cancel``:
remove it, or keep it with ``hl7.cancel_status``; PS3.3 C.4.10 has no Defined Term for
a cancelled step). So the launcher takes the profile's ``hl7:`` section too, and the
site starts configured: nothing is changed on it once it runs. The same goes for
``target.tls`` and ``target.access_control``: the site starts in TLS mode with a test CA
of its own (site/security.py), whose CA and device certificate the harness is then
given, and with the device's AE title among the calling AEs it knows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

from interopgate.dicom.association import Endpoint
from interopgate.profile import HL7, EmbeddedTarget
from interopgate.seeding import EmbeddedSeeder
from interopgate.site.pacs import ReferenceSite, SiteConfig
from interopgate.targets.launch import HOST, free_port
from interopgate.targets.running import RunningTarget
from interopgate.tls import client_context, registered_mllp


@contextlib.contextmanager
def start(
    target: EmbeddedTarget, calling_ae: str, work_dir: Path, *, hl7: HL7 | None = None
) -> Iterator[RunningTarget]:
    hl7 = hl7 or HL7()
    # The device's own SCP address, as a real PACS is told it: C-MOVE destination and
    # where Storage Commitment reports go (PS3.4 C.4.2.2, J.3.3.1.2).
    device_port = free_port()
    tls, access = target.tls, target.access_control
    with tempfile.TemporaryDirectory(prefix="interopgate-pki-") as tls_dir:
        known = None
        if access is not None and access.refuses_unknown_calling_ae:
            known = frozenset(
                [calling_ae.strip(), *(ae.strip() for ae in access.known_calling_aes)]
            )
        security = {
            "tls_mode": tls.mode if tls else "off",
            "tls_services": frozenset(tls.services) if tls else frozenset(),
            "tls_dir": Path(tls_dir),
            "known_calling_aes": known,
        }
        with _start(target, calling_ae, hl7, device_port, security) as running:
            yield running


@contextlib.contextmanager
def _start(
    target: EmbeddedTarget, calling_ae: str, hl7: HL7, device_port: int, security: dict
) -> Iterator[RunningTarget]:
    config = SiteConfig(
        ae_title=target.called_ae,
        move_destinations={calling_ae: (HOST, device_port)},
        faults=frozenset(target.faults),
        hl7_cancel=hl7.cancel,
        hl7_cancel_status=hl7.cancel_status,
        **security,
    )
    with ReferenceSite(config) as site:
        host, port = site.dicom_address
        hl7_host, hl7_port = site.hl7_address
        faults = f", faults: {', '.join(target.faults)}" if target.faults else ""
        endpoint = Endpoint(
            host, port, target.called_ae, target.connect_timeout, target.dimse_timeout
        )
        details: dict = {}
        files = site.security.client_files if site.security else None
        tls = target.tls
        stack = contextlib.ExitStack()
        if tls is not None and files is not None:
            # The site made its own test CA: the harness trusts it and shows its client cert.
            context = client_context(files, verify=tls.verify == "every-connection")
            details["tls"] = files
            if "dicom" in tls.services:
                endpoint = dataclasses.replace(
                    endpoint, ssl_context=context, server_name=files.server_name
                )
            if "hl7" in tls.services:
                stack.enter_context(registered_mllp(site.hl7_address, context, files.server_name))
            faults += f", TLS {tls.mode} ({', '.join(tls.services)})"
        with stack:
            yield RunningTarget(
                kind="embedded",
                description=f"embedded reference site {target.called_ae}@{host}:{port}, "
                f"HL7 {hl7_host}:{hl7_port}{faults}",
                endpoint=endpoint,
                hl7_address=site.hl7_address,
                name="embedded",
                seeder=EmbeddedSeeder(site),
                move_destination=(calling_ae, HOST, device_port),
                details=details,
            )
