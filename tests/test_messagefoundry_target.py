"""The HL7 and workflow suites against a site we did not write.

MessageFoundry (an HL7 integration engine from PyPI) receives the harness's SIU/ORM over
MLLP and, through the site's channel, writes the worklist DCMTK wlmscpfs serves. The
suites run unchanged: what passes passes on a real engine's ACKs and a real worklist
server's matching; what the engine does differently is a declared deviation that must
still be observed; and a wrong mapping fails with a message naming what was sent.
Skipped (with the install line) where the engine or DCMTK is missing, unless
INTEROPGATE_REQUIRE_TARGETS=1 (CI, after .ci/run installed both).
"""

from __future__ import annotations

import os

import pytest
import yaml

from interopgate.profile import ProcessTarget
from interopgate.targets import launch, process
from tests.conftest import PROFILES
from tests.junit import read_cases
from tests.test_process_targets import DEVICE, alive, server_pids

SERVER = "messagefoundry-wlmscpfs"
# Checks that must have run on the real engine (passed, or xfailed as declared).
EXECUTED = {
    "hl7.ack.accepted",
    "hl7.ack.control_id",
    "hl7.ack.header",
    "hl7.ack.malformed",
    "hl7.timestamp.accepted",
    "hl7.timestamp.sweep",
    "hl7.resend.same_control_id",
    "workflow.create.complete",
    "workflow.update.applied",
    "workflow.cancel.removed",
    "workflow.resend.no_duplicate",
    "workflow.sweep.complete",
    "dicom.association.echo",
    "dicom.find.single_value",
}


@pytest.fixture(autouse=True)
def _require_site() -> None:
    problem = process.missing(process.server_for(SERVER))
    if problem is None:
        return
    if os.environ.get("INTEROPGATE_REQUIRE_TARGETS") == "1":
        pytest.fail(f"{problem}, but INTEROPGATE_REQUIRE_TARGETS=1", pytrace=False)
    pytest.skip(problem)


def _assert_both_stopped(logs) -> None:
    """wlmscpfs and the engine were started once each and neither outlived the run."""
    pids = [pid for log in logs for pid in server_pids(log)]
    assert len(pids) == 2 and not any(alive(pid) for pid in pids), "a process was left behind"


def test_site_starts_answers_and_stops_both_programs(tmp_path):
    target = ProcessTarget(kind="process", server=SERVER, called_ae="RISMWL")
    with process.start(target, DEVICE, tmp_path / "reports" / "work") as running:
        assert launch.answers_echo(running.endpoint, DEVICE)
        assert running.hl7_address is not None
        assert launch.accepts_tcp(running.hl7_address[1])
        logs = running.logs
        assert [log.name for log in logs] == [f"{SERVER}.log", "messagefoundry.log"]
    _assert_both_stopped(logs)


def test_suites_run_unchanged_with_declared_deviations(run_suites, pytester):
    result, junit = run_suites("--profile=agfa-cr", f"--target={SERVER}")
    output = result.stdout.str()
    assert result.ret == 0, output
    cases = read_cases(junit)
    assert {c.outcome for c in cases} <= {"passed", "skipped", "xfailed"}, output
    ran = {c.properties["check"] for c in cases if c.outcome in ("passed", "xfailed")}
    assert ran >= EXECUTED, sorted(EXECUTED - ran)
    # Each declared deviation was observed on this engine, with its reason in the report.
    xfailed = {c.properties["check"] for c in cases if c.outcome == "xfailed"}
    assert {"hl7.timestamp.rejected", "hl7.ack.enhanced_mode"} <= xfailed
    assert "HL7 MLLP 127.0.0.1:" in output
    logs = [
        pytester.path / "reports" / "targets" / f"{name}.log" for name in (SERVER, "messagefoundry")
    ]
    _assert_both_stopped(logs)


