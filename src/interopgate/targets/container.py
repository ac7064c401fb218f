"""``kind: container``: servers from docker/ started through testcontainers.

One compose project per server family (docker/orthanc, docker/dcmtk, docker/dcm4chee),
each publishing its ports on 127.0.0.1 only, on host ports Docker picks; testcontainers
(``DockerCompose``) builds/pulls and starts it, reports the published ports, and stops
it afterwards. Ready means: answers C-ECHO (as for process targets, :mod:`.launch`),
polled until the service's start-up bound — dcm4chee-arc needs LDAP and PostgreSQL
first and takes minutes. A start-up failure carries the containers' logs.

Without a reachable Docker engine the checks are skipped with one line saying so,
never failed and never faked.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interopgate.dicom.association import Endpoint
from interopgate.errors import TargetUnavailable
from interopgate.profile import ContainerTarget
from interopgate.seeding import StoreSeeder, WorklistFeed
from interopgate.targets.launch import HOST, answers_echo, endpoint_on, wait_ready
from interopgate.targets.running import RunningTarget
from interopgate.targets.worklist_files import WorklistFileSeeder, lock_folder, wlmscpfs_folder

DOCKER_DIR = Path(__file__).resolve().parents[3] / "docker"


@dataclass(frozen=True)
class Service:
    """A compose service and what the harness needs to know about it."""

    folder: str  # docker/<folder>/docker-compose.yml
    compose_service: str  # the service that has the DICOM port
    dicom_port: int  # inside the container
    hl7_port: int | None = None
    startup_timeout: float = 120.0
    worklist_files: bool = False  # seeded as .wl files through IG_WORKLIST_DIR


# The services by the name a profile gives as ``target.service``; ContainerTarget's Literal
# in profile.py lists the same names (tests/test_target_layout.py keeps them equal).
SERVICES: dict[str, Service] = {
    "orthanc": Service("orthanc", "orthanc", 4242, worklist_files=True),
    "dcmtk-wlmscpfs": Service("dcmtk", "wlmscpfs", 11112, worklist_files=True),
    "dcmtk-dcmqrscp": Service("dcmtk", "dcmqrscp", 11112),
    "dcm4chee": Service("dcm4chee", "arc", 11112, hl7_port=2575, startup_timeout=600.0),
}


def docker_engine_problem() -> str | None:
    """None when a Docker engine answers, else the one-line reason it does not."""
    try:
        import testcontainers  # noqa: F401

        import docker  # testcontainers depends on the docker SDK
    except ImportError:
        return "the 'containers' extra is not installed (pip install -e '.[containers]')"
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:
        return f"no Docker engine reachable at {where} ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def start(target: ContainerTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    service = SERVICES[target.service]
    problem = docker_engine_problem()
    if problem:
        raise TargetUnavailable(f"container target {target.service!r} skipped: {problem}")
    from testcontainers.compose import DockerCompose

    with tempfile.TemporaryDirectory(prefix=f"interopgate-{target.service}-") as tmp:
        worklists = Path(tmp) / "worklists"
        folder = (
            wlmscpfs_folder(worklists, target.called_ae)
            if target.service.startswith("dcmtk")
            else lock_folder(worklists)
        )
        os.environ["IG_WORKLIST_DIR"] = str(worklists)
        compose = DockerCompose(
            DOCKER_DIR / service.folder,
            compose_file_name="docker-compose.yml",
            build=True,
            wait=False,
            services=None,
        )
        log_path = work_dir.parent / "targets" / f"container-{target.service}.log"
        try:
            compose.start()
            endpoint = _ready(compose, service, target, calling_ae)
            yield _running(target, service, compose, endpoint, calling_ae, folder, log_path)
        finally:
            _save_logs(compose, log_path)
            compose.stop()


def _ready(compose: Any, service: Service, target: ContainerTarget, calling_ae: str) -> Endpoint:
    def answering() -> Endpoint | None:
        port = None
        with contextlib.suppress(Exception):  # not published yet while the container starts
            port = compose.get_service_port(service.compose_service, service.dicom_port)
        if not port:
            return None
        endpoint = endpoint_on(target, int(port))
        return endpoint if answers_echo(endpoint, calling_ae) else None

    def not_ready() -> str:
        stdout, stderr = compose.get_logs(service.compose_service)
        tail = " | ".join((stdout + stderr).strip().splitlines()[-5:])
        return (
            f"container {target.service!r} did not answer C-ECHO as {target.called_ae} within "
            f"{service.startup_timeout:g} s; its log ends: {tail}"
        )

    endpoint = wait_ready(answering, service.startup_timeout, not_ready, interval=1.0)
    assert endpoint is not None
    return endpoint


def _running(
    target: ContainerTarget,
    service: Service,
    compose: Any,
    endpoint: Endpoint,
    calling_ae: str,
    worklist_folder: Path,
    log_path: Path,
) -> RunningTarget:
    store = StoreSeeder(endpoint, calling_ae)
    seeder: Any = (
        WorklistFileSeeder(
            worklist_folder, target.service, store=None if "wlmscpfs" in target.service else store
        )
        if service.worklist_files
        else store
    )
    hl7 = None
    if service.hl7_port:
        hl7 = (HOST, int(compose.get_service_port(service.compose_service, service.hl7_port)))
    if hl7:  # the site's HL7 side can also feed the worklist (source: hl7)
        seeder.worklist_feed = WorklistFeed(hl7)
    return RunningTarget(
        kind="container",
        description=f"container {target.service} DICOM {endpoint}"
        + (f", HL7 {hl7[0]}:{hl7[1]}" if hl7 else ""),
        endpoint=endpoint,
        hl7_address=hl7,
        seeder=seeder,
        logs=[log_path],
        name=f"container:{target.service}",
    )


def _save_logs(compose: Any, log_path: Path) -> None:
    with contextlib.suppress(Exception):
        stdout, stderr = compose.get_logs()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(stdout + stderr, encoding="utf-8")
