"""How the HL7 interface survives frames it cannot process (HL7 2.5 §2.9, MLLP release 1
Appendix C.4): no MSH, wrong encoding characters, binary garbage, 10 MB, no <FS>. After
each case a valid SIU^S12 on a new connection must get AA; what the bad frame got is
recorded (hl7.ack.malformed judges the ACK itself)."""

from __future__ import annotations

import pytest

from interopgate import robustness as rb
from interopgate.hl7.mllp import MLLPClient
from interopgate.suite_support import mllp_address

ANSWER_WAIT = 2.0  # seconds for the answer to one bad frame
LARGE_WAIT = 10.0  # a 10 MB frame takes a while to read and refuse
BUDGET = 60.0
PER_KIND = 2


@pytest.mark.robustness
@pytest.mark.check("robustness.hl7.survives")
def test_interface_survives(
    check, profile, target, hl7_factory, hl7_serves, robustness_seed, transcript, record_property
):
    address = mllp_address(target, "HL7 robustness checks")
    where = f"{address[0]}:{address[1]}"
    before = hl7_serves()
    check.expect(
        before is None,
        f"the HL7 interface at {where} before any bad input",
        expected="a valid SIU^S12 answered MSA-1 AA",
        observed=str(before),
    )
    valid = hl7_factory.build("SIU^S12").text
    cases = rb.draw_cases(rb.frame_cases(valid), run_seed=robustness_seed, per_kind=PER_KIND)
    transcript.note(f"{len(cases)} HL7 case(s), --robustness-seed={robustness_seed}")

    def send(case: rb.Case) -> rb.Answer:
        wait = LARGE_WAIT if case.kind == "hl7/10-mb" else ANSWER_WAIT
        with MLLPClient.for_settings(address, profile.hl7) as client:
            exchange = client.send_raw(case.build(None), timeout=wait, shown=str(case))
        return rb.Answer(rb.msa_1(exchange))

    result = rb.survive(cases, send, hl7_serves, budget=BUDGET, note=transcript.note)
    record_property("robustness_answers", rb.summary(result.answers))
    record_property("robustness_cases", rb.details(result.answers))
    if result.killed_by is not None:
        number, case, answer, problem = result.killed_by
        check.fail(
            f"the HL7 interface at {where} after bad frame {number} of {len(cases)}, {case}",
            expected="a valid SIU^S12 on a new connection still answered MSA-1 AA (the bad "
            "frame may be refused or ignored)",
            observed=f"{problem}; the bad frame got {answer}; "
            f"replay: --robustness-seed={robustness_seed}",
        )
