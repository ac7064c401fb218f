"""--target-host / --dicom-port / --hl7-port / --called-ae over the profile's target, and
the pre-flight that reports unreachable interfaces in one line each."""

from __future__ import annotations

import socket

import pytest

from interopgate.errors import ProfileError
from interopgate.profile import load_profile
from interopgate.site.pacs import ReferenceSite, SiteConfig
from tests.conftest import PROFILES, SUITES

ASSOCIATION_SUITE = SUITES / "dicom" / "test_association.py"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_address_options_make_the_embedded_target_live():
    fields = {
        "host": "pacs-test.example.org",
        "dicom_port": 104,
        "called_ae": "RIS_MWL",
        "hl7_port": 2575,
    }
    target = load_profile("agfa-cr", PROFILES, target_fields=fields).profile.target
    assert (target.kind, target.host, target.dicom_port, target.hl7_port, target.called_ae) == (
        "live",
        "pacs-test.example.org",
        104,
        2575,
        "RIS_MWL",
    )


def test_address_options_over_a_process_target_keep_its_promises():
    fields = {"dicom_port": 4242}
    loaded = load_profile("agfa-cr", PROFILES, target="orthanc", target_fields=fields)
    target = loaded.profile.target
    assert target.kind == "live" and target.called_ae == "ORTHANC"
    assert target.accepts_any_called_ae and "ModalityWorklistFind" in target.provides


def test_called_ae_alone_renames_any_target():
    loaded = load_profile("agfa-cr", PROFILES, target_fields={"called_ae": "MY_SITE"})
    assert (loaded.profile.target.kind, loaded.profile.target.called_ae) == ("embedded", "MY_SITE")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"host": "pacs"},
            "--target-host turn the embedded target into a live one, which needs --dicom-port too",
        ),
        ({"dicom_port": 104}, "give its AE title with --called-ae"),
        (
            {"called_ae": "X" * 17},
            "--called-ae 'XXXXXXXXXXXXXXXXX': an AE title has 1 to 16 characters",
        ),
    ],
)
def test_incomplete_or_bad_options_are_one_sentence(fields, message):
    with pytest.raises(ProfileError) as info:
        load_profile("agfa-cr", PROFILES, target_fields=fields)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.fixture
def site():
    with ReferenceSite(SiteConfig(ae_title="OTHER_PACS")) as running:
        yield running


def test_suites_run_with_command_line_address(run_suites, site):
    host, port = site.dicom_address
    result, _ = run_suites(
        "--profile=agfa-cr",
        f"--target-host={host}",
        f"--dicom-port={port}",
        "--called-ae=OTHER_PACS",
        suites=ASSOCIATION_SUITE,  # the address is the point; the full live run: test_live_target
    )
    assert result.ret == 0, result.stdout.str()
    assert f"live DICOM OTHER_PACS@{host}:{port}" in result.stdout.str()


def test_bad_port_is_a_usage_error(run_suites):
    result, _ = run_suites("--profile=agfa-cr", "--dicom-port=70000")
    assert result.ret == 4
    assert "expected a TCP port number 1-65535, got '70000'" in result.stderr.str()


def test_preflight_reports_each_unreachable_interface_in_one_line(run_suites, site):
    host, _port = site.dicom_address
    closed = _closed_port()
    result, junit = run_suites(
        "--profile=agfa-cr",
        f"--target-host={host}",
        f"--dicom-port={closed}",
        f"--hl7-port={closed}",
        "--called-ae=OTHER_PACS",
    )
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3, output
    assert f"cannot reach the DICOM target at {host}:{closed} (connection refused)" in output
    assert f"cannot reach the HL7 (MLLP) target at {host}:{closed} (connection refused)" in output
    assert "Traceback" not in output and junit.exists()


def test_preflight_passes_dicom_and_reports_hl7(run_suites, site):
    _host, port = site.dicom_address
    closed = _closed_port()
    result, _ = run_suites(
        "--profile=agfa-cr",
        f"--dicom-port={port}",
        f"--hl7-port={closed}",
        "--called-ae=OTHER_PACS",
    )
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3, output
    assert "cannot reach the DICOM target" not in output
    assert "cannot reach the HL7 (MLLP) target" in output


@pytest.mark.parametrize("name", sorted(p.stem for p in (PROFILES / "targets").glob("*.yaml")))
def test_every_target_profile_is_valid(name):
    loaded = load_profile("agfa-cr", PROFILES, target=name)
    assert loaded.profile.target.kind in ("process", "container")
    for deviation in loaded.profile.known_deviations:
        assert deviation.clause, f"{name}: a deviation names its clause"
