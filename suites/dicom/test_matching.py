"""C-FIND attribute matching (PS3.4 C.2.2.2) for Study Root, Patient Root and Modality
Worklist FIND, on data seeded once per session (suites/dicom/conftest.py).

Each test runs a few queries (cases) for one information model and fails once, naming
the first failing case: the clause, the query keys, the expected and the observed
matches among the seeded entities (a live target may hold more; those are ignored).
The trailing-space and ``^`` cases are where real SCPs disagree (the seed incident's
captures): PS3.5 6.2 padding and PN components (PS3.5 6.2.1). The cases and how they
are sent and judged: interopgate/matching_cases.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from pydicom.dataset import Dataset

from interopgate.dicom.cancel import find_and_cancel
from interopgate.dicom.query import MODELS, build_identifier, describe_query, find
from interopgate.matching_cases import (
    LATE_ALLOWANCE,
    Case,
    PatientRootStudies,
    Predicate,
    date_key,
    date_of,
    judge_cancel,
    key_problems,
    run_cases,
    sps_value,
    value,
)


@pytest.mark.check("dicom.find.single_value")
def test_single_value(check, device, query_data, information_model):
    """C.2.2.2.1: the whole value, in ASCII, ISO_IR 100 and ISO_IR 192; a prefix is not
    a match (no implicit trailing '*')."""
    model = MODELS[information_model]
    data = query_data.data
    even, latin1, utf8 = data.role("even"), data.role("latin1"), data.role("utf8")
    cases = [
        Case(
            "PatientID single value",
            {"PatientID": even.patient_id},
            lambda e: value(e, "PatientID") == even.patient_id,
        ),
        Case(
            "PN single value",
            {"PatientName": even.name},
            lambda e: value(e, "PatientName") == even.name,
        ),
        Case(
            "PN in ISO_IR 100",
            {"PatientName": latin1.name},
            lambda e: value(e, "PatientName") == latin1.name,
            "ISO_IR 100",
        ),
        Case(
            "PN in ISO_IR 192 (UTF-8)",
            {"PatientName": utf8.name},
            lambda e: value(e, "PatientName") == utf8.name,
            "ISO_IR 192",
        ),
        Case(
            "a prefix of a PatientID matches nothing",
            {"PatientID": even.patient_id[:6]},
            lambda e: False,
        ),
    ]
    if model.name == "patient":
        cases.append(
            Case(
                "PatientBirthDate single value",
                {"PatientBirthDate": even.birth_date},
                lambda e: value(e, "PatientBirthDate") == even.birth_date,
            )
        )
    else:
        cases.append(
            Case(
                "AccessionNumber single value",
                {"AccessionNumber": even.accession},
                lambda e: value(e, "AccessionNumber") == even.accession,
            )
        )
    run_cases(check, device, query_data, model, cases)


@pytest.mark.check("dicom.find.universal")
def test_universal(check, device, query_data, information_model):
    """C.2.2.2.3: a zero-length key matches every entity, also one whose attribute is
    empty or absent."""
    model = MODELS[information_model]
    absent = {"study": "StudyDescription", "patient": "PatientSex", "worklist": "PatientSex"}
    cases = [
        Case(
            "zero-length PatientBirthDate (one patient has none)",
            {"PatientBirthDate": ""},
            lambda e: True,
        ),
        Case(
            f"zero-length {absent[model.name]} (one entity lacks it)",
            {absent[model.name]: ""},
            lambda e: True,
        ),
    ]
    run_cases(check, device, query_data, model, cases)


@pytest.mark.check("dicom.find.wildcard")
def test_wildcard(check, device, query_data, information_model):
    """C.2.2.2.4: '*' any run of characters (also none), '?' exactly one character."""
    model = MODELS[information_model]
    even = query_data.data.role("even")
    family, given = even.name.split("^")
    pid = even.patient_id
    pattern = pid[:3] + "?" + pid[4:]

    def like(candidate: str) -> bool:
        return len(candidate) == len(pid) and all(
            a == b for i, (a, b) in enumerate(zip(candidate, pid, strict=True)) if i != 3
        )

    cases = [
        Case(
            "'*' after the family name",
            {"PatientName": family + "^*"},
            lambda e: value(e, "PatientName").startswith(family + "^"),
        ),
        Case(
            "'*' before the given name",
            {"PatientName": "*^" + given},
            lambda e: value(e, "PatientName").endswith("^" + given),
        ),
        Case(
            "'?' for one character of PatientID",
            {"PatientID": pattern},
            lambda e: like(value(e, "PatientID")),
        ),
        Case("'*' alone matches everything", {"PatientName": "*"}, lambda e: True),
    ]
    run_cases(check, device, query_data, model, cases)


@pytest.mark.check("dicom.find.range")
def test_range(check, device, query_data, information_model):
    """C.2.2.2.5: A-B, -B and A- on dates (and times), inclusive at both ends."""
    model = MODELS[information_model]
    data = query_data.data
    key = date_key(model)
    if model.name == "patient":
        end = data.role("even").birth_date
        start = str(int(end[:4]) - 20) + end[4:]
    else:
        start, end = "20240910", "20240916"  # end = the 'even' record's date

    def within(low: str, high: str) -> Predicate:
        return lambda e: bool(date_of(model, e)) and low <= date_of(model, e) <= high

    cases = [
        Case(f"{key} range A-B (B is a stored value)", {key: f"{start}-{end}"}, within(start, end)),
        Case(f"{key} open start -B", {key: f"-{end}"}, within("00000000", end)),
        Case(f"{key} open end A-", {key: f"{end}-"}, within(end, "99999999")),
    ]
    if model.name != "patient":
        time_key = "StudyTime" if model.name == "study" else "ScheduledProcedureStepStartTime"

        def time_of(e: Dataset) -> str:
            return sps_value(e, time_key) if model.name == "worklist" else value(e, time_key)

        cases.append(
            Case(
                f"{time_key} range (ends on a stored time)",
                {time_key: "070000-083000"},
                lambda e: "070000" <= time_of(e)[:6] <= "083000",
            )
        )
    run_cases(check, device, query_data, model, cases)


@pytest.mark.check("dicom.find.uid_list")
# Study Instance UID is only an optional matching key of the worklist model (PS3.4
# Table K.6-1): a worklist SCP may treat it as a return key, so list-of-UID matching is
# checked on Study and Patient Root only.
@pytest.mark.information_model("study", "patient")
def test_uid_list(check, device, query_data, information_model):
    """C.2.2.2.2: StudyInstanceUID with several UIDs matches any of them. Patient Root
    asks at STUDY level under the patient (its hierarchy, C.4.1.2.1)."""
    model = MODELS[information_model]
    data = query_data.data
    even, second, odd = data.role("even"), data.role("even-second"), data.role("odd")
    restrict: dict[str, Any] = {}
    if model.name == "patient":
        model = dataclasses.replace(model, level="STUDY", identity="StudyInstanceUID")
        restrict = {"PatientID": even.patient_id}
        uids = [even.study_uid, second.study_uid]
    else:
        uids = [even.study_uid, odd.study_uid]
    unknown = "1.2.826.0.1.3680043.8.498.1"
    cases = [
        Case(
            "two UIDs",
            {**restrict, "StudyInstanceUID": "\\".join(uids)},
            lambda e: value(e, "StudyInstanceUID") in uids,
        ),
        Case(
            "unknown UID first",
            {**restrict, "StudyInstanceUID": f"{unknown}\\{uids[1]}"},
            lambda e: value(e, "StudyInstanceUID") == uids[1],
        ),
    ]
    if model.name == "worklist" or model.level == "STUDY":
        seeded = PatientRootStudies(query_data) if information_model == "patient" else query_data
        run_cases(check, device, seeded, model, cases)


@pytest.mark.check("dicom.find.sequence")
def test_sequence(check, device, query_data, profile):
    """C.2.2.2.6: one item in the key; an entity matches when one of its stored items
    matches every key of that item (Modality and Scheduled Station AE Title together)."""
    if "worklist" not in profile.dicom.find.information_models:
        pytest.skip("the profile does not test Modality Worklist C-FIND")
    model = MODELS["worklist"]
    cases = [
        Case(
            "SPS item with Modality and Scheduled Station AE Title",
            {"Modality": "MR", "ScheduledStationAETitle": "IG_MR_01"},
            lambda e: (
                sps_value(e, "Modality") == "MR"
                and sps_value(e, "ScheduledStationAETitle") == "IG_MR_01"
            ),
        ),
        Case(
            "SPS item with Scheduled Station AE Title only",
            {"ScheduledStationAETitle": "IG_DX_01"},
            lambda e: sps_value(e, "ScheduledStationAETitle") == "IG_DX_01",
        ),
    ]
    run_cases(check, device, query_data, model, cases)


@pytest.mark.check("dicom.find.trailing_space")
def test_trailing_space(check, device, query_data, information_model):
    """PS3.5 6.2: odd-length values travel padded with a space and trailing spaces are
    not significant, in the key or in the stored value (PS3.4 C.2.2.2.1)."""
    model = MODELS[information_model]
    data = query_data.data
    odd, even = data.role("odd"), data.role("even")
    stored = data.role("stored-trailing-space")

    def same(keyword: str, stored: str) -> Predicate:
        return lambda e: value(e, keyword) == stored.strip()

    cases = [
        Case(
            "odd-length PatientID (padded on the wire)",
            {"PatientID": odd.patient_id},
            same("PatientID", odd.patient_id),
        ),
        Case(
            "odd-length PatientID with an explicit trailing space",
            {"PatientID": odd.patient_id + " "},
            same("PatientID", odd.patient_id),
        ),
        Case(
            "even-length PatientID with two trailing spaces",
            {"PatientID": even.patient_id + "  "},
            same("PatientID", even.patient_id),
        ),
        Case(
            "PatientID stored with a trailing space",
            {"PatientID": stored.patient_id.strip()},
            same("PatientID", stored.patient_id),
        ),
        Case("odd-length PatientName", {"PatientName": odd.name}, same("PatientName", odd.name)),
        Case(
            "PatientName stored with a trailing space",
            {"PatientName": stored.name.strip()},
            same("PatientName", stored.name),
        ),
    ]
    run_cases(check, device, query_data, model, cases)


@pytest.mark.check("dicom.find.pn_components")
def test_pn_components(check, device, query_data, information_model):
    """PS3.5 6.2.1 / C.2.2.2.1: FAMILY^Given matches the whole name; the family name
    alone, or with another given name, is another value."""
    model = MODELS[information_model]
    even = query_data.data.role("even")
    family, given = even.name.split("^")
    other = "Zz" + given[2:] if len(given) > 2 else given + "zz"
    cases = [
        Case(
            "family^given",
            {"PatientName": even.name},
            lambda e: value(e, "PatientName") == even.name,
        ),
        Case(
            "same family, other given name", {"PatientName": f"{family}^{other}"}, lambda e: False
        ),
        Case("family name component alone", {"PatientName": family}, lambda e: False),
    ]
    run_cases(check, device, query_data, model, cases)


@pytest.mark.check("dicom.find.case_sensitivity")
def test_case_sensitivity(check, device, query_data, information_model, profile):
    """C.2.2.2.1: matching is case-sensitive, except that an SCP may fold case for PN;
    the profile's dicom.find.pn_matching says what this target claims (default either)."""
    model = MODELS[information_model]
    even, lower = query_data.data.role("even"), query_data.data.role("lowercase")
    cases = [
        Case("PatientID in lowercase", {"PatientID": even.patient_id.lower()}, lambda e: False),
        Case(
            "lowercase PatientID in uppercase",
            {"PatientID": lower.patient_id.upper()},
            lambda e: False,
        ),
        Case(
            "lowercase PatientID as stored",
            {"PatientID": lower.patient_id},
            lambda e: value(e, "PatientID") == lower.patient_id,
        ),
    ]
    if model.name != "patient":  # Accession Number is a study-level attribute
        cases.append(
            Case(
                "AccessionNumber (SH) in lowercase",
                {"AccessionNumber": even.accession.lower()},
                lambda e: False,
            )
        )
    pn = profile.dicom.find.pn_matching
    if pn != "either":
        folded = pn == "case-insensitive"
        cases.append(
            Case(
                f"PN in another case (profile: pn_matching {pn})",
                {"PatientName": even.name.swapcase()},
                lambda e: folded and value(e, "PatientName") == even.name,
            )
        )
    run_cases(check, device, query_data, model, cases)


