"""``kind: embedded``: the reference site (site/) on free loopback ports, per session."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.dicom.association import Endpoint
from interopgate.profile import EmbeddedTarget
from interopgate.seeding import EmbeddedSeeder
from interopgate.site.pacs import ReferenceSite, SiteConfig
from interopgate.targets import RunningTarget


@contextlib.contextmanager
def start(target: EmbeddedTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    config = SiteConfig(ae_title=target.called_ae, faults=frozenset(target.faults))
    with ReferenceSite(config) as site:
        host, port = site.dicom_address
        hl7_host, hl7_port = site.hl7_address
        faults = f", faults: {', '.join(target.faults)}" if target.faults else ""
        yield RunningTarget(
            kind="embedded",
            description=f"embedded reference site {target.called_ae}@{host}:{port}, "
            f"HL7 {hl7_host}:{hl7_port}{faults}",
            endpoint=Endpoint(
                host, port, target.called_ae, target.connect_timeout, target.dimse_timeout
            ),
            hl7_address=site.hl7_address,
            site=site,
            name="embedded",
            seeder=EmbeddedSeeder(site),
        )
