"""Acknowledgments over MLLP (HL7 2.5 §2.9, MLLP Release 1): every message the device's
peer sends must get exactly one well-framed ACK that names it (MSA-2 = MSH-10). Silence,
a dropped connection or an ACK for another message is what made the seed's EHR resend;
a second ACK for a message already acknowledged (a receiver that re-delivers its earlier
messages) is a finding too, never silently dropped. The ACK's own header is judged in
test_ack_header.py."""

from __future__ import annotations

import pytest

from interopgate.hl7.messages import read_reply
from interopgate.hl7.mllp import CR, FS, MLLPClient, encode, frame


def _subject(message, address) -> str:
    return (
        f"{message.message_type} (HL7 {message.version}, MSH-10 {message.control_id}) "
        f"to {address[0]}:{address[1]}"
    )


def _require_ack(check, exchange, subject: str):
    ack, observed = read_reply(exchange.reply_text, exchange.problem)
    check.expect(
        ack is not None,
        subject,
        expected="one ACK message (MSH + MSA) in return",
        observed=observed,
    )
    return ack


@pytest.mark.check("hl7.ack.accepted")
def test_valid_message_accepted(check, hl7_client, hl7_factory, hl7_address, hl7_message_type):
    message = hl7_factory.build(hl7_message_type)
    exchange = hl7_client.send(message.text)
    subject = _subject(message, hl7_address)
    ack = _require_ack(check, exchange, subject)
    check.expect(
        exchange.reply.well_framed,
        subject,
        expected="the ACK framed <VT> ... <FS><CR> with nothing before <VT>",
        observed=", ".join(exchange.reply.framing_problems()),
    )
    check.expect(
        ack.msa_1 in ("AA", "CA"),
        subject,
        expected="MSA-1 AA (application accept; CA in enhanced mode)",
        observed=read_reply(exchange.reply_text, None)[1],
    )