RETURN_KEYS = {
    "study": [
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
    ],
    "patient": ["PatientName", "PatientBirthDate", "PatientSex"],
    "worklist": [
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "RequestedProcedureID",
        "ScheduledProcedureStepSequence[0].Modality",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
    ],
}


@pytest.mark.check("dicom.find.return_keys")
def test_return_keys(check, device, query_data, information_model):
    """C.2.2.1.2: every requested key comes back, zero-length when the entity has no
    value (here: a patient without birth date); unrequested keys do not (C.4.1.1.3.2)."""
    model = MODELS[information_model]
    data = query_data.require(model.name)
    record = data.role("no-birth-date")
    identifier = build_identifier(model, {"PatientID": record.patient_id}, RETURN_KEYS[model.name])
    outcome = find(device, model, identifier)
    if not outcome.accepted:
        pytest.skip(f"{model.label} not available: {outcome.refusal}")
    check.expect(
        bool(outcome.matches),
        f"{model.label} {describe_query(identifier)}",
        expected=f"a match for {data.label('patient', record.patient_id)}",
        observed=f"no match, final status {outcome.final_status}",
    )
    for response in outcome.matches:
        problems = key_problems(identifier, response)
        check.expect(
            not problems,
            f"{model.label} {describe_query(identifier)}: return keys of "
            f"{data.label('patient', record.patient_id)}",
            expected="every requested key present (zero-length when unknown), no other key",
            observed="; ".join(problems),
        )


