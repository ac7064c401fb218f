"""Transport security and access control, where the profile says the target offers them.

TLS (``target.tls``): the version (BCP 195: 1.2 or later, TLS 1.0/1.1 refused), the
target's certificate against the profile's CA and name, a client certificate from an
unknown CA refused, plain TCP refused where TLS is required -- each on DICOM (PS3.15
B.9) and on MLLP (IHE ITI TF-2 3.19) as ``tls.services`` lists. Access control
(``target.access_control``): an unknown calling AE gets A-ASSOCIATE-RJ 1/1/3 (PS3.8
9.3.4) and no patient's name in an Error Comment. A C-MOVE to an unknown destination
(A801H) is ``dicom.retrieve.move_unknown_destination``, which runs over TLS like every
other check when the target speaks it.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest
from pydicom.dataset import Dataset
from pynetdicom import sop_class as sop

from interopgate.dicom.association import REJECT_REASON, open_association
from interopgate.hl7.mllp import VT, frame
from interopgate.plugin.state import run_profile
from interopgate.suite_support import parametrize_from_profile
from interopgate.tls import (
    TlsFiles,
    client_context,
    files_from_profile,
    handshake,
    legacy_client_context,
    untrusted_client,
)

UNKNOWN_CALLING_AE = "IG_UNKNOWN_SCU"
IMPLICIT = "1.2.840.10008.1.2"
GOOD_VERSIONS = ("TLSv1.2", "TLSv1.3")
# A message any HL7 receiver answers (AA or an error ACK): enough to see it was read.
PROBE_MESSAGE = (
    "MSH|^~\\&|INTEROPGATE|IG|SITE|SITE|20260101000000||ADT^A08^ADT_A01|IGTLS1|P|2.5\r"
    "EVN|A08|20260101000000\rPID|1||IGTLS1^^^IG||PROBE^PLAIN\rPV1|1|O\r"
)


def _services(profile) -> list[str]:
    return list(profile.target.tls.services) if profile.target.tls else []


def _required(profile) -> list[str]:
    tls = profile.target.tls
    return list(tls.services) if tls and tls.mode == "required" else []


def _client_auth(profile) -> list[str]:
    tls = profile.target.tls
    return list(tls.services) if tls and tls.requires_client_certificate else []


def _access(profile) -> list[str]:
    access = profile.target.access_control
    return ["calling-ae"] if access and access.refuses_unknown_calling_ae else []


def _known_peers(profile) -> list[str]:
    return ["calling-ae"] if profile.target.access_control else []


PARAMETERS = {
    "tls_service": _services,
    "tls_required_service": _required,
    "client_auth_service": _client_auth,
    "access_control": _access,
    "known_peers": _known_peers,
}
WHAT = {
    "tls_service": "TLS service (target.tls.services)",
    "tls_required_service": "service with TLS required (target.tls.mode: required)",
    "client_auth_service": "service requiring client certificates "
    "(target.tls.requires_client_certificate)",
    "access_control": "calling AE refused at association (target.access_control)",
    "known_peers": "calling AE access control (target.access_control)",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if run_profile(metafunc.config) is not None:
        parametrize_from_profile(metafunc, PARAMETERS, WHAT)


def _files(profile, target) -> TlsFiles:
    files = target.details.get("tls") or files_from_profile(
        profile.target.tls, target.endpoint.host
    )
    if files is None:
        pytest.skip("the profile's target.tls names no ca_file and the target made none")
    return files


def _address(target, service: str) -> tuple[str, int]:
    if service == "dicom":
        return target.endpoint.host, target.endpoint.port
    if target.hl7_address is None:
        pytest.skip("target.tls lists hl7 but the target has no HL7 (MLLP) address")
    return target.hl7_address


@pytest.mark.check("security.tls.version")
def test_tls_version(check, profile, target, tls_service):
    files = _files(profile, target)
    address = _address(target, tls_service)
    current = handshake(address, client_context(files, verify=False), files.server_name)
    check.expect(
        current.accepted and current.version in GOOD_VERSIONS,
        f"TLS handshake with {tls_service} at {address[0]}:{address[1]}",
        expected="TLS 1.2 or 1.3 negotiated",
        observed=current.describe(),
    )
    legacy = handshake(address, legacy_client_context(files), files.server_name)
    check.expect(
        not legacy.accepted,
        f"a client offering only TLS 1.0 and 1.1 to {tls_service} at {address[0]}:{address[1]}",
        expected="the handshake refused (BCP 195 forbids TLS 1.0/1.1)",
        observed=legacy.describe(),
    )


@pytest.mark.check("security.tls.server_certificate")
def test_server_certificate_validates(check, profile, target, tls_service):
    files = _files(profile, target)
    address = _address(target, tls_service)
    result = handshake(address, client_context(files, verify=True), files.server_name)
    check.expect(
        result.accepted,
        f"the certificate {tls_service} at {address[0]}:{address[1]} presents, checked "
        f"against {files.ca_file.name} for the name {files.server_name!r}",
        expected="a certificate chaining to the profile's CA, valid now, naming the target",
        observed=result.describe(),
    )


@pytest.mark.check("security.tls.untrusted_client")
def test_untrusted_client_refused(check, profile, target, client_auth_service, tmp_path):
    files = _files(profile, target)
    address = _address(target, client_auth_service)
    stranger = untrusted_client(files, tmp_path)
    result = handshake(address, client_context(stranger, verify=False), files.server_name)
    check.expect(
        not result.accepted,
        f"a client certificate from a CA the target does not trust, to "
        f"{client_auth_service} at {address[0]}:{address[1]}",
        expected="the connection refused during or right after the handshake",
        observed=result.describe(),
    )


@pytest.mark.check("security.tls.plain_tcp_refused")
def test_plain_tcp_refused(check, profile, target, transcript, tls_required_service):
    address = _address(target, tls_required_service)
    if tls_required_service == "dicom":
        plain = dataclasses.replace(target.endpoint, ssl_context=None)
        contexts = [(sop.Verification, [IMPLICIT])]
        with open_association(plain, profile.device.ae_title, contexts, transcript=transcript) as (
            _,
            negotiation,
        ):
            check.expect(
                not negotiation.established,
                f"a plain TCP A-ASSOCIATE-RQ to the TLS port {address[0]}:{address[1]}",
                expected="no A-ASSOCIATE-AC (the connection closed or a TLS alert)",
                observed=negotiation.outcome(),
            )
        return
    answer = _plain_mllp(address, profile.hl7.ack.timeout)
    check.expect(
        not answer.startswith(VT),
        f"a plain TCP MLLP frame to the TLS port {address[0]}:{address[1]}",
        expected="no MLLP reply (the connection closed or a TLS alert)",
        observed=f"{len(answer)} byte(s) back: {answer[:40]!r}" if answer else "no reply",
    )


def _plain_mllp(address: tuple[str, int], timeout: float) -> bytes:
    """Send one framed message without TLS; what came back before close or timeout."""
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(frame(PROBE_MESSAGE))
            return sock.recv(4096)
    except OSError:
        return b""


@pytest.mark.check("security.access.unknown_calling_ae")
def test_unknown_calling_ae_rejected(check, profile, target, transcript, access_control):
    contexts = [(sop.Verification, [IMPLICIT])]
    with open_association(target.endpoint, UNKNOWN_CALLING_AE, contexts, transcript=transcript) as (
        _,
        negotiation,
    ):
        rejection = negotiation.rejection
        check.expect(
            rejection is not None
            and rejection.result in (1, 2)
            and (rejection.source, rejection.reason) == (1, 3),
            f"A-ASSOCIATE-RQ from calling AE {UNKNOWN_CALLING_AE!r}, unknown to the target",
            expected=f"A-ASSOCIATE-RJ, source 1 (service-user), reason 3 ({REJECT_REASON[(1, 3)]})",
            observed=negotiation.outcome(),
        )


@pytest.mark.check("security.access.no_patient_data")
def test_no_patient_data_to_unknown_peer(
    check, profile, target, transcript, known_peers, query_data
):
    """Ask, as an unknown calling AE, for a patient the target holds (the seeded data)."""
    worklist = profile.target_provides("ModalityWorklistFind")
    model = "worklist" if worklist else "study"
    query_model = (
        sop.ModalityWorklistInformationFind
        if worklist
        else sop.StudyRootQueryRetrieveInformationModelFind
    )
    held = query_data.require(model).entities(model)[0]
    query = Dataset()
    query.PatientID = held.PatientID
    query.PatientName = ""
    if query_model != sop.ModalityWorklistInformationFind:
        query.QueryRetrieveLevel = "STUDY"
    with open_association(
        target.endpoint,
        UNKNOWN_CALLING_AE,
        [(query_model, [IMPLICIT])],
        transcript=transcript,
    ) as (assoc, negotiation):
        if not negotiation.established:
            return  # refused at association: nothing could leak
        comments = [
            str(status.get("ErrorComment", ""))
            for status, _ in assoc.send_c_find(query, query_model)
            if status is not None
        ]
    family = str(held.PatientName).split("^")[0].upper()
    leaked = [c for c in comments if family and family in c.upper()]
    check.expect(
        not leaked,
        f"C-FIND for Patient ID {held.PatientID} from calling AE {UNKNOWN_CALLING_AE!r}",
        expected=f"no Error Comment naming the held patient {str(held.PatientName)!r}",
        observed="; ".join(repr(c) for c in leaked) if leaked else "no name in a comment",
    )
