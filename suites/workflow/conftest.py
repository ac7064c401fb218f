"""Fixtures of the end-to-end workflow suite (issue 6): the MLLP client and message
factory of the HL7 suite, the device's worklist queries, and the timestamp forms.

A target without an HL7 address (a DICOM-only live target, a DCMTK process target)
skips every workflow check with one line.
"""

from __future__ import annotations

import pytest

from interopgate.plugin import STATE, parametrize_from_profile

# ``@pytest.mark.cancel_mode("mark")`` restricts a cancel check to profiles with that
# hl7.cancel; under the other it is not applicable (deselected and listed).
PARAMETERS = {"cancel_mode": lambda p: [p.hl7.cancel]}
WHAT = {"cancel_mode": "hl7.cancel value this check is for (remove or mark)"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)
    loaded = metafunc.config.stash[STATE].loaded
    if "workflow_form" in metafunc.fixturenames:
        forms = loaded.profile.hl7.timestamp_forms if loaded else []
        forms = forms or ["YYYYMMDDHHMMSS"]
        metafunc.parametrize("workflow_form", forms, ids=[str(f) for f in forms])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The full-day sweep runs only with ``-m sweep`` (as in suites/hl7)."""
    expression = config.option.markexpr or ""
    if "sweep" in expression and "not sweep" not in expression:
        return
    long_sweeps = [item for item in items if item.get_closest_marker("sweep")]
    if long_sweeps:
        config.hook.pytest_deselected(items=long_sweeps)
        items[:] = [item for item in items if not item.get_closest_marker("sweep")]


@pytest.fixture
def hl7_address(target, profile) -> tuple[str, int]:
    """The target's MLLP address, or a one-line skip when it has none."""
    if target.hl7_address is None:
        pytest.skip(
            "the target has no HL7 (MLLP) address: set hl7_port in the profile's target "
            "to run the end-to-end workflow checks"
        )
    if profile.dicom.worklist is None:
        pytest.skip("the profile has no dicom.worklist section (the device queries no MWL)")
    return target.hl7_address