@pytest.mark.check("dicom.find.pending_status")
def test_pending_status(check, device, query_data, information_model):
    """PS3.4 C.4.1.2.3 / PS3.7 C.4.1.1.3: each match in a pending response (FF00H, or
    FF01H) carrying an identifier, then one 0000H response without an identifier."""
    model = MODELS[information_model]
    data = query_data.require(model.name)
    identifier = build_identifier(model, {"PatientName": ""})
    outcome = find(device, model, identifier)
    if not outcome.accepted:
        pytest.skip(f"{model.label} not available: {outcome.refusal}")
    subject = (
        f"{model.label} {describe_query(identifier)} ({len(data.entities(model.name))} seeded)"
    )
    statuses = [f"{r.status:04X}H{'+data' if r.has_data_set else ''}" for r in outcome.responses]
    trace = ", ".join(
        statuses[:4]
        + (["..."] if len(statuses) > 6 else [])
        + statuses[max(4, len(statuses) - 2) :]
    )
    pending = outcome.responses[:-1]
    bad = [r for r in pending if r.status not in (0xFF00, 0xFF01) or not r.has_data_set]
    check.expect(
        bool(pending) and not bad,
        subject + ": responses before the final one",
        expected="pending FF00H/FF01H, each with an identifier",
        observed=f"{len(pending)} response(s): {trace}",
    )
    final = outcome.final
    check.expect(
        final is not None and final.status == 0x0000 and not final.has_data_set,
        subject + ": final response",
        expected="0000H (Success) without an identifier",
        observed=f"{outcome.final_status}{' with an identifier' if final and final.has_data_set else ''}; stream: {trace}",
    )


