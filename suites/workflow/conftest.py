"""Fixtures of the end-to-end workflow suite (issue 6): the MLLP client and message
factory of the HL7 suite, the device's worklist queries, and the timestamp forms.

A target without an HL7 address (a DICOM-only live target, a DCMTK process target)
skips every workflow check with one line.
"""

from __future__ import annotations

import pytest

from interopgate.plugin import STATE, parametrize_from_profile
from suites.conftest import mllp_address

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


@pytest.fixture
def hl7_address(target, profile) -> tuple[str, int]:
    """The target's MLLP address, or a one-line skip when it has none (or when the device
    queries no worklist to follow the messages into)."""
    address = mllp_address(target, "end-to-end workflow checks")
    if profile.dicom.worklist is None:
        pytest.skip("the profile has no dicom.worklist section (the device queries no MWL)")
    return address
