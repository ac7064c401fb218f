"""``kind: process``: third-party servers from their packages (DCMTK, Orthanc, MessageFoundry).

A real server nobody here wrote keeps the verdicts honest: a check that passes only on
the harness's own reference site proves little. This module starts the server the
profile names: it finds its binary (or skips, naming the Debian package to install),
picks free loopback ports and retries when another process grabbed one before the
server bound it, waits until it answers C-ECHO, keeps its log in the report directory,
and stops it on every way out of the session. A site of two programs (an HL7 engine in
front of a worklist server) starts the DICOM server first and its companions after it,
each with its own log, and stops them in reverse order.

What differs per server (configuration, data layout, seeding) lives in one module each
(:mod:`.dcmtk`, :mod:`.orthanc`, :mod:`.messagefoundry`), registered in :data:`SERVERS`;
what every server shares (ports, the process, readiness) is :mod:`.launch`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from interopgate.dicom.association import Endpoint
from interopgate.errors import TargetUnavailable
from interopgate.profile import ProcessTarget
from interopgate.seeding import WorklistFeed
from interopgate.targets.dcmtk import NO_DELAY_ENV, Dcmqrscp, Wlmscpfs
from interopgate.targets.dcmtk_tls import StorescpTls
from interopgate.targets.launch import (
    HOST,
    Companion,
    Launch,
    Ports,
    Server,
    ServerExited,
    ServerProcess,
    answers_echo,
    endpoint_on,
    free_port,
    log_path_for,
    wait_ready,
)
from interopgate.targets.messagefoundry import MessageFoundrySite
from interopgate.targets.orthanc import Orthanc
from interopgate.targets.orthanc_tls import OrthancTls
from interopgate.targets.running import RunningTarget
from interopgate.tls import with_tls

# The process servers by the name a profile gives as ``target.server``; ProcessTarget's
# Literal in profile.py lists the same names (tests/test_target_layout.py keeps them equal).
SERVERS: dict[str, type[Server]] = {
    server.name: server
    for server in (Wlmscpfs, Dcmqrscp, Orthanc, MessageFoundrySite, StorescpTls, OrthancTls)
}

START_ATTEMPTS = 3  # a port picked free can be taken before the server binds it
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")  # Orthanc's Debian binary is /usr/sbin/Orthanc
# What each server logs when its port was taken (dcmqrscp, Orthanc; wlmscpfs says less).
BIND_ERRORS = (
    "address already in use",
    "already in use",
    "tcp initialization error",
    "initialization of network connection failed",
)


def server_for(name: str) -> Server:
    return SERVERS[name]()


def find_binary(binary: str) -> str | None:
    """The binary on PATH, or in the sbin folders a non-root PATH often lacks."""
    found = shutil.which(binary)
    if found:
        return found
    return shutil.which(binary, path=os.pathsep.join(SBIN))


def missing(server: Server) -> str | None:
    """None when everything the server needs is installed, else one sentence saying what
    is missing and how to install it."""
    if find_binary(server.binary) is None:
        return f"{server.binary} not found; install the Debian package: apt-get install {server.package}"
    return server.missing_requirement()


def lost_a_port(exited: ServerExited) -> bool:
    """The server exited because its port was taken between picking and binding it."""
    tail = exited.process.log_tail(20).lower()
    return any(words in tail for words in BIND_ERRORS)


@contextlib.contextmanager
def start(target: ProcessTarget, calling_ae: str, work_dir: Path) -> Iterator[RunningTarget]:
    server = server_for(target.server)
    problem = missing(server)
    if problem is not None:
        raise TargetUnavailable(f"process target {target.server!r} skipped: {problem}")
    binary = find_binary(server.binary)
    assert binary is not None
    log_path = log_path_for(work_dir, target.server)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")
    with tempfile.TemporaryDirectory(prefix=f"interopgate-{target.server}-") as tmp:
        processes, launch, endpoint, ports = _start_with_retries(
            server, binary, target, calling_ae, Path(tmp), log_path, work_dir
        )
        main = processes[0]
        if ports.hl7:  # the site's HL7 side can also feed the worklist (source: hl7)
            launch.seeder.worklist_feed = WorklistFeed((HOST, ports.hl7))
        try:
            http = f", REST http://{HOST}:{ports.http}" if ports.http else ""
            hl7 = f", HL7 MLLP {HOST}:{ports.hl7}" if ports.hl7 else ""
            logs = [p.log_path for p in processes]
            yield RunningTarget(
                kind="process",
                description=f"{target.server} (pid {main.pid}) DICOM {endpoint}{http}{hl7}, "
                f"log {', '.join(str(log) for log in logs)}",
                endpoint=endpoint,
                hl7_address=(HOST, ports.hl7) if ports.hl7 else None,
                seeder=launch.seeder,
                logs=logs,
                name=target.server,
                pid=main.pid,
                move_destination=(calling_ae, HOST, ports.move_destination),
                details=launch.details,
                health=lambda: _health(processes, target.server),
            )
        finally:
            for process in reversed(processes):
                process.stop()


def _health(processes: list[ServerProcess], name: str) -> str | None:
    for process in processes:
        status = process.exit_status()
        if status is not None:
            return (
                f"the {name} target's {process.program} process (pid {process.pid}) ended "
                f"during the run ({status}); log {process.log_path}"
            )
    return None


def _start_with_retries(
    server: Server,
    binary: str,
    target: ProcessTarget,
    calling_ae: str,
    data_root: Path,
    log_path: Path,
    work_dir: Path,
) -> tuple[list[ServerProcess], Launch, Endpoint, Ports]:
    last: ServerExited | None = None
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = Ports(
            dicom=free_port(),
            move_destination=free_port(),
            http=free_port() if server.needs_http_port else None,
            hl7=free_port() if server.needs_hl7_port else None,
        )
        data_dir = data_root / f"attempt-{attempt}"
        data_dir.mkdir()
        launch = server.prepare(binary, target, calling_ae, data_dir, ports)
        endpoint = endpoint_on(target, ports.dicom)
        if "tls" in launch.details:  # a server made its own test CA (targets/dcmtk_tls.py)
            verify = target.tls is None or target.tls.verify == "every-connection"
            endpoint = with_tls(endpoint, launch.details["tls"], verify)
        processes = [ServerProcess(launch.argv, log_path, data_dir, dict(NO_DELAY_ENV)).start()]
        try:
            _wait_for_server(processes[0], endpoint, calling_ae, target.startup_timeout)
            for companion in launch.companions:
                companion_log = log_path_for(work_dir, companion.name)
                if attempt == 1:
                    companion_log.write_bytes(b"")
                env = {**NO_DELAY_ENV, **companion.env}
                process = ServerProcess(companion.argv, companion_log, data_dir, env)
                processes.append(process.start())
                _wait_for_companion(process, companion, target.startup_timeout)
            return processes, launch, endpoint, ports
        except ServerExited as exc:
            for process in reversed(processes):
                process.stop()
            last = exc
            if not lost_a_port(exc):
                break
        except BaseException:
            for process in reversed(processes):
                process.stop()
            raise
    assert last is not None
    raise last


def _wait_for_server(
    process: ServerProcess, endpoint: Endpoint, calling_ae: str, timeout: float
) -> None:
    """Ready when it answers C-ECHO with Success (see :mod:`.launch`)."""
    wait_ready(
        lambda: answers_echo(endpoint, calling_ae),
        timeout,
        lambda: (
            f"{process.program} did not answer C-ECHO on {endpoint} within {timeout:g} s; "
            f"log {process.log_path}: {process.log_tail()}"
        ),
        process=process,
    )


def _wait_for_companion(process: ServerProcess, companion: Companion, timeout: float) -> None:
    """Ready when the companion says so (an engine's MLLP port accepting, say)."""
    wait_ready(
        companion.ready,
        timeout,
        lambda: (
            f"{companion.name} did not come up within {timeout:g} s; "
            f"log {process.log_path}: {process.log_tail()}"
        ),
        process=process,
        interval=0.1,
    )
