"""Transport security: the TLS contexts and probes (tls.py), the embedded site's TLS and
access-control modes, and the security checks against DCMTK storescp over TLS.

Certificates are made here by trustme; every connection is on loopback and bounded.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from pathlib import Path

import pytest
import yaml
from pynetdicom import sop_class as sop

from interopgate.dicom.association import Endpoint, open_association
from interopgate.errors import ProfileError
from interopgate.hl7.mllp import MLLPClient
from interopgate.profile import load_profile
from interopgate.site.pacs import ReferenceSite, SiteConfig
from interopgate.targets import process
from interopgate.tls import (
    GeneratedPKI,
    client_context,
    handshake,
    legacy_client_context,
    untrusted_client,
)
from tests.conftest import PROFILES
from tests.junit import read_cases

IMPLICIT = "1.2.840.10008.1.2"
ADT = "MSH|^~\\&|IG|IG|SITE|SITE|20260101000000||ADT^A08^ADT_A01|T1|P|2.5\rEVN|A08\rPID|1||P1\r"


@pytest.fixture
def site(tmp_path):
    config = SiteConfig(
        tls_mode="required",
        tls_services=frozenset({"dicom", "hl7"}),
        tls_dir=tmp_path / "pki",
        known_calling_aes=frozenset({"DEVICE"}),
    )
    with ReferenceSite(config) as running:
        yield running


def _endpoint(site, context=None) -> Endpoint:
    host, port = site.dicom_address
    return Endpoint(host, port, "IG_PACS", 2.0, 5.0, ssl_context=context, server_name=host)


def test_site_speaks_tls_12_or_later_and_refuses_legacy(site):
    files = site.security.client_files
    good = handshake(site.dicom_address, client_context(files), files.server_name)
    assert good.accepted and good.version in ("TLSv1.2", "TLSv1.3"), good
    assert not handshake(site.dicom_address, legacy_client_context(files), None).accepted


def test_association_over_tls_and_access_control(site):
    files = site.security.client_files
    endpoint = _endpoint(site, client_context(files))
    contexts = [(sop.Verification, [IMPLICIT])]
    with open_association(endpoint, "DEVICE", contexts) as (assoc, negotiation):
        assert negotiation.established
        assert assoc.send_c_echo().Status == 0
    with open_association(endpoint, "STRANGER", contexts) as (_, negotiation):
        rejection = negotiation.rejection
        assert rejection and (rejection.result, rejection.source, rejection.reason) == (1, 1, 3)
    with open_association(_endpoint(site), "DEVICE", contexts) as (_, negotiation):
        assert not negotiation.established  # plain TCP on the TLS port


def test_untrusted_client_refused(site, tmp_path):
    files = site.security.client_files
    stranger = untrusted_client(files, tmp_path / "stranger")
    result = handshake(site.dicom_address, client_context(stranger, verify=False), None)
    assert not result.accepted, result


def test_mllp_over_tls(site):
    files = site.security.client_files
    MLLPClient.tls[site.hl7_address] = (client_context(files), files.server_name)
    try:
        with MLLPClient(*site.hl7_address, read_timeout=5) as client:
            assert b"MSA|" in client.send(ADT).reply.payload
    finally:
        MLLPClient.tls.pop(site.hl7_address)


def test_certificate_faults_are_caught(tmp_path):
    pki = GeneratedPKI(tmp_path)
    files = pki.client_files()
    for bad in (pki.expired(), pki.wrong_host()):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(bad.cert_file), str(bad.key_file))
        # a one-connection TLS listener serving the bad certificate
        server = socket.create_server(("127.0.0.1", 0))
        address = server.getsockname()

        def serve(sock=server, ctx=context):
            conn, _ = sock.accept()
            try:
                ctx.wrap_socket(conn, server_side=True).close()
            except OSError:
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        result = handshake(address, client_context(files), files.server_name, linger=0.2)
        thread.join(5)
        server.close()
        assert not result.accepted and "certificate verification failed" in result.error


@pytest.mark.parametrize(
    "tls, message",
    [
        ({"cert_file": "c.pem"}, "cert_file and key_file go together"),
        ({"cert_file": "c.pem", "key_file": "k.pem"}, "needs the ca_file"),
        ({"mode": "sometimes"}, "mode"),
        ({"services": []}, "services"),
    ],
)
def test_bad_tls_profile_is_one_clear_message(tmp_path, tls, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"extends": "agfa-cr", "target": {"tls": tls}}))
    with pytest.raises(ProfileError) as raised:
        load_profile(str(path), PROFILES)
    assert message in str(raised.value)


TLS_CHECKS = {
    "security.tls.version",
    "security.tls.server_certificate",
    "security.tls.untrusted_client",
    "security.tls.plain_tcp_refused",
}


@pytest.mark.parametrize(
    "server, expect_passed",
    [
        ("dcmtk-tls", TLS_CHECKS),
        # Orthanc 1.10.1 still takes TLS 1.1: a known deviation of its target profile.
        ("orthanc-tls", TLS_CHECKS - {"security.tls.version"}),
    ],
)
def test_security_checks_against_real_tls_servers(run_suites, server, expect_passed):
    """DCMTK's and Orthanc's own TLS: echo and store over TLS, and the TLS checks pass
    or are the target profile's declared deviations."""
    name = "dcmtk-storescp-tls" if server == "dcmtk-tls" else server
    spec = process.server_for(name)
    if process.missing(spec) and os.environ.get("INTEROPGATE_REQUIRE_TARGETS") != "1":
        pytest.skip(process.missing(spec))
    result, junit = run_suites(
        "--profile=agfa-cr", f"--target={server}", "-k", "security or echo or store"
    )
    cases = read_cases(junit)
    passed = {c.properties.get("check") for c in cases if c.outcome == "passed"}
    assert result.ret == 0, result.stdout.str()
    assert {"dicom.association.echo", "dicom.storage.store", *expect_passed} <= passed, passed


