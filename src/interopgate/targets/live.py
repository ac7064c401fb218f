"""``kind: live``: a system already running; reached, never started or stopped."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.profile import LiveTarget
from interopgate.seeding import StoreSeeder
from interopgate.targets.launch import endpoint_on
from interopgate.targets.preflight import require
from interopgate.targets.running import RunningTarget


@contextlib.contextmanager
def start(target: LiveTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    endpoint = endpoint_on(target, target.dicom_port, host=target.host)
    hl7_address = (target.host, target.hl7_port) if target.hl7_port else None
    require(endpoint, calling_ae, hl7_address)
    hl7 = f", HL7 {target.host}:{target.hl7_port}" if target.hl7_port else ""
    yield RunningTarget(
        kind="live",
        description=f"live DICOM {endpoint}{hl7}",
        endpoint=endpoint,
        hl7_address=hl7_address,
        name=f"live:{target.host}:{target.dicom_port}",
        seeder=StoreSeeder(endpoint, calling_ae),
    )
