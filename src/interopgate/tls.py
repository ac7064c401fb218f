"""Transport security: the TLS contexts the harness and the embedded site speak, the
handshake probes the security checks make, and a throw-away test PKI.

DICOM's Secure Transport Connection Profiles (PS3.15 B.9 BCP 195 TLS, B.10 Non-
Downgrading BCP 195) require what BCP 195 (RFC 9325 3.1.1) says: TLS 1.2 or later, never
TLS 1.0/1.1; the peer's certificate is validated against the trusted CAs (PS3.15 B.1 and
IHE ITI ATNA Authenticate Node: both sides authenticate with certificates). HL7 v2 over
MLLP has no TLS profile of its own; IHE ITI TF-2 3.19 (ATNA) applies the same rules, so
the same contexts serve both.

The certificates of targets the harness starts itself (the embedded site, DCMTK) are made
at run time by trustme (a well-kept test-CA library), never checked in: a CA, a server
certificate for the loopback names, a client certificate for the device, and the faulty
variants the site's faults serve (expired, another host's, another CA's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import socket
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interopgate.errors import TargetError

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2  # BCP 195 (RFC 9325 3.1.1)
# What a client speaks to learn whether the peer still takes a pre-BCP 195 version:
# OpenSSL 3 offers TLS 1.0/1.1 only at security level 0 (SHA-1 handshake signatures).
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
TLS_RECORD_HANDSHAKE = 0x16  # the first byte of a ClientHello (RFC 8446 5.1)


@dataclass(frozen=True)
class TlsFiles:
    """What the harness needs to talk TLS to a target: the CA its certificate must
    chain to, the device's own certificate and key, the name the target's certificate
    must carry (a host name or an IP address, RFC 6125 / RFC 5280 4.2.1.6)."""

    ca_file: Path
    cert_file: Path | None
    key_file: Path | None
    server_name: str


def _legacy_versions() -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    with warnings.catch_warnings():  # the members are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        return ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1


def client_context(files: TlsFiles, *, verify: bool = True) -> ssl.SSLContext:
    """The device's context: TLS >= 1.2, the target's certificate checked against the
    profile's CA and name (``verify=False`` only where the profile says the certificate
    is judged by its own check), the device's certificate presented when it has one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = MINIMUM_VERSION
    with _reading("ca_file", files.ca_file):
        context.load_verify_locations(cafile=str(files.ca_file))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if files.cert_file is not None:
        with _reading("cert_file/key_file", files.cert_file):
            context.load_cert_chain(str(files.cert_file), str(files.key_file or files.cert_file))
    return context


@contextlib.contextmanager
def _reading(key: str, path: Path) -> Iterator[None]:
    """A missing or unreadable PEM file is one sentence naming the profile key."""
    try:
        yield
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise TargetError(f"target.tls.{key}: cannot load {path}: {reason}") from None


def with_tls(endpoint: Any, files: TlsFiles, verify: bool = True) -> Any:
    """A DICOM endpoint (dicom.association.Endpoint) with the device's TLS context."""
    context = client_context(files, verify=verify)
    return dataclasses.replace(endpoint, ssl_context=context, server_name=files.server_name)


def legacy_client_context(files: TlsFiles) -> ssl.SSLContext:
    """A client that offers only TLS 1.0 and 1.1 (and presents the device's certificate,
    so that only the version can be the reason for a refusal)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # setting a deprecated version warns too
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version, context.maximum_version = _legacy_versions()
    context.set_ciphers(LEGACY_CIPHERS)
    if files.cert_file is not None:
        context.load_cert_chain(str(files.cert_file), str(files.key_file or files.cert_file))
    return context


def server_context(
    cert_file: Path,
    key_file: Path,
    ca_file: Path,
    *,
    require_client_cert: bool = True,
    legacy_versions: bool = False,
) -> ssl.SSLContext:
    """The embedded site's context: TLS >= 1.2 and a client certificate from ``ca_file``
    required, unless a fault asks for the defect (TLS 1.0 taken, any client let in)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_file), str(key_file))
    context.load_verify_locations(cafile=str(ca_file))
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
    if legacy_versions:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = _legacy_versions()[0]
        context.set_ciphers(LEGACY_CIPHERS)
    else:
        context.minimum_version = MINIMUM_VERSION
    return context


class PlainOrTls:
    """Stands in for an ``SSLContext`` where a server wraps accepted sockets: TLS when
    the client starts with a TLS record, the bare socket when it starts with anything
    else (an A-ASSOCIATE-RQ, an MLLP ``<VT>``). What a target in ``optional`` mode does
    on one port -- and, where TLS is required, the defect of accepting plain TCP."""

    def __init__(self, context: ssl.SSLContext, timeout: float = 10.0) -> None:
        self.context = context
        self.timeout = timeout

    def wrap_socket(self, sock: socket.socket, server_side: bool = True) -> socket.socket:
        previous = sock.gettimeout()
        sock.settimeout(self.timeout)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        finally:
            sock.settimeout(previous)
        if first[:1] != bytes([TLS_RECORD_HANDSHAKE]):
            return sock
        return self.context.wrap_socket(sock, server_side=server_side)


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Handshake:
    """How one TLS handshake (and the moment after it) ended."""

    version: str | None  # "TLSv1.3" when the handshake completed
    error: str | None  # why the connection was refused, if it was
    peer_certificate: dict | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.error is not None:
            return f"refused ({self.error})"
        return f"accepted, {self.version}"


