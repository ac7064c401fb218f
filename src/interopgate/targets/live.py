"""``kind: live``: a system already running; reached, never started or stopped.

Instances are seeded by C-STORE as the device sends them; worklist items, which DICOM
gives a modality no way to create, through the target's HL7 port when it has one
(:class:`~interopgate.seeding.WorklistFeed`, the order placer's RAD-4).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.dicom.association import Endpoint
from interopgate.profile import LiveTarget
from interopgate.seeding import StoreSeeder, WorklistFeed
from interopgate.targets.launch import endpoint_on
from interopgate.targets.preflight import require
from interopgate.targets.running import RunningTarget
from interopgate.tls import TlsFiles, client_context, files_from_profile, registered_mllp, with_tls


@contextlib.contextmanager
def start(target: LiveTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    endpoint = endpoint_on(target, target.dicom_port, host=target.host)
    hl7_address = (target.host, target.hl7_port) if target.hl7_port else None
    tls, files = target.tls, files_from_profile(target.tls, target.host)
    mllp_tls: contextlib.AbstractContextManager = contextlib.nullcontext()
    if tls is not None and files is not None:  # the profile's CA and device certificate
        verify = tls.verify == "every-connection"
        if "dicom" in tls.services:
            endpoint = with_tls(endpoint, files, verify)
        if "hl7" in tls.services:
            context = client_context(files, verify=verify)
            mllp_tls = registered_mllp(hl7_address, context, files.server_name)
    with mllp_tls:
        require(endpoint, calling_ae, hl7_address)
        yield _running(target, calling_ae, endpoint, hl7_address, files)


def _running(
    target: LiveTarget,
    calling_ae: str,
    endpoint: Endpoint,
    hl7_address: tuple[str, int] | None,
    files: TlsFiles | None,
) -> RunningTarget:
    hl7 = f", HL7 {target.host}:{target.hl7_port}" if target.hl7_port else ""
    return RunningTarget(
        kind="live",
        description=f"live DICOM {endpoint}{hl7}",
        endpoint=endpoint,
        hl7_address=hl7_address,
        name=f"live:{target.host}:{target.dicom_port}",
        seeder=StoreSeeder(
            endpoint, calling_ae, worklist_feed=WorklistFeed(hl7_address) if hl7_address else None
        ),
        details={"tls": files} if files else {},
        move_destination=_move_destination(target, calling_ae),
    )


def _move_destination(target: LiveTarget, calling_ae: str) -> tuple[str, str, int] | None:
    """Where the harness listens as the device (``device_port``): on loopback for a
    system on this machine, else on every interface, since the system connects back."""
    if target.device_port is None:
        return None
    local = target.host in ("127.0.0.1", "localhost", "::1")
    return calling_ae, "127.0.0.1" if local else "0.0.0.0", target.device_port