@pytest.mark.check("hl7.ack.control_id")
def test_ack_names_the_message(check, hl7_client, hl7_factory, hl7_address, profile):
    message = hl7_factory.build(profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12")
    exchange = hl7_client.send(message.text)
    subject = _subject(message, hl7_address)
    ack = _require_ack(check, exchange, subject)
    check.expect(
        ack.msa_2 == message.control_id,
        subject,
        expected=f"MSA-2 {message.control_id} (the MSH-10 sent)",
        observed=f"MSA-2 {ack.msa_2 or '(empty)'}",
    )


def _malformed_bytes(kind: str, text: str) -> bytes:
    if kind == "missing-MSH":
        return frame(text.split("\r", 1)[1])
    if kind == "bad-encoding-characters":
        return frame(text.replace("MSH|^~\\&|", "MSH|^~^&|", 1))
    raise ValueError(kind)


@pytest.mark.check("hl7.ack.malformed")
def test_malformed_message_answered(
    check, hl7_client, hl7_factory, hl7_address, profile, transcript, malformed_kind
):
    """A message that cannot be processed is answered AR/AE (§2.9.2), never with silence.
    Without an MSH there is no MSH-10 to name, so MSA-2 is empty (or absent). Bytes
    outside a frame cannot be answered -- MLLP (Appendix C.4.3) says a receiver ignores
    them -- so "unframed-bytes" sends an unframed message with an MSH-10 of its own, then
    a framed one: exactly one ACK must come, naming the framed message."""
    if malformed_kind == "unframed-bytes":
        _unframed_bytes_ignored(check, hl7_factory, hl7_address, profile, transcript)
        return
    message = hl7_factory.build("SIU^S12")
    where = f"{hl7_address[0]}:{hl7_address[1]}"
    exchange = hl7_client.send_raw(_malformed_bytes(malformed_kind, message.text))
    subject = f"a framed message with {malformed_kind.replace('-', ' ')} to {where}"
    ack, observed = read_reply(exchange.reply_text, exchange.problem)
    check.expect(
        ack is not None and ack.msa_1 in ("AE", "AR", "CE", "CR"),
        subject,
        expected="an ACK with MSA-1 AR or AE, itself a valid message (§2.14.9.2: the "
        "ACK's own MSH-2), on a connection that stays open",
        observed=observed,
    )
    if malformed_kind == "missing-MSH":
        check.expect(
            not ack.msa_2,
            f"{subject}: MSA-2 of the refusal",
            expected="MSA-2 empty or absent: a message without MSH has no MSH-10 to "
            "acknowledge (§3.4.2.2)",
            observed=f"MSA-2 {ack.msa_2!r}, a value the message never sent as MSH-10",
        )


def _unframed_bytes_ignored(check, hl7_factory, hl7_address, profile, transcript) -> None:
    junk, message = hl7_factory.build("SIU^S12"), hl7_factory.build("SIU^S12")
    data = encode(junk.text) + FS + CR + frame(message.text)
    subject = (
        f"an unframed SIU^S12 (MSH-10 {junk.control_id}), then a framed one (MSH-10 "
        f"{message.control_id}) to {hl7_address[0]}:{hl7_address[1]}"
    )
    expected = (
        f"the unframed bytes ignored and the connection kept: exactly one ACK, MSA-2 "
        f"{message.control_id} (the framed message)"
    )
    with MLLPClient.for_settings(
        hl7_address, profile.hl7, persistent=True, note=transcript.note
    ) as client:
        exchange = client.send_raw(
            data,
            shown=f"(unframed) {junk.text}<FS><CR>, then framed: {message.text}",
            control_id=message.control_id,
        )
        ack, observed = read_reply(exchange.reply_text, exchange.problem)
        check.expect(ack is not None, subject, expected=expected, observed=observed)
        replies = [ack]
        while True:
            extra = client.receive(timeout=_quiet_wait(profile))
            if extra.reply is None:
                break
            replies.append(read_reply(extra.reply_text, None)[0])

    def described(reply) -> str:
        if reply is None:
            return "a reply that is not an ACK"
        unframed = " (the unframed bytes)" if reply.msa_2 == junk.control_id else ""
        return f"MSA-1 {reply.msa_1 or '(empty)'} MSA-2 {reply.msa_2 or '(empty)'}{unframed}"

    check.expect(
        [r.msa_2 if r is not None else None for r in replies] == [message.control_id],
        subject,
        expected=expected,
        observed=f"{len(replies)} ACK(s): " + "; ".join(described(r) for r in replies),
    )


def _one_ack_each(check, client, subject: str) -> None:
    """Fail when a message on ``client`` was acknowledged more than once (§2.9.2)."""
    repeated = client.repeated_summary()
    check.expect(
        repeated is None,
        f"{subject}: one acknowledgment per message",
        expected="one ACK per message (HL7 2.5 §2.9.2; in enhanced mode one accept and one "
        "application ACK, §2.9.3)",
        observed=repeated or "",
    )


ONCE_SAMPLE = 3  # messages on one connection: the third would bring back three ACKs


@pytest.mark.check("hl7.ack.once")
def test_one_ack_per_message(check, hl7_factory, hl7_address, profile, transcript):
    """Three messages over one connection, then a pause: each gets one ACK. A receiver
    whose receive buffer is never cleared hands the earlier messages to its application
    again and answers the n-th message with n ACKs; a sender that drops the extras never
    notices it is applying the same orders over and over."""
    message_type = profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12"
    with MLLPClient.for_settings(
        hl7_address, profile.hl7, persistent=True, note=transcript.note
    ) as client:
        sent = []
        for _ in range(ONCE_SAMPLE):
            message = hl7_factory.build(message_type)
            sent.append(message.control_id)
            _require_ack(check, client.send(message.text), _subject(message, hl7_address))
        client.receive(timeout=_quiet_wait(profile))  # anything still on its way
        _one_ack_each(
            check,
            client,
            f"{ONCE_SAMPLE} {message_type} messages (MSH-10 {', '.join(sent)}) over one "
            f"connection to {hl7_address[0]}:{hl7_address[1]}",
        )


@pytest.mark.check("hl7.ack.unsupported_event")
def test_unsupported_trigger_event_rejected(check, hl7_client, hl7_factory, hl7_address):
    structure = "" if hl7_factory.version == "2.3" else "^SIU_S12"
    hl7_factory.pinned = {**hl7_factory.pinned, "MSH-9": f"SIU^Z99{structure}"}
    message = hl7_factory.build("SIU^S12")
    exchange = hl7_client.send(message.text)
    subject = f"SIU^Z99 (a site-defined event nobody supports, MSH-10 {message.control_id})"
    ack = _require_ack(check, exchange, subject)
    check.expect(
        ack.msa_1 in ("AR", "CR"),
        subject,
        expected="MSA-1 AR (rejected: unsupported event code, table 0357 code 201)",
        observed=read_reply(exchange.reply_text, None)[1],
    )


# A header the receiver cannot accept, for the commit-reject paths of enhanced mode:
# MSH-11 outside HL7 table 0103 (D, P, T). HL7 2.5 §2.9.3: an unacceptable MSH-9, MSH-11
# or MSH-12 is answered with a commit reject (CR); CE covers any other reason.
BAD_PROCESSING_ID = "X"
COMMIT_REFUSALS = ("CR", "CE")
ACCEPT_CODES = ("CA", "CE", "CR")  # table 0008: the accept (commit) acknowledgment codes


def _enhanced(hl7_factory, profile, accept: str, application: str, *, refused: bool = False):
    """The profile's first message type with MSH-15/MSH-16 set; ``refused``: with an
    unacceptable MSH-11."""
    pinned = hl7_factory.pinned
    if refused:
        hl7_factory.pinned = {**pinned, "MSH-11": BAD_PROCESSING_ID}
    try:
        return hl7_factory.build(
            profile.hl7.messages[0] if profile.hl7.messages else "SIU^S12",
            accept_ack_type=accept,
            application_ack_type=application,
        )
    finally:
        hl7_factory.pinned = pinned


def _label(message, refused: bool = False) -> str:
    what = f", MSH-11 {BAD_PROCESSING_ID!r} (not in table 0103)" if refused else ""
    return (
        f"{message.message_type} with MSH-15 {message.accept_ack_type}, MSH-16 "
        f"{message.application_ack_type}{what} (MSH-10 {message.control_id})"
    )


def _require_enhanced(profile) -> None:
    if not profile.hl7.ack.enhanced_mode:
        pytest.skip("the profile says the target does not support enhanced acknowledgment mode")


def _quiet_wait(profile) -> float:
    """How long to listen for an ACK that must not come."""
    return min(0.5, profile.hl7.ack.timeout)


@pytest.mark.check("hl7.ack.enhanced_mode")
def test_enhanced_mode(check, hl7_client, hl7_factory, hl7_address, profile):
    """MSH-15 (accept acknowledgment type, table 0155) AL: a commit ACK with a commit code
    of table 0008 -- CA for a valid message, CR/CE for an unacceptable header; NE: none."""
    _require_enhanced(profile)
    always = _enhanced(hl7_factory, profile, "AL", "NE")
    exchange = hl7_client.send(always.text)
    ack = _require_ack(check, exchange, _label(always))
    check.expect(
        ack.msa_1 == "CA",
        _label(always),
        expected="a commit acknowledgment, MSA-1 CA (§2.9.3, table 0008)",
        observed=read_reply(exchange.reply_text, None)[1],
    )
    refused = _enhanced(hl7_factory, profile, "AL", "NE", refused=True)
    exchange = hl7_client.send(refused.text)
    ack = _require_ack(check, exchange, _label(refused, True))
    check.expect(
        ack.msa_1 in COMMIT_REFUSALS,
        _label(refused, True),
        expected="a commit reject, MSA-1 CR (or CE) -- enhanced mode answers with the commit "
        "codes CA/CE/CR of table 0008, never AA/AE/AR",
        observed=read_reply(exchange.reply_text, None)[1],
    )
    never = _enhanced(hl7_factory, profile, "NE", "NE")
    wait = _quiet_wait(profile)
    exchange = hl7_client.send(never.text, timeout=wait)
    check.expect(
        exchange.reply is None,
        _label(never),
        expected=f"no acknowledgment at all (waited {wait:g} s)",
        observed=read_reply(exchange.reply_text, exchange.problem)[1],
    )
    _one_ack_each(check, hl7_client, "MSH-15 AL, AL (refused) and NE on one sender")


@pytest.mark.check("hl7.ack.accept_conditions")
def test_enhanced_accept_conditions(check, hl7_client, hl7_factory, hl7_address, profile):
    """MSH-15 ER: a commit ACK only on error/reject (CE/CR); SU: only on success (CA)."""
    _require_enhanced(profile)
    wait = _quiet_wait(profile)
    cases = [  # (MSH-15, refused, the MSA-1 values allowed; () = no ACK at all)
        ("ER", False, ()),
        ("ER", True, COMMIT_REFUSALS),
        ("SU", False, ("CA",)),
        ("SU", True, ()),
    ]
    wrong, seen = [], []
    for accept, refused, allowed in cases:
        message = _enhanced(hl7_factory, profile, accept, "NE", refused=refused)
        exchange = hl7_client.send(message.text, timeout=None if allowed else wait)
        ack, observed = read_reply(exchange.reply_text, exchange.problem)
        want = f"MSA-1 {' or '.join(allowed)}" if allowed else f"no ACK (waited {wait:g} s)"
        line = f"{_label(message, refused)}: expected {want}, observed {observed}"
        seen.append(line)
        silent = exchange.reply is None
        if (ack.msa_1 not in allowed) if ack is not None else (allowed or not silent):
            wrong.append(line)
    check.transcript.note("accept conditions:\n" + "\n".join(seen))
    check.expect(
        not wrong,
        f"{len(wrong)} of {len(cases)} messages with MSH-15 ER/SU answered against table 0155",
        expected="ER: no ACK for a valid message, CR/CE for an unacceptable one; SU: CA for a "
        "valid message, no ACK for an unacceptable one",
        observed="\n    " + "\n    ".join(wrong),
    )
    _one_ack_each(check, hl7_client, f"{len(cases)} messages with MSH-15 ER/SU")


@pytest.mark.check("hl7.ack.application")
def test_enhanced_application_ack(check, hl7_factory, hl7_address, profile, transcript):
    """MSH-15 AL, MSH-16 AL: first the accept (commit) ACK, CA/CE/CR (table 0008), then
    the application ACK (AA/AE/AR) as a separate message naming the message in MSA-2;
    MSH-16 NE: no application ACK. An original-mode AA as the first reply is no accept
    ACK: the sender asked for enhanced mode and cannot tell "stored" from "processed".
    The profile says where the application ACK comes (hl7.ack.application_ack:
    same-connection); a sender waits on a persistent connection for it, whatever
    hl7.connection says."""
    _require_enhanced(profile)
    if profile.hl7.ack.application_ack == "none":
        pytest.skip(
            "the profile says the target sends no application ACK (hl7.ack.application_ack)"
        )
    with MLLPClient.for_settings(
        hl7_address, profile.hl7, persistent=True, note=transcript.note
    ) as client:
        message = _enhanced(hl7_factory, profile, "AL", "AL")
        subject = _label(message)
        first = client.send(message.text)
        first_ack = _require_ack(check, first, subject)
        check.expect(
            first_ack.msa_1 in ACCEPT_CODES,
            f"{subject}: the first reply",
            expected="an accept (commit) ACK, MSA-1 CA, CE or CR (§2.9.3, table 0008), "
            "before any application ACK",
            observed=read_reply(first.reply_text, None)[1]
            + " -- an application (original-mode) code, not an accept ACK",
        )
        application = client.receive()
        ack, observed = read_reply(application.reply_text, application.problem)
        wrong = []
        if ack is None:
            wrong.append(f"after the accept ACK ({first_ack.msa_1}): {observed}")
        else:
            if ack.msh_9.split("^")[0] != "ACK":
                wrong.append(f"MSH-9 {ack.msh_9 or '(empty)'}, not ACK")
            if ack.msa_1 not in ("AA", "AE", "AR"):
                wrong.append(f"MSA-1 {ack.msa_1 or '(empty)'}, not an application code")
            if ack.msa_2 != message.control_id:
                wrong.append(f"MSA-2 {ack.msa_2 or '(empty)'}, not {message.control_id}")
            if ack.msh_10 and ack.msh_10 == first_ack.msh_10:
                wrong.append(f"MSH-10 {ack.msh_10} repeats the accept ACK's: not a new message")
        check.expect(
            not wrong,
            subject,
            expected=f"the accept ACK, then within {profile.hl7.ack.timeout:g} s an application "
            f"ACK of its own: MSH-9 ACK, MSA-1 AA/AE/AR, MSA-2 {message.control_id}",
            observed="; ".join(wrong),
        )
        silent = _enhanced(hl7_factory, profile, "AL", "NE")
        _require_ack(check, client.send(silent.text), _label(silent))
        wait = _quiet_wait(profile)
        extra = client.receive(timeout=wait)
        check.expect(
            extra.reply is None,
            _label(silent),
            expected=f"the accept ACK only, no application ACK (waited {wait:g} s)",
            observed="a further message: " + read_reply(extra.reply_text, None)[1],
        )
        _one_ack_each(check, client, "MSH-16 AL, then MSH-16 NE on one connection")
