"""Fixtures of the end-to-end workflow suite (HL7 order or appointment in, worklist
item out): the MLLP client and message factory of the HL7 suite (suites/conftest.py),
the device's worklist queries, and the timestamp forms.

A target without an HL7 address (a DICOM-only live target, a DCMTK process target)
skips every workflow check with one line.
"""

from __future__ import annotations

import pytest

from interopgate.suite_support import mllp_address, parametrize_from_profile
from interopgate.workflow import Flow

# ``@pytest.mark.cancel_mode("mark")`` restricts a cancel check to profiles with that
# hl7.cancel; under the other it is not applicable (deselected and listed).
# ``workflow_form``: each timestamp form the target must accept, or the plain
# YYYYMMDDHHMMSS when the profile lists none.
PARAMETERS = {
    "cancel_mode": lambda p: [p.hl7.cancel],
    "workflow_form": lambda p: p.hl7.timestamp_forms or ["YYYYMMDDHHMMSS"],
}
WHAT = {
    "cancel_mode": "hl7.cancel value this check is for (remove or mark)",
    "workflow_form": "timestamp form (hl7.timestamp_forms)",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)


@pytest.fixture
def hl7_address(target, profile) -> tuple[str, int]:
    """The target's MLLP address, or a one-line skip when it has none (or when the device
    queries no worklist to follow the messages into)."""
    address = mllp_address(target, "end-to-end workflow checks")
    if profile.dicom.worklist is None:
        pytest.skip("the profile has no dicom.worklist section (the device queries no MWL)")
    return address


@pytest.fixture
def flow(profile, hl7_client, hl7_factory, device, transcript) -> Flow:
    """The workflow engine over this check's MLLP client, factory and worklist queries."""
    return Flow(profile, hl7_client, hl7_factory, device, transcript)
