"""What every started server shares: loopback ports, its process, its log, readiness.

The lower half of the targets package. The server modules (:mod:`.dcmtk`,
:mod:`.orthanc`, :mod:`.messagefoundry`) implement :class:`Server` and return a
:class:`Launch`; :mod:`.process` and :mod:`.container` run what they prepared. Imports go
one way: those modules import this one, never the reverse.

* A server process runs in its own session (a Ctrl-C in the terminal reaches pytest,
  which then stops it in order), its output appended to its log, and it is stopped
  SIGTERM-then-SIGKILL on every way out, also if pytest itself is killed
  (``PR_SET_PDEATHSIG``).
* Ready means answering, polled by :func:`wait_ready`: for a DICOM server a C-ECHO with
  Success (PS3.7 9.1.5), not a bare TCP connect, which only says a socket listens and
  which wlmscpfs logs as a refused association ("bad application context").
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom import sop_class as sop

from interopgate.dicom.association import Endpoint
from interopgate.errors import TargetError
from interopgate.profile import ProcessTarget, TargetBase

HOST = "127.0.0.1"
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL (Orthanc needs ~2.5 s)

T = TypeVar("T")


# --------------------------------------------------------------------------- what a server prepares


@dataclass
class Ports:
    """The loopback ports of one start attempt."""

    dicom: int
    move_destination: int
    http: int | None = None
    hl7: int | None = None


@dataclass
class Companion:
    """A second program of the site, started once the DICOM server answers (e.g. the HL7
    engine that writes its worklist): ``ready()`` says when it is up."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Launch:
    """What a server module prepared for one start attempt."""

    argv: list[str]
    seeder: Any  # a seeding.Seeder for this server
    details: dict[str, Any] = field(default_factory=dict)
    companions: list[Companion] = field(default_factory=list)


class Server(abc.ABC):
    """A third-party server: its Debian package, its binary, how to configure and seed it."""

    name: ClassVar[str]
    package: ClassVar[str]  # the Debian package that installs ``binary``
    binary: ClassVar[str]
    needs_http_port: ClassVar[bool] = False
    needs_hl7_port: ClassVar[bool] = False

    def missing_requirement(self) -> str | None:
        """Beyond the binary: None when all the server needs is installed, else what is
        missing and how to install it."""
        return None

    @abc.abstractmethod
    def prepare(
        self, binary: str, target: ProcessTarget, calling_ae: str, data_dir: Path, ports: Ports
    ) -> Launch:
        """Write the server's configuration into ``data_dir`` for these ports."""


def free_port() -> int:
    """A loopback port free now; another process may take it before the server binds it."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def endpoint_on(target: TargetBase, port: int, host: str = HOST) -> Endpoint:
    """The target's DICOM endpoint at ``host:port`` with its AE title and timeouts."""
    return Endpoint(host, port, target.called_ae, target.connect_timeout, target.dimse_timeout)


def log_path_for(work_dir: Path, name: str) -> Path:
    """``<report dir>/targets/<name>.log``. The plugin gives each xdist worker its own
    work dir (``work-gw0``), and so its own log (``<name>-gw0.log``)."""
    suffix = work_dir.name[len("work") :] if work_dir.name.startswith("work") else ""
    return work_dir.parent / "targets" / f"{name}{suffix}.log"


# --------------------------------------------------------------------------- the process

_RUNNING: set[ServerProcess] = set()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux prctl(PR_SET_PDEATHSIG, SIGKILL): if pytest itself is killed, so is the server."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


class ServerProcess:
    """One server process: started in its own session, output appended to ``log_path``."""

    def __init__(
        self, argv: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None
    ) -> None:
        self.argv = argv
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @property
    def program(self) -> str:
        return Path(self.argv[0]).name

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**os.environ, **self.env} if self.env else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if os.name == "posix" else None,
            )
            log.write(f"--- interopgate: pid {self.popen.pid}\n".encode())
        _RUNNING.add(self)
        return self

    def exit_status(self) -> str | None:
        """None while running, else how it ended ("exit code 1", "killed by SIGKILL")."""
        if self.popen is None:
            return "never started"
        code = self.popen.poll()
        if code is None:
            return None
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; never leaves it running.
        Signals go to the whole process group: dcmqrscp forks a child per association."""
        _RUNNING.discard(self)
        if self.popen is None or self._stopped:
            return
        self._stopped = True
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(5)
        self._signal_group(signal.SIGKILL)  # children that outlived the server
        with self.log_path.open("ab") as log:
            log.write(f"--- interopgate: stopped ({self.exit_status()})\n".encode())

    def _signal_group(self, signum: int) -> None:
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


@atexit.register
def _stop_leftovers() -> None:
    """Last resort when the session ended without closing its targets."""
    for process in list(_RUNNING):
        process.stop(grace=3)


class ServerExited(TargetError):
    """The process ended while the harness waited for it to become ready."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        super().__init__(
            f"{process.program} exited at start-up ({process.exit_status()}); "
            f"log {process.log_path}: {process.log_tail()}"
        )


# --------------------------------------------------------------------------- readiness


def answers_echo(endpoint: Endpoint, calling_ae: str, timeout: float = 2.0) -> bool:
    """One association with Verification and a C-ECHO (PS3.7 9.1.5); short timeouts,
    because a port can also be held by something that is not (yet) this DICOM server."""
    ae = AE(ae_title=calling_ae)
    ae.connection_timeout = ae.acse_timeout = ae.network_timeout = timeout
    ae.dimse_timeout = timeout * 2
    ae.add_requested_context(sop.Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    try:
        assoc = ae.associate(
            endpoint.host,
            endpoint.port,
            ae_title=endpoint.called_ae,
            tls_args=endpoint.tls_args,  # type: ignore[arg-type]  # DICOM TLS, PS3.15 B.9
        )
        if not assoc.is_established:
            return False
        status = assoc.send_c_echo()
        assoc.release()
        return status is not None and status.get("Status") == 0x0000
    finally:
        ae.shutdown()


def accepts_tcp(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """A TCP connection to ``host:port`` opens: for listeners with nothing to echo, such
    as MLLP (HL7 2.5 Appendix C), whose peer must tolerate an idle connection closing."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_ready(
    probe: Callable[[], T],
    timeout: float,
    not_ready: Callable[[], str],
    *,
    process: ServerProcess | None = None,
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until it returns something truthy, and return that. Raise
    :class:`ServerExited` as soon as ``process`` ends, and ``TargetError(not_ready())``
    when ``timeout`` seconds pass first (``not_ready`` is called only then, so it may
    read logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.exit_status() is not None:
            raise ServerExited(process)
        result = probe()
        if result:
            return result
        time.sleep(interval)
    raise TargetError(not_ready())
