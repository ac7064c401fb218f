"""Verdicts real servers contradicted: the context rejection result (PS3.8 9.3.3.2,
7.1.1.14 leave 1, 2 or 3 to the acceptor unless the profile holds the target to one),
and services missing from target.provides: not applicable, and a context accepted for
one of them anyway is one finding (dicom.association.context_rejected), not a failure
of every check of that service."""

from __future__ import annotations

from tests.conftest import SUITES
from tests.junit import failing_checks, read_cases


def _profile(tmp_path, body: str):
    path = tmp_path / "site.yaml"
    path.write_text("extends: agfa-cr\n" + body)
    return path


def _rejected(cases):
    return [c for c in cases if c.properties.get("check") == "dicom.association.context_rejected"]


def test_any_rejection_result_passes_and_is_reported(run_suites, tmp_path):
    profile = _profile(tmp_path, "target: {kind: embedded, rejection_result: null}\n")
    result, junit = run_suites(
        f"--profile={profile}", "--site-fault=wrong-reject-reason", "-k", "context_rejected"
    )
    assert result.ret == 0, result.stdout.str()
    [case] = _rejected(read_cases(junit))
    assert case.outcome == "passed"
    assert case.properties["context_result"].startswith("result 1 (user-rejection)")


def test_required_result_3_fails_result_1(run_suites, tmp_path):
    """The embedded site promises 3 (its profile default), so wrong-reject-reason stays a
    defect; any target profile may say the same of its own conformance statement."""
    profile = _profile(tmp_path, "target: {kind: embedded, rejection_result: 3}\n")
    result, junit = run_suites(
        f"--profile={profile}", "--site-fault=wrong-reject-reason", "-k", "context_rejected"
    )
    assert result.ret == 1
    [case] = _rejected(read_cases(junit))
    assert case.outcome == "failed"
    assert "result 3" in case.message and "observed: result 1" in case.message


def test_unlisted_query_service_is_not_applicable_and_one_finding_per_class(run_suites, tmp_path):
    """The embedded site answers Study and Patient Root C-FIND, but this profile's
    provides: lists neither: the matching checks of those models are not applicable
    (listed, not run), and each accepted class is one context_rejected failure."""
    profile = _profile(
        tmp_path,
        "target:\n  kind: embedded\n  provides: [Verification, ModalityWorklistFind,"
        " CRImageStorage, DXImageStorageForPresentation, MPPS, StorageCommitmentPushModel]\n",
    )
    # provides: decides the DICOM services only: the DICOM suites
    result, junit = run_suites(f"--profile={profile}", "-m", "not sweep", suites=SUITES / "dicom")
    output = result.stdout.str()
    cases = read_cases(junit)
    assert failing_checks(cases) == {"dicom.association.context_rejected"}, output
    failed = sorted(c.name for c in cases if c.outcome == "failed")
    assert failed == [
        "test_context_rejected[PatientRootFind]",
        "test_context_rejected[StudyRootFind]",
    ], output
    assert all(
        "accepted a context its conformance statement does not list" in c.message
        for c in cases
        if c.outcome == "failed"
    )
    ran = {c.name for c in cases}
    assert "test_single_value[worklist]" in ran
    assert not any(name.endswith(("[study]", "[patient]")) for name in ran), sorted(ran)
    assert "test_single_value[study]: the target's provides: (its conformance statement)" in output
    assert "lists no Study Root Query/Retrieve Information Model - FIND" in output


def test_target_without_a_worklist_says_so(run_suites, tmp_path):
    profile = _profile(
        tmp_path,
        "target:\n  kind: embedded\n  provides: [Verification, StudyRootFind, PatientRootFind,"
        " AnyStorage, MPPS, StorageCommitmentPushModel]\n",
    )
    result, junit = run_suites(f"--profile={profile}", "-m", "not sweep", "-k", "dicom")
    output = result.stdout.str()
    cases = read_cases(junit)
    failed = sorted(c.name for c in cases if c.outcome == "failed")
    assert failed == ["test_context_rejected[ModalityWorklistFind]"], output
    assert "lists no Modality Worklist Information Model - FIND" in output
    for name in ("test_sps_sequence", "test_sequence[", "test_single_value[worklist]"):
        assert not any(c.name.startswith(name) for c in cases), name
