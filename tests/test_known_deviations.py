"""known_deviations: a documented departure is reported as such (xfail with the reason),
never silently skipped; a deviation that no longer happens fails the run."""

from __future__ import annotations

from tests.conftest import SUITES
from tests.junit import read_cases

# The deviations are association checks: their suite file is where they show (that a
# site fault breaks nothing else is the fault matrix's question).
ASSOCIATION = SUITES / "dicom" / "test_association.py"


def _profile(tmp_path, body: str):
    path = tmp_path / "deviating.yaml"
    path.write_text("extends: agfa-cr\n" + body)
    return path


def test_deviation_is_reported_with_its_reason(run_suites, tmp_path):
    profile = _profile(
        tmp_path,
        "target: {faults: [echo-failure]}\n"
        "known_deviations:\n"
        "  - {check: dicom.association.echo, reason: 'vendor ticket 1234', clause: PS3.7 9.3.5}\n",
    )
    result, junit = run_suites(f"--profile={profile}", "-rx", suites=ASSOCIATION)
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes().get("xfailed") == 1
    assert "failed" not in result.parseoutcomes()
    echo = next(c for c in read_cases(junit) if c.name == "test_echo")
    assert echo.outcome == "xfailed"
    assert "vendor ticket 1234" in echo.message
    assert echo.properties["known_deviation"] == "vendor ticket 1234"


def test_deviation_for_one_parameter_only(run_suites, tmp_path):
    profile = _profile(
        tmp_path,
        "target: {faults: [implicit-only]}\n"
        "known_deviations:\n"
        "  - {check: 'dicom.association.transfer_syntax[ExplicitVRLittleEndian]', reason: 'no explicit VR'}\n",
    )
    result, _ = run_suites(f"--profile={profile}", suites=ASSOCIATION)
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes().get("xfailed") == 1


def test_stale_deviation_fails_the_run(run_suites, tmp_path):
    profile = _profile(
        tmp_path,
        "known_deviations:\n  - {check: dicom.association.echo, reason: 'fixed long ago'}\n",
    )
    result, _ = run_suites(f"--profile={profile}", suites=ASSOCIATION)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*known deviation no longer observed*test_echo*"])
