"""``kind: embedded``: the reference site (site/) on free loopback ports, per session.

The site plays the target the profile describes, also where the standard leaves the
behaviour to the site: what an HL7 cancel does to the worklist item (``hl7.cancel``:
remove it, or keep it with ``hl7.cancel_status``; PS3.3 C.4.10 has no Defined Term for
a cancelled step). So the launcher takes the profile's ``hl7:`` section too, and the
site starts configured: nothing is changed on it once it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.dicom.association import Endpoint
from interopgate.profile import HL7, EmbeddedTarget
from interopgate.seeding import EmbeddedSeeder
from interopgate.site.pacs import ReferenceSite, SiteConfig
from interopgate.targets.launch import HOST, free_port
from interopgate.targets.running import RunningTarget


@contextlib.contextmanager
def start(
    target: EmbeddedTarget, calling_ae: str, work_dir: Path, *, hl7: HL7 | None = None
) -> Iterator[RunningTarget]:
    hl7 = hl7 or HL7()
    # The device's own SCP address, as a real PACS is told it: C-MOVE destination and
    # where Storage Commitment reports go (PS3.4 C.4.2.2, J.3.3.1.2).
    device_port = free_port()
    config = SiteConfig(
        ae_title=target.called_ae,
        move_destinations={calling_ae: (HOST, device_port)},
        faults=frozenset(target.faults),
        hl7_cancel=hl7.cancel,
        hl7_cancel_status=hl7.cancel_status,
    )
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
            name="embedded",
            seeder=EmbeddedSeeder(site),
            move_destination=(calling_ae, HOST, device_port),
        )
