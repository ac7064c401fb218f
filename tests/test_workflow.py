"""The end-to-end workflow suite: its mapping helpers, SIU-, ORM- and OMI-fed
profiles and cancel marking on the clean site, and the seed-incident demo."""

from __future__ import annotations

import pytest

from interopgate import cli
from interopgate.hl7 import worklist_mapping as wm
from tests.conftest import SUITES
from tests.junit import failing_checks, read_cases

SIU = (
    "MSH|^~\\&|EHR|HOSP|PACS|SITE|20240916060000||SIU^S12^SIU_S12|83469931|P|2.5\r"
    "SCH|P1|F1" + "|" * 9 + "^^15^20240930081500+0200" + "|" * 15 + "RP1|A1\r"
    "PID|1||331122^^^HOSP^MR||DOE^John^Q||19700101|M"
)


def test_er7_value_reads_fields_components_and_msh():
    assert wm.er7_value(SIU, "MSH-10") == "83469931"
    assert wm.er7_value(SIU, "MSH-9.2") == "S12"
    assert wm.er7_value(SIU, "PID-3.1") == "331122"
    assert wm.er7_value(SIU, "SCH-11.4") == "20240930081500+0200"
    assert wm.er7_value(SIU, "SCH-27") == "A1"
    assert wm.er7_value(SIU, "AIG-3") == ""


@pytest.mark.parametrize(
    ("dtm", "expected"),
    [
        ("20240930081500+0200", ("20240930", "081500")),
        ("202409300815", ("20240930", "081500")),
        ("20240930081525.1234-0500", ("20240930", "081525")),
        ("20240930", ("20240930", "")),
    ],
)
def test_dtm_to_dicom_keeps_wall_clock_time(dtm, expected):
    assert wm.dtm_to_dicom(dtm) == expected


def test_normalise_and_overrides():
    assert wm.normalise("PatientName", "DOE^John^^^") == "DOE^JOHN"
    assert wm.normalise("PatientName", "DOE^John^Q^Jr^Dr") == "DOE^JOHN^Q"
    assert wm.normalise("PatientBirthDate", "19700101120000") == "19700101"
    assert wm.dicom_time("0815") == "081500" and wm.dicom_time("08:15:00.5") == "081500"
    mapping = wm.mapping("SIU", {"AccessionNumber": "SCH-2.1", "Modality": "AIS-3.1"})
    assert mapping["AccessionNumber"] == "SCH-2.1"
    assert mapping[f"{wm.SPS_PREFIX}Modality"] == "AIS-3.1"
    assert "PatientSex" not in wm.mapping("ORM", {"PatientSex": ""})


WORKFLOW_CHECKS = {
    "workflow.create.complete",
    "workflow.update.applied",
    "workflow.rejected.no_trace",
    "workflow.resend.no_duplicate",
    "workflow.sweep.complete",
}
FEEDS = {  # the worklist fed by appointments (SIU), orders (ORM) or imaging orders (OMI)
    "SIU": "",
    "ORM": 'hl7:\n  messages: ["ORM^O01"]\n',
    "OMI": 'hl7:\n  version: "2.5.1"\n  messages: ["OMI^O23"]\n',
}


@pytest.mark.parametrize("feed", sorted(FEEDS))
def test_each_feed_passes_on_the_clean_site(run_suites, tmp_path, feed):
    """IHE RAD-4 by SIU^S12/S14/S15, ORM^O01 (OBR-18..24) and OMI^O23 (IPC): create,
    update, cancel (removed), refusal, resend and sweep all pass end to end."""
    profile = tmp_path / f"{feed.lower()}.yaml"
    profile.write_text("extends: agfa-cr\n" + FEEDS[feed])
    result, junit = run_suites(f"--profile={profile}", suites=SUITES / "workflow")
    cases = read_cases(junit)
    assert result.ret == 0, result.stdout.str()
    passed = {c.properties["check"] for c in cases if c.outcome == "passed"}
    assert passed >= {*WORKFLOW_CHECKS, "workflow.cancel.removed"}
    assert "workflow.cancel.marked" not in {c.properties["check"] for c in cases}
    assert "test_cancel_marks_item[none]: the profile and its target give no hl7.cancel" in (
        result.stdout.str()
    )


def test_cancel_marked_per_profile(run_suites, tmp_path):
    """hl7.cancel: mark: the embedded site keeps the cancelled item with the profile's
    Scheduled Procedure Step Status; the removal check does not apply."""
    profile = tmp_path / "mark.yaml"
    profile.write_text(
        "extends: agfa-cr\nhl7:\n  cancel: mark\n  cancel_status: CANCELLED_BY_RIS\n"
    )
    result, junit = run_suites(f"--profile={profile}", suites=SUITES / "workflow")
    cases = read_cases(junit)
    assert result.ret == 0, result.stdout.str()
    checks = {c.properties["check"]: c.outcome for c in cases}
    assert checks["workflow.cancel.marked"] == "passed"
    assert "workflow.cancel.removed" not in checks


def test_omi_mapping_reads_ipc():
    mapping = wm.mapping("OMI")
    assert mapping["AccessionNumber"] == "IPC-1.1"
    assert mapping["StudyInstanceUID"] == "IPC-3.1"
    assert mapping[f"{wm.SPS_PREFIX}ScheduledProcedureStepID"] == "IPC-4.1"
    assert mapping[f"{wm.SPS_PREFIX}Modality"] == "IPC-5.1"
    assert mapping[f"{wm.SPS_PREFIX}ScheduledStationName"] == "IPC-7.1"
    assert mapping[f"{wm.SPS_PREFIX}ScheduledStationAETitle"] == "IPC-9"


def test_seed_incident_demo_shows_the_chain(tmp_path, capfd):
    code = cli.main(["demo", "seed-incident", "--report-dir", str(tmp_path)])
    out = capfd.readouterr().out
    assert code == 0, out
    cases = read_cases(tmp_path / "junit.xml")
    assert failing_checks(cases) == {
        "hl7.timestamp.sweep",
        "workflow.sweep.complete",
        "workflow.rejected.no_trace",
    }
    sweep = next(c for c in cases if c.properties["check"] == "workflow.sweep.complete")
    assert "08:00 (refused AE)" in sweep.message
    assert "present with 0 items" in sweep.message
    assert "accession" in sweep.message and "patient" in sweep.message
    assert (tmp_path / "report.html").exists()
