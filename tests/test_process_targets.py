"""Process targets: DCMTK wlmscpfs/dcmqrscp and Orthanc from their Debian packages.

Each server really starts, is seeded its own way, answers the suites, and stops without
leaving a process behind — also when it dies mid-run or the run is interrupted. Skipped
(with the package to install) only where the binaries are missing; CI installs them.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
import yaml
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import make_image
from fixtures.patients import make_faker
from interopgate.dicom.association import open_association
from interopgate.errors import TargetUnavailable
from interopgate.profile import ProcessTarget
from interopgate.targets import launch, process
from tests.conftest import PROFILES, SUITES
from tests.junit import read_cases
from tests.worklist_items import worklist_item, worklist_query

SERVERS = ["dcmtk-wlmscpfs", "dcmtk-dcmqrscp", "orthanc"]
DEVICE = "AGFA_CR1"
SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]


def _require(server: str) -> None:
    """Skip without the server's binary, unless CI said the real targets must run
    (INTEROPGATE_REQUIRE_TARGETS=1, set by .ci/run after installing them)."""
    spec = process.server_for(server)
    if process.find_binary(spec.binary) is None:
        reason = f"{spec.binary} not installed (apt-get install {spec.package})"
        if os.environ.get("INTEROPGATE_REQUIRE_TARGETS") == "1":
            pytest.fail(f"{reason}, but INTEROPGATE_REQUIRE_TARGETS=1", pytrace=False)
        pytest.skip(reason)


def server_pids(log: Path) -> list[int]:
    """The pids a target log says were started ("--- interopgate: pid N")."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [int(pid) for pid in re.findall(r"--- interopgate: pid (\d+)", text)]


