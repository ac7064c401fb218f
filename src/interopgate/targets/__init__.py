"""Targets: where the system under test runs, one module per ``target.kind``.

:func:`start` turns the profile's ``target:`` section into a :class:`RunningTarget` for
the session and stops it afterwards: the embedded site is started on free loopback
ports; a live target is checked with a pre-flight C-ECHO so an unreachable or refusing
peer is reported once, in one line, before any check runs; process and container
targets start a third-party server and wait until it answers.

Layout, imports pointing down only: :mod:`.embedded`, :mod:`.live`, :mod:`.process`,
:mod:`.container` (one per kind) → the server modules :mod:`.dcmtk`, :mod:`.orthanc`,
:mod:`.messagefoundry` → :mod:`.launch` (ports, processes, readiness) and
:mod:`.worklist_files` (``*.wl`` seeding). This package's ``__init__`` imports none of
them until :func:`start` picks one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interopgate.dicom.association import Endpoint
from interopgate.profile import Profile


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


@contextlib.contextmanager
def start(profile: Profile, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    """Start (or reach) the profile's target; raise TargetError / TargetUnavailable."""
    kind = profile.target.kind
    if kind == "embedded":
        from interopgate.targets import embedded as module
    elif kind == "live":
        from interopgate.targets import live as module  # type: ignore[no-redef]
    elif kind == "process":
        from interopgate.targets import process as module  # type: ignore[no-redef]
    else:
        from interopgate.targets import container as module  # type: ignore[no-redef]
    # The embedded site also plays what the profile's hl7: section says of the site.
    options = {"hl7": profile.hl7} if kind == "embedded" else {}
    with module.start(profile.target, calling_ae, work_dir, **options) as running:  # type: ignore[attr-defined]
        yield running
