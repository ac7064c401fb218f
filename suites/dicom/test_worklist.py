"""Modality Worklist completeness (IHE RAD TF-2 4.5.4, RAD-5; PS3.4 K.6.1.2.2).

The seed incident: an Agfa CR asked for today's CR work and got
items whose Scheduled Procedure Step Sequence (0040,0100) was present but empty, some
days and not others. These checks query as the profile's modality does (plus the
station-AE and date-range variants), ``--repeat`` times each, and name every item that
lacks the SPS or a required key: patient, accession and key.
"""

from __future__ import annotations

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from fixtures.worklist import describe_item
from interopgate.dicom.query import (
    MODELS,
    SPS,
    FindSession,
    build_identifier,
    describe_query,
    resolve_dates,
)

MODEL = MODELS["worklist"]

# IHE RAD TF-2 RAD-5 return keys the modality relies on, as DCMTK wlmscpfs also enforces
# them (DatasetIsComplete): "value" = present with a value, "present" = present, may be
# zero-length (type 2). The SPS Description / Scheduled Protocol Code Sequence pair is
# checked as "one of the two has a value" below.
RAD5_KEYS: dict[str, str] = {
    "PatientName": "value",
    "PatientID": "value",
    "PatientBirthDate": "present",
    "PatientSex": "present",
    "AccessionNumber": "present",
    "StudyInstanceUID": "value",
    "RequestedProcedureID": "value",
    "RequestedProcedureDescription": "present",
    "ReferencedStudySequence": "present",
    "ReferencedPatientSequence": "present",
    f"{SPS}[0].ScheduledStationAETitle": "value",
    f"{SPS}[0].ScheduledProcedureStepStartDate": "value",
    f"{SPS}[0].ScheduledProcedureStepStartTime": "value",
    f"{SPS}[0].Modality": "value",
    f"{SPS}[0].ScheduledProcedureStepID": "value",
    f"{SPS}[0].ScheduledPerformingPhysicianName": "present",
    f"{SPS}[0].ScheduledProcedureStepDescription": "present",
    f"{SPS}[0].ScheduledProtocolCodeSequence": "present",
}
DESCRIPTION_OR_CODE = (
    f"{SPS}[0].ScheduledProcedureStepDescription",
    f"{SPS}[0].ScheduledProtocolCodeSequence",
)
VARIANTS = ["profile-query", "station-ae", "date-range"]


def _query(profile, variant: str) -> dict:
    worklist = profile.dicom.worklist
    if worklist is None:
        pytest.skip("the profile has no dicom.worklist section")
    modality = worklist.query.get("Modality", profile.device.modality)
    if variant == "profile-query":
        return dict(worklist.query)
    if variant == "station-ae":
        return {
            "ScheduledStationAETitle": profile.device.ae_title,
            "ScheduledProcedureStepStartDate": "today",
        }
    return {"Modality": modality, "ScheduledProcedureStepStartDate": "today-1d-today+1d"}


def _requirements(profile) -> dict[str, str]:
    required = dict(RAD5_KEYS)
    for key in profile.dicom.worklist.required_return_keys:
        required[key] = "value"  # the profile says the device needs a value
    return required


def _label(key: str) -> str:
    keyword = key.rsplit(".", 1)[-1].split("[")[0]
    tag = tag_for_keyword(keyword)
    return f"{key} ({tag >> 16:04X},{tag & 0xFFFF:04X})" if tag is not None else key


def _lookup(item: Dataset, key: str) -> tuple[bool, bool, str]:
    """(present, has a value, why not) for ``Keyword`` or ``Sequence[0].Keyword``."""
    if "[0]." in key:
        sequence, keyword = key.split("[0].", 1)
        if sequence not in item:
            return False, False, f"missing ({sequence} absent)"
        items = item[sequence].value or []
        if not items:
            return False, False, f"missing ({sequence} has no item)"
        item, key = items[0], keyword
    if key not in item:
        return False, False, "missing"
    value = item[key].value
    has_value = value not in (None, "") and not (isinstance(value, list) and not value)
    has_value = has_value and str(value).strip() != ""
    return True, has_value, "" if has_value else "zero-length"


def _missing_keys(item: Dataset, required: dict[str, str]) -> list[str]:
    problems = []
    for key, need in required.items():
        present, has_value, why = _lookup(item, key)
        if not present or (need == "value" and not has_value):
            problems.append(f"{_label(key)} {why}")
    sps_reported = any(f"{SPS} has no item" in p or f"{SPS} absent" in p for p in problems)
    if not sps_reported and not any(_lookup(item, key)[1] for key in DESCRIPTION_OR_CODE):
        problems.append(
            "neither ScheduledProcedureStepDescription (0040,0007) nor "
            "ScheduledProtocolCodeSequence (0040,0008) has a value"
        )
    return problems


