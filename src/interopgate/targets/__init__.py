"""Targets: where the system under test runs, one module per ``target.kind``.

:func:`start` turns the profile's ``target:`` section into a :class:`RunningTarget` for
the session and stops it afterwards: the embedded site is started on free loopback
ports; a live target is checked with a pre-flight C-ECHO so an unreachable or refusing
peer is reported once, in one line, before any check runs; process and container
targets start a third-party server and wait until it answers.

Layout, imports pointing down only: :mod:`.embedded`, :mod:`.live`, :mod:`.process`,
:mod:`.container` (one per kind) → the server modules :mod:`.dcmtk`, :mod:`.orthanc`,
:mod:`.messagefoundry` → :mod:`.launch` (ports, processes, readiness) and
:mod:`.worklist_files` (``*.wl`` seeding) → :mod:`.running` (:class:`RunningTarget`).
This package's ``__init__`` imports only :mod:`.running` until :func:`start` picks a kind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.profile import Profile
from interopgate.targets.running import RunningTarget

__all__ = ["RunningTarget", "start"]


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
