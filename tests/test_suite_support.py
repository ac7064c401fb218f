"""Suite support (interopgate/suite_support.py) as a suite's conftest uses it: tests
parametrized from the run's profile, named as the profile names the values; an empty
list gives one not-applicable item (deselected and listed, not passed); a marker named
after the fixture restricts the values. And the markers the plugin registers itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from interopgate.suite_support import mllp_address

CONFTEST = """
import pytest
from interopgate.suite_support import parametrize_from_profile

PARAMETERS = {
    "transfer_syntax": lambda p: p.dicom.transfer_syntaxes,
    "information_model": lambda p: p.dicom.find.information_models,
    "nothing": lambda p: [],
}
WHAT = {"nothing": "thing to apply to (none.listed)"}

def pytest_configure(config):
    config.addinivalue_line("markers", "information_model(*names): restrict")

def pytest_generate_tests(metafunc):
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)
"""

SUITE = """
import pytest

@pytest.mark.check("dicom.association.transfer_syntax")
def test_syntax(transfer_syntax):
    assert isinstance(transfer_syntax, str)

@pytest.mark.information_model("patient", "nonexistent")
@pytest.mark.check("dicom.find.single_value")
def test_model(information_model):
    assert information_model == "patient"

@pytest.mark.check("dicom.find.universal")
def test_nothing(nothing):
    raise AssertionError("a not-applicable item must not run")
"""


@pytest.fixture
def mini_suite(pytester: pytest.Pytester):
    suite = pytester.mkdir("mini")
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_mini.py").write_text(SUITE)
    return suite


def test_parameters_come_from_the_profile(run_suites, mini_suite):
    result, _ = run_suites("--profile=agfa-cr", "--strict-markers", "-v", suites=mini_suite)
    output = result.stdout.str()
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "*test_syntax?ExplicitVRLittleEndian? PASSED*",
            "*test_syntax?ImplicitVRLittleEndian? PASSED*",
            "*test_model?patient? PASSED*",
            "*1 check(s) not applicable here*",
            "test_nothing[none]: the profile and its target give no thing to apply to "
            "(none.listed)",
        ]
    )
    assert "test_model[study]" not in output and "test_nothing[none] " not in output
    assert "1 deselected" in output


def test_the_plugin_registers_the_markers_it_relies_on(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--markers", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.check(id): *", "@pytest.mark.not_applicable(reason): *"]
    )


def test_mllp_address_or_a_one_line_skip():
    assert mllp_address(SimpleNamespace(hl7_address=("127.0.0.1", 2575)), "HL7 checks") == (
        "127.0.0.1",
        2575,
    )
    with pytest.raises(pytest.skip.Exception, match=r"no HL7 \(MLLP\) address.*run the HL7 checks"):
        mllp_address(SimpleNamespace(hl7_address=None), "HL7 checks")
