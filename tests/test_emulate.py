"""``interopgate emulate`` as a person runs it, and ``pytest --role=scp``: DCMTK's findscu -W
and storescu pointed at the emulated site as a modality would be; the report shows the
query and storage checks with verdicts, a wrong behaviour fails its check with the
clause, expected and observed; the device suite never runs in a default run."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interopgate.checks import CHECKS
from tests.emulate_standin import DCMTK_BIN, StandIn
from tests.junit import read_cases
from tests.test_emulate_faults import emulation_profile, record

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (DCMTK_BIN / "findscu").exists(), reason="DCMTK (findscu, storescu) not installed"
)
QUERY_AND_STORAGE = {
    "device.association.ae_title",
    "device.mwl.matching_keys",
    "device.mwl.return_keys",
    "device.mwl.encoding",
    "device.storage.iod",
    "device.storage.worklist_attributes",
}


def run_emulate(tmp_path: Path, faults=(), *extra: str):
    command = [sys.executable, "-m", "interopgate.cli", "emulate", "--profile=agfa-cr"]
    command += ["--host=127.0.0.1", "--port=0", "--duration=4", f"--report-dir={tmp_path}"]
    command += [f"--profiles-dir={ROOT / 'profiles'}", *extra]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    line = process.stdout.readline()  # type: ignore[union-attr]
    found = re.search(r"AE title (\S+), host (\S+), port (\d+)", line)
    assert found, line
    profile = emulation_profile()
    stand_in = StandIn(profile, (found[2], int(found[3])), tmp_path / "work", faults)
    assert stand_in.query().returncode == 0
    item = _first_served()
    assert stand_in.store(stand_in.image(item)).returncode == 0
    output, _ = process.communicate(timeout=120)
    return process.returncode, line + output


def _first_served():
    """The first item the emulator serves: the same seed and day as the running one."""
    from interopgate.emulate import worklist

    profile = emulation_profile()
    items, _ = worklist.generated(
        20240916, profile.device.modality, profile.device.ae_title, hard=True
    )
    return items[0]


def test_emulate_command_judges_findscu_and_storescu(tmp_path):
    code, output = run_emulate(tmp_path)
    assert code == 0, output
    assert "configure the device's" in output
    cases = {c.properties["check"]: c for c in read_cases(tmp_path / "junit.xml")}
    assert set(cases) >= QUERY_AND_STORAGE
    assert {cases[c].outcome for c in QUERY_AND_STORAGE} == {"passed"}, output
    assert (tmp_path / "report.html").exists()
    assert (tmp_path / "evidence" / "emulated-site.pcapng").exists()


def test_emulate_command_fails_a_query_without_station_ae(tmp_path):
    code, output = run_emulate(tmp_path, ["no-station-ae-return-key"])
    assert code == 1, output
    cases = {c.properties["check"]: c for c in read_cases(tmp_path / "junit.xml")}
    failed = {c for c, case in cases.items() if case.outcome == "failed"}
    assert failed == {"device.mwl.return_keys"}, output
    message = cases["device.mwl.return_keys"].message
    assert CHECKS["device.mwl.return_keys"].clause in message
    assert "expected:" in message and "observed:" in message
    assert "ScheduledStationAETitle" in message and "Traceback" not in message


def test_role_scp_judges_a_recording(tmp_path):
    session, _ = record(tmp_path, ["mpps-without-sps-reference"])
    session.save(tmp_path / "emulate-session")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/device",
            "--profile=agfa-cr",
            "--role=scp",
            f"--recording={tmp_path / 'emulate-session'}",
            f"--report-dir={tmp_path / 'r'}",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    cases = read_cases(tmp_path / "r" / "junit.xml")
    failed = {c.properties["check"] for c in cases if c.outcome == "failed"}
    assert failed == {"device.mpps.create_in_progress"}, result.stdout
    assert len(cases) == len([c for c in CHECKS if c.startswith("device.")])


def test_default_run_never_collects_the_device_suite():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--profile=agfa-cr",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--report-dir=/tmp/interopgate-collect",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "suites/device" not in result.stdout
    assert "suites/dicom" in result.stdout


def test_bad_recording_is_one_sentence(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/device",
            "--profile=agfa-cr",
            "--role=scp",
            f"--recording={tmp_path}",
            f"--report-dir={tmp_path / 'r'}",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not a recorded emulation session" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_role_scp_records_live_then_judges(tmp_path):
    """`pytest --role=scp` without a recording: the emulated site listens for
    --emulate-duration seconds, the stand-in queries and stores, then the checks judge."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile_file = tmp_path / "agfa-loopback.yaml"
    profile_file.write_text(
        f"extends: {ROOT / 'profiles' / 'agfa-cr.yaml'}\nemulate: {{host: 127.0.0.1}}\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/device",
            f"--profile={profile_file}",
            "--role=scp",
            "--emulate-duration=4",
            f"--emulate-port={port}",
            f"--report-dir={tmp_path / 'r'}",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    stand_in = StandIn(emulation_profile(), ("127.0.0.1", port), tmp_path / "work")
    assert stand_in.query().returncode == 0
    assert stand_in.store(stand_in.image(_first_served())).returncode == 0
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    cases = {c.properties["check"]: c for c in read_cases(tmp_path / "r" / "junit.xml")}
    assert {cases[c].outcome for c in QUERY_AND_STORAGE} == {"passed"}, output
    assert (tmp_path / "r" / "emulate-session" / "session.json").exists()