def alive(pid: int) -> bool:
    """Running (not a zombie), read from /proc without psutil."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def start_target(tmp_path):
    def start(server: str, called_ae: str = "IG_TARGET"):
        _require(server)
        target = ProcessTarget(kind="process", server=server, called_ae=called_ae)
        return process.start(target, DEVICE, tmp_path / "reports" / "work")

    return start


def c_find(running, model: str, query: Dataset) -> list[Dataset]:
    with open_association(running.endpoint, DEVICE, [(model, SYNTAXES)]) as (assoc, negotiation):
        assert assoc.is_established, negotiation.outcome()
        found = []
        for status, identifier in assoc.send_c_find(query, model):
            assert status is not None, "no C-FIND response"
            if status.Status in (0xFF00, 0xFF01):
                found.append(identifier)
            else:
                assert status.Status == 0x0000, hex(status.Status)
        return found


def _study_query(patient_id: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    query.StudyInstanceUID = ""
    return query


# --------------------------------------------------------------------------- seeding


@pytest.mark.parametrize("server", ["dcmtk-wlmscpfs", "orthanc"])
def test_worklist_items_are_seeded_and_found(start_target, server):
    with start_target(server) as running:
        items = [
            worklist_item("IG00001", "DOE^JANE", "A0001"),
            worklist_item("IG00002", "ROE^RICHARD", "A0002"),
        ]
        receipt = running.seeder.add_worklist_items(items)
        assert receipt.worklist_items == 2
        found = c_find(running, sop.ModalityWorklistInformationFind, worklist_query("CR"))
        assert sorted(ds.AccessionNumber for ds in found) == ["A0001", "A0002"]
        assert all(ds.ScheduledProcedureStepSequence[0].Modality == "CR" for ds in found)
        assert c_find(running, sop.ModalityWorklistInformationFind, worklist_query("MR")) == []


@pytest.mark.parametrize("server", ["dcmtk-dcmqrscp", "orthanc"])
def test_instances_are_seeded_by_c_store_and_found(start_target, server):
    fake = make_faker(7)
    patient = fake.patient()
    images = [make_image(sop.ComputedRadiographyImageStorage, patient) for _ in range(2)]
    with start_target(server) as running:
        assert running.seeder.store_instances(images).instances == 2
        found = c_find(
            running,
            sop.StudyRootQueryRetrieveInformationModelFind,
            _study_query(patient.patient_id),
        )
        assert sorted(str(ds.StudyInstanceUID) for ds in found) == sorted(
            str(image.StudyInstanceUID) for image in images
        )
        assert running.move_destination == (DEVICE, "127.0.0.1", running.move_destination[2])


@pytest.mark.parametrize(
    ("server", "seed", "reason"),
    [
        ("dcmtk-wlmscpfs", "store_instances", "worklist server only"),
        ("dcmtk-dcmqrscp", "add_worklist_items", "no Modality Worklist service"),
    ],
)
def test_what_a_server_cannot_hold_is_unavailable_with_the_reason(
    start_target, server, seed, reason
):
    with start_target(server) as running, pytest.raises(TargetUnavailable, match=reason):
        getattr(running.seeder, seed)([])


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("server", SERVERS)
def test_start_answers_echo_then_stop_leaves_nothing(start_target, server, tmp_path):
    with start_target(server) as running:
        assert launch.answers_echo(running.endpoint, DEVICE)
        assert running.pid is not None and alive(running.pid)
        assert running.problem() is None
        log = running.logs[0]
        assert log == tmp_path / "reports" / "targets" / f"{server}.log"
    assert not alive(running.pid)
    assert "--- interopgate: stopped" in log.read_text()


def test_missing_binary_skips_with_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(process, "find_binary", lambda binary: None)
    target = ProcessTarget(kind="process", server="orthanc")
    with (
        pytest.raises(TargetUnavailable, match=r"Orthanc not found; .*apt-get install orthanc$"),
        process.start(target, DEVICE, tmp_path),
    ):
        pass


def test_port_taken_before_the_server_binds_it_is_retried(start_target, monkeypatch):
    """The bind race: the port picked free is taken by someone else before the server
    binds it; the launcher sees the server exit with a bind error and tries new ports."""
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    ports = iter([taken])
    real_free_port = process.free_port
    monkeypatch.setattr(process, "free_port", lambda: next(ports, None) or real_free_port())
    try:
        with start_target("dcmtk-dcmqrscp") as running:
            assert running.endpoint.port != taken
            assert launch.answers_echo(running.endpoint, DEVICE)
            assert len(server_pids(running.logs[0])) == 2
    finally:
        squatter.close()


def test_server_that_cannot_start_is_one_clear_error(start_target, monkeypatch):
    from interopgate.errors import TargetError

    monkeypatch.setattr(process, "START_ATTEMPTS", 1)
    monkeypatch.setattr(process, "BIND_ERRORS", ())
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    monkeypatch.setattr(process, "free_port", lambda: squatter.getsockname()[1])
    try:
        with (
            pytest.raises(
                TargetError, match=r"dcmqrscp exited at start-up \(exit code \d+\); log "
            ),
            start_target("dcmtk-dcmqrscp"),
        ):
            pass
    finally:
        squatter.close()


# --------------------------------------------------------------------------- the suites

# Checks that must have run (not been skipped) on each server with agfa-cr.
EXECUTED = {
    "dcmtk-wlmscpfs": {
        "dicom.association.echo",
        "dicom.association.context_accepted",
        "dicom.association.context_rejected",
        "dicom.association.transfer_syntax",
        "dicom.association.called_ae",
        "dicom.association.ae_title_case",
        "dicom.association.context_ids",
    },
    "dcmtk-dcmqrscp": {
        "dicom.association.echo",
        "dicom.association.context_accepted",
        "dicom.association.context_rejected",
        "dicom.association.transfer_syntax",
        "dicom.association.called_ae",
        "dicom.association.ae_title_case",
        "dicom.association.context_ids",
        "dicom.association.max_pdu",
        "dicom.storage.store",
        "dicom.storage.round_trip",
        "dicom.storage.large_instance",
    },
    "orthanc": {
        "dicom.association.echo",
        "dicom.association.context_accepted",
        "dicom.association.transfer_syntax",
        "dicom.association.called_ae",
        "dicom.association.context_ids",
        "dicom.association.max_pdu",
        "dicom.storage.store",
        "dicom.storage.round_trip",
        "dicom.storage.large_instance",
        "dicom.commitment.request",
        "dicom.commitment.report_success",
        "dicom.commitment.report_failures",
    },
}


@pytest.mark.parametrize("server", SERVERS)
def test_suites_run_against_the_real_server(run_suites, pytester, server):
    _require(server)
    result, junit = run_suites("--profile=agfa-cr", f"--target={server}")
    output = result.stdout.str()
    assert result.ret == 0, output
    cases = read_cases(junit)
    assert {c.outcome for c in cases} <= {"passed", "skipped", "xfailed"}, output
    ran = {c.properties["check"] for c in cases if c.outcome in ("passed", "xfailed")}
    assert EXECUTED[server] <= ran, output
    assert all(c.properties["target_name"] == server for c in cases)
    log = pytester.path / "reports" / "targets" / f"{server}.log"
    assert log.exists() and f"log {log}" in output
    pids = server_pids(log)
    assert pids and not any(alive(pid) for pid in pids), "a server process was left behind"


@pytest.mark.parametrize(
    ("server", "outcome"), [("dcmtk-dcmqrscp", "passed"), ("orthanc", "xfailed")]
)
def test_retrieve_on_real_archives_with_declared_deviations(run_suites, server, outcome):
    """dcmqrscp refuses a C-MOVE to an unknown destination with A801H; Orthanc answers
    C000H, which its target profile declares: a known deviation, observed, not hidden."""
    _require(server)
    result, junit = run_suites("--profile=review-workstation", f"--target={server}")
    assert result.ret == 0, result.stdout.str()
    moves = [
        c
        for c in read_cases(junit)
        if c.properties["check"] == "dicom.retrieve.move_unknown_destination"
    ]
    # one case per Q/R information model the target provides (Study Root, Patient Root)
    assert moves and {c.outcome for c in moves} == {outcome}, result.stdout.str()
    if outcome == "xfailed":
        assert "C000H" in moves[0].properties["known_deviation"]
    counts = [
        c.outcome
        for c in read_cases(junit)
        if c.properties["check"] == "dicom.retrieve.sub_operation_counts"
    ]
    # one case per model and level (STUDY, SERIES, IMAGE)
    assert len(counts) >= 3 and set(counts) == {"passed"}, result.stdout.str()


def test_deviation_a_real_server_does_not_commit_fails_the_run(run_suites, tmp_path):
    """Declaring a deviation dcmqrscp does not have is caught: the run fails with
    "known deviation no longer observed", so profiles cannot hide anything."""
    _require("dcmtk-dcmqrscp")
    stale = tmp_path / "dcmqrscp-stale.yaml"
    data = yaml.safe_load((PROFILES / "targets" / "dcmtk-dcmqrscp.yaml").read_text())
    data["known_deviations"] = [
        *(data.get("known_deviations") or []),
        {"check": "dicom.association.echo", "reason": "claimed broken"},
    ]
    stale.write_text(yaml.safe_dump(data))
    result, junit = run_suites(
        "--profile=agfa-cr",
        f"--target={stale}",
        "--check=dicom.association.echo",
        suites=SUITES / "dicom" / "test_association.py",
    )
    assert result.ret == 1
    [echo] = [c for c in read_cases(junit) if c.properties["check"] == "dicom.association.echo"]
    assert echo.outcome == "failed" and "known deviation no longer observed" in echo.message
