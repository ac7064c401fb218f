"""Container targets (docker/, testcontainers): on a machine without a Docker engine they
are skipped with one clear line — never failed, never faked."""

from __future__ import annotations

import sys

import pytest
import yaml

from interopgate.errors import ProfileError, TargetUnavailable
from interopgate.profile import ContainerTarget, load_profile
from interopgate.targets import container
from tests.conftest import PROFILES
from tests.junit import read_cases

needs_no_docker = pytest.mark.skipif(
    container.docker_engine_problem() is None,
    reason="a Docker engine is reachable here: the skip path is not what would happen",
)


@needs_no_docker
def test_without_docker_every_check_is_skipped_with_one_line(run_suites):
    result, junit = run_suites("--profile=agfa-cr", "--target=dcm4chee", "-rs")
    output = result.stdout.str()
    assert result.ret == 0, output
    cases = read_cases(junit)
    assert cases and {c.outcome for c in cases} == {"skipped"}, output
    reason = "skipped: no Docker engine reachable at"
    assert all(reason in c.message for c in cases if "not applicable" not in c.message)
    assert "Traceback" not in output


@needs_no_docker
@pytest.mark.parametrize("service", sorted(container.SERVICES))
def test_start_raises_target_unavailable(tmp_path, service):
    target = ContainerTarget(kind="container", service=service)
    with (
        pytest.raises(
            TargetUnavailable, match=rf"^container target '{service}' skipped: no Docker"
        ),
        container.start(target, "AGFA_CR1", tmp_path),
    ):
        pass


def test_missing_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "docker", None)  # import docker -> ImportError
    assert "pip install -e '.[containers]'" in (container.docker_engine_problem() or "")


def test_every_service_has_a_compose_file_publishing_on_loopback_only():
    for name, service in container.SERVICES.items():
        compose = yaml.safe_load(
            (container.DOCKER_DIR / service.folder / "docker-compose.yml").read_text()
        )
        spec = compose["services"][service.compose_service]
        ports = spec["ports"]
        assert f"127.0.0.1::{service.dicom_port}" in ports, name
        assert all(str(p).startswith("127.0.0.1:") for p in ports), name
        if service.hl7_port:
            assert f"127.0.0.1::{service.hl7_port}" in ports, name


def test_unknown_service_is_a_profile_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("device: {ae_title: X}\ntarget: {kind: container, service: pacs}\n")
    with pytest.raises(ProfileError, match=r"target\.service: .*'orthanc'.*\(got 'pacs'\)"):
        load_profile(str(path), PROFILES)