# Enough matches for a C-CANCEL to have something to stop on a fast SCP (Orthanc and
# dcmqrscp send a few hundred responses in ~20 ms): one patient with one series of this
# many instances (queried at IMAGE level, PS3.4 C.4.1.2.1) and as many worklist steps
# (queried by Patient ID, single value matching C.2.2.2.1), so one study on the target.
CANCEL_BATCH = 400
# A host busy elsewhere can delay the harness's cancel until the SCP is done, or the
# SCP's reader until it has sent a few more: such a run proves nothing either way, so it
# is repeated (CancelVerdict.worth_repeating); the first decisive run is the verdict.
CANCEL_ATTEMPTS = 5


@dataclasses.dataclass
class CancelBatch:
    """The cancel batch, seeded on first use per model group (the instances for Study and
    Patient Root, the steps for the worklist): a run that selects only the worklist's
    cancel check does not store 400 instances."""

    seeders: dict[str, Callable[[CancelBatch], None]]  # model -> seeds its group
    match: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    unavailable: dict[str, str] = dataclasses.field(default_factory=dict)

    def require(self, model: str) -> dict[str, str]:
        if model not in self.match and model not in self.unavailable:
            self.seeders[model](self)
        reason = self.unavailable.get(model)
        if reason:
            pytest.skip(reason)
        return self.match[model]


