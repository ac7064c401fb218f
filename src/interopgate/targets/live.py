"""``kind: live``: a system already running; reached, never started or stopped."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.dicom.association import Endpoint
from interopgate.profile import LiveTarget
from interopgate.seeding import StoreSeeder
from interopgate.targets import RunningTarget
from interopgate.targets.preflight import require_dicom, require_mllp


@contextlib.contextmanager
def start(target: LiveTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    endpoint = Endpoint(
        target.host,
        target.dicom_port,
        target.called_ae,
        target.connect_timeout,
        target.dimse_timeout,
    )
    require_dicom(endpoint, calling_ae, promiscuous=target.accepts_any_called_ae)
    if target.hl7_port:
        require_mllp(target.host, target.hl7_port, target.connect_timeout)
    hl7 = f", HL7 {target.host}:{target.hl7_port}" if target.hl7_port else ""
    yield RunningTarget(
        kind="live",
        description=f"live DICOM {endpoint}{hl7}",
        endpoint=endpoint,
        hl7_address=(target.host, target.hl7_port) if target.hl7_port else None,
        seeder=StoreSeeder(endpoint, calling_ae),
    )
