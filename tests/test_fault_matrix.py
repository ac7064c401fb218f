"""The fault-detection matrix: every check can fail, and only the right ones do.

For each fault of the reference site's catalogue the suites run against the site with
that fault on; the checks the catalogue says the fault breaks must fail, and every other
check must pass: every check can fail, and a fault shows only where it should. With no fault, everything passes.

The default row runs a fault's own checks -- ``--check`` for each check it breaks, in the
suite files whose ``check`` markers name them (found by reading the suites, so a new check
or suite file needs no entry here) -- plus the fixed SAMPLE, one cheap check of each
other area. The profiles other than Agfa CR are run clean on the checks of their
faults and the sample. The full cross-check (every check on every fault, every profile
clean on every suite) is ``-m fault_matrix_full``, which .ci/run runs after the rest.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from interopgate.checks import CHECKS
from interopgate.emulate.faults import DEVICE_FAULTS
from interopgate.site.faults import FAULTS, LOAD_FAULTS
from tests.conftest import SUITES
from tests.junit import failing_checks, read_cases

PROFILE = "agfa-cr"
# An OMI^O23-fed worklist that keeps cancelled items marked (hl7.cancel: mark).
OMI_MARK = str(Path(__file__).parent / "profiles" / "valid" / "omi-feed-cancel-mark.yaml")
# The Agfa CR profile waiting 2 s (not 10) for a Storage Commitment report.
SHORT_WAIT = str(Path(__file__).parent / "profiles" / "valid" / "commitment-short-wait.yaml")
# The Agfa CR profile with a 2 s DIMSE timeout, for the C-MOVE that never ends.
SHORT_DIMSE = str(Path(__file__).parent / "profiles" / "valid" / "retrieve-short-timeout.yaml")
# The Agfa CR profile waiting 1 s for worklist changes, 2 s for ACKs: HL7 faults whose
# item never changes or whose application ACK never comes.
SHORT_HL7 = str(Path(__file__).parent / "profiles" / "valid" / "hl7-short-waits.yaml")
# The Agfa CR profile with a 3 s ACSE timeout, for the site that stops accepting.
SHORT_ACSE = str(Path(__file__).parent / "profiles" / "valid" / "robustness-short-timeout.yaml")
# Faults whose checks the Agfa CR profile never runs, and the profile that does: C-MOVE,
# an OMI-fed worklist, cancelled items kept marked.
PROFILE_FOR = {
    "move-unknown-destination-c000": "review-workstation",
    "move-wrong-sub-operation-counts": "review-workstation",
    "hl7-omi-study-uid-ignored": OMI_MARK,
    "hl7-cancel-status-discontinued": OMI_MARK,
    "commitment-report-never-sent": SHORT_WAIT,
    "move-final-response-missing": SHORT_DIMSE,
    "wire-hangs-on-p-data-before-association": SHORT_ACSE,
    **dict.fromkeys(
        [
            "hl7-cancel-ignored",
            "hl7-update-ignored",
            "hl7-sps-date-from-msh7",
            "hl7-time-utc-shift",
            "hl7-no-application-ack",
        ],
        SHORT_HL7,
    ),
}
# Faults whose checks are opt in (suites/robustness/, bad input to the target): the
# marker expression that selects them. The SAMPLE is left out of their rows: after a
# fault that stops the site, it could only skip.
ARGS_FOR = {
    name: ("-m", "robustness")
    for name, fault in FAULTS.items()
    if any(check.startswith("robustness.") for check in fault.breaks)
}
# TLS mode with access control (suites/dicom/test_security.py): every security fault.
TLS_ACCESS = str(Path(__file__).parent / "profiles" / "valid" / "tls-access-control.yaml")
PROFILE_FOR |= {name: TLS_ACCESS for name in FAULTS if name.startswith(("tls-", "access-"))}

# One cheap check of each other area, run with every fault's own checks: a fault that
# leaks into another area (the association, the HL7 ACK, the worklist feed) shows in the
# default run, not only in the full cross-check.
SAMPLE = ("dicom.association.echo", "hl7.ack.header", "workflow.create.complete")


@functools.cache
def check_files() -> dict[str, frozenset[Path]]:
    """{check id: the suite files with a test marked ``@pytest.mark.check(id)``}, read
    from the suites' source (no collection, so no target is started for it)."""
    found: dict[str, set[Path]] = {}
    for path in sorted(SUITES.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "check"
                and ast.unparse(node.func.value) == "pytest.mark"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.setdefault(node.args[0].value, set()).add(path)
    return {check: frozenset(paths) for check, paths in found.items()}


def sample_checks() -> set[str]:
    """The SAMPLE checks (each has a test in some suite file)."""
    return set(SAMPLE)


def area_of(faults: list[str]) -> tuple[list[Path], list[str]] | None:
    """(suite files, ``--check`` arguments) of a row: the checks ``faults`` break and the
    SAMPLE's; None (every check of every suite) when a check they break is in no suite
    file's markers."""
    files = check_files()
    wanted = sample_checks()
    for fault in faults:
        for check in FAULTS[fault].breaks:
            if check not in files:
                return None
            wanted.add(check)
    own = set().union(*(files[check] for check in wanted))
    return sorted(own), [f"--check={check}" for check in sorted(wanted)]


def _run_fault(run_suites, fault: str, area: tuple[list[Path], list[str]] | None) -> None:
    """Run ``area`` (every suite when None) with ``fault`` on; exactly its checks must fail."""
    profile = PROFILE_FOR.get(fault, PROFILE)
    args = (f"--profile={profile}", f"--site-fault={fault}", *ARGS_FOR.get(fault, ()))
    where = {}
    if area is not None:
        where = {"suites": area[0]}
        args += tuple(area[1])
    result, junit = run_suites(*args, **where)
    cases = read_cases(junit)
    failed = failing_checks(cases)
    if failed != set(FAULTS[fault].breaks):
        # One rerun: pynetdicom very rarely hands a C-FIND response to the wrong waiter
        # ("Received unexpected C-FIND service message", see dicom/query.py). The rerun
        # must then match exactly, so a fault that breaks the wrong checks still fails.
        result, junit = run_suites(*args, **where)
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


def test_every_broken_check_is_in_a_suite_file():
    """The area rows find every check's suite file by its marker (the load checks are
    judged by `interopgate load`, tests/test_load.py, not by a suite)."""
    under_load = {check for name in LOAD_FAULTS for check in FAULTS[name].breaks}
    assert set(CHECKS) - under_load - set(check_files()) == set()


def _run_clean(run_suites, profile: str, area: tuple[list[Path], list[str]] | None) -> None:
    args: tuple[str, ...] = (f"--profile={profile}",)
    where = {}
    if area is not None:
        where = {"suites": area[0]}
        args += tuple(area[1])
    result, junit = run_suites(*args, **where)
    cases = read_cases(junit)
    assert result.ret == 0, result.stdout.str()
    assert len(cases) >= 10
    assert {c.outcome for c in cases} <= {"passed", "skipped"}
    for case in cases:
        assert {"profile", "target", "check", "clause"} <= set(case.properties), case.name


def test_clean_site_passes_every_check(run_suites):
    """The Agfa CR profile, every suite, no fault: everything passes."""
    _run_clean(run_suites, PROFILE, None)


OTHER_PROFILES = sorted(set(PROFILE_FOR.values()))
# The robustness suite on the clean site is tests/test_robustness.py's: the short ACSE
# timeout is the only difference, and the full cross-check runs it clean everywhere.
DEFAULT_CLEAN = [profile for profile in OTHER_PROFILES if profile != SHORT_ACSE]


@pytest.mark.parametrize("profile", DEFAULT_CLEAN, ids=lambda p: Path(p).stem)
def test_clean_site_passes_the_checks_of_its_faults(run_suites, profile):
    """A profile only some faults need: their checks and the sample pass without them."""
    faults = [name for name, used in PROFILE_FOR.items() if used == profile]
    _run_clean(run_suites, profile, area_of(faults))


def test_a_short_dimse_timeout_passes_the_cancelled_move(run_suites):
    """The C-MOVE cancel holds a sub-operation while the harness waits for a response: on
    the clean site, with a 2 s DIMSE timeout, it passes (the hold is a quarter of it)."""
    _run_clean(
        run_suites,
        SHORT_DIMSE,
        (sorted(check_files()["dicom.retrieve.move_cancel"]), ["--check=dicom.retrieve.*"]),
    )


@pytest.mark.fault_matrix_full
@pytest.mark.parametrize("profile", OTHER_PROFILES, ids=lambda p: Path(p).stem)
def test_clean_site_passes_every_check_everywhere(run_suites, profile):
    _run_clean(run_suites, profile, None)


# Load faults show under load only: tests/test_load*.py run them through `interopgate load`.
@pytest.mark.parametrize("fault", sorted(set(FAULTS) - LOAD_FAULTS))
def test_fault_fails_exactly_its_checks(run_suites, fault):
    """The fault's own checks and the SAMPLE: its checks fail, the sample passes."""
    _run_fault(run_suites, fault, area_of([fault]))


@pytest.mark.fault_matrix_full
@pytest.mark.parametrize("fault", sorted(set(FAULTS) - LOAD_FAULTS))
def test_fault_fails_exactly_its_checks_everywhere(run_suites, fault):
    """Every suite with the fault on: no check outside its area fails either."""
    _run_fault(run_suites, fault, None)


def test_every_check_is_broken_by_some_fault():
    # device.* checks judge the device under test: a wrong behaviour of the stand-in
    # modality breaks them (emulate/faults.py, run by tests/test_emulate_faults.py).
    faults = [*FAULTS.values(), *DEVICE_FAULTS.values()]
    broken = {check for fault in faults for check in fault.breaks}
    assert set(CHECKS) - broken == set(), "a check no fault can fail is a defect"
    assert broken <= set(CHECKS)
