"""How the DICOM target survives bad input (PS3.8 9.3, Annex A): malformed and extreme
A-ASSOCIATE-RQs, PDUs it cannot use, bad P-DATA-TFs. After each case a C-ECHO and a
known-good C-FIND must still succeed; what the target answered is recorded, and judged
only where PS3.8 leaves no choice (a protocol version without bit 0)."""

from __future__ import annotations

import pytest
from pydicom.uid import ImplicitVRLittleEndian

from interopgate import robustness as rb
from interopgate.dicom import query

# The invalid UIDs are the point: pydicom's warning about them (the embedded site
# decoding them in this process) is expected.
pytestmark = pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")

ANSWER_WAIT = 2.0  # seconds for the answer to one bad input
BUDGET = 40.0  # seconds one family of cases may take
PER_KIND = 2  # variations drawn per case kind
FAMILIES = ["associate-rq", "pdu", "p-data"]


def _identity(profile, target) -> rb.Identity:
    model = rb.find_model(profile)
    abstract = model.sop_class if model else rb.VERIFICATION
    return rb.Identity(profile.device.ae_title, target.endpoint.called_ae, abstract)


def _strategies(family: str, profile, target) -> rb.Strategies:
    who = _identity(profile, target)
    if family == "associate-rq":
        return {**rb.associate_rq_cases(who), **rb.protocol_version_cases(who)}
    if family == "pdu":
        return rb.unexpected_pdu_cases()
    model = rb.find_model(profile)
    sop_class = model.sop_class if model else rb.VERIFICATION
    identifier = (
        query.build_identifier(model, {"PatientID": rb.NO_SUCH_PATIENT})
        if model
        else query.Dataset()
    )
    return rb.p_data_cases(3, sop_class, identifier)


def _handshake(profile, target) -> bytes:
    """The valid A-ASSOCIATE-RQ the p-data cases start from: Verification as context 1,
    the known-good query's model as context 3."""
    who = _identity(profile, target)
    ts = [ImplicitVRLittleEndian]
    return rb.associate_rq(who.calling, who.called, [(rb.VERIFICATION, ts), (who.abstract, ts)])


def _sender(profile, target):
    endpoint = target.endpoint
    handshake = _handshake(profile, target)

    def send(case: rb.Case) -> rb.Answer:
        return rb.exchange(
            (endpoint.host, endpoint.port),
            case,
            handshake,
            wait=ANSWER_WAIT,
            connect_timeout=endpoint.connect_timeout,
        )

    return send


@pytest.mark.robustness
@pytest.mark.check("robustness.dicom.protocol_version")
def test_protocol_version_rejected(
    check, profile, target, robustness_seed, transcript, record_property
):
    """PS3.8 9.3.2: a receiver tests bit 0 of the protocol version only; without it
    there is no version to accept, so the RQ gets an A-ASSOCIATE-RJ (source 2, reason 2:
    protocol-version-not-supported, 9.3.4) or an abort, never an A-ASSOCIATE-AC."""
    who = _identity(profile, target)
    cases = rb.draw_cases(rb.protocol_version_cases(who), run_seed=robustness_seed, per_kind=3)
    send = _sender(profile, target)
    for case in cases:
        answer = send(case)
        transcript.note(f"{case} -> {answer}")
        record_property("robustness_cases", f"{case} -> {answer}")
        if answer.kind == "refused":
            pytest.skip(f"no TCP connection to {target.endpoint} ({answer.detail})")
        check.expect(
            not answer.accepted,
            f"an A-ASSOCIATE-RQ with {case.what} to {target.endpoint}",
            expected="A-ASSOCIATE-RJ (result 1, source 2, reason 2 protocol-version-not-"
            "supported), an A-ABORT or a closed connection",
            observed=f"{answer}; replay: --robustness-seed={robustness_seed}",
        )


@pytest.mark.robustness
@pytest.mark.check("robustness.dicom.survives")
@pytest.mark.parametrize("family", FAMILIES)
def test_target_survives(
    check, family, profile, target, dicom_serves, robustness_seed, transcript, record_property
):
    """Each bad input of one family, then C-ECHO + the known-good C-FIND: the target
    keeps serving whatever it answered (Annex A: AA-1 / AA-8 end one association)."""
    before = dicom_serves()
    check.expect(
        before is None,
        f"{target.endpoint} before any bad input",
        expected="C-ECHO 0000H and the known-good C-FIND answered Success",
        observed=str(before),
    )
    cases = rb.draw_cases(
        _strategies(family, profile, target), run_seed=robustness_seed, per_kind=PER_KIND
    )
    transcript.note(f"{len(cases)} {family} case(s), --robustness-seed={robustness_seed}")
    result = rb.survive(
        cases, _sender(profile, target), dicom_serves, budget=BUDGET, note=transcript.note
    )
    record_property("robustness_answers", rb.summary(result.answers))
    record_property("robustness_cases", rb.details(result.answers))
    if result.killed_by is not None:
        number, case, answer, problem = result.killed_by
        check.fail(
            f"{target.endpoint} after bad input {number} of {len(cases)}, {case}",
            expected="the target still serves: C-ECHO 0000H and the known-good C-FIND "
            "answered Success (the bad input may be refused or aborted)",
            observed=f"{problem}; the bad input got {answer}; "
            f"replay: --robustness-seed={robustness_seed}",
        )
