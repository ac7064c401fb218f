"""``kind: container``: servers from docker/ started through testcontainers.

Without a reachable Docker engine the checks are skipped with one line saying so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from interopgate.errors import TargetUnavailable
from interopgate.profile import ContainerTarget
from interopgate.targets import RunningTarget


def docker_engine_problem() -> str | None:
    """None when a Docker engine answers, else the one-line reason it does not."""
    try:
        import docker  # testcontainers depends on the docker SDK
    except ImportError:
        return "the 'containers' extra is not installed (pip install -e '.[containers]')"
    try:
        docker.from_env().ping()
    except Exception as exc:
        return f"no Docker engine reachable ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def start(target: ContainerTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    problem = docker_engine_problem()
    if problem:
        raise TargetUnavailable(f"container target {target.service!r} skipped: {problem}")
    raise TargetUnavailable(f"container target {target.service!r} has no launcher yet")
    yield  # pragma: no cover
