"""The fault-detection matrix: every check can fail, and only the right ones do.

For each fault of the reference site's catalogue the suites run against the site with
that fault on; the checks the catalogue says the fault breaks must fail, and every other
check must pass: every check can fail, and a fault shows only where it should. With no fault, everything passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interopgate.checks import CHECKS
from interopgate.emulate.faults import DEVICE_FAULTS
from interopgate.site.faults import FAULTS, LOAD_FAULTS
from tests.junit import failing_checks, read_cases

PROFILE = "agfa-cr"
# An OMI^O23-fed worklist that keeps cancelled items marked (hl7.cancel: mark).
OMI_MARK = str(Path(__file__).parent / "profiles" / "valid" / "omi-feed-cancel-mark.yaml")
# The Agfa CR profile waiting 2 s (not 10) for a Storage Commitment report.
SHORT_WAIT = str(Path(__file__).parent / "profiles" / "valid" / "commitment-short-wait.yaml")
# The Agfa CR profile with a 4 s DIMSE timeout, for the C-MOVE that never ends.
SHORT_DIMSE = str(Path(__file__).parent / "profiles" / "valid" / "retrieve-short-timeout.yaml")
# Faults whose checks the Agfa CR profile never runs, and the profile that does: C-MOVE,
# an OMI-fed worklist, cancelled items kept marked.
PROFILE_FOR = {
    "move-unknown-destination-c000": "review-workstation",
    "move-wrong-sub-operation-counts": "review-workstation",
    "hl7-omi-study-uid-ignored": OMI_MARK,
    "hl7-cancel-status-discontinued": OMI_MARK,
    "commitment-report-never-sent": SHORT_WAIT,
    "move-final-response-missing": SHORT_DIMSE,
}
# Faults whose checks are opt in (suites/robustness/, bad input to the target): the
# marker expression that selects them.
ARGS_FOR = {
    name: ("-m", "robustness")
    for name, fault in FAULTS.items()
    if any(check.startswith("robustness.") for check in fault.breaks)
}
# TLS mode with access control (suites/dicom/test_security.py): every security fault.
TLS_ACCESS = str(Path(__file__).parent / "profiles" / "valid" / "tls-access-control.yaml")
PROFILE_FOR |= {name: TLS_ACCESS for name in FAULTS if name.startswith(("tls-", "access-"))}


@pytest.mark.parametrize(
    "profile", [PROFILE, *sorted(set(PROFILE_FOR.values()))], ids=lambda p: Path(p).stem
)
def test_clean_site_passes_every_check(run_suites, profile):
    result, junit = run_suites(f"--profile={profile}")
    cases = read_cases(junit)
    assert result.ret == 0, result.stdout.str()
    assert len(cases) >= 10
    assert {c.outcome for c in cases} <= {"passed", "skipped"}
    for case in cases:
        assert {"profile", "target", "check", "clause"} <= set(case.properties), case.name


# Load faults show under load only: tests/test_load*.py run them through `interopgate load`.
@pytest.mark.parametrize("fault", sorted(set(FAULTS) - LOAD_FAULTS))
def test_fault_fails_exactly_its_checks(run_suites, fault):
    profile = PROFILE_FOR.get(fault, PROFILE)
    args = (f"--profile={profile}", f"--site-fault={fault}", *ARGS_FOR.get(fault, ()))
    result, junit = run_suites(*args)
    cases = read_cases(junit)
    failed = failing_checks(cases)
    if failed != set(FAULTS[fault].breaks):
        # One rerun: pynetdicom very rarely hands a C-FIND response to the wrong waiter
        # ("Received unexpected C-FIND service message", see dicom/query.py). The rerun
        # must then match exactly, so a fault that breaks the wrong checks still fails.
        result, junit = run_suites(*args)
        cases = read_cases(junit)
        failed = failing_checks(cases)
    assert result.ret == 1, result.stdout.str()
    assert failed == set(FAULTS[fault].breaks), result.stdout.str()
    assert "Exception raised in user's" not in result.stdout.str()  # no broken event handler
    for case in cases:
        if case.outcome == "failed":
            clause = CHECKS[case.properties["check"]].clause
            assert clause in case.message, case.message
            assert "expected:" in case.message and "observed:" in case.message
            assert "Traceback" not in case.message


def test_every_check_is_broken_by_some_fault():
    # device.* checks judge the device under test: a wrong behaviour of the stand-in
    # modality breaks them (emulate/faults.py, run by tests/test_emulate_faults.py).
    faults = [*FAULTS.values(), *DEVICE_FAULTS.values()]
    broken = {check for fault in faults for check in fault.breaks}
    assert set(CHECKS) - broken == set(), "a check no fault can fail is a defect"
    assert broken <= set(CHECKS)
