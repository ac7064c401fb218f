"""The same suites against a site the run did not start: `interopgate site` in another
process, reached through a live-target profile kept outside the repository."""

from __future__ import annotations

import re
import socket

import pytest

from tests.conftest import SUITES, interopgate_site
from tests.junit import read_cases


@pytest.fixture
def separate_site():
    """`interopgate site` on a free port, as a person would start it; stopped afterwards."""
    with interopgate_site() as (_, line):
        match = re.search(r"DICOM (\S+)@([\d.]+):(\d+)", line)
        assert match, line
        yield match.group(1), match.group(2), int(match.group(3))


def _live_profile(path, host, port, ae):
    path.write_text(
        "extends: agfa-cr\n"
        f"target: {{kind: live, host: {host}, dicom_port: {port}, called_ae: {ae}}}\n"
    )
    return path


def test_suites_run_unchanged_against_a_live_site(run_suites, separate_site, tmp_path_factory):
    ae, host, port = separate_site
    profile = _live_profile(tmp_path_factory.mktemp("elsewhere") / "site.yaml", host, port, ae)
    # `extends: agfa-cr` from outside the repo resolves through --profiles-dir.
    result, junit = run_suites(f"--profile={profile}")
    assert result.ret == 0, result.stdout.str()
    cases = read_cases(junit)
    assert len(cases) >= 10
    assert all(c.properties["target"] == "live" for c in cases)
    assert all(c.properties["target_address"] == f"{ae}@{host}:{port}" for c in cases)


def test_compact_target_url(run_suites, separate_site):
    ae, host, port = separate_site
    result, junit = run_suites(
        "--profile=agfa-cr",
        f"--target=dicom://{ae}@{host}:{port}",
        suites=SUITES / "dicom" / "test_association.py",  # the URL is the point
    )
    assert result.ret == 0, result.stdout.str()
    cases = read_cases(junit)
    assert cases and all(c.properties["target_address"] == f"{ae}@{host}:{port}" for c in cases)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_target_is_one_clear_line(run_suites, tmp_path):
    profile = _live_profile(tmp_path / "down.yaml", "127.0.0.1", _closed_port(), "PACS")
    result, junit = run_suites(f"--profile={profile}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3
    assert "cannot reach the DICOM target at 127.0.0.1:" in output
    assert "Traceback" not in output
    assert junit.exists()  # the (empty) report is still written


def test_refused_association_is_one_clear_line(run_suites, separate_site, tmp_path):
    _, host, port = separate_site
    profile = _live_profile(tmp_path / "wrong-ae.yaml", host, port, "NOT_THE_SITE")
    result, _ = run_suites(f"--profile={profile}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3
    assert "refused an association" in output and "reason 7" in output
    assert "Traceback" not in output
