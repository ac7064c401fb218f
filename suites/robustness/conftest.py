"""Fixtures of the robustness suite: the run's replay seed and the probes that say,
after each bad input, whether the target still serves (C-ECHO and a known-good C-FIND;
a valid SIU^S12 answered AA). The suite is opt in (``-m robustness``): suites/conftest.py
registers the marker and ``--robustness-seed`` and deselects it by default."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pynetdicom import sop_class as sop

from interopgate import robustness as rb
from interopgate.dicom import query
from interopgate.hl7.mllp import MLLPClient
from interopgate.suite_support import mllp_address


@pytest.fixture
def robustness_seed(pytestconfig: pytest.Config) -> int:
    return int(pytestconfig.option.ig_robustness_seed)


@pytest.fixture
def dicom_serves(device, profile) -> Callable[[], str | None]:
    """None while the target answers a C-ECHO with 0000H and the known-good C-FIND with
    Success; else what went wrong, in one phrase."""
    model = rb.find_model(profile)

    def probe() -> str | None:
        with device.associate([sop.Verification]) as (assoc, negotiation):
            if not negotiation.established:
                return f"C-ECHO: {negotiation.outcome()}"
            response = assoc.send_c_echo()
            if response is None or response.get("Status") != 0x0000:
                return "C-ECHO: no 0000H response (aborted or DIMSE timeout)"
        if model is None:
            return None
        identifier = query.build_identifier(model, {"PatientID": rb.NO_SUCH_PATIENT})
        outcome = query.find(device, model, identifier)
        if not outcome.accepted:
            return f"known-good {model.label}: {outcome.refusal}"
        if outcome.final is None or outcome.final.status != 0x0000:
            return f"known-good {model.label}: final status {outcome.final_status}"
        return None

    return probe


@pytest.fixture
def hl7_serves(target, profile, hl7_factory) -> Callable[[], str | None]:
    """None while a valid SIU^S12 gets MSA-1 AA (CA in enhanced mode) on a new connection."""
    address = mllp_address(target, "HL7 robustness checks")

    def probe() -> str | None:
        message = hl7_factory.build("SIU^S12")
        with MLLPClient.for_settings(address, profile.hl7) as client:
            exchange = client.send(message.text)
        if exchange.problem:
            return f"a valid SIU^S12 (MSH-10 {message.control_id}): {exchange.problem}"
        answer = rb.msa_1(exchange)
        if answer not in ("AA", "CA"):
            return f"a valid SIU^S12 (MSH-10 {message.control_id}) answered {answer}"
        return None

    return probe