def _empty_sps(item: Dataset) -> str | None:
    if SPS not in item:
        return f"{SPS} (0040,0100) missing"
    items = item[SPS].value or []
    if not items:
        return f"{SPS} (0040,0100) present with 0 items"
    if any(len(step) == 0 for step in items):
        return f"{SPS} (0040,0100) has an item with no attributes"
    return None


def _run(check, device, profile, query_data, repeat: int, variant: str, inspect):
    """Send the query ``repeat`` times; ``inspect(item)`` gives the item's problems."""
    if profile.dicom.worklist is None:
        pytest.skip(
            "the profile has no dicom.worklist section (the device does not query a worklist)"
        )
    required = _requirements(profile)
    identifier = build_identifier(MODEL, _query(profile, variant), required)
    failed_queries = 0
    lines: dict[str, str] = {}
    returned = 0
    with FindSession(device, MODEL) as session:
        outcomes = [session.find(identifier) for _ in range(repeat)]
    for outcome in outcomes:
        if not outcome.accepted:
            pytest.skip(f"{MODEL.label} not available: {outcome.refusal}")
        returned = max(returned, len(outcome.matches))
        bad = False
        for item in outcome.matches:
            problems = inspect(item, required)
            if problems:
                bad = True
                lines.setdefault(
                    f"{describe_item(item)}|{problems}",
                    f"{describe_item(item)}: {'; '.join(problems)}",
                )
        failed_queries += bad
    return identifier, failed_queries, list(lines.values()), returned


def _declared_for_today(items: list[Dataset]) -> list[str]:
    """Accession Numbers of the declared items scheduled today (or undated)."""
    today = resolve_dates("today")
    found = []
    for item in items:
        steps = item.get(SPS) or [Dataset()]
        date = str(steps[0].get("ScheduledProcedureStepStartDate", "") or "")
        if date in ("", today):
            found.append(str(item.get("AccessionNumber", "") or "?"))
    return found


def _why(query_data) -> str:
    """Why the target holds none of the generated items (e.g. the HL7 feed was refused)."""
    return f" ({query_data.worklist})" if query_data.worklist else ""


@pytest.mark.check("dicom.worklist.sps_sequence")
@pytest.mark.parametrize("variant", VARIANTS)
def test_sps_sequence_present(check, device, profile, query_data, repeat, variant):
    """IHE RAD-5 / PS3.4 K.6.1.2.2: each worklist item is one Scheduled Procedure Step,
    so its SPS Sequence (0040,0100) carries an item; an empty one leaves the modality
    with nothing to do (the seed incident)."""
    identifier, failed, lines, returned = _run(
        check,
        device,
        profile,
        query_data,
        repeat,
        variant,
        lambda item, required: [p] if (p := _empty_sps(item)) else [],
    )
    query = f"{MODEL.label} {describe_query(identifier)}"
    if returned == 0:
        declared = _declared_for_today(query_data.declared_worklist)
        if not query_data.worklist:
            expected = (
                f"the items seeded for today for {profile.device.ae_title} "
                f"({profile.device.modality})"
            )
        elif declared:
            expected = (
                f"the {len(declared)} item(s) scheduled today that the profile declares "
                f"(dicom.worklist.items: accession {', '.join(declared)})"
            )
        else:  # nothing seeded or declared: nothing to expect
            pytest.skip(f"{query}: the target returned no items to inspect{_why(query_data)}")
        check.fail(
            f"{query}: today's worklist",
            expected=expected,
            observed="no items (the worklist is empty)",
        )
    check.expect(
        not failed,
        f"{failed} of {repeat} queries {query} returned an item with an empty Scheduled "
        "Procedure Step Sequence",
        expected="every item with a non-empty (0040,0100) ScheduledProcedureStepSequence",
        observed="\n    " + "\n    ".join(lines),
    )


@pytest.mark.check("dicom.worklist.required_keys")
@pytest.mark.parametrize("variant", VARIANTS)
def test_required_return_keys(check, device, profile, query_data, repeat, variant):
    """IHE RAD TF-2 RAD-5 return keys (and dicom.worklist.required_return_keys of the
    profile) come back in every item, with a value where the modality needs one."""
    identifier, failed, lines, returned = _run(
        check, device, profile, query_data, repeat, variant, _missing_keys
    )
    query = f"{MODEL.label} {describe_query(identifier)}"
    if returned == 0:
        pytest.skip(f"{query}: the target returned no items to inspect{_why(query_data)}")
    check.expect(
        not failed,
        f"{failed} of {repeat} queries {query} returned an item without a required key",
        expected="the RAD-5 return keys and the profile's required_return_keys, with values",
        observed="\n    " + "\n    ".join(lines),
    )