def handshake(
    address: tuple[str, int],
    context: ssl.SSLContext,
    server_name: str | None,
    *,
    timeout: float = 5.0,
    linger: float = 1.0,
) -> Handshake:
    """Connect and shake hands; then wait ``linger`` seconds for the server's verdict on
    the client certificate, which TLS 1.3 sends after the client's Finished (RFC 8446
    4.4.2.4): an alert or a close means refused, silence means the server took us and
    waits for the first PDU or frame."""
    try:
        raw = socket.create_connection(address, timeout=timeout)
    except OSError as exc:
        return Handshake(None, f"no TCP connection: {exc}")
    with contextlib.closing(raw):
        try:
            sock = context.wrap_socket(raw, server_hostname=server_name)
        except ssl.SSLCertVerificationError as exc:
            return Handshake(None, f"certificate verification failed: {exc.verify_message}")
        except (ssl.SSLError, OSError) as exc:
            return Handshake(None, _reason(exc))
        with contextlib.closing(sock):
            version = sock.version()
            certificate = sock.getpeercert() or None
            sock.settimeout(linger)
            try:
                data = sock.recv(1)
            except TimeoutError:
                return Handshake(version, None, certificate)
            except (ssl.SSLError, OSError) as exc:
                return Handshake(version, _reason(exc), certificate)
            if not data:
                return Handshake(version, "the server closed the connection after the handshake")
            return Handshake(version, None, certificate)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason or exc}"


# --------------------------------------------------------------------------- test PKI


@dataclass(frozen=True)
class ServerCertificate:
    cert_file: Path
    key_file: Path


class GeneratedPKI:
    """A test CA (trustme) written to ``folder``: the server certificate for the
    loopback names, the device's client certificate, and the faulty ones."""

    def __init__(
        self, folder: Path, names: tuple[str, ...] = LOOPBACK_NAMES, *, rsa: bool = False
    ) -> None:
        import trustme  # only where certificates are made: the harness alone needs no PKI

        # RSA where a server's cipher list has only ECDHE-RSA suites (DCMTK's BCP 195
        # profile); trustme's default ECDSA elsewhere.
        self._key_type = trustme.KeyType.RSA if rsa else trustme.KeyType.ECDSA
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="InteropGate test CA", key_type=self._key_type)
        self.ca_file = folder / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self.names = names
        self.server = self._issue("server", *names)
        self.client = self._issue("client", "interopgate-device")

    def _issue(self, stem: str, *names: str, **options: object) -> ServerCertificate:
        leaf = self._ca.issue_cert(*names, key_type=self._key_type, **options)
        cert, key = self.folder / f"{stem}.pem", self.folder / f"{stem}.key"
        with cert.open("wb") as out:
            for pem in leaf.cert_chain_pems:
                out.write(pem.bytes())
        leaf.private_key_pem.write_to_path(str(key))
        return ServerCertificate(cert, key)

    def client_files(self) -> TlsFiles:
        """What the harness is given: this CA, the device's certificate, the name."""
        return TlsFiles(self.ca_file, self.client.cert_file, self.client.key_file, self.names[0])

    def expired(self) -> ServerCertificate:
        """A certificate for the right names whose validity ended yesterday."""
        now = datetime.datetime.now(datetime.timezone.utc)
        return self._issue(
            "expired",
            *self.names,
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        )

    def wrong_host(self) -> ServerCertificate:
        """A certificate of this CA for a host that is not the target."""
        return self._issue("wrong-host", "wrong-host.invalid")


def untrusted_client(files: TlsFiles, folder: Path) -> TlsFiles:
    """A client certificate from a fresh CA, for any target: the trust anchor to check
    the target against stays the profile's CA."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    leaf = trustme.CA(organization_name="Unknown CA").issue_cert("unknown-device")
    cert, key = folder / "untrusted-client.pem", folder / "untrusted-client.key"
    with cert.open("wb") as out:
        for pem in leaf.cert_chain_pems:
            out.write(pem.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    return TlsFiles(files.ca_file, cert, key, files.server_name)


# --------------------------------------------------------------------------- the profile


def files_from_profile(settings: object, host: str) -> TlsFiles | None:
    """The profile's ``target.tls`` files (None when it names no CA: the target then
    makes its own test PKI), with the name defaulting to the target's host."""
    ca_file = getattr(settings, "ca_file", None)
    if ca_file is None:
        return None
    return TlsFiles(
        Path(ca_file),
        getattr(settings, "cert_file", None),
        getattr(settings, "key_file", None),
        getattr(settings, "server_name", None) or host,
    )


@contextlib.contextmanager
def registered_mllp(
    address: tuple[str, int] | None, context: ssl.SSLContext, server_name: str
) -> Iterator[None]:
    """Every MLLP client to ``address`` speaks TLS while the target runs."""
    from interopgate.hl7.mllp import MLLPClient

    if address is None:
        yield
        return
    MLLPClient.tls[address] = (context, server_name)
    try:
        yield
    finally:
        MLLPClient.tls.pop(address, None)
