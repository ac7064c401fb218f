"""Fixtures of the HL7 v2 suites: an MLLP client to the target, the message factory, and
parametrization from the profile's ``hl7:`` section (message types, timestamp forms).

A target without an HL7 address (a DICOM-only live target) skips every HL7 check with
one line; an unreachable HL7 port stops the run in the pre-flight (targets/preflight.py).
"""

from __future__ import annotations

import pytest

from interopgate import sweep
from interopgate.plugin.state import run_profile
from interopgate.suite_support import mllp_address, parametrize_from_profile

SWEEP_CHECK = "hl7.timestamp.sweep"

MALFORMED = ["missing-MSH", "bad-encoding-characters", "unframed-bytes"]

PARAMETERS = {
    "hl7_message_type": lambda p: p.hl7.messages,
    "accepted_form": lambda p: p.hl7.timestamp_forms,
    "rejected_form": lambda p: p.hl7.forms_rejected,
    "malformed_kind": lambda p: MALFORMED,
}


WHAT = {
    "hl7_message_type": "HL7 message type (hl7.messages)",
    "accepted_form": "timestamp form the target must accept (hl7.timestamp_forms)",
    "rejected_form": "timestamp form the target must reject (hl7.forms_rejected)",
    "malformed_kind": "malformed message kind",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_from_profile(metafunc, PARAMETERS, WHAT)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A sweep's per-test timeout follows from its budget (hl7.sweep_budget), so the
    sweep, not pytest-timeout, decides when it stops, and says what it got by then."""
    profile = run_profile(config)
    if profile is None:
        return
    settings = profile.hl7
    timeout = sweep.timeout_for(
        settings.sweep_budget, settings.connect_timeout, settings.ack.timeout
    )
    for item in items:
        marker = item.get_closest_marker("check")
        if marker is not None and marker.args[:1] == (SWEEP_CHECK,):
            item.add_marker(pytest.mark.timeout(timeout))


@pytest.fixture
def hl7_address(target) -> tuple[str, int]:
    """The target's MLLP address, or a one-line skip when it has none."""
    return mllp_address(target, "HL7 checks")


@pytest.fixture
def hl7_resend_record_check():
    """Hook for the end-to-end workflow suites: called with the resent message after
    both ACKs were AA, to check that the retry made one record, not two (HL7 2.5
    §2.10.2). No-op here; workflow.resend.no_duplicate checks it in the worklist."""
    return lambda message: None