@pytest.mark.parametrize("message_type", ["ORM^O01", "OMI^O23"])
def test_order_fed_worklist_on_the_engine(run_suites, tmp_path, message_type):
    """ORM^O01 / OMI^O23 (NW/XO/CA) through the same engine and channel: the IHE SWF
    mapping (OBR for ORM, IPC for OMI, the placer's Study Instance UID included)."""
    profile = tmp_path / "ris-orders.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "extends": str(PROFILES / "agfa-cr.yaml"),
                "hl7": {"messages": [message_type], "timestamp_forms": ["YYYYMMDDHHMMSS"]},
            }
        )
    )
    result, junit = run_suites(
        f"--profile={profile}",
        f"--target={SERVER}",
        "-k",
        "workflow",
        suites=PROFILES.parent / "suites" / "workflow",
    )
    output = result.stdout.str()
    assert result.ret == 0, output
    outcomes = {c.properties["check"]: c.outcome for c in read_cases(junit)}
    for check in ("workflow.create.complete", "workflow.update.applied", "workflow.cancel.removed"):
        assert outcomes.get(check) == "passed", output


def test_a_mapping_the_site_does_not_use_fails_naming_what_was_sent(run_suites, tmp_path):
    """Without the site's own mapping (SIU accession in SCH-2), the harness looks for the
    SCH-27 accession and finds nothing: the failure names patient, accession and time."""
    site = yaml.safe_load((PROFILES / "targets" / f"{SERVER}.yaml").read_text())
    # No mapping; 1 s for the item it will never find (not 5 s per timestamp format).
    site["hl7"] = {"worklist_deadline": 1}
    target = tmp_path / "default-mapping.yaml"
    target.write_text(yaml.safe_dump(site))
    result, junit = run_suites(
        "--profile=agfa-cr",
        f"--target={target}",
        "-k",
        "test_create",
        suites=PROFILES.parent / "suites" / "workflow",
    )
    assert result.ret == 1, result.stdout.str()
    failed = [c for c in read_cases(junit) if c.outcome == "failed"]
    assert failed and all(c.properties["check"] == "workflow.create.complete" for c in failed)
    message = failed[0].message
    assert "accession" in message and "patient" in message and "SIU^S12" in message, message


def test_live_profile_with_hl7_port_reaches_the_engine(run_suites, tmp_path):
    """The same site as a system the run does not start: a profile with ``kind: live``,
    ``dicom_port`` and ``hl7_port`` and the site's own mapping, as a user points the
    harness at their RIS. Deviations are the site's and come with its target profile in
    practice; here the run is limited to what this engine does as HL7 says."""
    target = ProcessTarget(kind="process", server=SERVER, called_ae="RISMWL")
    with process.start(target, DEVICE, tmp_path / "site" / "work") as running:
        assert running.hl7_address is not None
        profile = tmp_path / "our-ris.yaml"
        profile.write_text(
            yaml.safe_dump(
                {
                    "extends": str(PROFILES / "agfa-cr.yaml"),
                    "target": {
                        "kind": "live",
                        "host": "127.0.0.1",
                        "dicom_port": running.endpoint.port,
                        "hl7_port": running.hl7_address[1],
                        "called_ae": "RISMWL",
                        # what the site's target profile declares: wlmscpfs serves the
                        # worklist only (no MPPS, storage or Q/R for the acquisition day)
                        "provides": ["Verification", "ModalityWorklistFind"],
                    },
                    "hl7": {"to_worklist": {"SIU": {"AccessionNumber": "SCH-2.1"}}},
                }
            )
        )
        result, junit = run_suites(
            f"--profile={profile}",
            str(PROFILES.parent / "suites" / "workflow"),
            "-k",
            "not rejected and not unsupported and not enhanced and not malformed and not message_type",
            suites=PROFILES.parent / "suites" / "hl7",
        )
    output = result.stdout.str()
    assert result.ret == 0, output
    assert f"HL7 127.0.0.1:{running.hl7_address[1]}" in output
    ran = {c.properties["check"] for c in read_cases(junit) if c.outcome == "passed"}
    assert {"hl7.ack.accepted", "workflow.create.complete", "workflow.cancel.removed"} <= ran
