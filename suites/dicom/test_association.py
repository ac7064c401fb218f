"""Association negotiation (PS3.8 9.3, PS3.7 D.3): what every DICOM peer must get right
before a single image or worklist item moves. Expectations come from the profile."""

from __future__ import annotations

import math

import pytest
from pynetdicom import evt
from pynetdicom import sop_class as sop

from fixtures.dicom_objects import make_image
from interopgate.dicom import uids
from interopgate.dicom.association import (
    CONTEXT_RESULT,
    REJECT_REASON,
    WireContext,
    describe_context,
)
from interopgate.storage import response_wait

WRONG_CALLED_AE = "IG_NO_SUCH_AE"
_NONE = WireContext(0, -1, None)
MAX_CONTEXTS = 128  # context IDs 1, 3, ..., 255 (PS3.8 9.3.2.2)


def _status(response) -> str:
    if response is None or "Status" not in response:
        return "no response (association aborted or DIMSE timeout)"
    return f"status {int(response.Status):04X}H"


def _require_established(check, negotiation, subject: str) -> None:
    check.expect(
        negotiation.established,
        subject,
        expected="an established association (A-ASSOCIATE-AC)",
        observed=negotiation.outcome(),
    )


@pytest.mark.check("dicom.association.echo")
def test_echo(check, device):
    with device.associate([sop.Verification]) as (assoc, negotiation):
        _require_established(check, negotiation, "C-ECHO")
        response = assoc.send_c_echo()
        check.expect(
            response is not None and response.get("Status") == 0x0000,
            f"C-ECHO from {device.ae_title} to {device.endpoint}",
            expected="status 0000H (Success)",
            observed=_status(response),
        )


@pytest.mark.check("dicom.association.context_accepted")
def test_context_accepted(check, device, profile, proposed_sop_class):
    """Propose everything the device proposes, as it would, and look at one answer."""
    uid = uids.resolve(proposed_sop_class)
    allowed = profile.dicom.transfer_syntax_uids()
    with device.associate(profile.dicom.proposed_uids()) as (_, negotiation):
        _require_established(check, negotiation, f"presentation context {uids.label(uid)}")
        context_id, answer = negotiation.context(uid)
        check.expect(
            answer is not None and answer.result == 0 and answer.transfer_syntax in allowed,
            f"presentation context {context_id} for {uids.label(uid)}",
            expected="result 0 (acceptance) with one of "
            + ", ".join(uids.label(ts) for ts in allowed),
            observed=describe_context(answer),
        )


@pytest.mark.check("dicom.association.context_rejected")
def test_context_rejected(check, device, profile, rejected_sop_class, record_property):
    """PS3.8 9.3.3.2 / 7.1.1.14: the acceptor rejects a context it cannot support, with
    result 1 (user-rejection), 2 (no-reason) or 3 (abstract-syntax-not-supported): which
    one is its choice, unless the profile's ``target.rejection_result`` holds it to what
    its conformance statement promises. A context accepted for a SOP class missing from
    ``target.provides`` is one finding here, not a failure of every check of it."""
    uid = uids.resolve(rejected_sop_class)
    required = profile.target.rejection_result
    with device.associate([sop.Verification, uid]) as (_, negotiation):
        _require_established(check, negotiation, f"presentation context {uids.label(uid)}")
        context_id, answer = negotiation.context(uid)
        record_property("context_result", describe_context(answer))
        listed = profile.target.provides is not None and not profile.target_provides(uid)
        why = (
            "a SOP class the target's conformance statement (target.provides) does not list"
            if listed
            else "which the profile says the target does not support"
        )
        if required is None:
            expected = "a rejection: result 1, 2 or 3 (PS3.8 9.3.3.2 leaves which to the acceptor)"
            ok = answer is not None and answer.result in (1, 2, 3)
        else:
            expected = (
                f"result {required} ({CONTEXT_RESULT[required]}), as target.rejection_result "
                "says its conformance statement promises"
            )
            ok = answer is not None and answer.result == required
        observed = describe_context(answer)
        if answer is not None and answer.result == 0 and listed:
            observed = f"accepted a context its conformance statement does not list: {observed}"
        check.expect(
            ok,
            f"presentation context {context_id} for {uids.label(uid)}, {why}",
            expected=expected,
            observed=observed,
        )


@pytest.mark.check("dicom.association.transfer_syntax")
def test_transfer_syntax(check, device, transfer_syntax):
    ts = uids.resolve(transfer_syntax, "Transfer Syntax")
    with device.associate([(sop.Verification, [ts])]) as (_, negotiation):
        _require_established(check, negotiation, f"Verification with {uids.label(ts)} only")
        context_id, answer = negotiation.context(sop.Verification)
        check.expect(
            answer is not None and answer.result == 0 and answer.transfer_syntax == ts,
            f"presentation context {context_id}: Verification proposed with {uids.label(ts)} only",
            expected=f"result 0 (acceptance) with {uids.label(ts)}",
            observed=describe_context(answer),
        )


@pytest.mark.check("dicom.association.called_ae")
def test_unknown_called_ae_rejected(check, device, profile):
    with device.associate([sop.Verification], called_ae=WRONG_CALLED_AE) as (_, negotiation):
        subject = f"A-ASSOCIATE-RQ from {device.ae_title} to unknown called AE {WRONG_CALLED_AE!r}"
        if profile.target.accepts_any_called_ae:
            check.expect(
                negotiation.established,
                subject + " (the profile says the target accepts any called AE)",
                expected="A-ASSOCIATE-AC",
                observed=negotiation.outcome(),
            )
            return
        rejection = negotiation.rejection
        check.expect(
            rejection is not None
            and rejection.result in (1, 2)
            and (rejection.source, rejection.reason) == (1, 7),
            subject,
            expected=f"A-ASSOCIATE-RJ, source 1 (service-user), reason 7 ({REJECT_REASON[(1, 7)]})",
            observed=negotiation.outcome(),
        )