def test_tls_profile_loads():
    loaded = load_profile(str(PROFILES / "targets" / "dcmtk-tls.yaml"), PROFILES)
    assert loaded.profile.target.tls.mode == "required"


def _live_profile(tmp_path, site, tls: dict) -> Path:
    host, port = site.dicom_address
    path = tmp_path / "live-tls.yaml"
    target = {
        "kind": "live",
        "host": host,
        "dicom_port": port,
        "called_ae": "IG_PACS",
        "hl7_port": site.hl7_address[1],
        "tls": {"mode": "required", "services": ["dicom", "hl7"], **tls},
        "access_control": {"refuses_unknown_calling_ae": True},
    }
    path.write_text(yaml.safe_dump({"extends": "agfa-cr", "target": target}))
    return path


def test_live_target_over_tls_with_the_profile_files(run_suites, tmp_path):
    """A live target speaking TLS: the CA and device certificate come from the profile."""
    config = SiteConfig(
        tls_mode="required",
        tls_services=frozenset({"dicom", "hl7"}),
        tls_dir=tmp_path / "pki",
        known_calling_aes=frozenset({"AGFA_CR1"}),
    )
    with ReferenceSite(config) as site:
        files = site.security.client_files
        tls = {"ca_file": str(files.ca_file), "cert_file": str(files.cert_file)}
        tls |= {"key_file": str(files.key_file), "server_name": files.server_name}
        profile = _live_profile(tmp_path, site, tls)
        result, junit = run_suites(f"--profile={profile}", "-k", "security or echo or ack")
    cases = read_cases(junit)
    passed = {c.properties.get("check") for c in cases if c.outcome == "passed"}
    assert result.ret == 0, result.stdout.str()
    assert TLS_CHECKS | {"security.access.unknown_calling_ae", "dicom.association.echo"} <= passed


def test_missing_ca_file_is_one_sentence(run_suites, tmp_path):
    with ReferenceSite(SiteConfig()) as site:
        profile = _live_profile(tmp_path, site, {"ca_file": str(tmp_path / "none.pem")})
        result, _ = run_suites(f"--profile={profile}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3, output
    assert "target.tls.ca_file: cannot load" in output and "Traceback" not in output
