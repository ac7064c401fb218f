"""retrieve.count_problems: the sub-operation count rules of PS3.4 C.4.2.1.6 / C.4.3.1.6,
judged on hand-built response streams (no network)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from interopgate import retrieve


def _response(status: int, remaining: int, completed: int, failed: int = 0, warning: int = 0):
    ds = Dataset()
    ds.Status = status
    for key, value in zip(retrieve.COUNTS, (remaining, completed, failed, warning), strict=True):
        setattr(ds, key, value)
    return ds


def _instance(uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPInstanceUID = uid
    return ds


def _result(responses, arrived) -> retrieve.Retrieval:
    return retrieve.Retrieval("C-MOVE", responses, [_instance(u) for u in arrived])


def test_consistent_stream_has_no_problem():
    stream = [_response(0xFF00, 1, 1), _response(0xFF00, 0, 2), _response(0x0000, 0, 2)]
    assert retrieve.count_problems(_result(stream, ["1.1", "1.2"]), ["1.1", "1.2"]) == []


def test_remaining_in_final_and_total_mismatch_are_named():
    stream = [_response(0xFF00, 2, 1), _response(0x0000, 1, 2)]
    problems = retrieve.count_problems(_result(stream, ["1.1", "1.2"]), ["1.1", "1.2"])
    assert any("1 remaining" in p for p in problems)


def test_duplicate_and_missing_instances_are_named():
    stream = [_response(0x0000, 0, 2)]
    problems = retrieve.count_problems(_result(stream, ["1.1", "1.1"]), ["1.1", "1.2"])
    assert any("more than once" in p for p in problems)
    assert any("never received" in p for p in problems)


def test_no_final_response():
    stream = [_response(0xFF00, 1, 1)]
    result = _result(stream, ["1.1"])
    assert result.final is None
    assert any("no final C-MOVE response" in p for p in retrieve.count_problems(result, ["1.1"]))


def test_identifier_per_root_and_level():
    ds = Dataset()
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = (
        "P",
        "1",
        "1.1",
        "1.1.1",
    )
    patient = retrieve.identifier("PatientRootMove", "SERIES", ds)
    assert {e.keyword for e in patient} == {
        "PatientID",
        "QueryRetrieveLevel",
        "SeriesInstanceUID",
        "StudyInstanceUID",
    }
    study = retrieve.identifier("StudyRootGet", "IMAGE", ds)
    assert "PatientID" not in study and study.SOPInstanceUID == "1.1.1"


def test_the_cancel_hold_stays_well_inside_the_dimse_timeout():
    """The harness waits for a C-MOVE-RSP while it holds the first sub-operation: a hold
    as long as the DIMSE timeout failed move_cancel on a clean site (2 s profile)."""
    assert retrieve.cancel_hold(10.0) == retrieve.CANCEL_HOLD
    assert retrieve.cancel_hold(2.0) == 0.5
