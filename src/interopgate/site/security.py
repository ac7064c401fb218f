"""The embedded site's transport security and access control, and their faults.

In TLS mode the site makes its own test CA at start (tls.GeneratedPKI) and serves DICOM
(PS3.15 B.9 BCP 195) and MLLP (IHE ITI TF-2 3.19) over TLS >= 1.2 with a client
certificate from that CA required; ``optional`` mode also takes plain TCP on the same
port. With access control on, only the known calling AE titles are served (PS3.8 9.3.4:
others get A-ASSOCIATE-RJ 1/1/3, which pynetdicom's ``require_calling_aet`` sends).
The faults are the defects of real deployments: TLS 1.0 still taken, a certificate that
expired or names another host, any client certificate let in, plain TCP taken where TLS
is required, unknown calling AEs served, a refusal that names the patient.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydicom.dataset import Dataset

from interopgate.site.faults import FaultSet
from interopgate.tls import GeneratedPKI, PlainOrTls, TlsFiles, server_context

NOT_AUTHORIZED = 0x0124  # PS3.7 C.5 (Refused: Not authorized)


class SiteSecurity:
    """What the site's TLS mode and access control are, built once at start."""

    def __init__(
        self,
        faults: FaultSet,
        tls_mode: str,
        tls_dir: Path | None,
        known_calling_aes: frozenset[str] | None,
    ) -> None:
        self.faults = faults
        self.tls_mode = tls_mode
        self.known_calling_aes = known_calling_aes
        self.pki: GeneratedPKI | None = None
        self._context: ssl.SSLContext | PlainOrTls | None = None
        if tls_mode != "off":
            if tls_dir is None:
                raise ValueError("the site's TLS mode needs a folder for its test PKI")
            self.pki = GeneratedPKI(tls_dir)
            self._context = self._server_context(self.pki)

    @property
    def client_files(self) -> TlsFiles | None:
        """The CA, client certificate and name the harness is to use (TLS mode only)."""
        return self.pki.client_files() if self.pki else None

    def ssl_context(self) -> ssl.SSLContext | PlainOrTls | None:
        """What the DICOM and MLLP servers wrap accepted sockets with (None: plain)."""
        return self._context

    def _server_context(self, pki: GeneratedPKI) -> ssl.SSLContext | PlainOrTls:
        served = pki.server
        if self.faults.has("tls-expired-certificate"):
            served = pki.expired()
        elif self.faults.has("tls-wrong-host-certificate"):
            served = pki.wrong_host()
        context = server_context(
            served.cert_file,
            served.key_file,
            pki.ca_file,
            require_client_cert=not self.faults.has("tls-untrusted-client-accepted"),
            legacy_versions=self.faults.has("tls-legacy-versions-accepted"),
        )
        if self.tls_mode == "optional" or self.faults.has("tls-plain-tcp-accepted"):
            return PlainOrTls(context)
        return context

    def required_calling_aes(self) -> list[str]:
        """pynetdicom's ``require_calling_aet``: the known AEs, or [] (everyone) when off
        or under a fault that lets unknown ones in."""
        if self.known_calling_aes is None:
            return []
        if self.faults.any("access-unknown-calling-ae-accepted", "access-refusal-names-patient"):
            return []
        return sorted(self.known_calling_aes)

    def refusal(self, calling_ae: str, patient_names: list[str]) -> Dataset | None:
        """access-refusal-names-patient: an unknown calling AE's request refused 0124H at
        the DIMSE level, with the held patient's name in the Error Comment (0000,0902)."""
        if self.known_calling_aes is None or calling_ae in self.known_calling_aes:
            return None
        if not self.faults.has("access-refusal-names-patient"):
            return None
        status = Dataset()
        status.Status = NOT_AUTHORIZED
        named = ", ".join(patient_names) or "no patient"
        status.ErrorComment = f"{calling_ae} may not query {named}"[:64]
        return status
