"""``kind: process``: third-party servers from Debian packages (DCMTK, Orthanc).

Placeholder until the real-targets issue lands the launchers: the checks are skipped
with the reason, never failed and never faked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.errors import TargetUnavailable
from interopgate.profile import ProcessTarget
from interopgate.targets import RunningTarget


@contextlib.contextmanager
def start(target: ProcessTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    raise TargetUnavailable(f"process target {target.server!r} has no launcher yet")
    yield  # pragma: no cover