@pytest.fixture(scope="session")
def cancel_batch(pytestconfig, profile, target, query_data) -> CancelBatch:
    """CANCEL_BATCH instances of one series and as many worklist steps of one patient,
    through the target's seeder (dated September 2024, modality OT: no device query of
    today ever sees them)."""
    import datetime as dt

    from pydicom.uid import SecondaryCaptureImageStorage

    from fixtures.dicom_objects import make_image
    from fixtures.patients import Patient
    from fixtures.worklist import make_worklist_item, uid_for
    from interopgate.errors import TargetUnavailable

    seed = pytestconfig.option.ig_seed
    patient = Patient(f"IGCX{seed % 10000:04d}", "CANCELLATION", "Carl", dt.date(1970, 1, 2), "M")
    study_uid = uid_for(seed, "cancel-study")
    series_uid = uid_for(seed, "cancel-series")
    start = dt.datetime(2024, 9, 2, 6, 0)
    images, steps = [], []
    for index in range(CANCEL_BATCH):
        accession = f"CX{seed % 1000:03d}{index:04d}"
        when = start + dt.timedelta(minutes=index)
        image = make_image(SecondaryCaptureImageStorage, patient, rows=8, columns=8, when=start)
        image.AccessionNumber = f"CX{seed % 1000:03d}"
        image.StudyInstanceUID = study_uid
        image.SeriesInstanceUID = series_uid
        image.InstanceNumber = index + 1
        image.SOPInstanceUID = uid_for(seed, "cancel-instance", str(index))
        image.file_meta.MediaStorageSOPInstanceUID = image.SOPInstanceUID
        images.append(image)
        steps.append(
            make_worklist_item(
                patient,
                seed=seed,
                accession=accession,
                modality="OT",
                station_ae="IG_CX_01",
                start=when,
                step_id=f"SPS{accession}",
            )
        )
    image_keys = {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid}

    def seed_instances(batch: CancelBatch) -> None:
        try:
            for attempt in range(3):  # the same UIDs: a repeat overwrites
                try:
                    target.seeder.store_instances(images)
                    break
                except RuntimeError:  # the association was lost mid-way (DIMSE timeout)
                    if attempt == 2:
                        raise
            batch.match["study"] = image_keys
            batch.match["patient"] = {"PatientID": patient.patient_id, **image_keys}
        except (TargetUnavailable, RuntimeError) as exc:  # RuntimeError: association lost
            batch.unavailable["study"] = batch.unavailable["patient"] = (
                f"the {CANCEL_BATCH} instances a C-CANCEL needs could not be seeded: {exc}"
            )

    def seed_steps(batch: CancelBatch) -> None:
        worklist = profile.dicom.worklist
        if query_data.worklist:
            batch.unavailable["worklist"] = query_data.worklist
        elif worklist is not None and worklist.source == "preloaded":
            batch.unavailable["worklist"] = (
                "the target's worklist is preloaded (dicom.worklist.source: preloaded): "
                f"the {CANCEL_BATCH} items a C-CANCEL needs cannot be added"
            )
        else:
            try:
                target.seeder.add_worklist_items(steps)
                batch.match["worklist"] = {"PatientID": patient.patient_id}
            except TargetUnavailable as exc:
                batch.unavailable["worklist"] = str(exc)

    return CancelBatch({"study": seed_instances, "patient": seed_instances, "worklist": seed_steps})


@pytest.mark.check("dicom.find.cancel")
def test_cancel(check, device, cancel_batch, information_model, record_property):
    """PS3.7 9.3.2.3: after C-CANCEL-FIND-RQ the SCP stops and answers FE00H. Decided by
    the target's own reaction time (interopgate.matching_cases.judge_cancel): matches it
    sent within max(3 x C-ECHO round trip, 20 ms) of the cancel are in flight; more than
    two provably sent after that, or an end without FE00H, fail; a stream that ended
    0000H with every match in flight is inconclusive, and so, for one run, is a late stop
    that still ended FE00H: repeated up to CANCEL_ATTEMPTS times; a late stop on every
    attempt fails, an inconclusive last attempt is skipped with the numbers."""
    model = MODELS[information_model]
    keys = cancel_batch.require(model.name)
    seeded = CANCEL_BATCH
    if model.level is not None:  # the batch's instances, down its hierarchy (C.4.1.2.1)
        model = dataclasses.replace(model, level="IMAGE", identity="SOPInstanceUID")
    identifier = build_identifier(model, keys)
    for attempt in range(1, CANCEL_ATTEMPTS + 1):
        run = find_and_cancel(device, model, identifier)
        if not run.accepted:
            pytest.skip(f"{model.label} not available: {run.refusal}")
        verdict = judge_cancel(run, seeded)
        device.transcript.note(f"cancel verdict {attempt}: {verdict.outcome}: {verdict.reason}")
        if not verdict.worth_repeating:
            break
    record_property("cancel_verdict", f"{verdict.outcome} (attempt {attempt}): {verdict.reason}")
    if verdict.outcome == "inconclusive":
        pytest.skip(f"C-CANCEL inconclusive: {verdict.reason}")
    check.expect(
        verdict.outcome == "passed",
        f"{model.label} {describe_query(identifier)}: C-CANCEL-FIND-RQ as the first of "
        f"{seeded} seeded matches arrived (attempt {attempt} of {CANCEL_ATTEMPTS})",
        expected=f"FE00H (Cancel), at most {LATE_ALLOWANCE} matches sent after the in-flight "
        "window",
        observed=verdict.reason,
    )