@pytest.mark.check("dicom.association.ae_title_case")
def test_called_ae_title_is_case_sensitive(check, device, profile):
    called = device.endpoint.called_ae.strip()
    other_case = called.swapcase()
    if profile.target.accepts_any_called_ae:
        pytest.skip("the profile says the target accepts any called AE title")
    if other_case == called:
        pytest.skip(f"the called AE {called!r} has no letters to change the case of")
    with device.associate([sop.Verification], called_ae=other_case) as (_, negotiation):
        check.expect(
            negotiation.rejection is not None,
            f"A-ASSOCIATE-RQ to {other_case!r}, the called AE {called!r} in another case",
            expected="A-ASSOCIATE-RJ (AE titles are case-sensitive), reason 7 "
            f"({REJECT_REASON[(1, 7)]})",
            observed=negotiation.outcome(),
        )


@pytest.mark.check("dicom.association.context_ids")
def test_every_context_id_answered_once(check, device, profile):
    """Propose the maximum of 128 contexts (IDs 1-255); each must be answered once."""
    proposed = profile.dicom.proposed_uids()
    contexts = [proposed[i % len(proposed)] for i in range(MAX_CONTEXTS)]
    with device.associate(contexts) as (_, negotiation):
        _require_established(check, negotiation, f"A-ASSOCIATE-RQ with {MAX_CONTEXTS} contexts")
        sent = [context_id for context_id, _, _ in negotiation.proposed]
        answered = [c.context_id for c in negotiation.accept or []]
        missing = sorted(set(sent) - set(answered))
        unknown = sorted(set(answered) - set(sent))
        repeated = sorted({i for i in answered if answered.count(i) > 1})
        problems = []
        if missing:
            problems.append(f"IDs never answered: {_ids(missing)}")
        if repeated:
            problems.append(f"IDs answered more than once: {_ids(repeated)}")
        if unknown:
            problems.append(f"IDs never proposed: {_ids(unknown)}")
        check.expect(
            not problems,
            f"A-ASSOCIATE-AC to {MAX_CONTEXTS} proposed contexts (odd IDs 1-255)",
            expected="one Presentation Context Item per proposed ID, with the same ID",
            observed="; ".join(problems),
        )


def _ids(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:12]))
    return shown + (f" ... ({len(ids)} in all)" if len(ids) > 12 else "")


@pytest.mark.check("dicom.association.max_pdu")
def test_large_dataset_fragmented_and_stored(check, device, profile, fake):
    """A data set 4x the peer's max PDU must be sent in several P-DATA-TF PDUs (by us) and
    reassembled (by the peer): the store succeeds."""
    storage = [
        u
        for u in profile.dicom.proposed_uids()
        if uids.is_storage(u) and profile.target_provides(u)
    ]
    if not storage:
        pytest.skip("the profile proposes no storage SOP class the target provides")
    with device.associate(storage) as (assoc, negotiation):
        _require_established(check, negotiation, "C-STORE of a large data set")
        accepted = [uid for uid in storage if (negotiation.context(uid)[1] or _NONE).result == 0]
        if not accepted:
            pytest.skip("no storage context accepted (see dicom.association.context_accepted)")
        peer_max = negotiation.peer_max_pdu or 16384
        side = math.ceil(math.sqrt(4 * peer_max / 2))
        image = make_image(accepted[0], fake.patient(), rows=side, columns=side)
        sizes: list[int] = []
        assoc.bind(
            evt.EVT_PDU_SENT,
            lambda event: sizes.append(event.pdu.pdu_length) if event.pdu.pdu_type == 4 else None,
        )
        assoc.dimse_timeout = response_wait(device.endpoint.dimse_timeout, image)
        response = assoc.send_c_store(image)
        subject = (
            f"C-STORE of a {len(image.PixelData)}-byte image, peer max PDU {peer_max}, "
            f"sent in {len(sizes)} P-DATA-TF PDUs of at most {max(sizes, default=0) + 6} bytes"
        )
        check.expect(
            response is not None and response.get("Status") == 0x0000,
            subject,
            expected="status 0000H (Success): the fragmented data set is reassembled",
            observed=_status(response),
        )


@pytest.mark.check("dicom.storage.store")
def test_store(check, device, storage_sop_class, fake):
    uid = uids.resolve(storage_sop_class)
    image = make_image(uid, fake.patient())
    with device.associate([uid]) as (assoc, negotiation):
        _require_established(check, negotiation, f"C-STORE of {uids.label(uid)}")
        accepted = any(c.result == 0 for c in negotiation.accept or [])
        check.expect(
            accepted,
            f"C-STORE of {uids.label(uid)}",
            expected="an accepted presentation context for the SOP class",
            observed="; ".join(describe_context(c) for c in negotiation.accept or []),
        )
        response = assoc.send_c_store(image)
        check.expect(
            response is not None and response.get("Status") == 0x0000,
            f"C-STORE of {uids.label(uid)} instance {image.SOPInstanceUID} "
            f"(patient {image.PatientID})",
            expected="status 0000H (Success)",
            observed=_status(response),
        )
