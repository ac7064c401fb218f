"""What a started (or reached) target gives the suites: its endpoint and HL7 address, its
seeder, its logs and whether it is still healthy. Its own module so that the kind modules
import it without importing the package's :func:`~interopgate.targets.start`, which
imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interopgate.dicom.association import Endpoint


@dataclass
class RunningTarget:
    kind: str
    description: str
    endpoint: Endpoint
    hl7_address: tuple[str, int] | None = None
    seeder: Any = None  # a seeding.Seeder for this target
    logs: list[Path] = field(default_factory=list)
    name: str = ""  # e.g. "orthanc", "dcmtk-wlmscpfs"; the column of the compatibility table
    pid: int | None = None  # process targets: the server's process id
    # (AE title, host, port) the target knows as C-MOVE destination, for retrieve checks
    move_destination: tuple[str, str, int] | None = None
    details: dict[str, Any] = field(default_factory=dict)  # config paths, REST base URL, ...
    # None while the target is fine, else one sentence on what happened to it (it died)
    health: Callable[[], str | None] | None = None

    def problem(self) -> str | None:
        return self.health() if self.health else None
