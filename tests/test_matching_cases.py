"""The C-FIND case runner (interopgate/matching_cases.py) against the embedded site on
seeded data: a case that holds passes silently, a failing one fails once with the first
case, the expected and the observed matches; and the return-key judgement."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset

from fixtures.patients import make_faker
from fixtures.query_data import QueryData, make_query_data
from interopgate import checks, targets
from interopgate.device import DeviceClient
from interopgate.dicom.query import MODELS
from interopgate.evidence import Transcript
from interopgate.matching_cases import (
    Case,
    PatientRootStudies,
    date_key,
    date_of,
    key_problems,
    run_cases,
    sps_value,
    value,
)
from interopgate.profile import load_profile
from interopgate.verdict import CheckContext
from tests.conftest import PROFILES

SEED = 20240916


@dataclasses.dataclass
class Seeded:
    data: QueryData

    def require(self, model: str) -> QueryData:
        return self.data


@pytest.fixture(scope="module")
def seeded_site(tmp_path_factory) -> Iterator[tuple[DeviceClient, Seeded]]:
    profile = load_profile("agfa-cr", PROFILES).profile
    data = make_query_data(make_faker(SEED), SEED, station_ae=profile.device.ae_title)
    work = tmp_path_factory.mktemp("matching")
    with targets.start(profile, profile.device.ae_title, work) as running:
        running.seeder.store_instances(data.studies())
        running.seeder.add_worklist_items(data.worklist())
        transcript = Transcript("matching cases", work / "transcript.txt")
        yield DeviceClient(profile, running.endpoint, transcript), Seeded(data)


def _check(device: DeviceClient) -> CheckContext:
    return CheckContext(checks.get("dicom.find.single_value"), device.transcript)


@pytest.mark.parametrize("name", ["study", "patient", "worklist"])
def test_cases_that_hold_pass(seeded_site, name):
    device, seeded = seeded_site
    even = seeded.data.role("even")
    cases = [
        Case(
            "PatientID",
            {"PatientID": even.patient_id},
            lambda e: value(e, "PatientID") == even.patient_id,
        ),
        Case("'*' alone", {"PatientName": "*"}, lambda e: True),
    ]
    run_cases(_check(device), device, seeded, MODELS[name], cases)


def test_the_first_failing_case_is_named_with_expected_and_observed(seeded_site):
    device, seeded = seeded_site
    even = seeded.data.role("even")
    studies = seeded.data.identities("study", lambda e: value(e, "PatientID") == even.patient_id)
    names = "{" + ", ".join(sorted(seeded.data.label("study", uid) for uid in studies)) + "}"
    cases = [
        Case(
            "holds",
            {"PatientID": even.patient_id},
            lambda e: value(e, "PatientID") == even.patient_id,
        ),
        Case("claims no match", {"PatientID": even.patient_id}, lambda e: False),
        Case("claims every match", {"PatientID": even.patient_id}, lambda e: True),
    ]
    with pytest.raises(pytest.fail.Exception) as failure:
        run_cases(_check(device), device, seeded, MODELS["study"], cases)
    message = str(failure.value)
    assert "PS3.4 C.2.2.2.1" in message
    assert "claims no match (1 more case(s) failed too)" in message
    assert "expected: no match, final status 0000H" in message
    assert f"observed: {names}, final status 0000H\n    unexpected {names}" in message


def test_patient_root_studies_are_judged_by_study_uid(seeded_site):
    device, seeded = seeded_site
    even, second = seeded.data.role("even"), seeded.data.role("even-second")
    model = dataclasses.replace(MODELS["patient"], level="STUDY", identity="StudyInstanceUID")
    uids = [even.study_uid, second.study_uid]
    cases = [
        Case(
            "two UIDs",
            {"PatientID": even.patient_id, "StudyInstanceUID": "\\".join(uids)},
            lambda e: value(e, "StudyInstanceUID") in uids,
        )
    ]
    run_cases(_check(device), device, PatientRootStudies(seeded), model, cases)
    view = PatientRootStudies(seeded).require("patient")
    assert view.identities("patient") == seeded.data.identities("study")


def test_key_problems_name_missing_and_unrequested_keys():
    request = Dataset()
    request.PatientName = ""
    request.PatientID = ""
    step = Dataset()
    step.Modality = ""
    request.ScheduledProcedureStepSequence = [step]
    response = Dataset()
    response.SpecificCharacterSet = "ISO_IR 100"  # PS3.4 C.4.1.1.3.2 allows it
    response.PatientName = "DOE^JOHN"
    response.PatientSex = "M"
    answered = Dataset()
    answered.ScheduledStationAETitle = "IG_CR_01"
    response.ScheduledProcedureStepSequence = [answered]
    assert key_problems(request, response) == [
        "PatientID (0010,0020) missing",
        "ScheduledProcedureStepSequence[0].Modality (0008,0060) missing",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle (0040,0001) returned "
        "but not requested",
        "PatientSex (0010,0040) returned but not requested",
    ]


def test_dates_per_model():
    item = Dataset()
    item.StudyDate = "20240916"
    step = Dataset()
    step.ScheduledProcedureStepStartDate = "20240917"
    item.ScheduledProcedureStepSequence = [step]
    assert [date_key(MODELS[m]) for m in ("study", "patient", "worklist")] == [
        "StudyDate",
        "PatientBirthDate",
        "ScheduledProcedureStepStartDate",
    ]
    assert date_of(MODELS["study"], item) == "20240916"
    assert date_of(MODELS["worklist"], item) == "20240917"
    assert date_of(MODELS["patient"], item) == ""
    assert sps_value(Dataset(), "Modality") == ""
