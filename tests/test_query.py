"""C-FIND building blocks (dicom/query.py, site/matching.py) and the --repeat mode."""

from __future__ import annotations

import datetime as dt
import queue
import types

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_ECHO, C_FIND

from interopgate.dicom.association import keep_responses_for_their_waiter
from interopgate.dicom.query import MODELS, build_identifier, describe_query, resolve_dates
from interopgate.site.matching import MatchOptions, dataset_matches, response_for
from tests.junit import read_cases

TODAY = dt.date(2024, 9, 16)


def test_today_tokens_resolve_also_inside_ranges():
    assert resolve_dates("today", TODAY) == "20240916"
    assert resolve_dates("today+3d", TODAY) == "20240919"
    assert resolve_dates("today-1d-today+1d", TODAY) == "20240915-20240917"
    assert resolve_dates("20240101-today", TODAY) == "20240101-20240916"
    assert resolve_dates("today-", TODAY) == "20240916-"
    assert resolve_dates("CR", TODAY) == "CR"
    assert resolve_dates(3, TODAY) == 3


def test_worklist_keys_go_into_the_sps_item():
    identifier = build_identifier(
        MODELS["worklist"],
        {"Modality": "CR", "PatientID": "IG123"},
        ["PatientName", "ScheduledProcedureStepSequence[0].ScheduledStationAETitle"],
    )
    assert "QueryRetrieveLevel" not in identifier
    assert identifier.PatientID == "IG123"
    assert identifier.PatientName in ("", None)
    step = identifier.ScheduledProcedureStepSequence[0]
    assert step.Modality == "CR"
    assert "ScheduledStationAETitle" in step
    assert "AccessionNumber" in identifier  # the identity key is always asked for
    assert describe_query(identifier) == (
        'PatientID="IG123" ScheduledProcedureStepSequence[Modality="CR"]'
    )


def test_study_root_identifier_carries_the_level():
    identifier = build_identifier(MODELS["study"], {"StudyDate": "20240901-"})
    assert identifier.QueryRetrieveLevel == "STUDY"
    assert "StudyInstanceUID" in identifier


def _stored() -> Dataset:
    ds = Dataset()
    ds.PatientID = "IG12345"
    ds.StudyTime = "083045"
    return ds


def test_time_range_end_is_inclusive_to_the_end_of_its_precision():
    """PS3.4 C.2.2.2.5: 0800-0830 includes 08:30:45."""
    query = Dataset()
    query.StudyTime = "0800-0830"
    assert dataset_matches(query, _stored(), MatchOptions())


def test_query_retrieve_level_is_echoed_with_its_value():
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = ""
    response = response_for(query, _stored())
    assert response.QueryRetrieveLevel == "STUDY"
    assert response.PatientID == "IG12345"


def test_repeat_counts_the_failing_queries(run_suites):
    """--repeat 6 against a site that empties the SPS of every 3rd worklist answer."""
    result, junit = run_suites(
        "--profile=agfa-cr",
        "--site-fault=intermittent-empty-sps",
        "--repeat=6",
        "-k",
        "test_sps_sequence_present and profile-query",
    )
    assert result.ret == 1, result.stdout.str()
    (case,) = [c for c in read_cases(junit) if c.outcome == "failed"]
    assert "2 of 6 queries" in case.message, case.message
    assert "present with 0 items" in case.message
    assert "accession T" in case.message


def test_repeat_must_be_positive(run_suites):
    result, _ = run_suites("--profile=agfa-cr", "--repeat=0")
    assert result.ret == 4
    assert "--repeat=0: expected 1 or more" in result.stderr.str()


def _pn_profile(tmp_path, pn_matching: str):
    path = tmp_path / f"pn-{pn_matching}.yaml"
    path.write_text(f"extends: agfa-cr\ndicom:\n  find: {{pn_matching: {pn_matching}}}\n")
    return path


def test_pn_case_expectation_comes_from_the_profile(run_suites, tmp_path):
    """The reference site matches PN case-sensitively: a profile claiming that passes;
    one claiming case-insensitive PN (as Orthanc does) fails with the claim named."""
    args = ("-k", "test_case_sensitivity and study")
    result, _ = run_suites(f"--profile={_pn_profile(tmp_path, 'case-sensitive')}", *args)
    assert result.ret == 0, result.stdout.str()
    result, junit = run_suites(f"--profile={_pn_profile(tmp_path, 'case-insensitive')}", *args)
    assert result.ret == 1, result.stdout.str()
    (case,) = [c for c in read_cases(junit) if c.outcome == "failed"]
    assert "profile: pn_matching case-insensitive" in case.message, case.message


def test_the_association_reactor_leaves_responses_to_their_waiter():
    """dicom.association.keep_responses_for_their_waiter: the reactor's poll (a
    non-blocking get_msg) takes requests only; the caller waiting (blocking) gets the
    response, so a reactor that polls once too often cannot drop it."""
    pending: queue.Queue = queue.Queue()

    def take(block: bool = False):
        try:
            return pending.get(block=block, timeout=1 if block else None)
        except queue.Empty:
            return None, None

    assoc = types.SimpleNamespace(dimse=types.SimpleNamespace(msg_queue=pending, get_msg=take))
    keep_responses_for_their_waiter(assoc)
    response = C_FIND()
    response.MessageIDBeingRespondedTo, response.Status = 1, 0xFF00
    request = C_ECHO()
    request.MessageID, request.AffectedSOPClassUID = 2, "1.2.840.10008.1.1"
    pending.put((1, response))
    assert assoc.dimse.get_msg(block=False) == (None, None)  # the reactor's poll
    assert assoc.dimse.get_msg(block=True) == (1, response)  # the send_* call's wait
    pending.put((1, request))
    assert assoc.dimse.get_msg(block=False) == (1, request)  # served by the reactor
    assert assoc.dimse.get_msg(block=False) == (None, None)


def test_under_gevent_the_reactor_guard_is_not_installed():
    """gevent's queue has no mutex (the load process): greenlets cannot interleave
    between the pause and the poll, and pynetdicom's own get_msg stays."""

    def take(block: bool = False):
        return None, None

    assoc = types.SimpleNamespace(dimse=types.SimpleNamespace(msg_queue=object(), get_msg=take))
    keep_responses_for_their_waiter(assoc)
    assert assoc.dimse.get_msg is take
